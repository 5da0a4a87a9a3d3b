"""The paper's headline comparisons, computed from the dimension tables.

``dims`` tables are the long tables of :func:`experiment.training_dimensions` with
``network`` and ``seed`` columns (and ``stage``: ``post`` for the recorded layers,
``pre`` for their pre-activations). ``sweep`` tables have one row per (lr, batch_size,
seed, measure) with the final late-layer dimension and the final train/test metrics.

Every finding is computed per seed (an independent initialisation, data split and
batch order) and claimed as the mean over seeds with a 95% bootstrap interval over
those seeds (``neurorepro.measures.bootstrap``).
"""
from __future__ import annotations


import numpy as np
import pandas as pd

from neurorepro.claims import Claim
from neurorepro.dimensionality.experiment import early_layers, late_layer
from neurorepro.measures.bootstrap import bootstrap_ci, bootstrap_seed
from neurorepro.measures.correlation import spearman

__all__ = [
    "layer_order",
    "expansion_compression",
    "nonlinearity_gain",
    "compression_over_training",
    "class_gap",
    "per_seed_stats",
    "sgd_noise_effect",
    "sgd_per_seed",
    "build_claims",
    "PROJECTION_TOLERANCE",
]

#: Relative change of PR (corrected) and TwoNN under the random projection that we call "unchanged".
PROJECTION_TOLERANCE = 0.05
_UNIT = "seed (independent initialisation, data split and batch order)"


def _post(dims: pd.DataFrame) -> pd.DataFrame:
    return dims[dims["stage"] == "post"] if "stage" in dims else dims


def layer_order(dims: pd.DataFrame) -> list[str]:
    """Layer names of one network's table, in network order."""
    return list(dims.drop_duplicates("layer").sort_values("layer_index")["layer"])


def _curve(dims: pd.DataFrame, measure: str, step: int) -> pd.Series:
    dims = _post(dims)
    d = dims[(dims["measure"] == measure) & (dims["step"] == step)]
    if d.empty:
        raise ValueError(f"no {measure!r} dimensions at step {step}")
    return d.set_index("layer")["dimension"]


def expansion_compression(dims: pd.DataFrame, measure: str) -> dict[str, float | str]:
    """Late-layer dimension against the peak over the early layers, after training.

    Returns ``late`` (last hidden layer), ``early_peak`` (max over the first half of the
    hidden layers), ``ratio = late / early_peak`` (< 1: compression), ``input``,
    ``expansion = early_peak / input`` (> 1: expansion) and the same at initialisation
    (``ratio_init``, ``expansion_init``).
    """
    layers = layer_order(dims)
    first, last = int(dims["step"].min()), int(dims["step"].max())
    out: dict[str, float | str] = {"late_layer": late_layer(layers), "early_layers": ",".join(early_layers(layers))}
    for tag, step in (("", last), ("_init", first)):
        c = _curve(dims, measure, step)
        late = float(c[late_layer(layers)])
        peak = float(c[early_layers(layers)].max())
        out[f"late{tag}"], out[f"early_peak{tag}"] = late, peak
        out[f"ratio{tag}"] = late / peak if peak > 0 else float("nan")
        out[f"input{tag}"] = float(c["input"]) if "input" in c else float("nan")
        out[f"expansion{tag}"] = peak / out[f"input{tag}"] if out[f"input{tag}"] > 0 else float("nan")
    return out


def nonlinearity_gain(dims: pd.DataFrame, measure: str) -> dict[str, float | str]:
    """Post- over pre-activation dimension of the first hidden layer that has both.

    That layer's pre-activation is a linear map of the input (for a DeepNet; for a
    ResNet the stem's conv + BatchNorm), so the ratio is what the nonlinearity adds.
    ``gain`` after training, ``gain_init`` at initialisation; NaN without pre-activations.
    """
    nan = float("nan")
    if "stage" not in dims or not (dims["stage"] == "pre").any():
        return {"gain": nan, "gain_init": nan, "layer": ""}
    pre = dims[(dims["stage"] == "pre") & (dims["measure"] == measure)]
    layer = pre.sort_values("layer_index")["layer"].iloc[0]
    out: dict[str, float | str] = {"layer": layer}
    for tag, step in (("", int(pre["step"].max())), ("_init", int(pre["step"].min()))):
        a = _post(dims)
        post_v = a[(a["measure"] == measure) & (a["layer"] == layer) & (a["step"] == step)]["dimension"]
        pre_v = pre[(pre["layer"] == layer) & (pre["step"] == step)]["dimension"]
        if post_v.empty or pre_v.empty or not pre_v.iloc[0] > 0:
            out[f"gain{tag}"], out[f"pre{tag}"], out[f"post{tag}"] = nan, nan, nan
            continue
        out[f"pre{tag}"], out[f"post{tag}"] = float(pre_v.iloc[0]), float(post_v.iloc[0])
        out[f"gain{tag}"] = out[f"post{tag}"] / out[f"pre{tag}"]
    return out


