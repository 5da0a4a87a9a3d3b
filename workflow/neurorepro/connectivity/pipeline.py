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
import xarray as xr

from ..claims import Claim
from ..measures.bootstrap import bootstrap_ci, bootstrap_seed
from ..runtime import resolve_device
from .cv import LAMBDA_SEARCHES, kfold_injections, lambda_errors, outer_fold, rel_mse, rel_mse_regional
from .data import ConnectivityData, load_data
from .model import DTYPES, LAM_POSITIVE, TRANSFORM_DTYPES, SplineConnectivity
from .regional import RegionalConnectivity
from .eigenbasis import Eigenbasis
from .synthetic import make_1d_problem

LOG = logging.getLogger("neurorepro.connectivity")
PAPER_1D = {"full": 0.111, "lowrank": 0.096}  # Harris et al. 2016, §4
#: Table 1 of the paper: (model, resolution) -> (cross-validated, training) relative MSE.
PAPER_TABLE1 = {("voxel", "voxel"): (0.33, 0.10), ("voxel", "regional"): (0.16, 0.023),
                ("regional", "voxel"): (1.07, 0.70), ("regional", "regional"): (0.48, 0.068)}
#: data.nc attributes copied into table1.tsv and the Table 1 claims (what the query returned vs kept)
DATA_COUNTS = ("n_experiments_table", "n_experiments_structure_query", "n_experiments_query", "n_experiments_kept")
PAPER_LOWRANK_DIFF = 0.13  # §5.1: ||U V^T - W_full|| / ||W_full|| at rank 160, lambda 1e5


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
    """The fit's settings from the config's ``connectivity.model`` block (validated by the
    schema, which holds their defaults): every field is required."""

    lambdas: list[float]
    rank: int
    solver: str
    dtype: str
    transform_dtype: str | None
    max_iter: int
    lowrank_max_iter: int
    ftol: float
    pgtol: float
    cut_borders: bool
    cv_outer_folds: int
    cv_inner_folds: int
    cv_lowrank: bool
    cv_lambda_search: str
    cv_coarse_step: int

    #: keys of the ``model:`` block that other steps read (1-D test, figures, claims)
    OTHER_STEPS = ("synthetic_1d", "map_area", "n_map_sources", "tolerances")

    def __post_init__(self):
        if self.solver in LAM_POSITIVE and min(self.lambdas) <= 0:
            raise ValueError(
                f"connectivity.model.lambdas {list(self.lambdas)} holds 0: solver {self.solver!r} needs "
                "lambda > 0 (at lambda = 0 the Hessian is singular); drop 0 or set connectivity.model.solver "
                "to fista or lbfgsb")
        if self.cv_lambda_search not in LAMBDA_SEARCHES or self.cv_coarse_step < 1:
            raise ValueError(f"connectivity.model.cv_lambda_search must be one of {LAMBDA_SEARCHES} (got "
                             f"{self.cv_lambda_search!r}) and cv_coarse_step >= 1 (got {self.cv_coarse_step})")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelParams":
        """From the whole ``model:`` block: the keys of :data:`OTHER_STEPS` are left to their
        steps; a missing field or any other key raises ValueError naming it."""
        fields = [f for f in cls.__dataclass_fields__]
        unknown = sorted(set(d) - set(fields) - set(cls.OTHER_STEPS))
        if unknown:
            raise ValueError(f"connectivity.model: unknown keys {unknown}; allowed: {sorted(fields + list(cls.OTHER_STEPS))}")
        missing = [k for k in fields if k not in d]
        if missing:
            raise ValueError(f"connectivity.model lacks keys {missing}")
        return cls(**{k: d[k] for k in fields})

    def estimator(self, lam: float, rank: int | None, device: str, seed: int) -> SplineConnectivity:
        return SplineConnectivity(lam=lam, rank=rank, solver=self.solver, dtype=self.dtype, device=device,
                                  max_iter=self.max_iter, ftol=self.ftol, pgtol=self.pgtol, seed=seed,
                                  lowrank_max_iter=self.lowrank_max_iter, transform_dtype=self.transform_dtype)

    def eigenbasis(self, Lx, Ly, device: str) -> Eigenbasis:
        """The Laplacians' eigendecompositions, shared by every fit of a geometry."""
        return Eigenbasis.build(Lx, Ly, DTYPES[self.dtype], resolve_device(device),
                                eig_dtype=TRANSFORM_DTYPES[self.transform_dtype or self.dtype])


