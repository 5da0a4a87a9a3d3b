"""The late phase of training, across-run statistics, and the paper's claims as measured numbers.

Tables may hold several experiments (column ``experiment``, e.g. ``mlp`` and ``vgg``):
runs, late-phase points, correlations and claims are taken within each experiment.

**The late phase (the rule).** The paper's statements are about the last phase of
learning, near a minimum of (near) zero loss, where its trace form of the bound applies.
A measured point of a run is *in the late phase* when the run's whole-training-set loss
(the authors' MSE) at that point and at every later measured point is at most
``late_loss_frac`` times the loss at initialisation (:func:`late_phase_mask`): the loss
has fallen by a factor ``1 / late_loss_frac`` and stays there. A run *reached* the late
phase when at least ``min_late_points`` of its measured points are in it; only such runs
enter the findings, and each finding is computed on late-phase points alone.

**Findings** (kind ``finding``; CIs are percentile bootstraps over runs):

* in the late phase sharpness (``tr H``) falls, volume falls, and the two move together
  (per-run OLS slope of ``log tr H`` and of the log volume over the late iterations;
  per-run Spearman correlation of ``tr H`` with the volume over the late points);
* across hyper-parameters (runs at their last late-phase point) flatter minima have lower
  volume and lower MLS (Spearman correlation across runs; the bootstrap resamples runs);
* local dimensionality is not tied to sharpness the way the volume is:
  ``rho(tr H, volume) - |rho(tr H, local dim)| > 0`` across runs.

**Bounds** (kind ``bound``; hold or fail on every checked point): the gradient-norm
forms (theorems by Cauchy-Schwarz / Jensen at every point), the paper's ``sqrt(tr H)``
form on the late-phase points (exact only at zero loss), and linear stability
``lambda_max(H_train) <= 2 / lr`` on the late-phase points (the issue's "larger lr gives
lower lambda_max" as a sanity check, not a finding about compression).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from neurorepro.claims import Claim
from neurorepro.measures.bootstrap import N_BOOT, bootstrap_ci, bootstrap_seed
from neurorepro.measures.correlation import spearman as rank_correlation

TARGET = "flatness"
REPRESENTATION = ("mls", "volume", "volume_all", "local_dim", "nmls")
SHARPNESS = ("sharpness", "lambda_max", "grad_norm")
GAPS = ("gen_gap_loss", "gen_gap_acc")
#: defaults of the late-phase rule (config keys of the same names)
LATE_LOSS_FRAC = 0.05
MIN_LATE_POINTS = 3
#: where the paper states what a claim tests (arXiv 2310.01770)
REF_LATE = "abstract of v1: in the last phase of learning, compression correlates with flatness"
REF_ACROSS = "abstract (v4/v5): consistently positive correlation between sharpness and compression (LVR, MLS)"
REF_LD = "abstract of v1: no similarly direct connection between local dimensionality and sharpness"


def run_keys(measures: pd.DataFrame) -> list[str]:
    """Columns that name a run: (experiment,) lr, batch size, seed."""
    return (["experiment"] if "experiment" in measures.columns else []) + ["lr", "batch_size", "seed"]


def experiments(measures: pd.DataFrame) -> list:
    """Experiment names in order of first appearance (``[None]`` for a table without them)."""
    return list(dict.fromkeys(measures["experiment"])) if "experiment" in measures.columns else [None]


def of_experiment(measures: pd.DataFrame, name) -> pd.DataFrame:
    """The rows of experiment ``name`` (all rows when ``name`` is None)."""
    return measures if name is None else measures[measures["experiment"] == name]


def finished(measures: pd.DataFrame) -> pd.DataFrame:
    """Rows of runs that did not diverge."""
    return measures[~measures["diverged"].astype(bool)].copy()


def late_phase_mask(loss, init_loss: float, frac: float = LATE_LOSS_FRAC) -> np.ndarray:
    """Which points of one run's loss curve (in order of iteration) are in the late phase.

    A point is in when its loss and every later loss are ``<= frac * init_loss``; so the
    late phase is a (possibly empty) tail of the curve. NaN losses count as out.
    """
    loss = np.asarray(loss, float)
    if not 0 < frac < 1:
        raise ValueError(f"late_loss_frac must lie in (0, 1), got {frac}")
    if not np.isfinite(init_loss) or init_loss <= 0:
        return np.zeros(len(loss), bool)
    below = np.isfinite(loss) & (loss <= frac * init_loss)
    # a point is in iff all points from it to the end are below: reverse cumulative AND
    return np.logical_and.accumulate(below[::-1])[::-1].copy() if len(loss) else below


def mark_late_phase(measures: pd.DataFrame, frac: float = LATE_LOSS_FRAC,
                    min_points: int = MIN_LATE_POINTS) -> pd.DataFrame:
    """``measures`` with columns ``late`` (the point is in the late phase) and
    ``run_reached_late`` (its run has at least ``min_points`` late points)."""
    out = measures.copy()
    out["late"] = False
    out["run_reached_late"] = False
    ok = ~out["diverged"].astype(bool)
    if not ok.any():
        return out
    for _, g in out[ok].groupby(run_keys(out)):
        g = g.sort_values("iteration")
        mask = late_phase_mask(g["train_loss"], float(g["init_train_loss"].iloc[0]), frac)
        out.loc[g.index, "late"] = mask
        out.loc[g.index, "run_reached_late"] = int(mask.sum()) >= min_points
    return out


def final_rows(measures: pd.DataFrame) -> pd.DataFrame:
    """The last measured point of every run that did not diverge (keeps ``late`` if present)."""
    ok = finished(measures)
    if ok.empty:
        return ok
    keys = run_keys(ok)
    idx = ok.groupby(keys)["iteration"].idxmax()
    return ok.loc[idx].sort_values(keys).reset_index(drop=True)


def late_final_rows(marked: pd.DataFrame) -> pd.DataFrame:
    """The last measured point of every run that reached the late phase (table from :func:`mark_late_phase`)."""
    f = final_rows(marked[marked["run_reached_late"].astype(bool)]) if len(marked) else marked
    return f


def spearman(a, b) -> float:
    """Spearman's rho over the finite pairs; NaN with fewer than 3 of them or a constant input."""
    return rank_correlation(a, b, nan_policy="omit", min_n=3)