def compression_over_training(dims: pd.DataFrame, measure: str) -> dict[str, float]:
    """How the last hidden layer's dimension moves over the training snapshots.

    ``ratio = final / initial`` (< 1: it decreased), ``ratio_to_max = final / max over
    snapshots``, and ``spearman`` (rank correlation of dimension with epoch).
    """
    dims = _post(dims)
    layer = late_layer(layer_order(dims))
    d = dims[(dims["measure"] == measure) & (dims["layer"] == layer)].sort_values("step")
    if len(d) < 2:
        raise ValueError("need at least two snapshots")
    y = d["dimension"].to_numpy()
    rho = spearman(d["epoch"], y) if np.ptp(y) > 0 else 0.0  # a constant dimension has no trend: 0
    return {
        "initial": float(y[0]),
        "final": float(y[-1]),
        "max": float(y.max()),
        "ratio": float(y[-1] / y[0]) if y[0] > 0 else float("nan"),
        "ratio_to_max": float(y[-1] / y.max()) if y.max() > 0 else float("nan"),
        "spearman": float(rho),
        "n_snapshots": int(len(y)),
    }


def class_gap(dims: pd.DataFrame, measure: str, n_classes: int) -> dict[str, float]:
    """Last-hidden-layer dimension relative to the number of classes, at init and at the end."""
    dims = _post(dims)
    layer = late_layer(layer_order(dims))
    d = dims[(dims["measure"] == measure) & (dims["layer"] == layer)].sort_values("step")
    first, last = float(d["dimension"].iloc[0]), float(d["dimension"].iloc[-1])
    return {
        "initial": first,
        "final": last,
        "n_classes": int(n_classes),
        "final_over_classes": last / n_classes,
        "initial_over_classes": first / n_classes,
    }


def per_seed_stats(dims: pd.DataFrame, measure: str, n_classes: int) -> pd.DataFrame:
    """One row per seed of a network's table: every per-seed statistic the claims average."""
    rows = []
    seeds = sorted(dims["seed"].unique()) if "seed" in dims else [None]
    for s in seeds:
        d = dims if s is None else dims[dims["seed"] == s]
        ec, ng = expansion_compression(d, measure), nonlinearity_gain(d, measure)
        ct, cg = compression_over_training(d, measure), class_gap(d, measure, n_classes)
        rows.append({
            "seed": s, "measure": measure, "input": ec["input"], "early_peak": ec["early_peak"], "late": ec["late"],
            "expansion": ec["expansion"], "expansion_init": ec["expansion_init"],
            "late_over_peak": ec["ratio"], "late_over_peak_init": ec["ratio_init"],
            "nonlinearity_gain": ng["gain"], "nonlinearity_gain_init": ng.get("gain_init", float("nan")),
            "nonlinearity_layer": ng["layer"], "pre_first": ng.get("pre", float("nan")), "post_first": ng.get("post", float("nan")),
            "late_initial": ct["initial"], "late_final": ct["final"], "final_over_initial": ct["ratio"],
            "final_over_classes": cg["final_over_classes"],
            "late_layer": ec["late_layer"], "early_layers": ec["early_layers"],
        })
    return pd.DataFrame(rows)


