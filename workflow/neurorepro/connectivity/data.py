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


def load_data(path: str) -> ConnectivityData:
    """Load the data contract ``data.nc`` (see ../shared/DESIGN.md) with shape checks."""
    with xr.open_dataset(path) as ds:
        ds = ds.load()
    for var in ("X", "Y", "Omega"):
        if var not in ds:
            raise ValueError(f"{path}: variable {var!r} missing")
    X = ds["X"].transpose("source_voxel", "injection").values.astype(np.float64)
    Y = ds["Y"].transpose("target_voxel", "injection").values.astype(np.float64)
    Om = ds["Omega"].transpose("target_voxel", "injection").values.astype(np.int8)
    W_true = ds["W_true"].transpose("target_voxel", "source_voxel").values.astype(np.float64) if "W_true" in ds else None
    return ConnectivityData(
        X=X, Y=Y, Omega=Om,
        source_coord=ds["source_coord"].transpose("source_voxel", "axis").values.astype(np.int64),
        target_coord=ds["target_coord"].transpose("target_voxel", "axis").values.astype(np.int64),
        source_area=np.asarray(ds["source_area"].values).astype(str),
        target_area=np.asarray(ds["target_area"].values).astype(str),
        experiment_id=np.asarray(ds["experiment_id"].values) if "experiment_id" in ds.coords or "experiment_id" in ds else np.arange(X.shape[1]),
        W_true=W_true,
        attrs=dict(ds.attrs),
    )
