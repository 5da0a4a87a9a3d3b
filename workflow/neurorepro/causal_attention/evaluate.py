"""AUROC tables and the paper's claims from the per-network scores.

Paper numbers quoted in the claims were recomputed from the authors' released per-network
summaries (``randnet_results/*/p*_seed*_summary.pkl``: ``dec_avg`` = AUROC of the attention
averaged over 10 initialisations, ``mvgc_aic`` / ``mvgc_bic``, ``r2_all``), which the paper's
Fig. 2 and Fig. 4b plot. They are scored over all N^2 entries (:func:`.metrics.auroc_all_entries`);
ours are over the N(N-1) off-diagonal pairs, and the table carries both.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

from neurorepro.claims import Claim
from neurorepro.measures.bootstrap import bootstrap_ci, bootstrap_seed

from .data import network_arrays
from .metrics import auroc, auroc_all_entries, offdiag

TARGET = "causal_attention"

#: The paper's numbers (released summaries; all-N^2 scoring; attention averaged over 10 inits).
PAPER = {
    "corner_auroc_attention": 0.888, "corner_auroc_mvgc_aic": 0.691,  # median, N=40, p=0.6 (Fig. 2)
    "corner_paired_difference": 0.193,  # mean of per-network (attention - MVGC AIC), N=40, p=0.6, all N^2 entries
    "corner_paired_difference_offdiag": 0.205,  # the same re-scored over off-diagonal pairs (our scoring)
    "slope_attention": -0.025, "slope_mvgc_aic": -0.075,  # AUROC per doubling of N, all 160 networks
    "r2_median": 0.936,  # median test R^2 of the 1,600 single models (Fig. 4b)
}


def auroc_table(networks: xr.Dataset, granger: xr.Dataset, attention: dict[str, xr.Dataset], primary: str | None = None) -> pd.DataFrame:
    """One row per network: its configuration, the AUROC of every method (both scorings), forecast R^2.

    ``attention`` maps each architecture to its scores; ``primary`` (default: the first)
    gives the columns without suffix (``auroc_attention``, ``r2``, ...).
    """
    archs = list(attention)
    primary = primary or archs[0]
    rows = []
    for k in networks["network"].values:
        k = int(k)
        _, adj = network_arrays(networks, k)
        n = adj.shape[0]
        row = {
            "network": k, "n_neurons": n, "p": float(networks["p"].values[k]), "rep": int(networks["rep"].values[k]),
            "edge_fraction": float(offdiag(adj).mean()), "rate_hz": float(np.nanmean(networks["rate"].values[k, :n])),
        }
        for arch, ds in attention.items():
            att = ds["attention"].sel(network=k).values[:n, :n]
            sfx = "" if arch == primary else f"_{arch}"
            row[f"auroc_attention{sfx}"] = auroc(att, adj)
            row[f"auroc_all_attention{sfx}"] = auroc_all_entries(att, adj)
            for key in ("r2", "r2_ensemble", "r2_persistence", "n_epochs"):
                if key in ds:
                    row[f"{key}{sfx}"] = float(ds[key].sel(network=k))
        for var, col in (("granger", "granger"), ("granger_aic", "granger_aic"), ("granger_bic", "granger_bic")):
            if var in granger:
                m = granger[var].sel(network=k).values[:n, :n]
                row[f"auroc_{col}"] = auroc(m, adj)
                row[f"auroc_all_{col}"] = auroc_all_entries(m, adj)
        for key in ("granger_lag", "granger_lag_aic", "granger_lag_bic"):
            if key in granger:
                row[key] = int(granger[key].sel(network=k))
        rows.append(row)
    return pd.DataFrame(rows)


def method_columns(table: pd.DataFrame) -> list[str]:
    """The AUROC columns (ours: off-diagonal) present in ``table``."""
    return [c for c in table.columns if c.startswith("auroc_") and not c.startswith("auroc_all_")]


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    """Median of every method's AUROC (both scorings) and of R^2 per (N, p), NaN AUROCs left out."""
    g = table.groupby(["n_neurons", "p"])
    cols = [c for c in table.columns if c.startswith("auroc_") or c.startswith("r2")]
    out = g[cols].median().add_prefix("median_").reset_index()
    out.insert(2, "n_networks", g.size().values)
    out["attention_minus_granger"] = out["median_auroc_attention"] - out["median_auroc_granger"]
    return out


