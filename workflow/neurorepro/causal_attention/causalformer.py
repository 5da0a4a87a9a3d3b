"""The authors' Causalformer architecture (Lu et al. 2023), written from their description.

Read from the released code (ziyulu-uw/causalformer, ``causalformer_model/``: ``model.py``,
``embed.py``, ``encoder.py``, ``decoder.py``, ``attn.py``, ``time2vec.py``) and re-implemented
here; nothing is copied. It is a one-layer Spacetimeformer-style encoder-decoder:

* **Token layout.** The context ``x[t-L:t]`` of ``N`` neurons becomes ``N * L`` encoder
  tokens in neuron-major order (token ``j * L + l`` is neuron ``j`` at context step
  ``l``). The forecast of step ``t`` has one decoder token per neuron whose value is
  zeroed (the target is never an input).
* **Embeddings** (shared by encoder and decoder tokens): a value-time embedding
  ``Linear([time2vec(t), value] -> d_model)`` where ``time2vec`` of the absolute time in
  seconds has ``time_emb_dim`` features (1 = the linear term only, the authors' setting);
  plus a position embedding of the step index ``l`` inside the window by Time2Vec with
  ``d_model`` periodic features ``sin(w_k l + b_k)`` (decoder tokens: position 0); plus a
  learned *space* (neuron identity) embedding, added to every token of that neuron.
* **Encoder layer**: pre-norm residual blocks. *Local* self-attention (each token attends
  to the ``L`` tokens of its own neuron), then a feed-forward block
  (``d_model -> d_ff -> d_model``, GELU). No global self-attention (the authors' setting).
* **Decoder layer**: pre-norm residual blocks. *Local* cross-attention (neuron ``i``'s
  decoder token attends to the ``L`` encoder tokens of neuron ``i``), then *global*
  cross-attention (it attends to all ``N * L`` encoder tokens), then a feed-forward block.
  The global cross-attention weights ``(heads, target i, source j, step l)`` are the
  causal readout.
* **Normalisation**: batch normalisation over the feature axis (``norm="batch"``, the
  authors' default), or layer normalisation; no final norm.
* **Attention**: ``n_heads`` heads of width ``d_qk`` for queries, keys and values
  (``d_model`` need not equal ``n_heads * d_qk``; the output is projected back).
* **Head**: ``Linear(d_model -> 1)`` on each decoder token: the next value of that neuron.

Dropout: on the two embedding sums (``dropout_emb``) and in the feed-forward blocks
(``dropout_ff``); none on attention weights.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class Time2Vec(nn.Module):
    """``[w_0 s + b_0, sin(w_1 s + b_1), ..., sin(w_{k-1} s + b_{k-1})]`` of a scalar ``s``.

    Kazemi et al. 2019; weights and biases drawn from a standard normal (as the authors').
    """

    def __init__(self, dim: int):
        super().__init__()
        if dim < 1:
            raise ValueError(f"Time2Vec dim must be >= 1, got {dim}")
        self.w = nn.Parameter(torch.randn(dim))
        self.b = nn.Parameter(torch.randn(dim))

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """``s (...)`` -> ``(..., dim)``."""
        z = s.unsqueeze(-1) * self.w + self.b
        return torch.cat([z[..., :1], torch.sin(z[..., 1:])], dim=-1)


class Norm(nn.Module):
    """Batch norm over features of ``(B, tokens, d)`` (``"batch"``), layer norm or identity."""

    def __init__(self, method: str, d: int):
        super().__init__()
        if method not in ("batch", "layer", "none"):
            raise ValueError(f"norm must be batch, layer or none, got {method!r}")
        self.method = method
        self.norm = nn.BatchNorm1d(d) if method == "batch" else nn.LayerNorm(d) if method == "layer" else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.method == "batch":
            return self.norm(x.transpose(1, 2)).transpose(1, 2)
        return self.norm(x)


class Attention(nn.Module):
    """Multi-head attention with head width ``d_qk`` that returns its weights ``(B, h, n_q, n_k)``."""

    def __init__(self, d_model: int, n_heads: int, d_qk: int):
        super().__init__()
        self.h, self.dk = n_heads, d_qk
        self.q = nn.Linear(d_model, n_heads * d_qk)
        self.k = nn.Linear(d_model, n_heads * d_qk)
        self.v = nn.Linear(d_model, n_heads * d_qk)
        self.o = nn.Linear(n_heads * d_qk, d_model)

    def forward(self, q: torch.Tensor, kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, nq, _ = q.shape
        nk = kv.shape[1]
        Q = self.q(q).view(B, nq, self.h, self.dk).transpose(1, 2)
        K = self.k(kv).view(B, nk, self.h, self.dk).transpose(1, 2)
        V = self.v(kv).view(B, nk, self.h, self.dk).transpose(1, 2)
        att = torch.softmax(Q @ K.transpose(-1, -2) / math.sqrt(self.dk), dim=-1)
        out = (att @ V).transpose(1, 2).reshape(B, nq, self.h * self.dk)
        return self.o(out), att


class FeedForward(nn.Module):
    def __init__(self, d_model: int, d_ff: int, dropout: float):
        super().__init__()
        self.l1, self.l2, self.drop = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model), nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.l2(self.drop(F.gelu(self.l1(x)))))


class Causalformer(nn.Module):
    """The authors' forecaster: ``x (B, L, N)`` and window start times -> ``x[t]`` and attention.

    Parameters follow the authors' ``onerun.py`` names: ``d_model`` (100), ``n_heads`` (10),
    ``d_qk`` (8), ``d_ff`` (``None`` = 4 ``d_model`` = 400), ``time_emb_dim`` (1),
    ``dropout_emb`` (0.1), ``dropout_ff`` (0.1), ``norm`` ("batch").
    """

    def __init__(self, n_neurons: int, context: int, d_model: int = 100, n_heads: int = 10, d_qk: int = 8,
                 d_ff: int | None = None, time_emb_dim: int = 1, dropout_emb: float = 0.1, dropout_ff: float = 0.1,
                 norm: str = "batch"):
        super().__init__()
        self.n, self.L = n_neurons, context
        d_ff = d_ff or 4 * d_model
        # embeddings
        self.time_emb = Time2Vec(time_emb_dim)
        self.pos_emb = Time2Vec(d_model + 1)  # the linear term is dropped: d_model periodic features
        self.val_time = nn.Linear(time_emb_dim + 1, d_model)
        self.space_emb = nn.Embedding(n_neurons, d_model)
        self.drop_emb = nn.Dropout(dropout_emb)
        # encoder: local self-attention + feed-forward
        self.enc_norm_local, self.enc_norm_ff = Norm(norm, d_model), Norm(norm, d_model)
        self.enc_local = Attention(d_model, n_heads, d_qk)
        self.enc_ff = FeedForward(d_model, d_ff, dropout_ff)
        # decoder: local cross-attention + global cross-attention + feed-forward
        self.dec_norm_local, self.dec_norm_global, self.dec_norm_ff = (Norm(norm, d_model) for _ in range(3))
        self.dec_local = Attention(d_model, n_heads, d_qk)
        self.dec_global = Attention(d_model, n_heads, d_qk)
        self.dec_ff = FeedForward(d_model, d_ff, dropout_ff)
        self.head = nn.Linear(d_model, 1)

    def embed(self, y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """Tokens of values ``y (B, l, N)`` at times ``t (B, l)`` (seconds): ``(B, N * l, d)``, neuron-major."""
        B, l, N = y.shape
        pos = self.pos_emb(torch.arange(l, device=y.device, dtype=y.dtype))[:, 1:]  # (l, d)
        te = self.time_emb(t)  # (B, l, k)
        vt = self.val_time(torch.cat([te.unsqueeze(1).expand(B, N, l, -1), y.transpose(1, 2).unsqueeze(-1)], -1))
        vt = vt + pos  # (B, N, l, d)
        sp = self.space_emb(torch.arange(N, device=y.device))[None, :, None, :].expand_as(vt)
        return (self.drop_emb(vt) + self.drop_emb(sp)).reshape(B, N * l, -1)

    def forward(self, x: torch.Tensor, t0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x (B, L, N)``; ``t0 (B,)`` the time (ms) of the window's first step.

        Returns the forecast of the next step ``(B, N)`` and the global cross-attention
        ``(B, heads, N targets, N sources, L steps)``.
        """
        B, L, N = x.shape
        steps = t0.to(x.dtype)[:, None] + torch.arange(L + 1, device=x.device, dtype=x.dtype)[None]
        secs = steps / 1000.0  # the authors' time axis: linspace(0, T/1000, T)
        enc = self.embed(x, secs[:, :L])  # (B, N L, d)
        # encoder: local self-attention within each neuron's L tokens
        h = self.enc_norm_local(enc).reshape(B * N, L, -1)
        a, _ = self.enc_local(h, h)
        enc = enc + a.reshape(B, N * L, -1)
        enc = enc + self.enc_ff(self.enc_norm_ff(enc))
        # decoder: one zero-valued token per neuron at the target time
        dec = self.embed(torch.zeros(B, 1, N, device=x.device, dtype=x.dtype), secs[:, L:])  # (B, N, d)
        q = self.dec_norm_local(dec).reshape(B * N, 1, -1)
        a, _ = self.dec_local(q, enc.reshape(B * N, L, -1))
        dec = dec + a.reshape(B, N, -1)
        a, att = self.dec_global(self.dec_norm_global(dec), enc)
        dec = dec + a
        dec = dec + self.dec_ff(self.dec_norm_ff(dec))
        pred = self.head(dec).squeeze(-1)
        return pred, att.view(B, -1, N, N, L)
