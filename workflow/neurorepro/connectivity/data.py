"""Reading ``results/connectivity/data.nc`` into the arrays the models need."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import xarray as xr

from .laplacian import grid_laplacian


@dataclass
class ConnectivityData:
    """The regression problem Y ~ W X on Omega, with the voxels' geometry and labels."""

    X: np.ndarray  # (n_x, n_inj)
    Y: np.ndarray  # (n_y, n_inj)
    Omega: np.ndarray  # (n_y, n_inj) 0/1
    source_coord: np.ndarray  # (n_x, 3)
    target_coord: np.ndarray  # (n_y, 3)
    source_area: np.ndarray
    target_area: np.ndarray
    experiment_id: np.ndarray
    W_true: np.ndarray | None
    attrs: dict

    @property
    def n_inj(self) -> int:
        return self.X.shape[1]

    def laplacians(self, cut_borders: bool = False) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        """6-neighbour Laplacians of the source and target voxel sets (L_x, L_y)."""
        Lx = grid_laplacian(self.source_coord, self.source_area, cut_borders)
        Ly = grid_laplacian(self.target_coord, self.target_area, cut_borders)
        return Lx, Ly


def load_data(path: str, targets: str = "ipsi") -> ConnectivityData:
    """Load the data contract ``data.nc`` (see ../shared/DESIGN.md) with shape checks.

    ``targets="contra"`` gives the contralateral problem (``Y_contra``, ``Omega_contra`` on
    the other hemisphere's target voxels; same sources and X).
    """
    if targets not in ("ipsi", "contra"):
        raise ValueError(f"targets must be 'ipsi' or 'contra', got {targets!r}")
    with xr.open_dataset(path) as ds:
        ds = ds.load()
    c = "_contra" if targets == "contra" else ""
    tdim = "contra_target_voxel" if c else "target_voxel"
    for var in ("X", f"Y{c}", f"Omega{c}"):
        if var not in ds:
            raise ValueError(f"{path}: variable {var!r} missing" + (
                " (contralateral targets: set connectivity.contralateral: true and rebuild data.nc)" if c else ""))
    X = ds["X"].transpose("source_voxel", "injection").values.astype(np.float64)
    Y = ds[f"Y{c}"].transpose(tdim, "injection").values.astype(np.float64)
    Om = ds[f"Omega{c}"].transpose(tdim, "injection").values.astype(np.int8)
    wt = f"W_true{c}"
    W_true = ds[wt].transpose(tdim, "source_voxel").values.astype(np.float64) if wt in ds else None
    tc = "contra_target" if c else "target"
    return ConnectivityData(
        X=X, Y=Y, Omega=Om,
        source_coord=ds["source_coord"].transpose("source_voxel", "axis").values.astype(np.int64),
        target_coord=ds[f"{tc}_coord"].transpose(tdim, "axis").values.astype(np.int64),
        source_area=np.asarray(ds["source_area"].values).astype(str),
        target_area=np.asarray(ds[f"{tc}_area"].values).astype(str),
        experiment_id=np.asarray(ds["experiment_id"].values) if "experiment_id" in ds.coords or "experiment_id" in ds else np.arange(X.shape[1]),
        W_true=W_true,
        attrs={**dict(ds.attrs), "hemisphere": "contralateral" if c else "ipsilateral"},
    )
