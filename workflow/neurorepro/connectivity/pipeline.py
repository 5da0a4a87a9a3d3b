"""Steps of the `connectivity` target, called by the thin scripts in workflow/scripts/.

Each function takes plain parameters (from the rule's ``params:``), returns tables or
datasets, and leaves writing files to the caller.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr

from ..claims import Claim
from ..runtime import resolve_device
from .cv import kfold_injections, nested_cv, rel_mse, rel_mse_regional
from .data import ConnectivityData
from .model import DTYPES, TRANSFORM_DTYPES, SplineConnectivity
from .regional import RegionalConnectivity
from .solvers import Eigenbasis
from .synthetic import make_1d_problem

LOG = logging.getLogger("neurorepro.connectivity")
PAPER_1D = {"full": 0.111, "lowrank": 0.096}  # Harris et al. 2016, §4


def full_rank_fit_bytes(n_x: int, n_y: int, dtype: str = "float64") -> float:
    """Memory a full-rank fit needs: ~8 copies of W (iterate, gradient, CG vectors, warm
    start, best fit) plus the two Laplacian eigenbases (n_x^2 + n_y^2), at ``dtype``."""
    itemsize = 4 if dtype == "float32" else 8
    return float(itemsize) * (8.0 * n_x * n_y + 2.0 * (n_x**2 + n_y**2))


def check_fit_memory(data: ConnectivityData, dtype: str, limit_gb: float) -> float:
    """Stop before a full-rank fit that would not fit in ``memory_limit_gb``; return GiB needed."""
    from ..runtime import check_memory

    n_x, n_y = data.X.shape[0], data.Y.shape[0]
    return check_memory(
        full_rank_fit_bytes(n_x, n_y, dtype), limit_gb,
        what=f"the full-rank connectivity fit ({n_y} target x {n_x} source voxels, {dtype})",
        hint="use fewer areas or a coarser connectivity.resolution, set connectivity.model.dtype: float32, "
             "or run on a machine with more memory and raise memory_limit_gb; the low-rank path "
             "(connectivity.model.rank) needs only O((n_x+n_y) r)",
    )


def rel_err(W: np.ndarray, W_true: np.ndarray) -> float:
    """||W - W_true||_F / ||W_true||_F."""
    return float(np.linalg.norm(W - W_true) / np.linalg.norm(W_true))


@dataclass
class ModelParams:
    """The `model:` block of the config, validated by the schema."""

    lambdas: list[float]
    rank: int
    solver: str = "newton"
    dtype: str = "float64"
    max_iter: int = 2000
    ftol: float = 1e-8
    pgtol: float = 1e-5
    cut_borders: bool = False
    cv_outer_folds: int = 3
    cv_inner_folds: int = 3
    lowrank_max_iter: int = 500
    transform_dtype: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelParams":
        keys = cls.__dataclass_fields__
        return cls(**{k: v for k, v in d.items() if k in keys})

    def estimator(self, lam: float, rank: int | None, device: str, seed: int) -> SplineConnectivity:
        return SplineConnectivity(lam=lam, rank=rank, solver=self.solver, dtype=self.dtype, device=device,
                                  max_iter=self.max_iter, ftol=self.ftol, pgtol=self.pgtol, seed=seed,
                                  lowrank_max_iter=self.lowrank_max_iter, transform_dtype=self.transform_dtype)

    def eigenbasis(self, Lx, Ly, device: str) -> Eigenbasis:
        """The Laplacians' eigendecompositions, shared by every fit of a geometry."""
        return Eigenbasis.build(Lx, Ly, DTYPES[self.dtype], resolve_device(device),
                                eig_dtype=TRANSFORM_DTYPES[self.transform_dtype or self.dtype])


# -- 1. the synthetic 1-D test --------------------------------------------------------
def synthetic_1d(lam: float, rank: int, n: int, n_inj: int, noise: float, seed: int, device: str,
                 dtype: str = "float64", max_iter: int = 2000, lowrank_max_iter: int = 500) -> tuple[pd.DataFrame, dict[str, np.ndarray], np.ndarray]:
    """Fit the paper's 1-D test five ways; return errors, the matrices and the grid."""
    P = make_1d_problem(n=n, n_inj=n_inj, noise=noise, seed=seed)
    kw = dict(device=device, dtype=dtype, max_iter=max_iter, ftol=1e-10, pgtol=1e-7, seed=seed,
              lowrank_max_iter=lowrank_max_iter)
    full = SplineConnectivity(lam=lam, **kw).fit(P.X, P.Y, P.Omega, Lx=P.Lx, Ly=P.Ly)
    low = SplineConnectivity(lam=lam, rank=rank, **kw).fit(P.X, P.Y, P.Omega, Lx=P.Lx, Ly=P.Ly)
    ones = np.ones_like(P.Omega)
    nomask = SplineConnectivity(lam=lam, **kw).fit(P.X, P.Y, ones, Lx=P.Lx, Ly=P.Ly)
    nolam = SplineConnectivity(lam=0.0, **kw).fit(P.X, P.Y, P.Omega, Lx=P.Lx, Ly=P.Ly)
    mats = {"truth": P.W_true, "full": full.W_, f"rank {rank}": low.W_, "no Ω mask": nomask.W_, "λ = 0": nolam.W_}
    rows = []
    for name, est in [("full", full), ("lowrank", low), ("no_mask", nomask), ("lambda0", nolam)]:
        rows.append({"fit": name, "rel_error": rel_err(est.W_, P.W_true), "paper_rel_error": PAPER_1D.get(name, np.nan),
                     "lambda": est.lam, "rank": rank if name == "lowrank" else "full", "n_iter": est.n_iter_,
                     "objective": est.objective_, "seconds": est.seconds_})
    return pd.DataFrame(rows), mats, P.coords[:, 0]


