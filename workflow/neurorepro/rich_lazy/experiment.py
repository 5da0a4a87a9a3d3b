"""The experiment of Liu et al. 2024: train one RNN per initialisation and measure laziness.

:func:`build_inits` makes every initial recurrent matrix (random rank sweep,
connectivity-derived, shuffled) for every seed, all with one Frobenius norm;
:func:`run_task` trains them on one task, adds the task-aligned low-rank
initialisation (from task statistics) and the warm start (a labelled extra), and
returns one row of measures per (seed, init).
"""
from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from .aligned import lagged_cross_covariance, recurrent_aligned_init
from .inits import (
    apply_sign,
    connectivity_block,
    effective_rank,
    gaussian_init,
    participation_ratio,
    rescale,
    shuffle_entries,
    truncate_rank,
)
from .model import RNNTrainer
from .tasks import TASKS, Task

MEASURES = ("weight_change", "rep_alignment", "ntk_alignment")


def build_inits(
    n_hidden: int,
    ranks: list[int],
    gain: float,
    n_seeds: int,
    seed: int,
    W_conn: xr.Dataset | None = None,
    sign: str = "dale",
    selection: str = "auto",
    inhibitory_fraction: float = 0.2,
    balance: bool = True,
) -> xr.Dataset:
    """All initial recurrent matrices, dims (seed, init, post, pre).

    ``init`` labels: ``rank_<r>`` for the random SVD-truncated family, then
    ``connectivity`` and ``shuffled`` when ``W_conn`` is given. Every matrix has the
    Frobenius norm of the full-rank Gaussian draw of its seed (``gain * ~N``).
    Coords ``family``, ``rank`` (-1 for non-random families), and per (seed, init)
    ``effective_rank`` (entropy) and ``participation_ratio``.
    """
    ranks = sorted({int(r) for r in ranks})
    if not ranks or ranks[0] < 1 or ranks[-1] > n_hidden:
        raise ValueError(f"rich_lazy.ranks must lie in [1, n_hidden={n_hidden}], got {ranks}")
    labels = [f"rank_{r}" for r in ranks]
    families = ["random"] * len(ranks)
    rank_coord = list(ranks)
    if W_conn is not None:
        labels += ["connectivity", "shuffled"]
        families += ["connectivity", "shuffled"]
        rank_coord += [-1, -1]
    W0 = np.zeros((n_seeds, len(labels), n_hidden, n_hidden))
    blocks = []
    for s in range(n_seeds):
        rng = np.random.default_rng([seed, s, 1])
        Wg = gaussian_init(n_hidden, gain, rng)
        norm = np.linalg.norm(Wg)
        for i, r in enumerate(ranks):
            W0[s, i] = truncate_rank(Wg, r, norm)
        if W_conn is not None:
            crng = np.random.default_rng([seed, s, 2])
            block, meta = connectivity_block(W_conn, n_hidden, crng, selection)
            signed = rescale(apply_sign(block, sign, crng, inhibitory_fraction, balance), norm)
            W0[s, len(ranks)] = signed
            W0[s, len(ranks) + 1] = shuffle_entries(signed, crng)
            blocks.append(meta)
    erank = np.array([[effective_rank(W0[s, i]) for i in range(len(labels))] for s in range(n_seeds)])
    pr = np.array([[participation_ratio(W0[s, i]) for i in range(len(labels))] for s in range(n_seeds)])
    ds = xr.Dataset(
        {
            "W0": (("seed", "init", "post", "pre"), W0),
            "effective_rank": (("seed", "init"), erank),
            "participation_ratio": (("seed", "init"), pr),
            "singular_values": (
                ("seed", "init", "mode"),
                np.linalg.svd(W0, compute_uv=False),
            ),
        },
        coords={
            "seed": np.arange(n_seeds),
            "init": labels,
            "family": ("init", families),
            "rank": ("init", rank_coord),
        },
        attrs={
            "description": "initial recurrent weights W_hh (post x pre) of equal Frobenius norm",
            "gain": float(gain),
            "n_hidden": int(n_hidden),
            "base_seed": int(seed),
            "effective_rank": "exp(entropy of normalised singular values), Roy & Vetterli 2007",
            "participation_ratio": "(sum s^2)^2 / sum s^4 of the singular values s",
            "connectivity_sign": sign if W_conn is not None else "none",
            "connectivity_inhibitory_fraction": float(inhibitory_fraction) if sign == "dale" else -1.0,
            "connectivity_ei_balance": int(bool(balance)) if sign == "dale" else -1,
            "connectivity_selection": ",".join(sorted({b["selection"] for b in blocks})) if W_conn is not None else "none",
        },
    )
    if W_conn is not None:
        ds["conn_rows"] = (("seed", "post"), np.array([b["rows"] for b in blocks]))
        ds["conn_cols"] = (("seed", "pre"), np.array([b["cols"] for b in blocks]))
        ds.attrs["connectivity_source"] = "results/connectivity/W.nc (target_voxel x source_voxel)"
        ds.attrs["connectivity_lambda"] = str(W_conn.attrs.get("lambda", "?"))
    return ds