def load_fit_inputs(data_path: str, model: dict[str, Any], memory_limit_gb: float, targets: str = "ipsi"
                    ) -> tuple[ConnectivityData, ModelParams]:
    """The start every full-rank fit job shares: ``data.nc`` read (``targets`` as in
    :func:`~.data.load_data`), the config's model block parsed (strictly), and the fits' memory
    checked against ``memory_limit_gb`` (logged)."""
    data = load_data(data_path, targets=targets)
    mp = ModelParams.from_dict(model)
    LOG.info("full-rank fits need about %.2f GiB", check_fit_memory(data, mp.dtype, memory_limit_gb))
    return data, mp


# -- 1. the synthetic 1-D test --------------------------------------------------------
SYN_FITS = ("full", "lowrank", "no_mask", "lambda0")


def synthetic_1d(lam: float, rank: int, n: int, n_inj: int, noise: float, seed: int, device: str, *,
                 dtype: str, solver: str, max_iter: int, lowrank_max_iter: int, ftol: float, pgtol: float,
                 n_draws: int, ablation_solver: str, ablation_max_iter: int
                 ) -> tuple[pd.DataFrame, dict[str, np.ndarray], np.ndarray]:
    """Fit the paper's 1-D test four ways on each of ``n_draws`` random draws of injections and
    noise (draw d uses seed ``seed + d``): the full fit, rank ``rank``, without P_Omega
    (Omega = 1 everywhere) and with lambda = 0. Returns one row per (draw, fit), the
    matrices of draw 0 and the grid.

    The full and rank-r fits use ``solver`` (capped at ``max_iter`` / ``lowrank_max_iter``);
    the fit without P_Omega uses ``ablation_solver`` and the lambda = 0 fit ``fista`` (the
    solvers built on the Hessian's eigenbasis inverse need lambda > 0), both capped at
    ``ablation_max_iter``; each row records whether its fit converged.
    """
    rows, mats, x = [], {}, None
    for d in range(int(n_draws)):
        s = int(seed) + d
        P = make_1d_problem(n=n, n_inj=n_inj, noise=noise, seed=s)
        kw = dict(device=device, dtype=dtype, ftol=ftol, pgtol=pgtol, seed=s, lowrank_max_iter=lowrank_max_iter)
        full = SplineConnectivity(lam=lam, solver=solver, max_iter=max_iter, **kw).fit(
            P.X, P.Y, P.Omega, Lx=P.Lx, Ly=P.Ly)
        low = SplineConnectivity(lam=lam, rank=rank, solver=solver, max_iter=max_iter, **kw).fit(
            P.X, P.Y, P.Omega, Lx=P.Lx, Ly=P.Ly)
        ones = np.ones_like(P.Omega)
        abl = dict(kw, max_iter=ablation_max_iter)
        nomask = SplineConnectivity(lam=lam, solver=ablation_solver, **abl).fit(P.X, P.Y, ones, Lx=P.Lx, Ly=P.Ly)
        nolam = SplineConnectivity(lam=0.0, solver="fista", **abl).fit(P.X, P.Y, P.Omega, Lx=P.Lx, Ly=P.Ly)
        if d == 0:
            mats = {"truth": P.W_true, "full": full.W_, f"rank {rank}": low.W_, "no Ω mask": nomask.W_, "λ = 0": nolam.W_}
            x = P.coords[:, 0]
        for name, est in zip(SYN_FITS, (full, low, nomask, nolam)):
            rows.append({"draw": d, "seed": s, "fit": name, "rel_error": rel_err(est.W_, P.W_true),
                         "paper_rel_error": PAPER_1D.get(name, np.nan), "lambda": float(est.lam),
                         "rank": rank if name == "lowrank" else "full", "n_iter": est.n_iter_,
                         "converged": bool(est.converged_), "objective": est.objective_, "seconds": est.seconds_})
        LOG.info("1-D draw %d: %s", d, {r["fit"]: round(r["rel_error"], 4) for r in rows[-4:]})
    return pd.DataFrame(rows), mats, x


