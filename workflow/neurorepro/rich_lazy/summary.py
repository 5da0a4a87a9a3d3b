"""Summaries of the laziness table and the paper's claims as measured numbers."""
from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from neurorepro.claims import Claim

TARGET = "rich_lazy"


def rank_trend(df: pd.DataFrame, measure: str) -> dict[str, float]:
    """Spearman correlation of ``measure`` with the effective rank, random family, per task.

    Every (seed, rank) row of a task is one point. Returns task -> rho.
    """
    out = {}
    for task, d in df[df["family"] == "random"].groupby("task", sort=True):
        if d["effective_rank"].nunique() < 2:
            out[task] = float("nan")
            continue
        out[task] = float(spearmanr(d["effective_rank"], d[measure]).correlation)
    return out


def paired_difference(df: pd.DataFrame, a: str, b: str, measure: str) -> dict[str, float]:
    """Mean over seeds of ``measure(init a) - measure(init b)`` (same seed), per task."""
    out = {}
    for task, d in df.groupby("task", sort=True):
        pa = d[d["init"] == a].set_index("seed")[measure]
        pb = d[d["init"] == b].set_index("seed")[measure]
        common = pa.index.intersection(pb.index)
        out[task] = float((pa[common] - pb[common]).mean()) if len(common) else float("nan")
    return out


def _mean(d: dict[str, float]) -> float:
    vals = [v for v in d.values() if not np.isnan(v)]
    return float(np.mean(vals)) if vals else float("nan")


def summary_table(df: pd.DataFrame) -> pd.DataFrame:
    """Mean and s.d. over seeds of every measure, per (task, init)."""
    cols = ["effective_rank", "participation_ratio", "weight_change", "rep_alignment", "ntk_alignment",
            "accuracy_init", "accuracy", "final_loss"]
    g = df.groupby(["task", "init", "family", "rank"], sort=False)[cols]
    mean, sd = g.mean(), g.std(ddof=0)
    sd.columns = [f"{c}_sd" for c in cols]
    out = pd.concat([mean, sd], axis=1).reset_index()
    out.insert(4, "n_seeds", g.size().values)
    return out


def build_claims(df: pd.DataFrame, scale: str, source: str, aligned_rank: int | None) -> list[Claim]:
    """The paper's headline claims, measured on the laziness table ``df``."""
    claims = []
    n_seeds = int(df["seed"].nunique())
    for measure, cmp_, text in (
        ("weight_change", "<", "Higher initial effective rank gives smaller recurrent weight change "
                               "(lazier learning), across tasks"),
        ("ntk_alignment", ">", "Higher initial effective rank gives higher tangent-kernel alignment before/after "
                               "training (lazier learning), across tasks"),
        ("rep_alignment", ">", "Higher initial effective rank gives higher representation alignment before/after "
                               "training (lazier learning), across tasks"),
    ):
        rho = rank_trend(df, measure)
        rnd = df[df["family"] == "random"]
        lo, hi = rnd["rank"].min(), rnd["rank"].max()
        ends = rnd[rnd["rank"].isin([lo, hi])].groupby(["task", "rank"])[measure].mean()
        claims.append(Claim(
            target=TARGET, claim=text, measured=_mean(rho), comparison=cmp_, expected=0.0, scale=scale,
            source=source,
            details={"statistic": f"Spearman rho(effective rank, {measure}) over seeds x ranks, mean over tasks",
                     "rho_per_task": rho, "n_tasks_in_direction": int(sum(
                         (v < 0) if cmp_ == "<" else (v > 0) for v in rho.values())),
                     f"mean_{measure}_at_rank": {f"{t}/rank_{r}": float(v) for (t, r), v in ends.items()},
                     "n_seeds": n_seeds},
            kind="finding",
        ))
    if {"connectivity", "shuffled"} <= set(df["init"]):
        er = paired_difference(df, "connectivity", "shuffled", "effective_rank")
        claims.append(Claim(
            target=TARGET, claim="The connectivity-derived initialisation has a lower effective rank than its "
                                 "shuffled control (same weight distribution)",
            measured=_mean(er), comparison="<", expected=0.0, scale=scale, source=source,
            details={"statistic": "effective_rank(connectivity) - effective_rank(shuffled), mean over seeds",
                     "effective_rank_connectivity": float(df[df.init == "connectivity"].effective_rank.mean()),
                     "effective_rank_shuffled": float(df[df.init == "shuffled"].effective_rank.mean()),
                     "n_seeds": n_seeds},
            kind="recovery",  # a sanity check of the init, not evidence for the paper
        ))
        for measure, cmp_, text in (
            ("weight_change", ">", "The connectivity-derived initialisation learns richer (larger weight change) "
                                   "than its shuffled control"),
            ("ntk_alignment", "<", "The connectivity-derived initialisation learns richer (lower tangent-kernel "
                                   "alignment) than its shuffled control"),
        ):
            d = paired_difference(df, "connectivity", "shuffled", measure)
            claims.append(Claim(
                target=TARGET, claim=text, measured=_mean(d), comparison=cmp_, expected=0.0, scale=scale,
                source=source,
                details={"statistic": f"{measure}(connectivity) - {measure}(shuffled), mean over seeds and tasks",
                         "per_task": d, "n_seeds": n_seeds},
                kind="finding",
            ))
    if aligned_rank is not None and f"aligned_{aligned_rank}" in set(df["init"]):
        a, r = f"aligned_{aligned_rank}", f"rank_{aligned_rank}"
        for measure, cmp_, text in (
            ("weight_change", "<", f"A task-aligned rank-{aligned_rank} initialisation is lazier (smaller weight "
                                   f"change) than a random rank-{aligned_rank} initialisation"),
            ("ntk_alignment", ">", f"A task-aligned rank-{aligned_rank} initialisation is lazier (higher "
                                   f"tangent-kernel alignment) than a random rank-{aligned_rank} initialisation"),
        ):
            d = paired_difference(df, a, r, measure)
            claims.append(Claim(
                target=TARGET, claim=text, measured=_mean(d), comparison=cmp_, expected=0.0, scale=scale,
                source=source,
                details={"statistic": f"{measure}({a}) - {measure}({r}), mean over seeds and tasks",
                         "per_task": d, "n_seeds": n_seeds,
                         "effective_rank_aligned": float(df[df.init == a].effective_rank.mean()),
                         "effective_rank_random": float(df[df.init == r].effective_rank.mean())},
                kind="finding",
            ))
    return claims
