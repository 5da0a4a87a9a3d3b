"""The paper's headline comparisons, computed from the dimension tables.

``dims`` tables are the long tables of :func:`experiment.layer_dimensions` with a
``network`` column (one network per name). ``sweep`` tables have one row per
(lr, batch_size, measure) with the final late-layer dimension.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from neurorepro.claims import Claim
from neurorepro.dimensionality.experiment import early_layers, late_layer

__all__ = [
    "layer_order",
    "expansion_compression",
    "compression_over_training",
    "class_gap",
    "sgd_noise_effect",
    "build_claims",
]


def layer_order(dims: pd.DataFrame) -> list[str]:
    """Layer names of one network's table, in network order."""
    return list(dims.drop_duplicates("layer").sort_values("layer_index")["layer"])


def _curve(dims: pd.DataFrame, measure: str, step: int) -> pd.Series:
    d = dims[(dims["measure"] == measure) & (dims["step"] == step)]
    if d.empty:
        raise ValueError(f"no {measure!r} dimensions at step {step}")
    return d.set_index("layer")["dimension"]


def expansion_compression(dims: pd.DataFrame, measure: str) -> dict[str, float | str]:
    """Late-layer dimension against the peak over the early layers, after training.

    Returns ``late`` (last hidden layer), ``early_peak`` (max over the first half of the
    hidden layers), ``ratio = late / early_peak`` (< 1: compression), ``input`` and
    the same ratio at initialisation (``ratio_init``).
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
    return out


def compression_over_training(dims: pd.DataFrame, measure: str) -> dict[str, float]:
    """How the last hidden layer's dimension moves over the training snapshots.

    ``ratio = final / initial`` (< 1: it decreased), ``ratio_to_max = final / max over
    snapshots``, and ``spearman`` (rank correlation of dimension with epoch).
    """
    layer = late_layer(layer_order(dims))
    d = dims[(dims["measure"] == measure) & (dims["layer"] == layer)].sort_values("step")
    if len(d) < 2:
        raise ValueError("need at least two snapshots")
    y = d["dimension"].to_numpy()
    rho = spearmanr(d["epoch"], y).correlation if np.ptp(y) > 0 else 0.0
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


def sgd_noise_effect(sweep: pd.DataFrame, measure: str) -> dict[str, float]:
    """Rank correlation between SGD noise (lr / batch size) and final late-layer dimension.

    Points without a finite dimension (diverged runs) are dropped and counted in
    ``n_dropped``; with fewer than three points left the correlation is NaN.
    """
    d = sweep[sweep["measure"] == measure]
    n_total = len(d)
    d = d[np.isfinite(d["dimension"])]  # diverged runs (or collapsed, all-equal activations) have no dimension
    if len(d) < 3:
        return {"spearman": float("nan"), "n_points": int(len(d)), "n_dropped": int(n_total - len(d))}
    noise = d["lr"] / d["batch_size"]
    rho = spearmanr(noise, d["dimension"]).correlation
    lo, hi = d.loc[noise.idxmin()], d.loc[noise.idxmax()]
    return {
        "spearman": float(rho),
        "n_points": int(len(d)),
        "n_dropped": int(n_total - len(d)),
        "dim_lowest_noise": float(lo["dimension"]),
        "dim_highest_noise": float(hi["dimension"]),
        "lowest_noise_lr_batch": [float(lo["lr"]), int(lo["batch_size"])],
        "highest_noise_lr_batch": [float(hi["lr"]), int(hi["batch_size"])],
    }


def build_claims(
    dims_by_network: dict[str, pd.DataFrame],
    sweep: pd.DataFrame | None,
    *,
    linear_measure: str,
    intrinsic_measure: str,
    n_classes: int,
    class_band: Sequence[float],
    scale: str,
    source: str,
    details: dict | None = None,
) -> list[Claim]:
    """The paper's claims, one record per (claim, network, measure), measured on this run."""
    T = "dimensionality"
    base = dict(details or {})
    claims: list[Claim] = []
    for net, dims in dims_by_network.items():
        for m in (linear_measure, intrinsic_measure):
            ec = expansion_compression(dims, m)
            claims.append(
                Claim(T, f"{net}: after training, the last hidden layer's dimension is below the peak "
                         f"dimension of the early layers (late/peak, {m})",
                      ec["ratio"], "<", 1.0, scale, source, {**base, "network": net, "measure": m, **ec}, kind="finding")
            )
        for m in (linear_measure, intrinsic_measure):
            ct = compression_over_training(dims, m)
            claims.append(
                Claim(T, f"{net}: the last hidden layer's dimension decreases over training "
                         f"(final/initial, {m})",
                      ct["ratio"], "<", 1.0, scale, source, {**base, "network": net, "measure": m, **ct}, kind="finding")
            )
        cg = class_gap(dims, linear_measure, n_classes)
        claims.append(
            Claim(T, f"{net}: after training, the last hidden layer's dimension approaches the number of "
                     f"classes (dimension / n_classes, {linear_measure})",
                  cg["final_over_classes"], "within", list(class_band), scale, source,
                  {**base, "network": net, "measure": linear_measure, **cg}, kind="finding")
        )
    if sweep is not None and len(sweep):
        se = sgd_noise_effect(sweep, intrinsic_measure)
        claims.append(
            Claim(T, "more SGD noise (larger lr / batch size) gives a lower final late-layer dimension "
                     f"(Spearman rho of dimension with lr/batch, {intrinsic_measure})",
                  se["spearman"], "<", 0.0, scale, source, {**base, "measure": intrinsic_measure, **se}, kind="finding")
        )
    return claims