# -- 2. cross-validation: Table 1 -------------------------------------------------------
def fold_ci(values, seed: int, name: str) -> list[float] | None:
    """95% bootstrap interval of the mean over CV folds (None below 3 folds)."""
    ci = bootstrap_ci(np.asarray(values, float), np.mean, seed=bootstrap_seed(seed, name))
    return None if ci is None else [float(ci[0]), float(ci[1])]


#: columns of cv_folds.tsv filled by each outer fold's fits (the rest are the fold's test errors)
FOLD_EXTRAS = ("lowrank_rel_diff_full", "lowrank_test_rel_mse", "lowrank_rel_error_W_true", "voxel_rel_error_W_true")


def _voxel_fitter(data: ConnectivityData, mp: ModelParams, seed: int, device: str, eig: Eigenbasis | None):
    """(fit_voxel, Lx, Ly, eig): fit_voxel(train, lam, W0) -> (W, W X) on the given injections;
    the eigenbases are computed once (they do not depend on the fold or lambda)."""
    Lx, Ly = data.laplacians(mp.cut_borders)
    eig = eig if eig is not None else mp.eigenbasis(Lx, Ly, device)
    X, Y, Om = data.X, data.Y, data.Omega

    def fit_voxel(train: np.ndarray, lam: float, W0):
        est = mp.estimator(lam, None, device, seed).fit(X[:, train], Y[:, train], Om[:, train], Lx=Lx, Ly=Ly,
                                                          W0=W0, eigenbasis=eig)
        return est.W_, est.W_ @ X

    return fit_voxel, Lx, Ly, eig


def cv_fold(data: ConnectivityData, mp: ModelParams, fold: int, seed: int, device: str,
            eig: Eigenbasis | None = None) -> dict[str, Any]:
    """Outer fold ``fold`` of the cross-validation: independent of the other folds (one job each).

    The nested CV's inner lambda search and fit on the fold's training injections
    (:func:`.cv.outer_fold`) with its test errors at voxel and regional resolution, the
    rank-r fit at the fold's lambda (relative difference from the full fit, test error), the
    regional model on the same fold, the recovery of W_true where the data carry it, and the
    fold-th split of the single-level K-fold lambda curve on all injections. Returns a
    record for :func:`cv_gather`: ``row`` (the fold's cv_folds.tsv row), ``inner_curve`` and
    ``lambda_errors`` (per lambda, large to small; NaN where the search did not fit it).
    """
    if not 0 <= fold < mp.cv_outer_folds:
        raise ValueError(f"outer fold {fold} out of range: connectivity.model.cv_outer_folds is {mp.cv_outer_folds}")
    fit_voxel, Lx, Ly, eig = _voxel_fitter(data, mp, seed, device, eig)
    X, Y, Om = data.X, data.Y, data.Omega
    lambdas = np.asarray(sorted(mp.lambdas, reverse=True), float)  # large -> small
    search = dict(search=mp.cv_lambda_search, coarse_step=mp.cv_coarse_step)
    train, test, lam, inner_curve, W, Yhat = outer_fold(fit_voxel, fold, data.n_inj, lambdas, Y, Om,
                                                        mp.cv_outer_folds, mp.cv_inner_folds, seed, **search)
    reg = RegionalConnectivity(data.source_area, data.target_area).fit(X[:, train], Y[:, train], Om[:, train])
    Yr = reg.predict(X)
    row: dict[str, Any] = {
        "outer_fold": fold, "voxel_lambda": lam,
        "voxel_model_voxel_res": rel_mse(Yhat[:, test], Y[:, test], Om[:, test]),
        "voxel_model_regional_res": rel_mse_regional(Yhat[:, test], Y[:, test], Om[:, test], data.target_area),
        "regional_model_voxel_res": rel_mse(Yr[:, test], Y[:, test], Om[:, test]),
        "regional_model_regional_res": rel_mse_regional(Yr[:, test], Y[:, test], Om[:, test], data.target_area),
        "regional_rel_error_W_true": rel_err(reg.W_, data.W_true) if data.W_true is not None else np.nan,
    }
    if mp.cv_lowrank:
        lo = mp.estimator(lam, mp.rank, device, seed).fit(X[:, train], Y[:, train], Om[:, train], Lx=Lx, Ly=Ly,
                                                          eigenbasis=eig)
        Wl = lo.U_ @ lo.V_.T if lo.W_ is None else lo.W_
        row["lowrank_rel_diff_full"] = float(np.linalg.norm(Wl - W) / max(np.linalg.norm(W), 1e-300))
        row["lowrank_test_rel_mse"] = rel_mse(Wl @ X[:, test], Y[:, test], Om[:, test])
        if data.W_true is not None:
            row["lowrank_rel_error_W_true"] = rel_err(Wl, data.W_true)
    if data.W_true is not None:
        row["voxel_rel_error_W_true"] = rel_err(W, data.W_true)
    del W
    LOG.info("outer fold %d: lambda*=%g test relMSE voxel=%.4f regional=%.4f", fold, lam,
             row["voxel_model_voxel_res"], row["voxel_model_regional_res"])
    split = kfold_injections(data.n_inj, mp.cv_outer_folds, seed + 1000)[fold]
    errs = lambda_errors(fit_voxel, [split], lambdas, Y, Om, **search)[0]
    return {"fold": fold, "lambdas": lambdas.tolist(), "row": row, "inner_curve": np.asarray(inner_curve).tolist(),
            "lambda_errors": errs.tolist()}