def run_task(
    task: Task,
    inits: xr.Dataset,
    trainer: dict[str, Any],
    probe_trials: int,
    ntk_trials: int,
    aligned_rank: int | None,
    seed: int,
    device: str = "cpu",
    logger: logging.Logger | None = None,
    warm_rank: int | None = None,
    stats_trials: int = 2000,
    ntk_steps: str = "all",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train every init of ``inits`` on ``task``; returns (measures, loss curves).

    One probe batch (``probe_trials`` trials, fixed by ``seed`` and the task) serves
    every init and seed. Two inits are built here, per seed, because they depend on
    the task:

    * ``aligned_<r>`` (family ``aligned``), with ``aligned_rank`` r: built from task
      statistics without any training (:func:`.aligned.recurrent_aligned_init`): the
      rank-r truncation of ``W_out^T C W_in^T``, ``C`` the task's lagged input-output
      cross-covariance over ``stats_trials`` trials and ``W_in``, ``W_out`` the initial
      input/readout weights the network of this seed starts from; rescaled to the
      common norm. It is compared with the random init ``rank_<r>`` of the same seed.
    * ``warm_<r>`` (family ``warm_start``), with ``warm_rank`` r: the rank-r truncation
      of the recurrent weights learned on this task from the seed's lowest-rank random
      init, rescaled to the common norm: a warm start, kept as a labelled extra (it has
      already seen the task, so less change afterwards is close to guaranteed).

    ``ntk_steps`` ('all' or 'target') picks the steps of the tangent kernel
    (:meth:`.model.RNNTrainer.laziness`).
    """
    log = logger or logging.getLogger(__name__)
    probe = task.sample(probe_trials, np.random.default_rng([seed, TASKS.index(task.name), 99]))
    rows, curves = [], []
    labels = list(inits["init"].values)
    random_ranks = [int(r) for r, f in zip(inits["rank"].values, inits["family"].values) if f == "random"]
    pilot = f"rank_{min(random_ranks)}"
    for name, r in (("aligned_rank", aligned_rank), ("warm_rank", warm_rank)):
        if r is not None and f"rank_{r}" not in labels:
            raise ValueError(f"rich_lazy.{name}={r} must be one of rich_lazy.ranks {random_ranks}")
    stats = task.sample(stats_trials, np.random.default_rng([seed, TASKS.index(task.name), 98]))
    C_yx = lagged_cross_covariance(stats.x, stats.y, task.n_outputs)
    for s in inits["seed"].values:
        tr_kw = dict(trainer, seed=int(seed) * 1000 + int(s), device=device)
        jobs = [(lab, inits["W0"].sel(seed=s, init=lab).values, str(inits["family"].sel(init=lab).values),
                 int(inits["rank"].sel(init=lab).values)) for lab in labels]
        if aligned_rank is not None:
            norm = float(np.linalg.norm(inits["W0"].sel(seed=s, init=f"rank_{aligned_rank}").values))
            W_in, W_out = RNNTrainer(task, **tr_kw).initial_io()
            W_al = recurrent_aligned_init(C_yx, W_in, W_out, aligned_rank, norm)
            jobs.append((f"aligned_{aligned_rank}", W_al, "aligned", aligned_rank))
        while jobs:
            lab, W0, family, rank = jobs.pop(0)
            tr = RNNTrainer(task, **tr_kw).fit(W0)
            m = tr.laziness(probe, ntk_trials, ntk_steps)
            rows.append({"task": task.name, "seed": int(s), "init": lab, "family": family, "rank": rank,
                         "effective_rank": effective_rank(W0), "participation_ratio": participation_ratio(W0),
                         "w0_norm": float(np.linalg.norm(W0)), **m})
            curves += [{"task": task.name, "seed": int(s), "init": lab, "iteration": min((k + 1) * tr.log_every, tr.n_iter),
                        "loss": float(v)} for k, v in enumerate(tr.loss_curve_)]
            log.info("%s seed %d %-14s erank %6.1f dW %.4f rep %.4f ntk %.4f acc %.3f", task.name, s, lab,
                     rows[-1]["effective_rank"], m["weight_change"], m["rep_alignment"], m["ntk_alignment"],
                     m["accuracy"])
            if not np.isfinite(m["final_loss"]):
                log.warning("%s seed %d %s diverged (non-finite loss; W0 spectral radius %.2f): its measures are "
                            "NaN and drop out of the claims' seeds", task.name, s, lab,
                            float(np.max(np.abs(np.linalg.eigvals(W0)))))
            if warm_rank is not None and lab == pilot:
                W_warm = truncate_rank(tr.W_, warm_rank, np.linalg.norm(W0))
                jobs.append((f"warm_{warm_rank}", W_warm, "warm_start", warm_rank))
    return pd.DataFrame(rows), pd.DataFrame(curves)
