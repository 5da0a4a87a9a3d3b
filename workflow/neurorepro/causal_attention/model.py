"""A transformer forecaster whose cross-attention is read out as a causal graph.

Design (after Causalformer, Lu et al. 2023, built on Spacetimeformer's separation of
local and global attention):

* **Encoder tokens**: one token per (source neuron ``j``, context step ``tau``):
  ``value_proj(x[tau, j]) + step_emb[tau]``. The encoder's self-attention is *local*: a
  token attends only to tokens of the same neuron (one shared encoder for every neuron),
  so a token carries information about its own neuron's recent activity only.
* **Decoder queries**: one query per target neuron ``i``: ``query_emb[i] +
  value_proj(x[L-1, i])`` (its identity and latest value).
* **Cross-attention** (multi-head, written out so its weights can be returned): each
  target's query attends over all ``N x L`` encoder tokens. The *keys* add a learned
  source-identity embedding to the token; the *values* do not. So what a target reads
  (the values) says nothing about whose activity it is: the only way for the forecast of
  neuron ``i`` to depend on *which* neuron was active is through the attention weights.
  (If values carried identity, near-uniform attention could pass every neuron's state
  on and leave the weights uninformative.) Several heads let excitatory and inhibitory
  inputs be read with opposite signs. ``attn[h, i, (j, tau)]`` is how much target ``i``
  reads source ``j`` at step ``tau``.
* A feed-forward block and a linear head map each target's vector to its next value.

The causal score (:func:`causal_scores`) sums the cross-attention over heads and over
the source's context tokens, averages over samples, normalises each target's row to
sum to 1 and zeroes the diagonal.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


class CrossAttention(nn.Module):
    """Multi-head attention of ``n_q`` queries over ``n_k`` tokens that returns its weights."""

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.h, self.dh = n_heads, d_model // n_heads
        self.q = nn.Linear(d_model, d_model)
        self.k = nn.Linear(d_model, d_model)
        self.v = nn.Linear(d_model, d_model)
        self.o = nn.Linear(d_model, d_model)
        self.drop = nn.Dropout(dropout)

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``queries (B, n_q, d)``, ``keys, values (B, n_k, d)`` -> output ``(B, n_q, d)``, weights ``(B, h, n_q, n_k)``."""
        B, nq, d = queries.shape
        nk = keys.shape[1]
        q = self.q(queries).view(B, nq, self.h, self.dh).transpose(1, 2)
        k = self.k(keys).view(B, nk, self.h, self.dh).transpose(1, 2)
        v = self.v(values).view(B, nk, self.h, self.dh).transpose(1, 2)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.dh), dim=-1)
        out = (self.drop(att) @ v).transpose(1, 2).reshape(B, nq, d)
        return self.o(out), att