def cv_gather(data: ConnectivityData, mp: ModelParams, records: list[dict[str, Any]], seed: int, device: str,
              eig: Eigenbasis | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Table 1, the per-fold table and the lambda curve from the outer folds' records (:func:`cv_fold`).

    Returns (table1, folds, lambda_curve): Table 1 rows (model x resolution: CV relative MSE
    as the mean over outer folds with its 95% bootstrap interval over the folds, and the
    training relative MSE of the fits on all injections), the per-outer-fold numbers, and the
    single-level K-fold CV curve over lambda on all injections (its minimiser is the lambda
    of the final fit; a lambda that some split did not fit has no value).
    """
    records = sorted(records, key=lambda r: r["fold"])
    if [r["fold"] for r in records] != list(range(mp.cv_outer_folds)):
        raise ValueError(f"cross-validation records of outer folds {[r['fold'] for r in records]}; "
                         f"connectivity.model.cv_outer_folds is {mp.cv_outer_folds}")
    lambdas = np.asarray(records[0]["lambdas"], float)
    base = pd.DataFrame([{k: v for k, v in r["row"].items() if k not in FOLD_EXTRAS} for r in records])
    extra = pd.DataFrame([{k: r["row"][k] for k in FOLD_EXTRAS if k in r["row"]} for r in records])
    folds = pd.concat([base, extra], axis=1)
    curve = np.array([r["lambda_errors"] for r in records], float).mean(0)
    best = float(lambdas[int(np.nanargmin(curve))])
    lam_curve = pd.DataFrame({"lambda": lambdas, "cv_rel_mse": curve, "chosen": lambdas == best})
    # training errors (fit on all injections)
    fit_voxel, _, _, _ = _voxel_fitter(data, mp, seed, device, eig)
    X, Y, Om = data.X, data.Y, data.Omega
    Wv, Yv = fit_voxel(np.arange(data.n_inj), best, None)
    reg = RegionalConnectivity(data.source_area, data.target_area).fit(X, Y, Om)
    Yr = reg.predict(X)
    rows = []
    for model, res_, col, train_err in [
        ("voxel", "voxel", "voxel_model_voxel_res", rel_mse(Yv, Y, Om)),
        ("voxel", "regional", "voxel_model_regional_res", rel_mse_regional(Yv, Y, Om, data.target_area)),
        ("regional", "voxel", "regional_model_voxel_res", rel_mse(Yr, Y, Om)),
        ("regional", "regional", "regional_model_regional_res", rel_mse_regional(Yr, Y, Om, data.target_area)),
    ]:
        ci = fold_ci(folds[col], seed, f"table1 {col}") or [np.nan, np.nan]
        rows.append({"model": model, "resolution": res_, "cv_rel_mse": float(folds[col].mean()),
                     "cv_ci_low": ci[0], "cv_ci_high": ci[1], "cv_fold_sd": float(folds[col].std(ddof=1)),
                     "n_folds": len(folds), "train_rel_mse": train_err,
                     "paper_cv_rel_mse": PAPER_TABLE1[(model, res_)][0],
                     "paper_train_rel_mse": PAPER_TABLE1[(model, res_)][1]})
    table = pd.DataFrame(rows)
    table["lambda"] = [best, best, np.nan, np.nan]
    # the data behind the table (provenance of the selection: query returned vs kept)
    table["n_injections"] = data.n_inj
    table["n_source_voxels"], table["n_target_voxels"] = X.shape[0], Y.shape[0]
    for key in DATA_COUNTS:
        table[key] = data.attrs.get(key, np.nan)
    return table, folds, lam_curve


def cross_validate(data: ConnectivityData, mp: ModelParams, seed: int, device: str
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The whole cross-validation in one process: :func:`cv_fold` for every outer fold (one
    eigendecomposition for all), then :func:`cv_gather`. The workflow runs the folds as
    separate jobs; the results are the same."""
    Lx, Ly = data.laplacians(mp.cut_borders)
    eig = mp.eigenbasis(Lx, Ly, device)
    records = [cv_fold(data, mp, o, seed, device, eig) for o in range(mp.cv_outer_folds)]
    return cv_gather(data, mp, records, seed, device, eig)


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


def fit_contra(data: ConnectivityData, mp: ModelParams, seed: int, device: str
               ) -> tuple[xr.Dataset, pd.DataFrame, pd.DataFrame]:
    """The contralateral matrix (target voxels of the other hemisphere x source voxels).

    As the authors (``lambda_ipsi_contra_opt``), its lambda is chosen separately: K-fold CV
    over injections (``cv_outer_folds`` folds) along the lambda grid, then one full-rank fit
    on all injections. Returns W_contra (labelled ``hemisphere: contralateral``), the lambda
    curve and a recovery row (relative error to W_true_contra on planted data).
    """
    Lx, Ly = data.laplacians(mp.cut_borders)
    eig = mp.eigenbasis(Lx, Ly, device)
    X, Y, Om = data.X, data.Y, data.Omega
    lambdas = np.asarray(sorted(mp.lambdas, reverse=True), float)
    errs = np.zeros((mp.cv_outer_folds, len(lambdas)))
    for f, (train, test) in enumerate(kfold_injections(data.n_inj, mp.cv_outer_folds, seed + 2000)):
        W0 = None
        for li, lam in enumerate(lambdas):
            est = mp.estimator(lam, None, device, seed).fit(X[:, train], Y[:, train], Om[:, train], Lx=Lx, Ly=Ly,
                                                            W0=W0, eigenbasis=eig)
            W0 = est.W_
            errs[f, li] = rel_mse(est.W_ @ X[:, test], Y[:, test], Om[:, test])
    curve = errs.mean(0)
    best = float(lambdas[int(np.argmin(curve))])
    est = mp.estimator(best, None, device, seed).fit(X, Y, Om, Lx=Lx, Ly=Ly, eigenbasis=eig)
    rec = pd.DataFrame([{"hemisphere": "contralateral", "lambda": best, "model": "full", "objective": est.objective_,
                         "n_iter": est.n_iter_, "converged": est.converged_, "seconds": est.seconds_,
                         "rel_error_W_true": rel_err(est.W_, data.W_true) if data.W_true is not None else np.nan,
                         "train_rel_mse": rel_mse(est.W_ @ X, Y, Om), "chosen": True}])
    W_ds = xr.Dataset(
        {"W_contra": (("contra_target_voxel", "source_voxel"), est.W_)},
        coords={"source_coord": (("source_voxel", "axis"), data.source_coord),
                "contra_target_coord": (("contra_target_voxel", "axis"), data.target_coord),
                "source_area": ("source_voxel", data.source_area),
                "contra_target_area": ("contra_target_voxel", data.target_area), "axis": ["AP", "DV", "ML"]},
        attrs={"hemisphere": "contralateral", "units": "projection density per unit injection density",
               "description": "contralateral connectivity: targets in the other hemisphere's target areas, "
                              "sources as in W.nc (ipsilateral)",
               "lambda": best, "rank": "full", "seed": seed, "solver": mp.solver, "objective": est.objective_,
               "lambda_scaling": "lambda * n_inj / n_x", "source": str(data.attrs.get("source", "")),
               "scale": str(data.attrs.get("scale", ""))})
    lam_curve = pd.DataFrame({"lambda": lambdas, "cv_rel_mse": curve, "chosen": lambdas == best})
    return W_ds, lam_curve, rec


# -- 4. claims ----------------------------------------------------------------------------
def _ci(values, seed: int, name: str, statistic=np.mean) -> list[float] | None:
    ci = bootstrap_ci(values, statistic, seed=bootstrap_seed(seed, name))
    return None if ci is None else [float(ci[0]), float(ci[1])]


def _quantile_level(values: np.ndarray, point: float) -> float:
    """Share of the draws at or below ``point`` (where the paper's number falls among them)."""
    return float(np.mean(np.asarray(values) <= point))


def synthetic_claims(syn: pd.DataFrame, tolerances: dict, scale: str, source: str, seed: int) -> list[Claim]:
    """The 1-D test's claims over the random draws (all ``recovery``: the test plants W)."""
    t, out = "connectivity", []
    wide = syn.pivot(index="draw", columns="fit", values="rel_error").sort_index()
    n = len(wide)
    rank = syn.loc[syn.fit == "lowrank", "rank"].iloc[0]
    unit = "random draws of injections and noise"
    ratio = float(tolerances["ablation_ratio"])
    for fit, what in [("no_mask", "without the P_Ω completion (Ω = 1 everywhere)"),
                      ("lambda0", "without smoothing (λ = 0)")]:
        r = (wide[fit] / wide["full"]).values
        name = f"1-D {fit} ratio"
        out.append(Claim(
            t, f"1-D test: the analysis recovers the planted kernel much worse {what} than with both terms: "
               f"its relative error is more than {ratio:g}x the full fit's (mean ratio over draws, paired)",
            float(np.mean(r)), ">", ratio, scale, source,
            {"mean_error_full": float(wide["full"].mean()), f"mean_error_{fit}": float(wide[fit].mean()),
             "per_draw_ratio": [round(float(v), 4) for v in r],
             "converged_share": float(syn.loc[syn.fit == fit, "converged"].astype(bool).mean())},
            kind="recovery", paper_ref="§4, Fig. 2 (one draw, no number)", n=n, unit=unit, ci=_ci(r, seed, name)))
    for fit, label in [("full", "full-rank"), ("lowrank", f"rank-{rank}")]:
        paper = PAPER_1D[fit]
        e = wide[fit].values
        name = f"1-D {fit} paper quantile"
        q = _quantile_level(e, paper)
        out.append(Claim(
            t, f"1-D test: the paper's {label} relative error ({100 * paper:.1f}%, one draw) lies within the "
               f"central 95% of the errors over random draws (measured: share of draws at or below it)",
            q, "within", [0.025, 0.975], scale, source,
            {"mean": float(e.mean()), "sd": float(e.std(ddof=1)) if n > 1 else float("nan"),
             "q2.5": float(np.quantile(e, 0.025)), "q97.5": float(np.quantile(e, 0.975)),
             "mean_ci": _ci(e, seed, f"1-D {fit} mean"), "per_draw": [round(float(v), 4) for v in e]},
            kind="recovery", paper_value=paper, paper_ref="§4, Fig. 2", n=n, unit=unit,
            ci=_ci(e, seed, name, statistic=lambda a: _quantile_level(a, paper))))
    pts = float(tolerances["synthetic_points"])
    d = (wide["lowrank"] - wide["full"]).values
    out.append(Claim(
        t, f"1-D test: the rank-{rank} fit recovers the planted kernel about as well as the full-rank fit "
           f"(paired difference of relative errors within ±{100 * pts:.0f} points)",
        float(np.mean(d)), "within", [-pts, pts], scale, source,
        {"per_draw": [round(float(v), 4) for v in d]}, kind="recovery", paper_value=PAPER_1D["lowrank"] - PAPER_1D["full"],
        paper_ref="§4 (9.6% vs 11.1%)", n=n, unit=unit, ci=_ci(d, seed, "1-D lowrank minus full")))
    return out


def make_claims(syn: pd.DataFrame, table: pd.DataFrame, recovery: pd.DataFrame, rank: int, tolerances: dict,
                scale: str, source: str, seed: int = 0, folds: pd.DataFrame | None = None,
                contra: pd.DataFrame | None = None) -> list[Claim]:
    """The paper's checked claims as measured numbers, with 95% intervals over their units
    (random draws of the 1-D test; outer CV folds for Table 1 and the low-rank difference)."""
    t = "connectivity"
    out = synthetic_claims(syn, tolerances, scale, source, seed)
    planted = source == "embedded"
    # on embedded data the generator planted W_true: the comparisons are recoveries
    kind = "recovery" if planted else "finding"
    fold_unit = "outer cross-validation folds"
    if folds is None:  # older callers: the table's means only
        folds = pd.DataFrame()
    nf = len(folds) if len(folds) else None
    for res, pv, pr in [("voxel", 0.33, 1.07), ("regional", 0.16, 0.48)]:
        if len(folds):
            v, r = folds[f"voxel_model_{res}_res"].values, folds[f"regional_model_{res}_res"].values
            diff, ci = v - r, _ci((v, r), seed, f"table1 {res} diff", statistic=lambda a, b: float(np.mean(a - b)))
        else:
            cv = table.set_index(["model", "resolution"])["cv_rel_mse"]
            v, r = np.array([cv[("voxel", res)]]), np.array([cv[("regional", res)]])
            diff, ci = v - r, None
        prefix = "On the planted brain, the" if planted else "The"
        out.append(Claim(
            t, f"{prefix} voxel model's cross-validated relative MSE ({res} resolution) is below the regional "
               f"model's (paper {100 * pv:.0f}% vs {100 * pr:.0f}%; paired over outer folds)",
            float(np.mean(diff)), "<", 0.0, scale, source,
            {"voxel_model": float(np.mean(v)), "voxel_model_ci": _ci(v, seed, f"table1 voxel {res}"),
             "regional_model": float(np.mean(r)), "regional_model_ci": _ci(r, seed, f"table1 regional {res}"),
             "paper_voxel_model": pv, "paper_regional_model": pr,
             "reduction": float(1 - np.mean(v) / np.mean(r)), "paper_reduction": 1 - pv / pr,
             "data": {k: (int(table[k].iloc[0]) if pd.notna(table[k].iloc[0]) else None)
                      for k in ("n_injections", "n_source_voxels", "n_target_voxels") + DATA_COUNTS if k in table}},
            kind=kind, paper_value=pv - pr, paper_ref="Table 1", n=nf, unit=fold_unit, ci=ci))
    if not planted and len(folds):  # the paper's magnitudes, on the real data only
        band = float(tolerances["table1_points"])
        for model, res, pv in [("voxel", "voxel", 0.33), ("regional", "voxel", 1.07),
                               ("voxel", "regional", 0.16), ("regional", "regional", 0.48)]:
            v = folds[f"{model}_model_{res}_res"].values
            out.append(Claim(
                t, f"The {model} model's cross-validated relative MSE at {res} resolution is {100 * pv:.0f}% "
                   f"(within ±{100 * band:.0f} points; mean over outer folds)",
                float(np.mean(v)), "within", [pv - band, pv + band], scale, source,
                {"per_fold": [round(float(x), 4) for x in v]}, kind="finding", paper_value=pv, paper_ref="Table 1",
                n=nf, unit=fold_unit, ci=_ci(v, seed, f"table1 magnitude {model} {res}")))
    # low rank vs full at each fold's lambda
    if len(folds) and "lowrank_rel_diff_full" in folds:
        dlr = folds["lowrank_rel_diff_full"].values
        tol = float(tolerances["lowrank_vs_full"])
        out.append(Claim(
            t, f"The rank-{rank} fit is close to the full-rank fit at the cross-validated λ: relative difference "
               f"‖UVᵀ − W‖/‖W‖ below {tol:g} (paper 13% at rank 160; mean over outer folds)",
            float(np.mean(dlr)), "<", tol, scale, source,
            {"per_fold": [round(float(x), 4) for x in dlr], "rank": rank,
             "lambda_per_fold": [float(x) for x in folds["voxel_lambda"]]},
            kind=kind, paper_value=PAPER_LOWRANK_DIFF, paper_ref="§5.1", n=nf, unit=fold_unit,
            ci=_ci(dlr, seed, "lowrank vs full")))
    # recovery of the planted W, per outer fold, for each model
    if planted and len(folds) and "voxel_rel_error_W_true" in folds:
        ev, er = folds["voxel_rel_error_W_true"].values, folds["regional_rel_error_W_true"].values
        tol = float(tolerances["recovery_full"])
        out.append(Claim(
            t, f"The analysis recovers the planted W_true with the voxel model: relative error ‖W − W_true‖/‖W_true‖ "
               f"below {tol:g} (fits on each outer fold's training injections)",
            float(np.mean(ev)), "<", tol, scale, source, {"per_fold": [round(float(x), 4) for x in ev]},
            kind="recovery", n=nf, unit=fold_unit, ci=_ci(ev, seed, "recovery voxel folds")))
        out.append(Claim(
            t, "The analysis recovers the planted W_true better with the voxel model than with the regional model "
               "(paired difference of relative errors over outer folds; W_true has area gains and mirror-reversed "
               "retinotopic maps, so neither model holds by construction)",
            float(np.mean(ev - er)), "<", 0.0, scale, source,
            {"voxel_rel_error": float(np.mean(ev)), "voxel_rel_error_ci": _ci(ev, seed, "recovery voxel folds"),
             "regional_rel_error": float(np.mean(er)), "regional_rel_error_ci": _ci(er, seed, "recovery regional folds"),
             "lowrank_rel_error": float(np.mean(folds["lowrank_rel_error_W_true"])) if "lowrank_rel_error_W_true" in folds else None},
            kind="recovery", n=nf, unit=fold_unit, ci=_ci((ev, er), seed, "recovery voxel minus regional",
                                                          statistic=lambda a, b: float(np.mean(a - b)))))
    if len(recovery) and recovery["rel_error_W_true"].notna().any():
        ch = recovery[recovery["chosen"].astype(bool)]
        for model, key in [("full", "recovery_full"), (f"rank{rank}", "recovery_lowrank")]:
            r = ch[ch.model == model]
            if len(r):
                out.append(Claim(t, f"The analysis recovers the planted W_true with the {model} fit on all injections at "
                                 f"the cross-validated λ (relative error below {tolerances[key]:g})",
                                 float(r["rel_error_W_true"].iloc[0]), "<", float(tolerances[key]), scale, source,
                                 {"lambda": float(r["lambda"].iloc[0])}, kind="recovery", n=1, unit="fit on all injections"))
    if contra is not None and len(contra) and contra["rel_error_W_true"].notna().any():
        r = contra.iloc[0]
        out.append(Claim(t, f"The analysis recovers the planted contralateral W_true (targets in the other hemisphere) "
                         f"with the full fit at its own cross-validated λ (relative error below {tolerances['recovery_full']:g})",
                         float(r["rel_error_W_true"]), "<", float(tolerances["recovery_full"]), scale, source,
                         {"lambda": float(r["lambda"])}, kind="recovery", n=1, unit="fit on all injections"))
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