def _slope(logn: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(y)
    if len(np.unique(logn[ok])) < 2:
        return float("nan")
    return float(np.polyfit(logn[ok], y[ok], 1)[0])


def claims(table: pd.DataFrame, large_n: int, dense_p: float, r2_floor: float, scale: str, source: str,
           run_seed: int = 0, recovery: dict | None = None) -> list[Claim]:
    """The paper's findings (CIs over networks) and the Granger baseline's planted-VAR recovery."""
    out = []
    sel = table[(table["n_neurons"] >= large_n) & (table["p"] >= dense_p - 1e-9)].dropna(subset=["auroc_attention", "auroc_granger"])
    d = (sel["auroc_attention"] - sel["auroc_granger"]).to_numpy()
    name = "attention_vs_granger_large_dense"
    out.append(Claim(
        target=TARGET,
        claim=(f"On large, dense networks (N >= {large_n}, p >= {dense_p}) the cross-attention causal score ranks the "
               "true connections at least as well as multivariate Granger causality (MVGC, AIC lag): the per-network "
               "AUROC difference attention - Granger is >= 0 (paper: median 0.89 vs 0.69 at N=40, p=0.6)."),
        measured=float(d.mean()) if len(d) else float("nan"), comparison=">=", expected=0.0, scale=scale, source=source,
        details={"median_auroc_attention": float(sel["auroc_attention"].median()) if len(sel) else None,
                 "median_auroc_granger": float(sel["auroc_granger"].median()) if len(sel) else None,
                 "median_auroc_granger_bic": float(sel["auroc_granger_bic"].median()) if len(sel) and "auroc_granger_bic" in sel else None,
                 "mean_difference_vs_bic": float((sel["auroc_attention"] - sel["auroc_granger_bic"]).mean()) if len(sel) and "auroc_granger_bic" in sel else None,
                 "median_auroc_all_entries_attention": float(sel["auroc_all_attention"].median()) if len(sel) else None,
                 "median_auroc_all_entries_granger": float(sel["auroc_all_granger"].median()) if len(sel) else None,
                 "attention_wins": int((d >= 0).sum()), "sizes": sorted(int(v) for v in sel["n_neurons"].unique()),
                 "probs": sorted(float(v) for v in sel["p"].unique()),
                 "measured_is": "mean over networks of (AUROC attention - AUROC Granger), off-diagonal pairs",
                 "paper_scoring": ("paper_value is the authors' released per-network AUROCs at N=40, p=0.6 re-scored over "
                                   "off-diagonal pairs (ours); over all N^2 entries (the paper's scoring) it is 0.193")},
        kind="finding", paper_value=PAPER["corner_paired_difference_offdiag"], paper_ref="Fig. 2 (N=40, p=0.6; released summaries)",
        n=int(len(d)), unit="network", ci=bootstrap_ci(d, np.mean, seed=bootstrap_seed(run_seed, name)),
    ))
    # pattern: AUROC against log2 N, per method, paired over networks
    ok = table.dropna(subset=["auroc_attention", "auroc_granger"])
    logn = np.log2(ok["n_neurons"].to_numpy(float))
    att, gr = ok["auroc_attention"].to_numpy(), ok["auroc_granger"].to_numpy()
    s_att, s_gr = _slope(logn, att), _slope(logn, gr)
    sizes = sorted(int(v) for v in ok["n_neurons"].unique())
    name = "granger_falls_faster_with_n"
    out.append(Claim(
        target=TARGET,
        claim=("MVGC's AUROC falls with network size more steeply than the attention's: slope of AUROC per doubling of N, "
               "attention minus Granger, > 0 (networks of every p pooled)."),
        measured=s_att - s_gr, comparison=">", expected=0.0, scale=scale, source=source,
        details={"slope_attention": s_att, "slope_granger": s_gr, "sizes": sizes, "n_networks": int(len(ok)),
                 "median_auroc_attention_by_n": {str(k): float(v) for k, v in ok.groupby("n_neurons")["auroc_attention"].median().items()},
                 "median_auroc_granger_by_n": {str(k): float(v) for k, v in ok.groupby("n_neurons")["auroc_granger"].median().items()},
                 "caveat": "a flat attention AUROC at chance (0.5) also 'falls less steeply'; read the medians by N",
                 "paper_slope_attention": PAPER["slope_attention"], "paper_slope_granger_aic": PAPER["slope_mvgc_aic"],
                 "measured_is": "OLS slope of AUROC on log2(N), attention minus Granger (AIC)"},
        kind="finding", paper_value=round(PAPER["slope_attention"] - PAPER["slope_mvgc_aic"], 3),
        paper_ref="Fig. 2 (released summaries, all 160 networks)", n=int(len(ok)), unit="network",
        ci=bootstrap_ci((logn, att, gr), lambda x, a, g: _slope(x, a) - _slope(x, g), seed=bootstrap_seed(run_seed, name))
        if len(sizes) >= 2 else None,
    ))
    name = "granger_falls_with_n"
    out.append(Claim(
        target=TARGET,
        claim="MVGC's AUROC falls as the network grows: slope of its AUROC per doubling of N < 0.",
        measured=s_gr, comparison="<", expected=0.0, scale=scale, source=source,
        details={"sizes": sizes, "n_networks": int(len(ok)), "measured_is": "OLS slope of Granger AUROC on log2(N)"},
        kind="finding", paper_value=PAPER["slope_mvgc_aic"], paper_ref="Fig. 2 (released summaries)", n=int(len(ok)),
        unit="network", ci=bootstrap_ci((logn, gr), _slope, seed=bootstrap_seed(run_seed, name)) if len(sizes) >= 2 else None,
    ))
    r2 = table["r2"].to_numpy()
    name = "forecast_r2"
    out.append(Claim(
        target=TARGET,
        claim=f"The forecaster predicts held-out (test) activity about as well as the paper's (R^2 about 0.94): mean test R^2 over networks >= {r2_floor}.",
        measured=float(np.mean(r2)), comparison=">=", expected=r2_floor, scale=scale, source=source,
        details={"median_r2": float(np.median(r2)), "min_r2": float(np.min(r2)),
                 "median_r2_ensemble": float(table["r2_ensemble"].median()) if "r2_ensemble" in table else None,
                 "note": "r2: mean of the initialisations' test R^2; r2_ensemble: R^2 of their averaged forecast"},
        kind="finding", paper_value=PAPER["r2_median"], paper_ref="Fig. 4b", n=int(len(r2)), unit="network",
        ci=bootstrap_ci(r2, np.mean, seed=bootstrap_seed(run_seed, name)),
    ))
    gain = (table["r2"] - table["r2_persistence"]).to_numpy()
    name = "forecast_beats_persistence"
    out.append(Claim(
        target=TARGET,
        claim="The forecaster beats persistence (x[t] = x[t-1]) on test data: per-network R^2 gain > 0.",
        measured=float(np.mean(gain)), comparison=">", expected=0.0, scale=scale, source=source,
        details={"median_r2_persistence": float(table["r2_persistence"].median()), "measured_is": "mean of R^2 - R^2 persistence"},
        kind="finding", n=int(len(gain)), unit="network", ci=bootstrap_ci(gain, np.mean, seed=bootstrap_seed(run_seed, name)),
    ))
    if recovery is not None:
        a = np.asarray(recovery["auroc"], float)
        name = "granger_recovers_planted_var"
        out.append(Claim(
            target=TARGET,
            claim=(f"The analysis recovers the planted couplings of linear VAR({recovery['order']}) systems "
                   f"({recovery['n_neurons']} variables, edge density {recovery['density']}, {recovery['n_steps']} steps): "
                   f"Granger AUROC >= {recovery['floor']}."),
            measured=float(a.mean()), comparison=">=", expected=float(recovery["floor"]), scale=scale, source=source,
            details={"auroc": a.tolist(), "lags": list(recovery["lags"]), "statistic": recovery["statistic"],
                     "criterion": recovery["criterion"]},
            kind="recovery", n=int(len(a)), unit="planted VAR system",
            ci=bootstrap_ci(a, np.mean, seed=bootstrap_seed(run_seed, name)),
        ))
    return out


def planted_var_recovery(n_systems: int, n_neurons: int, density: float, order: int, n_steps: int, max_lag: int,
                         criterion: str, statistic: str, seed: int) -> dict:
    """Granger AUROC on ``n_systems`` planted sparse VARs (:func:`.granger.sparse_var`)."""
    from .granger import GrangerCausality, sparse_var

    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence([int(seed), 28]).spawn(int(n_systems))]
    aucs, lags = [], []
    for rng in rngs:
        x, truth = sparse_var(n_neurons, n_steps, density, order, rng)
        g = GrangerCausality(max_lag=max_lag, criterion=criterion, statistic=statistic).fit(x)
        aucs.append(auroc(g.scores_, truth))
        lags.append(int(g.lag_))
    return {"auroc": aucs, "lags": lags, "order": order, "n_neurons": n_neurons, "density": density,
            "n_steps": n_steps, "criterion": criterion, "statistic": statistic}
