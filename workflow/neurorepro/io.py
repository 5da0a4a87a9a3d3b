"""Atomic writers for the data that flows between rules (NetCDF, TSV, JSON)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp")


def write_netcdf(ds: xr.Dataset, path: str | Path) -> None:
    """Write ``ds`` to NetCDF at ``path`` via a temporary file, so no half file is left."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    ds.to_netcdf(tmp)
    tmp.replace(path)


def write_tsv(df: pd.DataFrame, path: str | Path, **kw: Any) -> None:
    """Write ``df`` as tab-separated values (no index unless ``index=True``), atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    kw.setdefault("index", False)
    df.to_csv(tmp, sep="\t", **kw)
    tmp.replace(path)


def write_text(text: str, path: str | Path) -> None:
    """Write ``text`` to ``path``, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    tmp.write_text(text)
    tmp.replace(path)


def write_json(obj: Any, path: str | Path) -> None:
    """Write ``obj`` as indented JSON, atomically."""
    write_text(json.dumps(obj, indent=2, default=str) + "\n", path)
