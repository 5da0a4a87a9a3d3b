"""Train the RNN with one credit assignment rule and track accuracy, curvature and alignment."""
from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from neurorepro.credit_assignment.curvature import top_eigenvalue_wrt_W_rec
from neurorepro.credit_assignment.rnn import LeakyReLURNN, accuracy, last_step_weights, sequence_loss
from neurorepro.credit_assignment.rules import RULES, BPTT, make_rule
from neurorepro.credit_assignment.tasks import Task

OPTIMIZERS = ("sgd", "adam")


def derive_seed(*parts: object) -> int:
    """A stable 31-bit seed from any parts (crc32 of their text), independent of PYTHONHASHSEED."""
    return zlib.crc32("/".join(map(str, parts)).encode()) & 0x7FFFFFFF


@dataclass
class Remedy:
    """A training change applied to a run: ``lr_scale`` multiplies the learning rate; ``weight_decay`` is L2."""

    name: str = "none"
    lr_scale: float = 1.0
    weight_decay: float = 0.0


class RuleTrainer:
    """Train a :class:`~.rnn.LeakyReLURNN` on a task with one learning rule (scikit-learn style).

    Parameters
    ----------
    rule : one of :data:`~.rules.RULES`.
    n_hidden, alpha, rec_gain : network (see :class:`~.rnn.LeakyReLURNN`).
    lr, optimizer, momentum, batch_size, n_epochs, weight_decay, grad_clip : optimisation; the
        rule's gradient estimate is handed to a torch optimiser (``sgd`` or ``adam``).
    truncation : steps kept by ``tbptt``. n_types : cell types of ``mdgl``.
    n_checkpoints : evaluations spread evenly over training (incl. start and end).
    hessian_samples, hessian_iter, hessian_tol : training trials and power-iteration settings of
        the top Hessian eigenvalue (w.r.t. ``W_rec``) at each checkpoint.
    eval_noise : std of Gaussian noise added to test inputs for the noisy test accuracy.
    seed : initial weights and batch order (shared by every rule with the same seed);
        RFLO's feedback matrix and the eval noise get their own seeds derived from it.
    device : a torch device.

    Attributes after :meth:`fit`: ``net_``, ``history_`` (one row per checkpoint),
    ``result_`` (final metrics), ``n_steps_``.
    """

    def __init__(
        self,
        rule: str = "bptt",
        *,
        n_hidden: int = 64,
        alpha: float = 1.0,
        rec_gain: float = 1.0,
        lr: float = 0.05,
        optimizer: str = "sgd",
        momentum: float = 0.0,
        batch_size: int = 32,
        n_epochs: int = 20,
        weight_decay: float = 0.0,
        grad_clip: float | None = None,
        truncation: int = 2,
        n_types: int = 2,
        n_checkpoints: int = 6,
        hessian_samples: int = 256,
        hessian_iter: int = 30,
        hessian_tol: float = 1e-3,
        eval_noise: float = 0.3,
        seed: int = 0,
        device: str | torch.device = "cpu",
    ) -> None:
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
        if optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {optimizer!r}")
        for name, val, lo in (
            ("n_hidden", n_hidden, 1), ("batch_size", batch_size, 1), ("n_epochs", n_epochs, 1),
            ("n_checkpoints", n_checkpoints, 2), ("hessian_samples", hessian_samples, 1),
            ("hessian_iter", hessian_iter, 1), ("truncation", truncation, 1), ("n_types", n_types, 1),
        ):
            if int(val) < lo:
                raise ValueError(f"{name} must be >= {lo}, got {val}")
        if lr <= 0:
            raise ValueError(f"lr must be > 0, got {lr}")
        if weight_decay < 0 or eval_noise < 0 or momentum < 0:
            raise ValueError("weight_decay, eval_noise and momentum must be >= 0")
        self.rule, self.n_hidden, self.alpha, self.rec_gain = rule, int(n_hidden), float(alpha), float(rec_gain)
        self.lr, self.optimizer, self.momentum = float(lr), optimizer, float(momentum)
        self.batch_size, self.n_epochs = int(batch_size), int(n_epochs)
        self.weight_decay, self.grad_clip = float(weight_decay), grad_clip
        self.truncation, self.n_types, self.n_checkpoints = int(truncation), int(n_types), int(n_checkpoints)
        self.hessian_samples, self.hessian_iter, self.hessian_tol = int(hessian_samples), int(hessian_iter), float(hessian_tol)
        self.eval_noise, self.seed, self.device = float(eval_noise), int(seed), torch.device(device)

    # ------------------------------------------------------------------ fit
    def fit(self, task: Task) -> "RuleTrainer":
        dev = self.device
        gen = torch.Generator().manual_seed(self.seed)
        net = LeakyReLURNN(task.n_in, self.n_hidden, task.n_classes, alpha=self.alpha, rec_gain=self.rec_gain, generator=gen)
        net = net.to(dev)
        fb_gen = torch.Generator().manual_seed(derive_seed(self.seed, "feedback"))
        rule = make_rule(self.rule, n_hidden=self.n_hidden, n_out=task.n_classes, truncation=self.truncation,
                         n_types=self.n_types, generator=fb_gen)
        if getattr(rule, "feedback", None) is not None:
            rule.feedback = rule.feedback.to(dev)
        params = dict(net.named_parameters())
        if self.optimizer == "sgd":
            opt = torch.optim.SGD(params.values(), lr=self.lr, momentum=self.momentum, weight_decay=self.weight_decay)
        else:
            opt = torch.optim.Adam(params.values(), lr=self.lr, weight_decay=self.weight_decay)

        xtr, ytr = task.x_train.to(dev), task.y_train.to(dev)
        xte, yte = task.x_test.to(dev), task.y_test.to(dev)
        w = last_step_weights(task.n_steps, device=dev)
        n = len(ytr)
        steps_per_epoch = int(np.ceil(n / self.batch_size))
        total = steps_per_epoch * self.n_epochs
        checkpoints = sorted(set(np.linspace(0, total, self.n_checkpoints).round().astype(int).tolist()))
        hidx = torch.randperm(n, generator=torch.Generator().manual_seed(derive_seed(self.seed, "hessian")))[: self.hessian_samples]
        probe = (xtr[hidx.to(dev)], ytr[hidx.to(dev)])
        noise_gen = torch.Generator().manual_seed(derive_seed(self.seed, "eval_noise"))
        noisy_xte = xte + self.eval_noise * torch.randn(xte.shape, generator=noise_gen).to(dev)

        rows, step, diverged = [], 0, False
        order_gen = torch.Generator().manual_seed(derive_seed(self.seed, "order"))
        rows.append(self._evaluate(net, rule, step, 0, xtr, ytr, xte, yte, noisy_xte, probe, w))
        for epoch in range(self.n_epochs):
            perm = torch.randperm(n, generator=order_gen).to(dev)
            for b in range(steps_per_epoch):
                idx = perm[b * self.batch_size : (b + 1) * self.batch_size]
                grads, loss = rule(net, xtr[idx], ytr[idx], w)
                if not np.isfinite(loss):
                    diverged = True
                    break
                if self.grad_clip is not None:
                    norm = torch.sqrt(sum((g**2).sum() for g in grads.values()))
                    scale = min(1.0, float(self.grad_clip) / (float(norm) + 1e-12))
                    grads = {k: g * scale for k, g in grads.items()}
                for k, p in params.items():
                    p.grad = grads[k].detach().clone()
                opt.step()
                step += 1
                if step in checkpoints:
                    rows.append(self._evaluate(net, rule, step, epoch + 1, xtr, ytr, xte, yte, noisy_xte, probe, w))
            if diverged:
                break
        self.history_ = pd.DataFrame(rows)
        self.history_["diverged"] = diverged
        last = self.history_.iloc[-1]
        self.result_ = {
            "train_acc": float(last.train_acc),
            "test_acc": float(last.test_acc),
            "test_acc_noisy": float(last.test_acc_noisy),
            "gap": float(last.train_acc - last.test_acc),
            "gap_noisy": float(last.train_acc - last.test_acc_noisy),
            "train_loss": float(last.train_loss),
            "test_loss": float(last.test_loss),
            "top_eig": float(last.top_eig),
            "grad_alignment": float(last.grad_alignment),
            "diverged": bool(diverged),
        }
        self.net_, self.n_steps_ = net, step
        return self

    # ------------------------------------------------------------- helpers
    def _evaluate(self, net, rule, step, epoch, xtr, ytr, xte, yte, noisy_xte, probe, w) -> dict:
        with torch.no_grad():
            ytr_hat, yte_hat, ynoisy = net(xtr), net(xte), net(noisy_xte)
            row = {
                "step": step,
                "epoch": epoch,
                "train_loss": float(sequence_loss(ytr_hat, ytr, w)),
                "test_loss": float(sequence_loss(yte_hat, yte, w)),
                "train_acc": accuracy(ytr_hat, ytr),
                "test_acc": accuracy(yte_hat, yte),
                "test_acc_noisy": accuracy(ynoisy, yte),
            }
        finite = np.isfinite(row["train_loss"])
        row["top_eig"] = (
            top_eigenvalue_wrt_W_rec(net, *probe, w, n_iter=self.hessian_iter, tol=self.hessian_tol, seed=derive_seed(self.seed, "power", step))
            if finite else float("nan")
        )
        row["grad_alignment"] = gradient_alignment(rule, net, *probe, w) if finite else float("nan")
        return row


def gradient_alignment(rule, net: LeakyReLURNN, x: torch.Tensor, labels: torch.Tensor, w: torch.Tensor) -> float:
    """Cosine between the rule's ``W_rec`` update and the exact (BPTT) gradient on ``(x, labels)``."""
    est, _ = rule(net, x, labels, w)
    true, _ = BPTT(None)(net, x, labels, w)
    a, b = est["W_rec"].flatten(), true["W_rec"].flatten()
    denom = float(a.norm() * b.norm())
    return float((a @ b) / denom) if denom > 0 else float("nan")
