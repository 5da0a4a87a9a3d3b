"""Claims table, provenance and the report's front page (all built from results/)."""
from __future__ import annotations

import hashlib
import importlib.metadata as md
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from neurorepro.claims import read_claims

#: Packages whose versions the provenance records (the pinned stack).
PACKAGES = (
    "neurorepro", "snakemake", "allensdk", "numpy", "scipy", "pandas", "xarray", "torch",
    "scikit-learn", "matplotlib", "netCDF4", "h5py", "pynrrd", "statsmodels",
)
CLAIM_COLUMNS = ["target", "claim", "measured", "comparison", "expected", "holds", "scale", "source", "details"]


def gather_claims(paths: list[str | Path]) -> pd.DataFrame:
    """One row per claim from several ``claims.json`` files (each checked by ``read_claims``)."""
    rows = []
    for path in paths:
        for rec in read_claims(path):
            rec = dict(rec)
            rec["details"] = str(rec.get("details", {}))
            rows.append(rec)
    df = pd.DataFrame(rows, columns=CLAIM_COLUMNS)
    df["holds"] = df["holds"].astype(bool)
    return df


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit(cwd: str | Path = ".") -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def provenance(config: dict, allen: dict[str, Any]) -> dict[str, Any]:
    """Everything a reader needs to know how results/ was made."""
    return {
        "config": config,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "git_commit": git_commit(),
        "allen": allen,
    }


def _rst_escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("*", "\\*").replace("`", "\\`").replace("\n", " ")


def _rst_table(header: list[str], rows: list[list[Any]], widths: list[int] | None = None) -> str:
    lines = [".. list-table::", "   :header-rows: 1"]
    if widths:
        lines.append("   :widths: " + " ".join(str(w) for w in widths))
    lines.append("")
    for row in [header] + rows:
        lines.append("   * - " + _rst_escape(row[0]))
        lines += [f"     - {_rst_escape(c)}" for c in row[1:]]
    return "\n".join(lines) + "\n"


def front_page(claims: pd.DataFrame, prov: dict[str, Any], description: str) -> str:
    """reStructuredText of the report's front page: description, claims table, provenance."""
    n_hold = int(claims["holds"].sum())
    parts = [description.rstrip() + "\n"]
    parts.append("Claims\n------\n")
    parts.append(
        f"{n_hold} of {len(claims)} headline claims hold in this run "
        f"(scale: {prov['config'].get('scale')}, source: {prov['config'].get('source')}). "
        "A claim that does not hold is shown as **NO**, with the measured number.\n"
    )
    rows = [
        [r.target, r.claim, f"{r.measured:.4g}", r.comparison, r.expected, "yes" if r.holds else "**NO**"]
        for r in claims.itertuples()
    ]
    if rows:
        parts.append(_rst_table(["paper", "claim", "measured", "test", "expected", "holds"], rows,
                                widths=[12, 58, 9, 6, 9, 6]))
    parts.append("Provenance\n----------\n")
    prov_rows = [["git commit", prov["git_commit"]], ["python", prov["python"]], ["platform", prov["platform"]]]
    prov_rows += [[k, v] for k, v in prov["packages"].items()]
    for key, value in prov["allen"].items():
        prov_rows.append([f"Allen: {key}", value])
    cfg = {k: v for k, v in prov["config"].items() if not isinstance(v, dict)}
    prov_rows += [[f"config: {k}", v] for k, v in cfg.items()]
    parts.append(_rst_table(["item", "value"], prov_rows))
    return "\n".join(parts)