def sgd_per_seed(sweep: pd.DataFrame, measure: str, min_train_acc: float = 0.0) -> pd.DataFrame:
    """Per seed, across the sweep's (lr, batch) points: the slope of the final late-layer
    dimension on log10(lr / batch size) and the rank correlation of that dimension with
    the generalisation gap (train accuracy - test accuracy; and test - train loss).

    Diverged points (NaN dimension) are dropped (``n_dropped``), and so are runs whose final
    training accuracy is below ``min_train_acc`` (``n_untrained``): a network that has not
    learnt the task still has its initial late-layer dimension, which says nothing about SGD
    noise and would make low-noise (slow) runs look high-dimensional. A seed with fewer
    than 3 points left gives NaN.
    """
    rows = []
    d_all = sweep[sweep["measure"] == measure]
    seeds = sorted(d_all["seed"].unique()) if "seed" in d_all else [None]
    for s in seeds:
        d = d_all if s is None else d_all[d_all["seed"] == s]
        n_total = len(d)
        d = d[np.isfinite(d["dimension"])]
        n_finite = len(d)
        if min_train_acc > 0 and "train_acc" in d:
            d = d[d["train_acc"] >= min_train_acc]
        row = {"seed": s, "measure": measure, "n_points": int(len(d)), "n_dropped": int(n_total - n_finite),
               "n_untrained": int(n_finite - len(d)),
               "slope": float("nan"), "spearman_noise": float("nan"), "gap_spearman": float("nan"),
               "loss_gap_spearman": float("nan")}
        if len(d) >= 3:
            x = np.log10(d["lr"] / d["batch_size"]).to_numpy()
            y = d["dimension"].to_numpy()
            if np.ptp(x) > 0:
                row["slope"] = float(np.polyfit(x, y, 1)[0])
                row["spearman_noise"] = spearman(x, y) if np.ptp(y) > 0 else 0.0
            if {"train_acc", "test_acc"} <= set(d):
                gap = (d["train_acc"] - d["test_acc"]).to_numpy()
                if np.ptp(gap) > 0 and np.ptp(y) > 0:
                    row["gap_spearman"] = spearman(y, gap)
            if {"train_loss", "test_loss"} <= set(d):
                lgap = (d["test_loss"] - d["train_loss"]).to_numpy()
                if np.ptp(lgap) > 0 and np.ptp(y) > 0:
                    row["loss_gap_spearman"] = spearman(y, lgap)
        rows.append(row)
    return pd.DataFrame(rows)


def sgd_noise_effect(sweep: pd.DataFrame, measure: str) -> dict[str, float]:
    """Rank correlation between SGD noise (lr / batch size) and final late-layer dimension,
    over all points and seeds pooled (a summary for the figures; the claims use
    :func:`sgd_per_seed`). Diverged points are dropped and counted in ``n_dropped``.
    """
    d = sweep[sweep["measure"] == measure]
    n_total = len(d)
    d = d[np.isfinite(d["dimension"])]
    if len(d) < 3:
        return {"spearman": float("nan"), "n_points": int(len(d)), "n_dropped": int(n_total - len(d))}
    noise = d["lr"] / d["batch_size"]
    rho = spearman(noise, d["dimension"])
    return {"spearman": float(rho), "n_points": int(len(d)), "n_dropped": int(n_total - len(d))}


def _nanmean(values) -> float:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if len(v) else float("nan")


def _summary(values) -> tuple[float, np.ndarray]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    return (float(v.mean()) if len(v) else float("nan")), v


