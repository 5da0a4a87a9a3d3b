"""Initial recurrent weights of chosen effective rank and equal Frobenius norm.

Families (Liu et al. 2024, Sec. 3 and the authors' code):

* ``random``: ``W = g * Z / sqrt(N)`` with ``Z`` standard Gaussian (``g = 1.25``),
  truncated by SVD to its top ``r`` singular triplets and rescaled to the
  Frobenius norm of the untruncated matrix (:func:`truncate_rank`).
* ``connectivity``: an N x N recurrent block of the mouse voxel connectivity
  fitted by the ``connectivity`` target (:func:`connectivity_block`), given signs
  (:func:`apply_sign`) and rescaled to the same norm. The sign rules that keep the
  block's low-rank structure are ``dale`` (one sign per *source* column, a fraction
  of the sources inhibitory: ``W = B D`` with ``D`` diagonal and invertible, so
  ``rank(W) = rank(B)``) and ``centered`` (``B - mean(B)``, rank at most
  ``rank(B) + 1``). ``random`` (+-1 per entry) is kept as a labelled option: it
  turns any block into a near full-rank matrix (the control it should be compared
  with, not a connectivity-derived init).
* ``shuffled``: the signed connectivity block with its entries randomly permuted
  (same weight distribution, structure destroyed; :func:`shuffle_entries`).
* ``aligned``: built from task statistics, without training (:mod:`.aligned`);
  ``warm``: the rank-r truncation of recurrent weights already trained on the task
  (a warm start, kept as a labelled extra; built in :mod:`.experiment`).
"""
from __future__ import annotations

import numpy as np
import xarray as xr

from neurorepro.measures.dimension import participation_ratio_from_eigenvalues

SIGNS = ("dale", "centered", "nonnegative", "random")


def gaussian_init(n: int, gain: float, rng: np.random.Generator) -> np.ndarray:
    """``gain * Z / sqrt(n)``, ``Z`` an ``n x n`` standard Gaussian matrix."""
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    return gain * rng.standard_normal((n, n)) / np.sqrt(n)


def truncate_rank(W: np.ndarray, rank: int, norm: float | None = None) -> np.ndarray:
    """Keep the top ``rank`` singular triplets of ``W`` and rescale to Frobenius ``norm``.

    ``norm`` defaults to ``||W||_F``, so the result has the norm of the input and
    rank exactly ``rank`` (when ``W`` has at least that many nonzero singular values).
    """
    if not 1 <= rank <= min(W.shape):
        raise ValueError(f"rank must lie in [1, {min(W.shape)}], got {rank}")
    U, s, Vt = np.linalg.svd(W, full_matrices=False)
    Wr = (U[:, :rank] * s[:rank]) @ Vt[:rank]
    target = np.linalg.norm(W) if norm is None else float(norm)
    return rescale(Wr, target)


def rescale(W: np.ndarray, norm: float) -> np.ndarray:
    """``W`` scaled to Frobenius norm ``norm``."""
    cur = np.linalg.norm(W)
    if cur == 0:
        raise ValueError("cannot rescale an all-zero matrix")
    return W * (norm / cur)


def effective_rank(W: np.ndarray) -> float:
    """Entropy effective rank (Roy & Vetterli 2007): ``exp(H(p))``, ``p = s / sum(s)``.

    ``s`` are the singular values of ``W``; equals ``k`` for a matrix with ``k`` equal
    nonzero singular values.
    """
    s = np.linalg.svd(W, compute_uv=False)
    s = s[s > s.max() * 1e-12] if s.max() > 0 else s
    if s.size == 0 or s.sum() == 0:
        return 0.0
    p = s / s.sum()
    return float(np.exp(-(p * np.log(p)).sum()))


def participation_ratio(W: np.ndarray) -> float:
    """Participation ratio of the squared singular values: ``(sum s^2)^2 / sum s^4``."""
    return participation_ratio_from_eigenvalues(np.linalg.svd(W, compute_uv=False) ** 2)


