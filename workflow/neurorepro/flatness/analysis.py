"""Across-run statistics of the sweep and the paper's claims as measured numbers."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from neurorepro.claims import Claim

TARGET = "flatness"
REPRESENTATION = ("mls", "volume", "local_dim", "nmls")
SHARPNESS = ("sharpness", "hessian_trace", "grad_norm")
GAPS = ("gen_gap_loss", "gen_gap_acc")


def finished(measures: pd.DataFrame) -> pd.DataFrame:
    """Rows of runs that did not diverge."""
    return measures[~measures["diverged"].astype(bool)].copy()


def final_rows(measures: pd.DataFrame) -> pd.DataFrame:
    """The last snapshot of every run that did not diverge."""
    ok = finished(measures)
    if ok.empty:
        return ok
    idx = ok.groupby(["lr", "batch_size", "seed"])["step"].idxmax()
    return ok.loc[idx].sort_values(["lr", "batch_size", "seed"]).reset_index(drop=True)


def spearman(a, b) -> float:
    """Spearman rank correlation, NaN with fewer than 3 finite pairs or a constant input."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.ptp(a[ok]) == 0 or np.ptp(b[ok]) == 0:
        return float("nan")
    return float(stats.spearmanr(a[ok], b[ok]).correlation)


def correlation_table(final: pd.DataFrame) -> pd.DataFrame:
    """Spearman correlations across runs (final snapshots) of each sharpness form with
    every representation measure, the generalisation gaps, learning rate and batch size."""
    rows = []
    for s in SHARPNESS:
        for m in (*REPRESENTATION, *GAPS, "lr", "batch_size"):
            rows.append({"sharpness_measure": s, "measure": m, "spearman": spearman(final[s], final[m]), "n_runs": len(final)})
    for m in ("sharpness", *REPRESENTATION):
        for h in ("lr", "batch_size"):
            rows.append({"sharpness_measure": h, "measure": m, "spearman": spearman(final[h], final[m]), "n_runs": len(final)})
    return pd.DataFrame(rows).drop_duplicates(["sharpness_measure", "measure"]).reset_index(drop=True)


def _fraction_holds(ok: pd.DataFrame, value: str, bound: str) -> tuple[float, dict]:
    v, b = ok[value].to_numpy(float), ok[bound].to_numpy(float)
    good = np.isfinite(v) & np.isfinite(b)
    if not good.any():
        return float("nan"), {"n_points": 0}
    holds = v[good] <= b[good]
    return float(holds.mean()), {
        "n_points": int(good.sum()),
        "n_violations": int((~holds).sum()),
        "max_value_minus_bound": float(np.max(v[good] - b[good])),
        "median_bound_minus_value": float(np.median(b[good] - v[good])),
    }


def make_claims(measures: pd.DataFrame, *, scale: str, source: str) -> list[Claim]:
    """The paper's headline claims, measured on the sweep."""
    ok = finished(measures)
    final = final_rows(measures)
    n_div = int(measures.groupby(["lr", "batch_size", "seed"])["diverged"].any().sum())
    common = {"n_runs": int(final.shape[0]), "n_diverged_runs": n_div}
    claims = []
    for value, bound, what in (
        ("mls", "mls_bound", "maximum local sensitivity"),
        ("volume", "volume_bound", "representation volume"),
        ("nmls", "nmls_bound", "network-wide local sensitivity"),
    ):
        frac, det = _fraction_holds(ok, value, bound)
        frac_t, det_t = _fraction_holds(ok, value, f"{bound}_trace" if value != "nmls" else "nmls_bound_trace")
        claims.append(
            Claim(
                TARGET,
                f"The sharpness bound on the {what} holds at every measured point "
                "(measured: share of points where it holds, gradient-norm form)",
                frac, ">=", 1.0, scale, source,
                {**det, "share_holding_trace_form": frac_t, "trace_form": det_t, **common},
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
        for m, name in (("sharpness", "sharpness"), ("volume", "representation volume")):
            rho = spearman(final[h], final[m]) if len(final) else float("nan")
            claims.append(
                Claim(
                    TARGET,
                    f"A {word} gives lower {name} (measured: Spearman rho of {h} vs final {m} across runs)",
                    rho, sign, 0.0, scale, source, {**common, **group},
                )
            )
    r_mls = spearman(final["sharpness"], final["mls"]) if len(final) else float("nan")
    r_ld = spearman(final["sharpness"], final["local_dim"]) if len(final) else float("nan")
    claims.append(
        Claim(
            TARGET,
            "MLS correlates with sharpness more strongly than local dimensionality does "
            "(measured: |rho(sharpness, MLS)| - |rho(sharpness, local dim)| across runs)",
            abs(r_mls) - abs(r_ld), ">", 0.0, scale, source,
            {"rho_sharpness_mls": r_mls, "rho_sharpness_local_dim": r_ld,
             "rho_sharpness_volume": spearman(final["sharpness"], final["volume"]) if len(final) else float("nan"),
             "rho_sharpness_gen_gap_acc": spearman(final["sharpness"], final["gen_gap_acc"]) if len(final) else float("nan"),
             **common},
        )
    )
    return claims
