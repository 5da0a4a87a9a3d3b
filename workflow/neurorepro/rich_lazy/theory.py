"""Two-layer linear network theory of rank and laziness (Liu et al. 2024, Sec. 2).

Student ``f(x) = w^T W x`` (first layer ``W``: h x d, readout ``w``: h), teacher
``y = beta^T x`` with ``|beta| = 1``, whitened inputs (``E[x x^T] = I``), population
loss ``L = |beta - W^T w|^2 / 2`` and gradient flow. The tangent kernel of the
network on inputs ``x, x'`` is ``x^T M x'`` with ``M = |w|^2 I + W^T W``.

**Exact solution used here** (derived for this pipeline in the setting of the paper's
theorem; the derivation is in docs/papers/rich_lazy.md). Let ``W0 = s U_r V_r^T``
have rank r and r equal singular values ``s`` (``s^2 = c / r`` at a fixed squared
Frobenius norm ``c``), ``w(0) = 0``, and ``cos(theta) = |V_r^T beta|`` the part of
the teacher inside the row space of ``W0``. The hidden width is ``h = r`` (every hidden
direction carries one singular value): with ``h > r`` the solution below still exists
but is unstable, because a hidden direction outside ``W0``'s range can grow from the
saddle at zero and learn the teacher's orthogonal part as a new feature (found in
simulation; not part of the closed form). Then the flow stays in a rank-one update
``W = W0 + u q^T`` with ``u = U_r V_r^T beta_par / |beta_par|``; the balancedness
``W W^T - w w^T = const`` and the fixed point ``W^T w = beta`` give

* ``|P|^2 = (s^2 + sqrt(s^4 + 4)) / 2`` (``P``: the learned input direction, parallel to beta),
* ``|w|^2 = a^2 = |P|^2 - s^2``,
* ``|W - W0|^2 = |P|^2 + s^2 - 2 s |P| cos(theta)``  (:func:`closed_form`),
* ``M(T) = a^2 I + s^2 (Pi_r - e e^T) + |P|^2 beta beta^T`` with ``Pi_r = V_r V_r^T`` and
  ``e`` the unit vector along ``beta_par``, ``M(0) = s^2 Pi_r``: the kernel alignment
  in closed form.

Consequences: (i) at fixed ``s`` the weight change is smallest when ``cos(theta) = 1``,
the aligned init (Prop. 1 of the paper: a low-rank init aligned with the task learns
lazily); (ii) for a teacher drawn uniformly on the sphere ``cos^2(theta) ~
Beta(r/2, (d-r)/2)``, so low rank means small overlap and a large rotation of the
learned direction: in expectation the weight change falls and the kernel alignment
rises with the rank (:func:`expected_closed_form`, the analytic curve of the figure).
:func:`simulate_flow` integrates the full network to check the solution;
:func:`train_gd` runs the paper-style simulation (Gaussian SVD-truncated inits, small
random readout, a finite sample, gradient descent) where no closed form is claimed.
"""
from __future__ import annotations

import numpy as np
from scipy.integrate import solve_ivp

from .aligned import aligned_map, least_squares_statistic
from .inits import effective_rank, rescale, truncate_rank
from neurorepro.measures.alignment import matrix_alignment, relative_weight_change


def closed_form(s: float, cos_theta: float, r: int, d: int) -> dict[str, float]:
    """Final state of gradient flow from ``W0 = s U_r V_r^T``, ``w(0) = 0`` (see module doc).

    Returns ``weight_change`` ``|W - W0|_F``, ``relative_weight_change`` (divided by
    ``|W0|_F = s sqrt(r)``), ``readout_norm`` ``|w|``, ``P_norm`` and
    ``kernel_alignment`` ``<M0, M> / (|M0| |M|)``.
    """
    if not 1 <= r <= d:
        raise ValueError(f"need 1 <= r <= d, got r={r}, d={d}")
    c = float(np.clip(cos_theta, 0.0, 1.0))
    s2 = float(s) ** 2
    P2 = (s2 + np.sqrt(s2**2 + 4.0)) / 2.0
    P = np.sqrt(P2)
    a2 = P2 - s2
    dW = np.sqrt(max(P2 + s2 - 2.0 * s * P * c, 0.0))
    # <M0, M> and |M|^2 from the inner products of I, Pi_r, e e^T, b b^T (see module doc)
    inner = s2 * (a2 * r + s2 * (r - 1) + P2 * c**2)
    normM2 = a2**2 * d + s2**2 * (r - 1) + P2**2 + 2 * a2 * s2 * (r - 1) + 2 * a2 * P2
    align = inner / (s2 * np.sqrt(r) * np.sqrt(normM2))
    return {"weight_change": float(dW), "relative_weight_change": float(dW / (s * np.sqrt(r))),
            "readout_norm": float(np.sqrt(a2)), "P_norm": float(P), "kernel_alignment": float(align)}