# -- 2. cross-validation: Table 1 -------------------------------------------------------
def cross_validate(data: ConnectivityData, mp: ModelParams, seed: int, device: str
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Nested CV of the voxel model, K-fold CV of the regional model, training errors, lambda curve.

    Returns (table1, folds, lambda_curve): Table 1 rows (model x resolution: CV and training
    relative MSE), the per-outer-fold numbers, and the single-level K-fold CV curve over
    lambda on all injections (its minimiser is the lambda of the final fit).
    """
    Lx, Ly = data.laplacians(mp.cut_borders)
    eig = mp.eigenbasis(Lx, Ly, device)
    X, Y, Om = data.X, data.Y, data.Omega

    def fit_voxel(train: np.ndarray, lam: float, W0):
        est = mp.estimator(lam, None, device, seed).fit(X[:, train], Y[:, train], Om[:, train], Lx=Lx, Ly=Ly,
                                                          W0=W0, eigenbasis=eig)
        return est.W_, est.W_ @ X

    res = nested_cv(fit_voxel, data.n_inj, mp.lambdas, Y, Om, data.target_area, mp.cv_outer_folds,
                    mp.cv_inner_folds, seed, log=LOG.info)
    # regional model on the same outer folds
    reg_v, reg_r = [], []
    for train, test in kfold_injections(data.n_inj, mp.cv_outer_folds, seed):
        reg = RegionalConnectivity(data.source_area, data.target_area).fit(X[:, train], Y[:, train], Om[:, train])
        Yh = reg.predict(X)
        reg_v.append(rel_mse(Yh[:, test], Y[:, test], Om[:, test]))
        reg_r.append(rel_mse_regional(Yh[:, test], Y[:, test], Om[:, test], data.target_area))
    folds = pd.DataFrame({"outer_fold": np.arange(mp.cv_outer_folds), "voxel_lambda": res.chosen_lambda,
                          "voxel_model_voxel_res": res.test_voxel, "voxel_model_regional_res": res.test_regional,
                          "regional_model_voxel_res": reg_v, "regional_model_regional_res": reg_r})
    # single-level CV over lambda on all injections: the lambda of the final fit
    all_idx = np.arange(data.n_inj)
    errs = np.zeros((mp.cv_outer_folds, len(res.lambdas)))
    for f, (train, test) in enumerate(kfold_injections(data.n_inj, mp.cv_outer_folds, seed + 1000)):
        W0 = None
        for li, lam in enumerate(res.lambdas):
            W0, Yh = fit_voxel(train, lam, W0)
            errs[f, li] = rel_mse(Yh[:, test], Y[:, test], Om[:, test])
    curve = errs.mean(0)
    best = float(res.lambdas[int(np.argmin(curve))])
    lam_curve = pd.DataFrame({"lambda": res.lambdas, "cv_rel_mse": curve, "chosen": res.lambdas == best})
    # training errors (fit on all injections)
    Wv, Yv = fit_voxel(all_idx, best, None)
    reg = RegionalConnectivity(data.source_area, data.target_area).fit(X, Y, Om)
    Yr = reg.predict(X)
    table = pd.DataFrame([
        {"model": "voxel", "resolution": "voxel", "cv_rel_mse": np.mean(res.test_voxel), "train_rel_mse": rel_mse(Yv, Y, Om)},
        {"model": "voxel", "resolution": "regional", "cv_rel_mse": np.mean(res.test_regional),
         "train_rel_mse": rel_mse_regional(Yv, Y, Om, data.target_area)},
        {"model": "regional", "resolution": "voxel", "cv_rel_mse": np.mean(reg_v), "train_rel_mse": rel_mse(Yr, Y, Om)},
        {"model": "regional", "resolution": "regional", "cv_rel_mse": np.mean(reg_r),
         "train_rel_mse": rel_mse_regional(Yr, Y, Om, data.target_area)},
    ])
    table["lambda"] = [best, best, np.nan, np.nan]
    return table, folds, lam_curve


# -- 3. final fits, recovery vs lambda ----------------------------------------------------
def fit_final(data: ConnectivityData, mp: ModelParams, lam: float, seed: int, device: str
              ) -> tuple[xr.Dataset, xr.Dataset, pd.DataFrame]:
    """Full-rank fit at ``lam`` (-> W.nc), rank-r fit (-> W_lowrank.nc), and the recovery
    of W_true over the lambda grid (empty table when the data carry no W_true)."""
    Lx, Ly = data.laplacians(mp.cut_borders)
    eig = mp.eigenbasis(Lx, Ly, device)
    X, Y, Om = data.X, data.Y, data.Omega
    rows = []
    W0 = None
    fits: dict[float, SplineConnectivity] = {}
    for l in sorted(set(list(mp.lambdas) + [lam]), reverse=True):
        est = mp.estimator(l, None, device, seed).fit(X, Y, Om, Lx=Lx, Ly=Ly, W0=W0, eigenbasis=eig)
        W0 = est.W_
        fits[l] = est
        row = {"lambda": l, "model": "full", "objective": est.objective_, "n_iter": est.n_iter_,
               "converged": est.converged_, "seconds": est.seconds_,
               "rel_error_W_true": rel_err(est.W_, data.W_true) if data.W_true is not None else np.nan,
               "train_rel_mse": rel_mse(est.W_ @ X, Y, Om), "chosen": l == lam}
        rows.append(row)
        LOG.info("full fit lambda=%g: %s", l, row)
        if data.W_true is not None and l == lam:  # the low-rank fit at the chosen lambda
            lo = mp.estimator(l, mp.rank, device, seed).fit(X, Y, Om, Lx=Lx, Ly=Ly, eigenbasis=eig)
            rows.append({**row, "model": f"rank{mp.rank}", "objective": lo.objective_, "n_iter": lo.n_iter_,
                         "converged": lo.converged_, "seconds": lo.seconds_,
                         "rel_error_W_true": rel_err(lo.W_, data.W_true), "train_rel_mse": rel_mse(lo.W_ @ X, Y, Om)})
            fits[-1.0] = lo
    full = fits[lam]
    low = fits.get(-1.0) or mp.estimator(lam, mp.rank, device, seed).fit(X, Y, Om, Lx=Lx, Ly=Ly, eigenbasis=eig)
    coords = {
        "source_coord": (("source_voxel", "axis"), data.source_coord),
        "target_coord": (("target_voxel", "axis"), data.target_coord),
        "source_area": ("source_voxel", data.source_area),
        "target_area": ("target_voxel", data.target_area),
        "axis": ["AP", "DV", "ML"],
    }
    common = {"units": "projection density per unit injection density", "seed": seed, "solver": mp.solver,
              "source": str(data.attrs.get("source", "")), "scale": str(data.attrs.get("scale", "")),
              "lambda_scaling": "lambda * n_inj / n_x", "cut_borders": int(mp.cut_borders)}
    W_ds = xr.Dataset({"W": (("target_voxel", "source_voxel"), full.W_)}, coords=coords,
                      attrs={**common, "lambda": lam, "rank": "full", "objective": full.objective_,
                             "n_iter": full.n_iter_})
    low_ds = xr.Dataset({"U": (("target_voxel", "component"), low.U_), "V": (("source_voxel", "component"), low.V_)},
                        coords=coords, attrs={**common, "lambda": lam, "rank": int(mp.rank),
                                              "objective": low.objective_, "note": "W = U V^T"})
    return W_ds, low_ds, pd.DataFrame(rows)


# -- 4. claims ----------------------------------------------------------------------------
def make_claims(syn: pd.DataFrame, table: pd.DataFrame, recovery: pd.DataFrame, rank: int, tolerances: dict,
                scale: str, source: str) -> list[Claim]:
    """The paper's checked claims as measured numbers."""
    t = "connectivity"
    out = []
    # on embedded data the generator planted W_true: the table compares fits to planted truth
    table_kind = "recovery" if source == "embedded" else "finding"
    pts = float(tolerances["synthetic_points"])
    for fit, label in [("full", "full rank"), ("lowrank", f"rank {int(syn.loc[syn.fit == 'lowrank', 'rank'].iloc[0])}")]:
        paper = PAPER_1D[fit]
        m = float(syn.loc[syn.fit == fit, "rel_error"].iloc[0])
        out.append(Claim(t, f"1-D synthetic test: the {label} fit recovers the kernel with {100 * paper:.1f}% relative error "
                         f"(within {100 * pts:.0f} points)", m, "within", [paper - pts, paper + pts], scale, source,
                         {"paper": paper}, kind="recovery", paper_value=paper, paper_ref="§4, Fig. 1"))
    cv = table.set_index(["model", "resolution"])["cv_rel_mse"]
    out.append(Claim(t, "Voxel model cross-validated relative MSE is below the regional model's (voxel resolution; paper 33% vs 107%)",
                     float(cv[("voxel", "voxel")] - cv[("regional", "voxel")]), "<", 0.0, scale, source,
                     {"voxel_model": float(cv[("voxel", "voxel")]), "regional_model": float(cv[("regional", "voxel")])},
                     kind=table_kind, paper_value=0.33 - 1.07, paper_ref="Table 1"))
    out.append(Claim(t, "Voxel model cross-validated relative MSE is below the regional model's (regional resolution)",
                     float(cv[("voxel", "regional")] - cv[("regional", "regional")]), "<", 0.0, scale, source,
                     {"voxel_model": float(cv[("voxel", "regional")]), "regional_model": float(cv[("regional", "regional")])},
                     kind=table_kind, paper_ref="Table 1"))
    if len(recovery) and recovery["rel_error_W_true"].notna().any():
        ch = recovery[recovery["chosen"]]
        for model, key in [("full", "recovery_full"), (f"rank{rank}", "recovery_lowrank")]:
            r = ch[ch.model == model]
            if len(r):
                out.append(Claim(t, f"The {model} fit at the cross-validated lambda recovers the planted W_true "
                                 f"(relative error below {tolerances[key]:g})",
                                 float(r["rel_error_W_true"].iloc[0]), "<", float(tolerances[key]), scale, source,
                                 {"lambda": float(r["lambda"].iloc[0])}, kind="recovery"))
    return out


# -- 5. data of the figures ---------------------------------------------------------------
def figure_data(data: ConnectivityData, W_ds: xr.Dataset, low_ds: xr.Dataset, recovery: pd.DataFrame,
                map_area: str, n_map_sources: int, rank: int) -> dict[str, Any]:
    """Everything the recovery, maps and spectrum figures need."""
    W = W_ds["W"].values
    W_low = low_ds["U"].values @ low_ds["V"].values.T
    s = np.linalg.svd(W, compute_uv=False)
    from .figures import energy_ranks

    ranks = energy_ranks(s)
    lowrank_diff = float(np.linalg.norm(W_low - W) / np.linalg.norm(W))
    spectrum = pd.DataFrame({"index": np.arange(1, s.size + 1), "singular_value": s,
                             "energy_fraction": np.cumsum(s**2) / np.sum(s**2)})
    # recovery curve
    rec = None
    if len(recovery) and recovery["rel_error_W_true"].notna().any():
        full = recovery[recovery.model == "full"].sort_values("lambda")
        low = recovery[recovery.model != "full"].sort_values("lambda")
        rec = {"lambdas": full["lambda"].values, "err_full": full["rel_error_W_true"].values,
               "err_low": low["rel_error_W_true"].values if len(low) else None,
               "chosen": float(full.loc[full["chosen"].astype(bool), "lambda"].iloc[0]), "rank": rank}
    else:  # real data: no planted W; plot training error instead would mislead, so plot nothing but the choice
        full = recovery[recovery.model == "full"].sort_values("lambda")
        rec = {"lambdas": full["lambda"].values, "err_full": np.full(len(full), np.nan), "err_low": None,
               "chosen": float(W_ds.attrs["lambda"]), "rank": rank}
    # maps: injections centred in map_area; source voxel = the injection's densest voxel
    in_area = data.source_area == map_area
    if not in_area.any():
        raise ValueError(f"model.map_area={map_area!r} holds no source voxel (areas: {sorted(set(data.source_area))})")
    peak = data.X.argmax(0)
    inj = [j for j in np.argsort(-data.X.max(0)) if in_area[peak[j]]] or list(np.argsort(-data.X.max(0)))
    maps = []
    for j in inj[:n_map_sources]:
        src = int(peak[j])
        y = data.Y[:, j].astype(float).copy()
        y[data.Omega[:, j] == 0] = np.nan
        fits = {"full-rank fit": W[:, src], f"rank-{rank} fit": W_low[:, src]}
        if data.W_true is not None:
            fits["planted W"] = data.W_true[:, src]
        c = data.source_coord[src] - data.target_coord.min(0)
        maps.append({"label": f"source voxel {src} ({data.source_area[src]})", "data_label": f"injection {int(data.experiment_id[j])}",
                     "data": y, "fits": fits, "source_ap_ml": (c[0], c[2])})
    return {"s": s, "ranks": ranks, "lowrank_diff": lowrank_diff, "spectrum": spectrum, "recovery": rec,
            "maps": maps, "target_coord": data.target_coord}
