"""Run one rule on one task over seeds (and the remedy variant) into a labelled Dataset."""
from __future__ import annotations

import numpy as np
import xarray as xr

from neurorepro.credit_assignment.tasks import Task
from neurorepro.credit_assignment.train import Remedy, RuleTrainer, derive_seed

HISTORY_VARS = ("train_acc", "test_acc", "test_acc_noisy", "train_loss", "test_loss", "top_eig", "grad_alignment")
UNITS = {
    "train_acc": "fraction correct", "test_acc": "fraction correct", "test_acc_noisy": "fraction correct",
    "train_loss": "cross-entropy (nats)", "test_loss": "cross-entropy (nats)",
    "top_eig": "top eigenvalue of the training-loss Hessian w.r.t. W_rec", "grad_alignment": "cosine to the BPTT gradient",
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
    Returns a Dataset with dims ``variant`` ("baseline" + remedy names), ``seed``,
    ``checkpoint``; variables of :data:`HISTORY_VARS` plus ``step`` over checkpoints
    and ``diverged`` per run.
    """
    variants = [Remedy("baseline")] + list(remedies or [])
    lr = float(trainer_kw.get("lr", 0.05))
    wd = float(trainer_kw.get("weight_decay", 0.0))
    hist: dict[str, list] = {k: [] for k in (*HISTORY_VARS, "step")}
    diverged, seeds = [], [derive_seed(base_seed, task.name, s) for s in range(n_seeds)]
    for var in variants:
        rows = {k: [] for k in hist}
        div = []
        for s, seed in zip(range(n_seeds), seeds):
            kw = dict(trainer_kw, seed=seed, lr=lr * var.lr_scale, weight_decay=wd + var.weight_decay)
            tr = RuleTrainer(rule, **kw).fit(task)
            h = tr.history_
            for k in rows:
                rows[k].append(h[k].to_numpy(dtype=float))
            div.append(bool(tr.result_["diverged"]))
            if log is not None:
                log.info("%s %s %s seed %d: %s", task.name, rule, var.name, s, {k: round(v, 4) for k, v in tr.result_.items() if k != "diverged"})
        n_ck = max(len(a) for a in rows["step"])
        for k in rows:  # a diverged run stops early: pad its history with NaN
            hist[k].append(np.stack([np.pad(a, (0, n_ck - len(a)), constant_values=np.nan) for a in rows[k]]))
        diverged.append(div)
    data = {k: (("variant", "seed", "checkpoint"), np.stack(v), {"units": UNITS.get(k, "optimizer steps")}) for k, v in hist.items()}
    data["diverged"] = (("variant", "seed"), np.array(diverged))
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
            **{f"task_{k}": v for k, v in task.attrs.items()},
            **{f"trainer_{k}": ("none" if v is None else v) for k, v in trainer_kw.items() if k != "device"},
            "description": "Liu et al. 2022 credit assignment: histories over training checkpoints per seed and variant",
        },
    )
    return ds