def build_claims(
    dims_by_network: dict[str, pd.DataFrame],
    sweep: pd.DataFrame | None,
    *,
    linear_measure: str,
    intrinsic_measure: str,
    n_classes: int,
    scale: str,
    source: str,
    seed: int = 0,
    min_train_acc: float = 0.0,
    projection: list[dict] | None = None,
    details: dict | None = None,
) -> list[Claim]:
    """The paper's claims, one record per (claim, network, measure), over seeds.

    ``projection``: rows of :func:`.projection.projection_check` at the run's sizes (a
    ``recovery`` claim), or None when the run projects no layer. ``min_train_acc``: sweep runs
    below this final training accuracy are left out of the SGD claims (:func:`sgd_per_seed`).
    """
    T = "dimensionality"
    base = dict(details or {})
    claims: list[Claim] = []

    def add(key, text, values, comparison, expected, *, extra, paper_value=None, paper_ref=None, kind="finding",
            unit=_UNIT):
        measured, v = _summary(values)
        ci = bootstrap_ci(v, np.mean, seed=bootstrap_seed(seed, key)) if len(v) >= 3 else None
        claims.append(Claim(T, text, measured, comparison, expected, scale, source,
                            {**base, **extra, "per_unit": [float(x) for x in v]}, kind=kind,
                            paper_value=paper_value, paper_ref=paper_ref, n=len(v), unit=unit,
                            ci=list(ci) if ci else None))

    abstract = "abstract (two phases: expansion in initial layers, compression in later layers)"
    for net, dims in dims_by_network.items():
        for m in (linear_measure, intrinsic_measure):
            st = per_seed_stats(dims, m, n_classes)
            ex = {"network": net, "measure": m, "late_layer": st["late_layer"].iloc[0],
                  "early_layers": st["early_layers"].iloc[0], "seeds": [int(x) for x in st["seed"]]}
            mean = {c: _nanmean(st[c]) for c in st.columns if st[c].dtype.kind == "f"}
            add(f"{net}:{m}:expansion",
                f"{net}: after training, the early layers' dimension rises above the input's "
                f"(peak over {ex['early_layers']} / input, {m})",
                st["expansion"], ">", 1.0, paper_ref=abstract,
                extra={**ex, "input": mean["input"], "early_peak": mean["early_peak"],
                       "expansion_at_init": mean["expansion_init"]})
            if np.isfinite(st["nonlinearity_gain"]).any():
                layer = st["nonlinearity_layer"].iloc[0]
                add(f"{net}:{m}:nonlinearity",
                    f"{net}: the nonlinearity expands the representation: {layer}'s dimension after the "
                    f"activation function exceeds its pre-activation's (post / pre, after training, {m})",
                    st["nonlinearity_gain"], ">", 1.0,
                    paper_ref="abstract ('expansion driven by feature generation'); ReLU's role per a review of the paper, "
                              "section not verified here",
                    extra={**ex, "layer": layer, "pre": mean["pre_first"], "post": mean["post_first"],
                           "gain_at_init": mean["nonlinearity_gain_init"]})
            add(f"{net}:{m}:late_below_peak",
                f"{net}: after training, the last hidden layer's dimension is below the peak dimension "
                f"of the early layers (late / peak, {m})",
                st["late_over_peak"], "<", 1.0, paper_ref=abstract,
                extra={**ex, "late": mean["late"], "early_peak": mean["early_peak"],
                       "late_over_peak_at_init": mean["late_over_peak_init"]})
            add(f"{net}:{m}:compression_over_training",
                f"{net}: the last hidden layer's dimension decreases over training (final / initial, {m})",
                st["final_over_initial"], "<", 1.0, paper_ref=abstract,
                extra={**ex, "initial": mean["late_initial"], "final": mean["late_final"]})
            add(f"{net}:{m}:classes",
                f"{net}: after training, the last hidden layer's dimension has come down to the number of "
                f"classes or below ({m}; the paper: it approaches the number of classes, {n_classes})",
                st["late_final"], "<=", float(n_classes), paper_value=float(n_classes),
                paper_ref="as summarised in issue 26 (late layers approach the number of classes); "
                          "section and figure not verified here",
                extra={**ex, "n_classes": int(n_classes), "final_over_classes": mean["final_over_classes"],
                       "initial": mean["late_initial"],
                       "c_minus_1_in_ci": None})
            c = claims[-1]
            c.details["c_minus_1_in_ci"] = bool(c.ci is not None and c.ci[0] <= n_classes - 1 <= c.ci[1])
    if sweep is not None and len(sweep):
        for m in (linear_measure, intrinsic_measure):
            ps = sgd_per_seed(sweep, m, min_train_acc)
            ex = {"measure": m, "min_train_acc": float(min_train_acc),
                  "n_untrained": int(ps["n_untrained"].sum()), "network": str(sweep["network"].iloc[0]) if "network" in sweep else "",
                  "layer": str(sweep["layer"].dropna().iloc[0]) if "layer" in sweep and sweep["layer"].notna().any() else "",
                  "n_points_per_seed": [int(x) for x in ps["n_points"]], "n_dropped": int(ps["n_dropped"].sum()),
                  "spearman_per_seed": [float(x) for x in ps["spearman_noise"]],
                  "seeds": [int(x) for x in ps["seed"]] if ps["seed"].notna().all() else []}
            add(f"sgd:{m}:slope",
                "more SGD noise (larger lr / batch size) gives a lower final late-layer dimension "
                f"(slope of dimension on log10(lr / batch) over the runs that learnt the task, per seed; {m})",
                ps["slope"], "<", 0.0, paper_ref="abstract (SGD noise balances the dimensionality of representations)",
                extra=ex)
            add(f"sgd:{m}:generalisation",
                "across the SGD sweep, a lower final late-layer dimension goes with a smaller generalisation gap "
                f"(Spearman rho of dimension with train - test accuracy, per seed; {m})",
                ps["gap_spearman"], ">", 0.0,
                paper_ref="abstract (low-dimensional compressed representations and generalisation)",
                extra={**ex, "loss_gap_spearman_mean": _nanmean(ps["loss_gap_spearman"]),
                       "loss_gap_spearman_per_seed": [float(x) for x in ps["loss_gap_spearman"]]})
    if projection:
        pj = pd.DataFrame(projection)
        worst = pj.groupby("seed")[["pr_change", "twonn_change"]].max().max(axis=1)
        add("projection",
            f"the analysis recovers the PR (corrected) and TwoNN of planted manifolds through the random projection "
            f"to {int(pj['n_out'].iloc[0])} features at n = {int(pj['n_points'].iloc[0])} points "
            "(largest relative change per projection seed)",
            worst.to_numpy(), "<", PROJECTION_TOLERANCE, kind="recovery", unit="projection seed",
            extra={"tolerance": PROJECTION_TOLERANCE,
                   "rows": [{k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in r.items()}
                            for r in projection],
                   "pr_raw_change_max": float(pj["pr_raw_change"].max())})
    return claims