def _slope(t, v) -> float:
    """OLS slope of ``v`` on ``t`` (NaN with fewer than 2 finite points or constant ``t``)."""
    t, v = np.asarray(t, float), np.asarray(v, float)
    ok = np.isfinite(t) & np.isfinite(v)
    if ok.sum() < 2 or np.ptp(t[ok]) == 0:
        return float("nan")
    return float(np.polyfit(t[ok], v[ok], 1)[0])


def _safe_log(v) -> np.ndarray:
    v = np.asarray(v, float)
    with np.errstate(all="ignore"):
        return np.where(v > 0, np.log(np.where(v > 0, v, 1.0)), np.nan)


def late_run_table(marked: pd.DataFrame) -> pd.DataFrame:
    """Per run that reached the late phase: slopes over its late points (per 1,000
    iterations) of ``log tr H``, the (log) volume, ``log MLS``, local dimensionality and
    the training loss, and the Spearman correlation of ``tr H`` with each measure over them."""
    rows = []
    reached = marked[marked["run_reached_late"].astype(bool) & marked["late"].astype(bool)]
    for key, g in reached.groupby(run_keys(marked)):
        g = g.sort_values("iteration")
        t = g["iteration"].to_numpy(float) / 1000.0
        rec = dict(zip(run_keys(marked), key if isinstance(key, tuple) else (key,)))
        rec.update({
            "n_late_points": len(g),
            "late_from_iteration": int(g["iteration"].iloc[0]),
            "slope_log_sharpness": _slope(t, _safe_log(g["sharpness"])),
            "slope_log_lambda_max": _slope(t, _safe_log(g["lambda_max"])),
            "slope_volume": _slope(t, g["volume"]),
            "slope_volume_all": _slope(t, g["volume_all"]),
            "slope_log_mls": _slope(t, _safe_log(g["mls"])),
            "slope_local_dim": _slope(t, g["local_dim"]),
            "slope_log_train_loss": _slope(t, _safe_log(g["train_loss"])),
            "rho_sharpness_volume": spearman(g["sharpness"], g["volume"]),
            "rho_sharpness_mls": spearman(g["sharpness"], g["mls"]),
            "rho_sharpness_local_dim": spearman(g["sharpness"], g["local_dim"]),
            "rho_lambda_max_volume": spearman(g["lambda_max"], g["volume"]),
        })
        rows.append(rec)
    return pd.DataFrame(rows)