def expected_closed_form(c: float, r: int, d: int, n_draws: int = 20000, seed: int = 0) -> dict[str, float]:
    """Expectation of :func:`closed_form` over a teacher uniform on the unit sphere.

    ``cos^2(theta) ~ Beta(r/2, (d-r)/2)`` (``= 1`` when ``r = d``); ``s^2 = c / r``.
    The expectation is taken over ``n_draws`` draws of that Beta law (a quadrature of a
    known one-dimensional density, not a simulation of the network).
    """
    s = np.sqrt(c / r)
    if r == d:
        cos = np.ones(1)
    else:
        cos = np.sqrt(np.random.default_rng(seed).beta(r / 2, (d - r) / 2, size=n_draws))
    vals = [closed_form(s, ci, r, d) for ci in cos]
    return {k: float(np.mean([v[k] for v in vals])) for k in vals[0]}


def kernel_matrix(W: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Input-space tangent kernel ``M = |w|^2 I + W^T W`` of ``f(x) = w^T W x``."""
    return float(w @ w) * np.eye(W.shape[1]) + W.T @ W


def equal_singular_init(h: int, d: int, r: int, c: float, rng: np.random.Generator) -> np.ndarray:
    """``W0 = s U_r V_r^T`` with random orthonormal ``U_r`` (h x r), ``V_r`` (d x r), ``s^2 = c / r``."""
    U, _ = np.linalg.qr(rng.standard_normal((h, r)))
    V, _ = np.linalg.qr(rng.standard_normal((d, r)))
    return np.sqrt(c / r) * U @ V.T


def random_unit(d: int, rng: np.random.Generator) -> np.ndarray:
    v = rng.standard_normal(d)
    return v / np.linalg.norm(v)


def simulate_flow(W0: np.ndarray, w0: np.ndarray, beta: np.ndarray, tol: float = 1e-7,
                  t_chunk: float = 50.0, max_chunks: int = 200) -> tuple[np.ndarray, np.ndarray, float]:
    """Integrate the full gradient flow of the population loss until ``|beta - W^T w| < tol``.

    Returns ``(W, w, t_end)``. Raises when the residual is still above ``tol`` after
    ``max_chunks`` chunks of length ``t_chunk`` (e.g. a teacher orthogonal to ``W0``'s
    row space with ``w(0) = 0`` sits on a saddle).
    """
    h, d = W0.shape

    def rhs(_t, z):
        W, w = z[: h * d].reshape(h, d), z[h * d:]
        r = beta - W.T @ w
        return np.concatenate([np.outer(w, r).ravel(), W @ r])

    z, t = np.concatenate([W0.ravel(), w0]), 0.0
    for _ in range(max_chunks):
        sol = solve_ivp(rhs, (t, t + t_chunk), z, method="RK45", rtol=1e-9, atol=1e-11)
        z, t = sol.y[:, -1], sol.t[-1]
        W, w = z[: h * d].reshape(h, d), z[h * d:]
        if np.linalg.norm(beta - W.T @ w) < tol:
            return W, w, t
    raise RuntimeError(f"gradient flow did not converge (residual {np.linalg.norm(beta - W.T @ w):.2e} at t={t})")


def train_gd(W0: np.ndarray, w0: np.ndarray, X: np.ndarray, y: np.ndarray, lr: float, max_steps: int,
             tol: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Full-batch gradient descent on ``mean((y - X W^T w)^2) / 2`` until it falls below ``tol``
    times its initial value (or ``max_steps``). Returns ``(W, w, steps)``."""
    W, w = W0.copy(), w0.copy()
    n = len(X)
    C_xx, c_xy = X.T @ X / n, X.T @ y / n
    L0 = None
    for step in range(1, max_steps + 1):
        v = W.T @ w
        g_v = C_xx @ v - c_xy  # dL/dv for v = W^T w
        loss = 0.5 * (v @ C_xx @ v) - v @ c_xy + 0.5 * float(y @ y) / n
        L0 = loss if L0 is None else L0
        if loss < tol * L0:
            return W, w, step - 1
        W, w = W - lr * np.outer(w, g_v), w - lr * (W @ g_v)
    return W, w, max_steps


def measures(W0, w0, W, w, X=None) -> dict[str, float]:
    """Relative weight change of ``W`` and tangent-kernel alignment (input-space ``M``, or the
    dataset kernel ``X M X^T`` when ``X`` is given)."""
    K0, K = kernel_matrix(W0, w0), kernel_matrix(W, w)
    if X is not None:
        K0, K = X @ K0 @ X.T, X @ K @ X.T
    return {"relative_weight_change": relative_weight_change(W0, W),
            "kernel_alignment": matrix_alignment(K0, K)}


def run_theory(d: int, h: int, ranks: list[int], gain: float, n_seeds: int, n_samples: int, lr: float,
               max_steps: int, tol: float, seed: int) -> tuple[list[dict], list[dict]]:
    """The exact setting (closed form vs full gradient flow) and the paper-style simulation.

    Returns ``(rows, curve)``: one row per (setting, seed, init) with the measures (and,
    in the exact setting, the closed-form values beside the simulated ones), and the
    analytic expectation per rank (``curve``). Units are seeds: each seed draws its own
    teacher, initial matrices and data; inits within a seed share them.
    """
    ranks = sorted({int(r) for r in ranks})
    if ranks[0] < 1 or ranks[-1] > min(h, d):
        raise ValueError(f"rich_lazy.theory.ranks must lie in [1, min(h, d)={min(h, d)}], got {ranks}")
    c = gain**2 * h  # squared Frobenius norm of a gain * N(0, 1/d) h x d matrix, in expectation
    rows: list[dict] = []
    for sd in range(n_seeds):
        rng = np.random.default_rng([seed, sd, 30])
        beta = random_unit(d, rng)
        # exact setting: width r, equal singular values, w(0) = 0, population loss, gradient flow
        for r in ranks:
            for kind in ("random", "aligned"):
                W0 = equal_singular_init(r, d, r, c, rng)
                if kind == "aligned":  # row space contains beta: rotate V_r's first column onto beta
                    U, _, Vt = np.linalg.svd(W0, full_matrices=False)
                    V = Vt[:r].T
                    V = np.linalg.qr(np.column_stack([beta, V[:, 1:]]))[0] if r > 1 else beta[:, None]
                    V[:, 0] *= np.sign(V[:, 0] @ beta)
                    W0 = np.sqrt(c / r) * U[:, :r] @ V.T
                cos = float(np.linalg.norm(np.linalg.svd(W0, full_matrices=False)[2][:r] @ beta))
                W, w, t_end = simulate_flow(W0, np.zeros(r), beta)
                m = measures(W0, np.zeros(r), W, w)
                cf = closed_form(np.sqrt(c / r), cos, r, d)
                rows.append({"setting": "exact", "seed": sd, "init": f"{kind}_{r}", "family": kind, "rank": r,
                             "effective_rank": float(r), "cos_theta": cos, **m,
                             "closed_form_relative_weight_change": cf["relative_weight_change"],
                             "closed_form_kernel_alignment": cf["kernel_alignment"], "t_end": t_end})
        # paper-style simulation: Gaussian SVD-truncated W0 (common norm), small random readout,
        # finite whitened-in-expectation sample, gradient descent
        X = rng.standard_normal((n_samples, d))
        y = X @ beta
        G = gain * rng.standard_normal((h, d)) / np.sqrt(d)
        w0 = rng.standard_normal(h) / np.sqrt(h)
        C_yx, C_xx_inv = least_squares_statistic(X, y)
        u = random_unit(h, rng)
        inits = [(f"rank_{r}", "random", r, truncate_rank(G, r, np.linalg.norm(G))) for r in ranks]
        inits.append((f"aligned_{ranks[0]}", "aligned", ranks[0],
                      aligned_map(C_yx, u[:, None], C_xx_inv.T, ranks[0], np.linalg.norm(G))))
        for lab, fam, r, W0 in inits:
            W, w, steps = train_gd(W0, w0, X, y, lr, max_steps, tol)
            m = measures(W0, w0, W, w, X)
            rows.append({"setting": "simulation", "seed": sd, "init": lab, "family": fam, "rank": r,
                         "effective_rank": effective_rank(W0), "cos_theta": float(np.nan), **m,
                         "closed_form_relative_weight_change": float(np.nan),
                         "closed_form_kernel_alignment": float(np.nan), "t_end": float(steps)})
    curve = []
    for r in range(1, min(h, d) + 1):
        e = expected_closed_form(c, r, d, seed=seed)
        curve.append({"rank": r, "expected_relative_weight_change": e["relative_weight_change"],
                      "expected_kernel_alignment": e["kernel_alignment"],
                      "aligned_relative_weight_change": closed_form(np.sqrt(c / r), 1.0, r, d)["relative_weight_change"],
                      "aligned_kernel_alignment": closed_form(np.sqrt(c / r), 1.0, r, d)["kernel_alignment"]})
    return rows, curve


__all__ = [
    "closed_form",
    "equal_singular_init",
    "expected_closed_form",
    "kernel_matrix",
    "measures",
    "random_unit",
    "rescale",
    "run_theory",
    "simulate_flow",
    "train_gd",
]
