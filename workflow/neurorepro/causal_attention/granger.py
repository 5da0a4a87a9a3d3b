"""Multivariate (pairwise-conditional) Granger causality through statsmodels' VAR.

For every ordered pair ``source j -> target i`` the score is the F statistic of the
Wald test that all lagged coefficients of ``j`` in the equation of ``i`` are zero, in
the full VAR of all neurons (so the test is conditional on every other neuron), with
the lag order chosen by AIC. This is the time-domain pairwise-conditional GC that the
MVGC toolbox reports, with statsmodels' F test in place of MVGC's log-variance ratio.
"""
from __future__ import annotations

import warnings

import numpy as np


class GrangerCausality:
    """Pairwise-conditional Granger causality from a VAR fitted by statsmodels.

    Parameters
    ----------
    max_lag : largest lag order offered to the information criterion.
    criterion : ``"aic"`` (default, as the paper), ``"bic"``, ``"hqic"`` or ``"fpe"``.
    lag : fixed lag order; when given, ``criterion`` is ignored.

    Attributes
    ----------
    lag_ : the lag order used.
    F_ : ``(n, n)`` F statistics, ``F_[i, j]`` for source ``j`` -> target ``i``; diagonal 0.
    pvalues_ : ``(n, n)`` p-values of the same tests; diagonal 1.
    """

    def __init__(self, max_lag: int = 10, criterion: str = "aic", lag: int | None = None):
        if int(max_lag) < 1:
            raise ValueError(f"max_lag must be >= 1, got {max_lag}")
        if criterion not in ("aic", "bic", "hqic", "fpe"):
            raise ValueError(f"criterion must be aic, bic, hqic or fpe, got {criterion!r}")
        if lag is not None and int(lag) < 1:
            raise ValueError(f"lag must be >= 1, got {lag}")
        self.max_lag = int(max_lag)
        self.criterion = criterion
        self.lag = lag

    def fit(self, x: np.ndarray) -> "GrangerCausality":
        """Fit on ``x`` of shape ``(time, n_variables)``."""
        from statsmodels.tsa.api import VAR

        x = np.asarray(x, float)
        if x.ndim != 2 or x.shape[1] < 2:
            raise ValueError(f"x must be (time, n>=2 variables), got shape {x.shape}")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = VAR(x)
            if self.lag is None:
                sel = model.select_order(maxlags=self.max_lag, trend="c")
                lag = max(1, int(getattr(sel, self.criterion)))
            else:
                lag = int(self.lag)
            res = model.fit(lag, trend="c")
        F, P = pairwise_conditional_f(res)
        self.lag_, self.F_, self.pvalues_ = lag, F, P
        return self

    @property
    def scores_(self) -> np.ndarray:
        """Causal scores ``(target, source)`` for ranking: the F statistics."""
        return self.F_


def pairwise_conditional_f(res) -> tuple[np.ndarray, np.ndarray]:
    """F statistics and p-values of every ``j -> i`` Granger test of a fitted VAR.

    ``res`` is a statsmodels ``VARResults`` with a constant. The numbers equal
    ``res.test_causality(caused=i, causing=[j], kind="f")`` (Lütkepohl 2005, 3.6.5), but
    use the block structure ``cov(vec B) = (Z'Z)^-1 (x) Sigma_u`` instead of building
    the full ``(k^2 p) x (k^2 p)`` covariance once per pair, so all ``k(k-1)`` tests cost
    one ``p x p`` solve each.
    """
    from scipy import stats

    k, p = res.neqs, res.k_ar
    if p < 1:
        raise ValueError("Granger causality needs a VAR with at least one lag")
    if res.k_exog != 1:
        raise ValueError("pairwise_conditional_f expects a VAR fitted with trend='c'")
    z = res.endog_lagged  # (T - p, 1 + k p): [1, y_{t-1}, ..., y_{t-p}]
    ztz_inv = np.linalg.inv(z.T @ z)
    coef = np.asarray(res.params)  # (1 + k p, k): column i is the equation of variable i
    sigma = np.asarray(res.sigma_u)
    dist = stats.f(p, k * res.df_resid)
    F, P = np.zeros((k, k)), np.ones((k, k))
    for j in range(k):
        rows = 1 + j + k * np.arange(p)  # coefficients of source j at lags 1..p
        M = ztz_inv[np.ix_(rows, rows)]
        beta = coef[rows, :]  # (p, k): lags of j in every equation
        quad = np.einsum("li,li->i", beta, np.linalg.solve(M, beta))  # beta_i' M^-1 beta_i
        F[:, j] = quad / np.diag(sigma) / p
    np.fill_diagonal(F, 0.0)
    P = dist.sf(F)
    np.fill_diagonal(P, 1.0)
    return F, P
