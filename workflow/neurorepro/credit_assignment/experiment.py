"""Run one rule on one task over seeds (and the remedy variant) into a labelled Dataset."""
from __future__ import annotations

import numpy as np
import xarray as xr

from neurorepro.credit_assignment.tasks import Task
from neurorepro.credit_assignment.train import Remedy, RuleTrainer, derive_seed

HISTORY_VARS = ("train_acc", "test_acc", "test_acc_noisy", "train_loss", "test_loss", "top_eig", "grad_alignment",
                "eff_curv", "hvp_count")
UNITS = {
    "train_acc": "fraction correct", "test_acc": "fraction correct", "test_acc_noisy": "fraction correct",
    "train_loss": "cross-entropy (nats)", "test_loss": "cross-entropy (nats)",
    "top_eig": "top eigenvalue of the training-loss Hessian w.r.t. W_rec", "grad_alignment": "cosine to the BPTT gradient",
    "eff_curv": "curvature the rule's own update sees along the top eigenvector (at the stopping point)",
    "hvp_count": "Hessian-vector products the power iteration used",
}


def run_seeds(
    task: Task,
    rule: str,
    *,
    n_seeds: int,
    base_seed: int,
    trainer_kw: dict,
    remedies: list[Remedy] | None = None,
    log=None,
) -> xr.Dataset:
    """Train ``rule`` on ``task`` for ``n_seeds`` seeds, without and with each remedy.

    The seed of repetition ``s`` depends on ``(base_seed, task, s)`` only, so every rule
    starts from the same weights and sees the same batches for a given ``s``.
    Every run trains to the matched-performance criterion of ``trainer_kw`` (or its cap).
    Returns a Dataset with dims ``variant`` ("baseline" + remedy names), ``seed``,
    ``checkpoint`` (the checks of one run; shorter runs padded with NaN); variables of
    :data:`HISTORY_VARS` plus ``step`` over checkpoints, and ``diverged``, ``reached``
    (criterion met) and ``stop_step`` per run.
    """
    variants = [Remedy("baseline")] + list(remedies or [])
    lr = float(trainer_kw.get("lr", 0.05))
    wd = float(trainer_kw.get("weight_decay", 0.0))
    hist: dict[str, list] = {k: [] for k in (*HISTORY_VARS, "step")}
    diverged, reached, stop, seeds = [], [], [], [derive_seed(base_seed, task.name, s) for s in range(n_seeds)]
    per_variant = []
    for var in variants:
        rows = {k: [] for k in hist}
        div, rea, stp = [], [], []
        for s, seed in zip(range(n_seeds), seeds):
            kw = dict(trainer_kw, seed=seed, lr=lr * var.lr_scale, weight_decay=wd + var.weight_decay)
            tr = RuleTrainer(rule, **kw).fit(task)
            h = tr.history_
            for k in rows:
                rows[k].append(h[k].to_numpy(dtype=float) if k in h else np.full(len(h), np.nan))
            div.append(bool(tr.result_["diverged"]))
            rea.append(bool(tr.result_["reached"]))
            stp.append(int(tr.result_["steps"]))
            if log is not None:
                log.info("%s %s %s seed %d: %s", task.name, rule, var.name, s, {k: round(v, 4) for k, v in tr.result_.items() if k != "diverged"})
        per_variant.append(rows)
        diverged.append(div)
        reached.append(rea)
        stop.append(stp)
    n_ck = max(len(a) for rows in per_variant for a in rows["step"])
    for rows in per_variant:  # runs stop at different checks: pad their histories with NaN
        for k in rows:
            hist[k].append(np.stack([np.pad(a, (0, n_ck - len(a)), constant_values=np.nan) for a in rows[k]]))
    data = {k: (("variant", "seed", "checkpoint"), np.stack(v), {"units": UNITS.get(k, "optimizer steps")}) for k, v in hist.items()}
    data["diverged"] = (("variant", "seed"), np.array(diverged))
    data["reached"] = (("variant", "seed"), np.array(reached), {"units": "training criterion met before the cap"})
    data["stop_step"] = (("variant", "seed"), np.array(stop), {"units": "optimizer steps"})
    ds = xr.Dataset(
        data,
        coords={
            "variant": [v.name for v in variants],
            "seed": np.arange(n_seeds),
            "run_seed": ("seed", np.array(seeds)),
            "lr_scale": ("variant", [v.lr_scale for v in variants]),
            "extra_weight_decay": ("variant", [v.weight_decay for v in variants]),
        },
        attrs={
            "task": task.name,
            "rule": rule,
            "base_seed": int(base_seed),
            "n_train": int(len(task.y_train)),
            "n_test": int(len(task.y_test)),
            "n_steps_per_trial": task.n_steps,
            "loss_steps": int(task.loss_steps),
            **{f"task_{k}": v for k, v in task.attrs.items()},
            **{f"trainer_{k}": ("none" if v is None else v) for k, v in trainer_kw.items() if k != "device"},
            "description": "Liu et al. 2022 credit assignment: histories over training checkpoints per seed and variant",
        },
    )
    return ds
