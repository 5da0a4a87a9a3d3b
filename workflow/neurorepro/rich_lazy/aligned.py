"""Initial weights aligned with task statistics, built without training (Liu et al. 2024, Prop. 1).

The paper's exception to "low rank learns rich" is a low-rank initialisation whose
singular directions are those of the task: in the student-teacher two-layer linear
network ``y = beta^T x``, a first layer ``W1 = s u beta_hat^T`` (row space = the
teacher's direction) learns lazily. ``beta`` is read off the task's input-output
statistics, ``beta^T = C_yx C_xx^{-1}`` with ``C_yx = E[y x^T]``, so the aligned
init needs data, never training.

:func:`aligned_map` is that construction in general form: the rank-r truncation of
``left @ C_yx @ right^T``, rescaled to a given Frobenius norm. For the two-layer
network ``left`` is a unit column ``u`` and ``right^T = C_xx^{-1}``; for the RNN the
recurrent matrix that carries the task's inputs to its outputs is
``W_out^T C W_in^T`` (:func:`recurrent_aligned_init`), with ``C`` the task's lagged
input-output cross-covariance (:func:`lagged_cross_covariance`) and ``W_in``,
``W_out`` the network's own initial input and readout weights.
"""
from __future__ import annotations

import numpy as np

from .inits import rescale


def aligned_map(C_yx: np.ndarray, left: np.ndarray, right: np.ndarray, rank: int, norm: float) -> np.ndarray:
    """Rank-``rank`` truncation of ``left @ C_yx @ right.T`` at Frobenius norm ``norm``.

    ``C_yx`` (n_out x n_in) is the task's input-output statistic; ``left`` (N x n_out)
    and ``right`` (M x n_in) place it in the weight's output and input spaces. Raises
    when the product has fewer than ``rank`` nonzero singular values (the statistic
    cannot fill that rank).
    """
    A = np.asarray(left, float) @ np.atleast_2d(np.asarray(C_yx, float)) @ np.asarray(right, float).T
    U, s, Vt = np.linalg.svd(A, full_matrices=False)
    if rank < 1 or rank > s.size:
        raise ValueError(f"aligned rank must lie in [1, {s.size}], got {rank}")
    if s[rank - 1] <= s[0] * 1e-10:
        raise ValueError(
            f"the task statistic has only {int(np.sum(s > s[0] * 1e-10))} nonzero singular values; "
            f"rich_lazy.aligned_rank={rank} is larger"
        )
    return rescale((U[:, :rank] * s[:rank]) @ Vt[:rank], norm)


def least_squares_statistic(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(C_yx, C_xx^{-1})`` of samples ``X`` (n x d), ``Y`` (n x k) (uncentred second moments).

    ``C_yx @ C_xx^{-1}`` is the least-squares linear map from x to y: the teacher's
    ``beta^T`` on noiseless data from a linear teacher.
    """
    X, Y = np.asarray(X, float), np.asarray(Y, float).reshape(len(X), -1)
    n = len(X)
    return Y.T @ X / n, np.linalg.inv(X.T @ X / n)


def lagged_cross_covariance(x: np.ndarray, y: np.ndarray, n_outputs: int, min_lag: int = 1) -> np.ndarray:
    """Task input-output cross-covariance summed over lags: ``sum_k Cov(y_t, x_{t-k})``.

    ``x`` (T, B, n_in) inputs and ``y`` (T, B) integer labels of a batch of trials;
    labels are one-hot coded. Both are centred over all (step, trial) pairs, so the
    fixed timing of the task (fixate, then decide) is part of the statistic as well as
    the trial-to-trial relation of choices and stimuli. Each lag ``k >= min_lag`` (the
    recurrence carries an input ``k`` steps to the readout) contributes the average over
    the ``T - k`` step pairs. Returns ``(n_outputs, n_in)``.
    """
    x = np.asarray(x, float)
    T = x.shape[0]
    if not 1 <= min_lag < T:
        raise ValueError(f"min_lag must lie in [1, {T - 1}], got {min_lag}")
    y = np.asarray(y)
    Y = np.zeros(y.shape + (n_outputs,))
    valid = y >= 0  # steps without a target (label < 0) contribute a zero target vector
    Y[valid] = np.eye(n_outputs)[y[valid]]
    xc = x - x.reshape(-1, x.shape[-1]).mean(0)
    yc = Y - Y.reshape(-1, n_outputs).mean(0)
    C = np.zeros((n_outputs, x.shape[-1]))
    for k in range(min_lag, T):
        C += np.einsum("tbo,tbi->oi", yc[k:], xc[: T - k]) / (yc[k:].shape[0] * yc.shape[1])
    return C


def recurrent_aligned_init(C_yx: np.ndarray, W_in: np.ndarray, W_out: np.ndarray, rank: int,
                           norm: float) -> np.ndarray:
    """Recurrent weights aligned with the task: rank-r truncation of ``W_out^T C_yx W_in^T``.

    A hidden state carrying the input ``W_in x`` is mapped onto the readout directions
    ``W_out^T`` in proportion to how the task's outputs co-vary with that input.
    """
    return aligned_map(C_yx, np.asarray(W_out).T, np.asarray(W_in), rank, norm)