def correlation_table(final: pd.DataFrame) -> pd.DataFrame:
    """Spearman correlations across runs (one point per run, e.g. :func:`late_final_rows`)
    of each sharpness form with every representation measure, the generalisation gaps,
    learning rate and batch size, within each experiment."""
    tables = []
    for name in experiments(final) if len(final) else []:
        f = of_experiment(final, name)
        rows = []
        for s in SHARPNESS:
            for m in (*REPRESENTATION, *GAPS, "lr", "batch_size"):
                rows.append({"sharpness_measure": s, "measure": m, "spearman": spearman(f[s], f[m]), "n_runs": len(f)})
        for m in ("sharpness", "lambda_max", *REPRESENTATION):
            for h in ("lr", "batch_size"):
                rows.append({"sharpness_measure": h, "measure": m, "spearman": spearman(f[h], f[m]), "n_runs": len(f)})
        t = pd.DataFrame(rows).drop_duplicates(["sharpness_measure", "measure"])
        if name is not None:
            t.insert(0, "experiment", name)
        tables.append(t)
    if not tables:
        return pd.DataFrame(columns=["sharpness_measure", "measure", "spearman", "n_runs"])
    return pd.concat(tables, ignore_index=True)


def _fraction_holds(ok: pd.DataFrame, value: str, bound: str) -> tuple[float, dict]:
    if value not in ok.columns or bound not in ok.columns:
        return float("nan"), {"n_points": 0}
    v, b = ok[value].to_numpy(float), ok[bound].to_numpy(float)
    good = np.isfinite(v) & ~np.isnan(b)  # an infinite bound (a zero input norm) holds trivially
    if not good.any():
        return float("nan"), {"n_points": 0}
    holds = v[good] <= b[good]
    fin = good & np.isfinite(b)
    return float(holds.mean()), {
        "n_points": int(good.sum()),
        "n_violations": int((~holds).sum()),
        "max_value_minus_bound": float(np.max(v[fin] - b[fin])) if fin.any() else float("nan"),
        "median_bound_minus_value": float(np.median(b[fin] - v[fin])) if fin.any() else float("nan"),
    }


def _share_all_hold(ok: pd.DataFrame, forms) -> tuple[float, dict]:
    """Share of the points of ``ok`` where every (value, bound, form) holds, and per-form details."""
    holds_all = np.ones(len(ok), bool)
    n_checked, per_form = 0, {}
    for value, bound, form in forms:
        frac, det = _fraction_holds(ok, value, bound)
        per_form[form] = {"share_holding": frac, **det}
        if det["n_points"]:
            v, b = ok[value].to_numpy(float), ok[bound].to_numpy(float)
            holds_all &= ~(np.isfinite(v) & ~np.isnan(b)) | (v <= b)
            n_checked += 1
    measured = float(holds_all.mean()) if n_checked and len(ok) else float("nan")
    return measured, per_form


#: (words, [(value, bound, form)...]): the gradient-norm-form bounds, theorems at every point:
#: min form (ours), geometric-mean form (the paper's; it bounds the geometric-mean MLS),
#: our root-sum-square NMLS and the paper's layer-averaged NMLS.
BOUND_CLAIMS = (
    ("maximum local sensitivity", [("mls", "mls_bound", "min"), ("mls_gm", "mls_bound_gm", "gm")]),
    ("representation volume", [("volume", "volume_bound", "min"), ("volume", "volume_bound_gm", "gm")]),
    ("network-wide local sensitivity", [("nmls", "nmls_bound", "rss"), ("nmls", "nmls_bound_sharp", "rss_max_norm"),
                                        ("nmls_mean", "nmls_mean_bound", "mean"),
                                        ("nmls_mean", "nmls_mean_bound_sharp", "mean_sharp")]),
)
#: the paper's sqrt(tr H) forms (exact only at zero loss), checked on late-phase points
TRACE_FORMS = [("mls", "mls_bound_trace", "mls_min"), ("mls_gm", "mls_bound_gm_trace", "mls_gm"),
               ("volume", "volume_bound_trace", "volume_min"), ("volume", "volume_bound_gm_trace", "volume_gm"),
               ("nmls", "nmls_bound_trace", "nmls_rss")]


def late_rule(late: dict | None, name) -> tuple[float, int]:
    """``(late_loss_frac, min_late_points)`` of experiment ``name`` from ``late`` (experiment ->
    ``{"late_loss_frac": .., "min_late_points": ..}``; missing entries take the defaults)."""
    r = (late or {}).get(name, {}) or {}
    return float(r.get("late_loss_frac", LATE_LOSS_FRAC)), int(r.get("min_late_points", MIN_LATE_POINTS))


def mark_all(measures: pd.DataFrame, late: dict | None = None) -> pd.DataFrame:
    """:func:`mark_late_phase` within each experiment, with that experiment's rule."""
    parts = []
    for name in experiments(measures):
        frac, k = late_rule(late, name)
        parts.append(mark_late_phase(of_experiment(measures, name), frac, k))
    return pd.concat(parts).loc[measures.index] if parts else measures