class CausalFormer(nn.Module):
    """Forecast ``x[t]`` (all ``n_neurons``) from ``x[t-L:t]`` with readable cross-attention."""

    def __init__(self, n_neurons: int, context: int, d_model: int = 32, n_heads: int = 4, d_ff: int = 64, dropout: float = 0.1):
        super().__init__()
        self.n, self.L = n_neurons, context
        self.value_proj = nn.Linear(1, d_model)
        self.source_emb = nn.Embedding(n_neurons, d_model)  # added to the keys only
        self.step_emb = nn.Embedding(context, d_model)
        self.query_emb = nn.Embedding(n_neurons, d_model)
        self.local = nn.TransformerEncoderLayer(d_model, n_heads, d_ff, dropout, batch_first=True, norm_first=True)
        self.norm_tok = nn.LayerNorm(d_model)
        self.norm_q = nn.LayerNorm(d_model)
        self.cross = CrossAttention(d_model, n_heads, dropout)
        self.ff = nn.Sequential(nn.LayerNorm(d_model), nn.Linear(d_model, d_ff), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_ff, d_model))
        self.head = nn.Linear(d_model, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, L, N)`` -> prediction ``(B, N)`` and cross-attention ``(B, heads, N, N, L)``."""
        B, L, N = x.shape
        idx_n = torch.arange(N, device=x.device)
        idx_t = torch.arange(L, device=x.device)
        tok = self.value_proj(x.transpose(1, 2).unsqueeze(-1))  # (B, N, L, d)
        tok = tok + self.step_emb(idx_t)[None, None]
        tok = self.local(tok.reshape(B * N, L, -1)).reshape(B, N, L, -1)  # local: within a neuron
        tok = self.norm_tok(tok)
        keys = (tok + self.source_emb(idx_n)[None, :, None]).reshape(B, N * L, -1)
        q = self.query_emb(idx_n)[None] + self.value_proj(x[:, -1, :].unsqueeze(-1))  # (B, N, d)
        out, att = self.cross(self.norm_q(q), keys, tok.reshape(B, N * L, -1))
        z = q + out
        z = z + self.ff(z)
        pred = self.head(z).squeeze(-1)
        return pred, att.view(B, -1, N, N, L)


def windows(x: np.ndarray, context: int) -> tuple[np.ndarray, np.ndarray]:
    """All ``(x[t-L:t], x[t])`` pairs of a ``(time, n)`` series: ``(T-L, L, n)``, ``(T-L, n)``."""
    x = np.asarray(x, np.float32)
    T = x.shape[0]
    if T <= context:
        raise ValueError(f"series of length {T} is too short for context {context}")
    idx = np.arange(context)[None, :] + np.arange(T - context)[:, None]
    return x[idx], x[context:]


def causal_scores(attention: np.ndarray) -> np.ndarray:
    """Causal matrix ``(target, source)`` from cross-attention ``(samples, heads, N, N, L)``.

    Sum over heads and the source's context steps, average over samples, normalise each
    target's row to sum to 1, zero the diagonal.
    """
    a = np.asarray(attention, float)
    if a.ndim != 5 or a.shape[2] != a.shape[3]:
        raise ValueError(f"attention must be (samples, heads, N, N, L), got {a.shape}")
    c = a.sum(axis=(1, 4)).mean(axis=0)
    c = c / c.sum(axis=1, keepdims=True)
    np.fill_diagonal(c, 0.0)
    return c


ARCHS = ("causalformer", "keyed")


def build_model(arch: str, n_neurons: int, context: int, *, d_model: int, n_heads: int, d_ff: int, dropout: float,
                d_qk: int | None = None, time_emb_dim: int = 1, norm: str = "batch") -> nn.Module:
    """The forecaster of ``arch``: ``"causalformer"`` (the authors') or ``"keyed"`` (ours).

    Both map ``(x (B, L, N), t0 (B,))`` to ``(prediction (B, N), attention (B, h, N, N, L))``.
    """
    if arch == "causalformer":
        from .causalformer import Causalformer

        return Causalformer(n_neurons, context, d_model=d_model, n_heads=n_heads, d_qk=d_qk or max(1, d_model // n_heads),
                            d_ff=d_ff, time_emb_dim=time_emb_dim, dropout_emb=dropout, dropout_ff=dropout, norm=norm)
    if arch == "keyed":
        return _Keyed(CausalFormer(n_neurons, context, d_model, n_heads, d_ff, dropout))
    raise ValueError(f"unknown model arch {arch!r}; choose one of {ARCHS}")


class _Keyed(nn.Module):
    """:class:`CausalFormer` behind the common ``(x, t0)`` call (it does not use time)."""

    def __init__(self, core: CausalFormer):
        super().__init__()
        self.core = core

    def forward(self, x: torch.Tensor, t0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.core(x)


class AttentionCausality:
    """Train a forecaster on a multivariate series and read out its cross-attention causal scores.

    Parameters
    ----------
    arch : ``"causalformer"`` (the authors' architecture, :mod:`.causalformer`) or
        ``"keyed"`` (ours: source identity in the keys only, :class:`CausalFormer`).
    context : context window ``L`` (time steps).
    d_model, n_heads, d_ff, dropout : transformer size. ``d_qk`` (causalformer): width of
        each head (authors: 8; default ``d_model // n_heads``); ``norm``: ``"batch"``
        (authors) or ``"layer"``; ``time_emb_dim``: Time2Vec features of absolute time.
    lr, weight_decay : AdamW settings.
    lr_schedule : ``"plateau"`` (halve the rate by ``lr_factor`` after ``lr_patience``
        epochs without a new best validation loss, as the paper states) or ``"none"``.
    batch_size, max_epochs, patience : training loop; early stopping on the validation
        loss restores the best epoch's weights.
    train_frac, val_frac : chronological split; the rest is the test set.
    device : ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``.
    seed : seeds torch (weights, dropout, batch order).

    Attributes
    ----------
    scores_ : ``(N, N)`` causal scores, ``(target, source)``, rows sum to 1 before the
        diagonal is zeroed.
    attention_lag_ : ``(N, N, L)`` attention (summed over heads, averaged over test
        samples) per source context step.
    r2_ : forecast R^2 on the test split (mean over neurons).
    r2_persistence_ : R^2 of predicting ``x[t] = x[t-1]`` on the same test samples.
    test_prediction_, test_target_ : ``(samples, N)`` forecasts and truth on the test split.
    history_ : per epoch ``(train_loss, val_loss, lr)``; ``best_epoch_``, ``n_epochs_``.
    model_ : the trained module (on CPU).
    """

    def __init__(self, arch: str = "keyed", context: int = 10, d_model: int = 32, n_heads: int = 4, d_ff: int = 64,
                 dropout: float = 0.1, lr: float = 1e-3, weight_decay: float = 1e-2, batch_size: int = 64,
                 max_epochs: int = 30, patience: int = 5, train_frac: float = 0.6, val_frac: float = 0.2,
                 d_qk: int | None = None, norm: str = "batch", time_emb_dim: int = 1, lr_schedule: str = "none",
                 lr_patience: int = 3, lr_factor: float = 0.5, device: str = "auto", seed: int = 0):
        self.arch, self.context, self.d_model, self.n_heads, self.d_ff, self.dropout = arch, context, d_model, n_heads, d_ff, dropout
        self.d_qk, self.norm, self.time_emb_dim = d_qk, norm, time_emb_dim
        self.lr, self.weight_decay, self.batch_size = lr, weight_decay, batch_size
        self.lr_schedule, self.lr_patience, self.lr_factor = lr_schedule, lr_patience, lr_factor
        self.max_epochs, self.patience = max_epochs, patience
        self.train_frac, self.val_frac, self.device, self.seed = train_frac, val_frac, device, seed

    def _validate(self) -> None:
        """Check the parameters (called by ``fit``; ``__init__`` only stores them, as scikit-learn's estimators)."""
        for name in ("context", "d_model", "n_heads", "d_ff", "batch_size", "max_epochs", "patience", "lr_patience"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        tf, vf = self.train_frac, self.val_frac
        if not (0 < tf < 1 and 0 < vf < 1 and tf + vf < 1):
            raise ValueError(f"need 0 < train_frac, val_frac and train_frac + val_frac < 1, got {tf}, {vf}")
        if self.arch not in ARCHS:
            raise ValueError(f"unknown model arch {self.arch!r}; choose one of {ARCHS}")
        if self.lr_schedule not in ("plateau", "none"):
            raise ValueError(f"lr_schedule must be plateau or none, got {self.lr_schedule!r}")
        if not 0 < self.lr_factor <= 1:
            raise ValueError(f"lr_factor must lie in (0, 1], got {self.lr_factor}")

    def _split(self, n_samples: int) -> tuple[slice, slice, slice]:
        a = int(self.train_frac * n_samples)
        b = a + int(self.val_frac * n_samples)
        return slice(0, a), slice(a, b), slice(b, n_samples)

    def build(self, n_neurons: int) -> nn.Module:
        return build_model(self.arch, n_neurons, self.context, d_model=self.d_model, n_heads=self.n_heads,
                           d_ff=self.d_ff, dropout=self.dropout, d_qk=self.d_qk, time_emb_dim=self.time_emb_dim,
                           norm=self.norm)

    def fit(self, x: np.ndarray) -> "AttentionCausality":
        """Train on ``x (time, N)`` (chronological train/val/test) and read out the scores."""
        from sklearn.metrics import r2_score

        from neurorepro.runtime import resolve_device

        self._validate()
        dev = resolve_device(self.device)
        torch.manual_seed(self.seed)
        gen = torch.Generator().manual_seed(self.seed)
        X, Y = windows(x, self.context)
        tr, va, te = self._split(len(X))
        if min(len(X[tr]), len(X[va]), len(X[te])) < 1:
            raise ValueError(f"series too short ({len(x)} steps) for a train/val/test split")
        Xt, Yt = torch.from_numpy(X).to(dev), torch.from_numpy(Y).to(dev)
        T0 = torch.arange(len(X), device=dev)  # window k starts at step k
        model = self.build(x.shape[1]).to(dev)
        opt = torch.optim.AdamW(model.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        lr, best_for_lr, bad_for_lr = self.lr, math.inf, 0
        train_idx = torch.arange(tr.start, tr.stop)
        best, best_state, best_epoch, wait, history = math.inf, None, -1, 0, []
        for epoch in range(self.max_epochs):
            model.train()
            perm = train_idx[torch.randperm(len(train_idx), generator=gen)]
            tot = 0.0
            for s in range(0, len(perm), self.batch_size):
                bi = perm[s : s + self.batch_size].to(dev)
                if len(bi) < 2 and self.arch == "causalformer" and self.norm == "batch":
                    continue  # batch norm needs two samples
                pred, _ = model(Xt[bi], T0[bi])
                loss = torch.mean((pred - Yt[bi]) ** 2)
                opt.zero_grad()
                loss.backward()
                opt.step()
                tot += float(loss.detach()) * len(bi)
            val = self._mse(model, Xt[va], Yt[va], T0[va])
            history.append((tot / len(perm), val, lr))
            if not math.isfinite(val):
                break  # diverged: keep the best epoch so far (the authors stop too)
            if val < best - 1e-6:
                best, best_epoch, wait = val, epoch, 0
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                wait += 1
                if wait >= self.patience:
                    break
            if self.lr_schedule == "plateau":
                if val < best_for_lr:
                    best_for_lr, bad_for_lr = val, 0
                else:
                    bad_for_lr += 1
                    if bad_for_lr >= self.lr_patience:
                        lr, bad_for_lr = lr * self.lr_factor, 0
                        for g in opt.param_groups:
                            g["lr"] = lr
        if best_state is None:
            raise RuntimeError("training diverged in the first epoch")
        model.load_state_dict(best_state)
        pred, att = self._predict(model, Xt[te], T0[te])
        Y_te = Y[te]
        self.model_ = model.cpu()
        self.history_, self.best_epoch_, self.n_epochs_ = history, best_epoch, len(history)
        self.attention_lag_ = att.sum(axis=1).mean(axis=0)  # (N, N, L)
        self.scores_ = causal_scores(att)
        self.r2_ = float(r2_score(Y_te, pred))
        self.r2_persistence_ = float(r2_score(Y_te, X[te][:, -1, :]))
        self.test_prediction_, self.test_target_ = pred, Y_te
        return self

    @torch.no_grad()
    def _mse(self, model: nn.Module, X: torch.Tensor, Y: torch.Tensor, T0: torch.Tensor) -> float:
        pred, _ = self._predict(model, X, T0, keep_attention=False)
        return float(np.mean((pred - Y.cpu().numpy()) ** 2))

    @torch.no_grad()
    def _predict(self, model: nn.Module, X: torch.Tensor, T0: torch.Tensor, keep_attention: bool = True):
        model.eval()
        preds, atts = [], []
        for s in range(0, len(X), 256):
            p, a = model(X[s : s + 256], T0[s : s + 256])
            preds.append(p.cpu().numpy())
            if keep_attention:
                atts.append(a.sum(dim=1, keepdim=True).cpu().numpy())  # heads summed: memory stays small
        return np.concatenate(preds), (np.concatenate(atts) if keep_attention else None)


def fit_ensemble(x: np.ndarray, n_init: int, seed: int, **kwargs) -> dict:
    """Train ``n_init`` models from different initialisations and average them (the authors' protocol).

    The causal matrix is the mean of the ``n_init`` row-normalised attention matrices
    (``results_visualization.ipynb``); ``r2`` is the mean of the models' test R^2,
    ``r2_ensemble`` the R^2 of their averaged forecast. Model ``k`` is seeded
    ``seed * 1000 + k``.
    """
    from sklearn.metrics import r2_score

    if int(n_init) < 1:
        raise ValueError(f"n_init must be >= 1, got {n_init}")
    fits = [AttentionCausality(**kwargs, seed=int(seed) * 1000 + k).fit(x) for k in range(int(n_init))]
    pred = np.mean([m.test_prediction_ for m in fits], axis=0)
    return {
        "scores": np.mean([m.scores_ for m in fits], axis=0),
        "scores_each": np.stack([m.scores_ for m in fits]),
        "r2": float(np.mean([m.r2_ for m in fits])),
        "r2_ensemble": float(r2_score(fits[0].test_target_, pred)),
        "r2_persistence": fits[0].r2_persistence_,
        "n_epochs": float(np.mean([m.n_epochs_ for m in fits])),
        "best_epoch": float(np.mean([m.best_epoch_ for m in fits])),
        "val_loss": float(np.mean([m.history_[m.best_epoch_][1] for m in fits])),
        "fits": fits,
    }
