"""Across-run statistics of the sweep and the paper's claims as measured numbers.

Tables may hold several experiments (column ``experiment``, e.g. ``mlp`` and ``vgg``):
runs, final snapshots, correlations and claims are taken within each experiment.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from neurorepro.claims import Claim

TARGET = "flatness"
REPRESENTATION = ("mls", "volume", "local_dim", "nmls")
SHARPNESS = ("sharpness", "hessian_trace", "grad_norm")
GAPS = ("gen_gap_loss", "gen_gap_acc")


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


def final_rows(measures: pd.DataFrame) -> pd.DataFrame:
    """The last snapshot of every run that did not diverge."""
    ok = finished(measures)
    if ok.empty:
        return ok
    keys = run_keys(ok)
    idx = ok.groupby(keys)["step"].idxmax()
    return ok.loc[idx].sort_values(keys).reset_index(drop=True)


def spearman(a, b) -> float:
    """Spearman rank correlation, NaN with fewer than 3 finite pairs or a constant input."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return float("nan")
    return float(stats.spearmanr(a[ok], b[ok]).correlation)


def correlation_table(final: pd.DataFrame) -> pd.DataFrame:
    """Spearman correlations across runs (final snapshots) of each sharpness form with
    every representation measure, the generalisation gaps, learning rate and batch size,
    within each experiment (column ``experiment`` when the table has one)."""
    tables = []
    for name in experiments(final):
        f = of_experiment(final, name)
        rows = []
        for s in SHARPNESS:
            for m in (*REPRESENTATION, *GAPS, "lr", "batch_size"):
                rows.append({"sharpness_measure": s, "measure": m, "spearman": spearman(f[s], f[m]), "n_runs": len(f)})
        for m in ("sharpness", *REPRESENTATION):
            for h in ("lr", "batch_size"):
                rows.append({"sharpness_measure": h, "measure": m, "spearman": spearman(f[h], f[m]), "n_runs": len(f)})
        t = pd.DataFrame(rows).drop_duplicates(["sharpness_measure", "measure"])
        if name is not None:
            t.insert(0, "experiment", name)
        tables.append(t)
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


#: (words, [(value, bound, form)...]): the bound claims. Every listed form is a theorem
#: (gradient-norm G), so the measured share counts the points where all of them hold:
#: min form (ours), geometric-mean form (the paper's; it bounds the geometric-mean MLS),
#: our root-sum-square NMLS and the paper's layer-averaged NMLS.
BOUND_CLAIMS = (
    ("maximum local sensitivity", [("mls", "mls_bound", "min"), ("mls_gm", "mls_bound_gm", "gm")]),
    ("representation volume", [("volume", "volume_bound", "min"), ("volume", "volume_bound_gm", "gm")]),
    ("network-wide local sensitivity", [("nmls", "nmls_bound", "rss"), ("nmls", "nmls_bound_sharp", "rss_max_norm"),
                                        ("nmls_mean", "nmls_mean_bound", "mean"),
                                        ("nmls_mean", "nmls_mean_bound_sharp", "mean_sharp")]),
)
#: trace forms (exact only at zero loss), reported beside the theorems
_TRACE = {"mls_bound": "mls_bound_trace", "mls_bound_gm": "mls_bound_gm_trace", "volume_bound": "volume_bound_trace",
          "volume_bound_gm": "volume_bound_gm_trace", "nmls_bound": "nmls_bound_trace"}


def make_claims(measures: pd.DataFrame, *, scale: str, source: str) -> list[Claim]:
    """The paper's headline claims, measured on the sweep (for each experiment; with
    several experiments each claim's text starts with ``[experiment]``)."""
    names = experiments(measures)
    claims = []
    for name in names:
        prefix = f"[{name}] " if len(names) > 1 else ""
        claims += _claims_of(of_experiment(measures, name), prefix, name, scale=scale, source=source)
    return claims


def _claims_of(measures: pd.DataFrame, prefix: str, name, *, scale: str, source: str) -> list[Claim]:
    ok = finished(measures)
    final = final_rows(measures)
    n_div = int(measures.groupby(run_keys(measures))["diverged"].any().sum())
    common = {"n_runs": int(final.shape[0]), "n_diverged_runs": n_div}
    if name is not None:
        common["experiment"] = name
    claims = []
    for what, forms in BOUND_CLAIMS:
        holds_all = np.ones(len(ok), bool)
        n_checked = 0
        per_form = {}
        for value, bound, form in forms:
            frac, det = _fraction_holds(ok, value, bound)
            per_form[form] = {"share_holding": frac, **det}
            if det["n_points"]:
                v, b = ok[value].to_numpy(float), ok[bound].to_numpy(float)
                holds_all &= ~(np.isfinite(v) & ~np.isnan(b)) | (v <= b)
                n_checked += 1
            if bound in _TRACE:
                frac_t, det_t = _fraction_holds(ok, value, _TRACE[bound])
                per_form[f"{form}_trace_form"] = {"share_holding": frac_t, **det_t}
        measured = float(holds_all.mean()) if n_checked and len(ok) else float("nan")
        claims.append(
            Claim(
                TARGET,
                f"{prefix}The sharpness bound on the {what} holds at every measured point "
                "(measured: share of points where it holds, gradient-norm form)",
                measured, ">=", 1.0, scale, source,
                {**per_form, **common}, kind="bound",
            )
        )
    for h, sign, word in (("lr", "<", "larger learning rate"), ("batch_size", ">", "smaller batch")):
        # runs share a number of epochs, not of steps: how far each group got matters
        by = final.groupby(h)[["train_loss", "sharpness", "volume"]].mean() if len(final) else None
        group = {} if by is None else {
            f"mean_final_train_loss_by_{h}": {f"{k:g}": float(v) for k, v in by["train_loss"].items()},
            f"mean_final_sharpness_by_{h}": {f"{k:g}": float(v) for k, v in by["sharpness"].items()},
            f"mean_final_volume_by_{h}": {f"{k:g}": float(v) for k, v in by["volume"].items()},
        }
        for m, what in (("sharpness", "sharpness"), ("volume", "representation volume")):
            rho = spearman(final[h], final[m]) if len(final) else float("nan")
            claims.append(
                Claim(
                    TARGET,
                    f"{prefix}A {word} gives lower {what} (measured: Spearman rho of {h} vs final {m} across runs)",
                    rho, sign, 0.0, scale, source, {**common, **group}, kind="finding",
                )
            )
    r_mls = spearman(final["sharpness"], final["mls"]) if len(final) else float("nan")
    r_ld = spearman(final["sharpness"], final["local_dim"]) if len(final) else float("nan")
    claims.append(
        Claim(
            TARGET,
            f"{prefix}MLS correlates with sharpness more strongly than local dimensionality does "
            "(measured: |rho(sharpness, MLS)| - |rho(sharpness, local dim)| across runs)",
            abs(r_mls) - abs(r_ld), ">", 0.0, scale, source,
            {"rho_sharpness_mls": r_mls, "rho_sharpness_local_dim": r_ld,
             "rho_trace_mls": spearman(final["hessian_trace"], final["mls"]) if len(final) else float("nan"),
             "rho_trace_local_dim": spearman(final["hessian_trace"], final["local_dim"]) if len(final) else float("nan"),
             "rho_sharpness_volume": spearman(final["sharpness"], final["volume"]) if len(final) else float("nan"),
             "rho_sharpness_gen_gap_acc": spearman(final["sharpness"], final["gen_gap_acc"]) if len(final) else float("nan"),
             **common}, kind="finding",
        )
    )
    return claims