def connectivity_block(
    W_ds: xr.Dataset, n: int, rng: np.random.Generator, selection: str = "auto"
) -> tuple[np.ndarray, dict]:
    """An ``n x n`` recurrent block of the voxel connectivity ``W`` (target x source).

    ``selection="matched"`` draws ``n`` source voxels whose coordinates also occur
    among the target voxels and returns ``W[target(v_i), source(v_j)]``: a true
    recurrent matrix among ``n`` voxels (row = postsynaptic, column = presynaptic,
    matching ``h <- W h``). ``selection="block"`` takes ``n`` random target rows and
    ``n`` random source columns (for fits whose source and target grids do not
    overlap). ``selection="auto"`` uses ``matched`` when enough voxels are shared and
    ``block`` otherwise. Returns the block and a dict describing the choice.
    """
    if "W" not in W_ds:
        raise ValueError("connectivity dataset lacks variable 'W' (target_voxel, source_voxel)")
    W = W_ds["W"].transpose("target_voxel", "source_voxel").values.astype(float)
    n_t, n_s = W.shape
    pairs: list[tuple[int, int]] = []
    if selection in ("matched", "auto"):
        src = [tuple(c) for c in W_ds["source_coord"].values.astype(int)]
        tgt = {tuple(c): i for i, c in enumerate(W_ds["target_coord"].values.astype(int))}
        pairs = [(tgt[c], j) for j, c in enumerate(src) if c in tgt]
        if selection == "auto":
            selection = "matched" if len(pairs) >= n else "block"
    if selection == "matched":
        if len(pairs) < n:
            raise ValueError(
                f"rich_lazy.n_hidden={n} exceeds the {len(pairs)} voxels shared by the source and "
                "target grids of results/connectivity/W.nc; lower n_hidden or set "
                "rich_lazy.connectivity.selection: block"
            )
        pick = np.sort(rng.choice(len(pairs), size=n, replace=False))
        rows = np.array([pairs[k][0] for k in pick])
        cols = np.array([pairs[k][1] for k in pick])
    elif selection == "block":
        if n > min(n_t, n_s):
            raise ValueError(
                f"rich_lazy.n_hidden={n} exceeds the connectivity matrix ({n_t} targets x {n_s} sources)"
            )
        rows = np.sort(rng.choice(n_t, size=n, replace=False))
        cols = np.sort(rng.choice(n_s, size=n, replace=False))
    else:
        raise ValueError(
            f"rich_lazy.connectivity.selection must be 'auto', 'matched' or 'block', got {selection!r}"
        )
    block = W[np.ix_(rows, cols)]
    if not np.any(block):
        raise ValueError("the selected connectivity block is all zeros")
    return block, {"rows": rows, "cols": cols, "selection": selection}


def dale_signs(n: int, inhibitory_fraction: float, balance: bool, rng: np.random.Generator) -> np.ndarray:
    """Per-source (column) multipliers of Dale's law: +1 for excitatory, ``-g`` for inhibitory.

    ``round(inhibitory_fraction * n)`` sources, drawn with ``rng``, are inhibitory.
    With ``balance`` the inhibitory multiplier is ``g = (1 - f) / f`` (``f`` the realised
    inhibitory fraction), so that a row receiving equal weights from every source sums
    to zero (E/I balance, Rajan & Abbott 2006); otherwise ``g = 1``.
    """
    if not 0 <= inhibitory_fraction < 1:
        raise ValueError(f"rich_lazy.connectivity.inhibitory_fraction must lie in [0, 1), got {inhibitory_fraction}")
    n_inh = int(round(inhibitory_fraction * n))
    d = np.ones(n)
    if n_inh == 0:
        return d
    inh = rng.choice(n, size=n_inh, replace=False)
    f = n_inh / n
    d[inh] = -((1 - f) / f if balance else 1.0)
    return d


def apply_sign(
    block: np.ndarray,
    sign: str,
    rng: np.random.Generator,
    inhibitory_fraction: float = 0.2,
    balance: bool = True,
) -> np.ndarray:
    """Give the nonnegative voxel block (post x pre) a sign convention.

    * ``dale``: every source (column) is excitatory or inhibitory (Dale's law):
      ``W = B diag(d)`` with ``d`` from :func:`dale_signs`. ``D`` is invertible, so
      the rank is that of ``B`` (the singular values change only through the
      inhibitory gain; with ``balance=False`` they are exactly those of ``B``).
    * ``centered``: the mean entry subtracted (removes the uniform mode; rank <= rank(B) + 1).
    * ``nonnegative``: as measured (a dominant Perron mode; unstable at large norm).
    * ``random``: each entry multiplied by an independent fair +-1. Mesoscale data carry
      no sign, but this erases the block's low-rank structure (the result is as high-rank
      as a Gaussian matrix), so it is not a structured init; kept for comparison only.
    """
    if sign == "dale":
        return block * dale_signs(block.shape[1], inhibitory_fraction, balance, rng)[None, :]
    if sign == "centered":
        return block - block.mean()
    if sign == "nonnegative":
        return block.copy()
    if sign == "random":
        return block * rng.choice([-1.0, 1.0], size=block.shape)
    raise ValueError(f"rich_lazy.connectivity.sign must be one of {SIGNS}, got {sign!r}")


def shuffle_entries(W: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``W`` with its entries randomly permuted (same multiset of weights)."""
    flat = W.ravel().copy()
    rng.shuffle(flat)
    return flat.reshape(W.shape)