def make_claims(measures: pd.DataFrame, *, scale: str, source: str, seed: int = 0,
                late: dict | None = None, n_boot: int = N_BOOT) -> list[Claim]:
    """The paper's claims, measured on the sweep (for each experiment; with several
    experiments each claim's text starts with ``[experiment]``). ``seed`` is the run's
    config seed (bootstrap seeds derive from it); ``late`` the late-phase rule of each
    experiment (:func:`late_rule`); ``n_boot`` bootstrap resamples per interval."""
    names = experiments(measures)
    claims = []
    for name in names:
        prefix = f"[{name}] " if len(names) > 1 else ""
        frac, k = late_rule(late, name)
        sub = mark_late_phase(of_experiment(measures, name), frac, k)
        claims += _claims_of(sub, prefix, name, scale=scale, source=source, seed=seed, n_boot=n_boot,
                             rule={"late_loss_frac": frac, "min_late_points": k})
    return claims


def _mean(v) -> float:
    v = np.asarray(v, float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else float("nan")


def _rho_difference(a, b, c) -> float:
    """``rho(a, b) - |rho(a, c)|`` (for the bootstrap: one resample of aligned runs)."""
    return spearman(a, b) - abs(spearman(a, c))


def _claims_of(m: pd.DataFrame, prefix: str, name, *, scale: str, source: str, seed: int, rule: dict,
               n_boot: int = N_BOOT) -> list[Claim]:
    ok = finished(m)
    n_runs = int(m.groupby(run_keys(m)).ngroups)
    n_div = int(m.groupby(run_keys(m))["diverged"].any().sum())
    late_pts = ok[ok["late"].astype(bool)]
    per_run = late_run_table(m)
    n_reached = len(per_run)
    common = {"n_runs": n_runs, "n_diverged_runs": n_div, "n_runs_reached_late_phase": n_reached,
              "late_phase_rule": "loss at this and every later point <= late_loss_frac x loss at initialisation",
              **rule}
    if name is not None:
        common["experiment"] = name
    claims = []

    def bseed(what: str) -> int:
        return bootstrap_seed(seed, f"{prefix}{what}")

    # --- bounds: gradient-norm forms at every point (theorems)
    for what, forms in BOUND_CLAIMS:
        measured, per_form = _share_all_hold(ok, forms)
        claims.append(Claim(
            TARGET, f"{prefix}The gradient-norm-form bound on the {what} holds at every measured point "
            "(measured: share of points where every form holds)",
            measured, ">=", 1.0, scale, source, {**per_form, **common}, kind="bound",
            n=len(ok), unit="measured points",
        ))
    # --- the paper's sqrt(tr H) form, valid near zero loss: on late-phase points
    measured, per_form = _share_all_hold(late_pts, TRACE_FORMS)
    claims.append(Claim(
        TARGET, f"{prefix}The paper's sqrt(tr H) form of the bounds (MLS, volume, NMLS) holds at every "
        "late-phase point (measured: share of late points where every form holds)",
        measured, ">=", 1.0, scale, source,
        {**per_form, "median_relative_trace_minus_gn":
            float(np.nanmedian(late_pts["trace_minus_gn"] / late_pts["grad_norm"] ** 2)) if len(late_pts) else float("nan"),
         **common}, kind="bound", n=len(late_pts), unit="late-phase points", paper_ref="bounds with tr H (near zero loss)",
    ))
    # --- linear stability: lambda_max of the training loss <= 2 / lr on late points
    if len(late_pts):
        ratio = late_pts["lambda_max_train"].to_numpy(float) * late_pts["lr"].to_numpy(float) / 2.0
        stable = float(np.mean(ratio <= 1.0))
        by_lr = late_pts.groupby("lr")["lambda_max_train"].median()
        det = {"max_lambda_max_train_times_lr_over_2": float(np.nanmax(ratio)),
               "median_lambda_max_train_by_lr": {f"{k:g}": float(v) for k, v in by_lr.items()},
               "two_over_lr": {f"{k:g}": 2.0 / k for k in by_lr.index}}
    else:
        stable, det = float("nan"), {}
    claims.append(Claim(
        TARGET, f"{prefix}Linear stability: the top Hessian eigenvalue of the training loss is at most 2/lr at "
        "every late-phase point (so a larger lr allows only a lower lambda_max; measured: share of late points)",
        stable, ">=", 1.0, scale, source, {**det, **common}, kind="bound", n=len(late_pts), unit="late-phase points",
    ))

    # --- findings in the late phase: per-run slopes and co-movement, CI over runs
    def col(c):
        return per_run[c].to_numpy(float) if n_reached else np.array([])

    def finite(v):
        return v[np.isfinite(v)]

    for column, words, extra in (
        ("slope_log_sharpness", "sharpness (tr H) decreases",
         ("slope_log_lambda_max", "slope_log_train_loss")),
        ("slope_volume", "the representation volume (authors' top-3 log volume) decreases",
         ("slope_volume_all", "slope_log_mls", "slope_local_dim")),
    ):
        v = finite(col(column))
        claims.append(Claim(
            TARGET, f"{prefix}In the late phase of training {words} (measured: mean over runs of the per-run "
            f"OLS slope of {column.removeprefix('slope_')} per 1,000 iterations over late-phase points)",
            _mean(v), "<", 0.0, scale, source,
            {"per_run": per_run[[*run_keys(m), column, "n_late_points"]].to_dict("records") if n_reached else [],
             **{f"mean_{e}": _mean(col(e)) for e in extra},
             "share_of_runs_negative": float(np.mean(v < 0)) if len(v) else float("nan"), **common},
            kind="finding", n=len(v), unit="runs", ci=bootstrap_ci(v, np.mean, seed=bseed(column), n_boot=n_boot) if len(v) else None,
            paper_ref=REF_LATE,
        ))
    v = finite(col("rho_sharpness_volume"))
    claims.append(Claim(
        TARGET, f"{prefix}In the late phase of training sharpness (tr H) and volume move together (measured: mean "
        "over runs of the per-run Spearman rho of tr H with the volume over late-phase points)",
        _mean(v), ">", 0.0, scale, source,
        {"mean_rho_sharpness_mls": _mean(col("rho_sharpness_mls")),
         "mean_rho_sharpness_local_dim": _mean(col("rho_sharpness_local_dim")),
         "mean_rho_lambda_max_volume": _mean(col("rho_lambda_max_volume")),
         "share_of_runs_positive": float(np.mean(v > 0)) if len(v) else float("nan"), **common},
        kind="finding", n=len(v), unit="runs", ci=bootstrap_ci(v, np.mean, seed=bseed("co-movement"), n_boot=n_boot) if len(v) else None,
        paper_ref=REF_LATE,
    ))

    # --- findings across hyper-parameters: one point per run (its last late-phase point)
    final = late_final_rows(m)
    n_f = len(final)

    def across(a: str, b: str) -> tuple[float, tuple | None]:
        if n_f == 0:
            return float("nan"), None
        x, y = final[a].to_numpy(float), final[b].to_numpy(float)
        return spearman(x, y), bootstrap_ci((x, y), spearman, seed=bseed(f"rho {a} {b}"), n_boot=n_boot)

    extras = {}
    if n_f:
        extras = {f"rho_{a}_{b}": spearman(final[a], final[b])
                  for a in ("sharpness", "lambda_max", "grad_norm")
                  for b in ("volume", "volume_all", "mls", "local_dim", "gen_gap_acc", "lr", "batch_size")}
    for b, words in (("volume", "lower volume"), ("mls", "lower maximum local sensitivity (MLS)")):
        rho, ci = across("sharpness", b)
        claims.append(Claim(
            TARGET, f"{prefix}Across learning rates and batch sizes flatter minima have {words} (measured: Spearman "
            f"rho of tr H with {b} across runs at their last late-phase point)",
            rho, ">", 0.0, scale, source, {**extras, **common}, kind="finding", n=n_f, unit="runs", ci=ci,
            paper_ref=REF_ACROSS,
        ))
    if n_f:
        x, y, z = (final[c].to_numpy(float) for c in ("sharpness", "volume", "local_dim"))
        diff = _rho_difference(x, y, z)
        ci = bootstrap_ci((x, y, z), _rho_difference, seed=bseed("ld vs volume"), n_boot=n_boot)
    else:
        diff, ci = float("nan"), None
    claims.append(Claim(
        TARGET, f"{prefix}Local dimensionality is not tied to sharpness the way volume is (measured: rho(tr H, volume) "
        "- |rho(tr H, local dim)| across runs at their last late-phase point)",
        diff, ">", 0.0, scale, source,
        {"rho_sharpness_volume": extras.get("rho_sharpness_volume", float("nan")),
         "rho_sharpness_local_dim": extras.get("rho_sharpness_local_dim", float("nan")), **common},
        kind="finding", n=n_f, unit="runs", ci=ci, paper_ref=REF_LD,
    ))
    return claims
