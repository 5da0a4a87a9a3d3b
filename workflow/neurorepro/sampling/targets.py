"""Target distributions of the paper: samples, log densities and analytic scores.

* :class:`GaussianMixture1D` — 1-D bimodal mixture of Gaussians.
* :class:`LaplaceCopulaMixture2D` — 2-D mixture of distributions with Laplace marginals and a
  Gaussian copula (the authors' target; ``laplace_kind: copula``).
* :class:`LaplaceMixture2D` — 2-D mixture of correlated Laplace distributions (heavy tails):
  component k is ``mu_k + L_k u`` with ``u`` i.i.d. unit-variance Laplace and
  ``L_k`` the symmetric square root of ``scale^2 [[1, rho_k], [rho_k, 1]]``.
* :func:`load_images` / :class:`PCAImages` — digit images projected to their first
  principal components (whitened): scikit-learn's bundled 8x8 digits offline
  (``scale: demo``), MNIST through torchvision (``scale: paper``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.special import logsumexp


def _check_weights(weights: np.ndarray, n: int, name: str) -> np.ndarray:
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,) or np.any(w <= 0):
        raise ValueError(f"{name}: need {n} positive mixture weights, got {weights!r}")
    return w / w.sum()


@dataclass
class GaussianMixture1D:
    """Mixture of 1-D Gaussians ``sum_k w_k N(mean_k, std_k^2)``."""

    means: list[float]
    stds: list[float]
    weights: list[float] | None = None
    dim: int = field(default=1, init=False)

    def __post_init__(self) -> None:
        self.means = np.asarray(self.means, dtype=float)
        self.stds = np.asarray(self.stds, dtype=float)
        k = self.means.size
        if self.stds.shape != (k,) or np.any(self.stds <= 0):
            raise ValueError(f"bimodal_stds: need {k} positive standard deviations, got {self.stds.tolist()}")
        self.weights = _check_weights(np.ones(k) if self.weights is None else self.weights, k, "bimodal_weights")

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` samples, shape (n, 1)."""
        comp = rng.choice(self.means.size, size=n, p=self.weights)
        return (self.means[comp] + self.stds[comp] * rng.standard_normal(n))[:, None]

    def _log_comp(self, x: np.ndarray, extra_var: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=float).reshape(-1, 1)
        var = self.stds**2 + extra_var
        lc = np.log(self.weights) - 0.5 * np.log(2 * np.pi * var) - 0.5 * (x - self.means) ** 2 / var
        return lc, var

    def log_prob(self, x: np.ndarray, noise_std: float = 0.0) -> np.ndarray:
        """Log density at ``x`` (any shape, flattened); ``noise_std`` convolves with N(0, noise_std^2)."""
        lc, _ = self._log_comp(x, noise_std**2)
        return logsumexp(lc, axis=1)

    def score(self, x: np.ndarray, noise_std: float = 0.0) -> np.ndarray:
        """Analytic score ``d/dx log p(x)`` (of the density convolved with ``noise_std``)."""
        x = np.asarray(x, dtype=float).reshape(-1, 1)
        lc, var = self._log_comp(x, noise_std**2)
        resp = np.exp(lc - logsumexp(lc, axis=1, keepdims=True))
        return np.sum(resp * (self.means - x) / var, axis=1)


def _sqrtm_2x2(rho: float) -> np.ndarray:
    """Symmetric square root of ``[[1, rho], [rho, 1]]`` (both marginals then share one shape)."""
    vals, vecs = np.linalg.eigh(np.array([[1.0, rho], [rho, 1.0]]))
    return (vecs * np.sqrt(vals)) @ vecs.T



@dataclass
class _Laplace2D:
    """Fields and checks both 2-D Laplace mixtures share (config keys named in the errors)."""

    rhos: list[float]
    means: list[list[float]] | None = None
    scale: float = 1.0
    weights: list[float] | None = None
    dim: int = field(default=2, init=False)

    def __post_init__(self) -> None:
        self.rhos = np.asarray(self.rhos, dtype=float)
        k = self.rhos.size
        if np.any(np.abs(self.rhos) >= 1):
            raise ValueError(f"laplace_rhos: correlations must lie in (-1, 1), got {self.rhos.tolist()}")
        if self.scale <= 0:
            raise ValueError(f"laplace_scale must be > 0, got {self.scale}")
        self.means = np.zeros((k, 2)) if self.means is None else np.asarray(self.means, dtype=float)
        if self.means.shape != (k, 2):
            raise ValueError(f"laplace_means: need {k} 2-D means, got shape {self.means.shape}")
        self.weights = _check_weights(np.ones(k) if self.weights is None else self.weights, k, "laplace_weights")


@dataclass
class LaplaceMixture2D(_Laplace2D):
    """Mixture of 2-D correlated Laplace distributions ``mu_k + L_k u``, ``u`` i.i.d. unit-variance Laplace."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.mix_mats = np.stack([self.scale * _sqrtm_2x2(r) for r in self.rhos])
        self.inv_mix = np.linalg.inv(self.mix_mats)
        self._b = 1.0 / np.sqrt(2.0)  # Laplace scale giving unit variance

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` samples, shape (n, 2)."""
        comp = rng.choice(self.rhos.size, size=n, p=self.weights)
        u = rng.laplace(0.0, self._b, size=(n, 2))
        return self.means[comp] + np.einsum("nij,nj->ni", self.mix_mats[comp], u)

    def _log_comp(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=float).reshape(-1, 2)
        u = np.einsum("kij,nkj->nki", self.inv_mix, x[:, None, :] - self.means[None])  # (n, k, 2)
        logdet = np.log(np.abs(np.linalg.det(self.mix_mats)))
        lc = np.log(self.weights) - logdet - 2 * np.log(2 * self._b) - np.abs(u).sum(-1) / self._b
        return lc, u

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """Log density at points ``x`` (n, 2)."""
        return logsumexp(self._log_comp(x)[0], axis=1)

    def score(self, x: np.ndarray) -> np.ndarray:
        """Analytic score (n, 2) (defined away from the components' kinks)."""
        lc, u = self._log_comp(x)
        resp = np.exp(lc - logsumexp(lc, axis=1, keepdims=True))  # (n, k)
        comp_score = -np.einsum("kji,nkj->nki", self.inv_mix, np.sign(u)) / self._b  # L^{-T} grad_u
        return np.einsum("nk,nki->ni", resp, comp_score)


@dataclass
class LaplaceCopulaMixture2D(_Laplace2D):
    """Mixture of 2-D distributions with Laplace marginals joined by a Gaussian copula of correlation ``rho_k``.

    The authors' target (chinsengi/score_RNN ``runners/LAP_runner.py`` with the ``mv_laplace``
    package's ``MvLaplaceSampler``): draw ``g ~ N(0, [[1, rho], [rho, 1]])`` and map each
    coordinate through the normal CDF and the inverse CDF of a Laplace distribution of standard
    deviation ``scale`` (so each marginal is exactly Laplace), then add ``mu_k``. With
    ``rho = +-0.9`` and zero means the two components form an X whose 1-D marginals coincide.
    """

    def __post_init__(self) -> None:
        super().__post_init__()
        self._b = self.scale / np.sqrt(2.0)  # Laplace scale parameter giving standard deviation `scale`

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` samples, shape (n, 2)."""
        from scipy.stats import norm

        comp = rng.choice(self.rhos.size, size=n, p=self.weights)
        g = rng.standard_normal((n, 2))
        r = self.rhos[comp]
        g[:, 1] = r * g[:, 0] + np.sqrt(1 - r**2) * g[:, 1]
        # Laplace inverse CDF of the normal CDF, written with sf/logsf so the tails stay exact
        u = -self._b * np.sign(g) * (np.log(2.0) + norm.logsf(np.abs(g)))
        return self.means[comp] + u

    def _log_comp(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from scipy.stats import norm

        x = np.asarray(x, dtype=float).reshape(-1, 2)
        y = x[:, None, :] - self.means[None]  # (n, k, 2)
        b = self._b
        # z = Phi^-1(F_Laplace(y)); for y >= 0, 1 - F = exp(-y/b)/2, so z = isf(exp(-|y|/b)/2) sign(y)
        log_tail = -np.abs(y) / b - np.log(2.0)
        z = np.sign(y) * norm.isf(np.exp(log_tail))
        log_f = -np.abs(y) / b - np.log(2 * b)
        r = self.rhos[None, :]
        q = (z[..., 0] ** 2 - 2 * r * z[..., 0] * z[..., 1] + z[..., 1] ** 2) / (1 - r**2)
        log_c = -0.5 * np.log(1 - r**2) - 0.5 * (q - z[..., 0] ** 2 - z[..., 1] ** 2)
        lc = np.log(self.weights)[None] + log_c + log_f.sum(-1)
        return lc, y, z

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        """Log density at points ``x`` (n, 2)."""
        return logsumexp(self._log_comp(x)[0], axis=1)

    def score(self, x: np.ndarray) -> np.ndarray:
        """Analytic score (n, 2) (defined away from the kinks at the components' means)."""
        lc, y, z = self._log_comp(x)
        b = self._b
        r = self.rhos[None, :]
        # d log c / dz_i = -((R^-1 - I) z)_i ; dz/dy = f(y) / phi(z)
        prec_z0 = (z[..., 0] - r * z[..., 1]) / (1 - r**2) - z[..., 0]
        prec_z1 = (z[..., 1] - r * z[..., 0]) / (1 - r**2) - z[..., 1]
        log_f = -np.abs(y) / b - np.log(2 * b)
        log_phi = -0.5 * z**2 - 0.5 * np.log(2 * np.pi)
        dzdy = np.exp(log_f - log_phi)
        comp_score = -np.stack([prec_z0, prec_z1], -1) * dzdy - np.sign(y) / b  # (n, k, 2)
        resp = np.exp(lc - logsumexp(lc, axis=1, keepdims=True))
        return np.einsum("nk,nki->ni", resp, comp_score)


TORCHVISION_HELP = (
    "MNIST needs torchvision, which is not installed. Install the build matching the pinned torch with "
    "`pip install torch==2.14.1 torchvision==0.29.1`, or run with `scale: demo` (sampling.digits_dataset: "
    "digits), which uses scikit-learn's bundled 8x8 digits offline."
)


def load_images(dataset: str, root: str | Path = "resources", n_max: int | None = None) -> tuple[np.ndarray, int]:
    """Images as rows of pixel intensities in [0, 1] and the image side length.

    ``dataset``: ``digits`` (scikit-learn's bundled 8x8 digits, offline) or ``mnist``
    (28x28, through torchvision, downloaded into ``root``/mnist).
    """
    if dataset == "digits":
        from sklearn.datasets import load_digits

        X = load_digits().data / 16.0
        side = 8
    elif dataset == "mnist":
        try:
            from torchvision.datasets import (
                MNIST,  # lazy: only the paper scale needs it
            )
        except ImportError as err:
            raise ImportError(TORCHVISION_HELP) from err
        ds = MNIST(str(Path(root) / "mnist"), train=True, download=True)
        X = ds.data.numpy().reshape(len(ds), -1) / 255.0
        side = 28
    else:
        raise ValueError(f"sampling.digits_dataset must be 'digits' or 'mnist', got {dataset!r}")
    if n_max is not None:
        X = X[:n_max]
    return X.astype(float), side


class PCAImages:
    """(Whitened) PCA coordinates of images: ``fit(images)``, ``transform``, ``inverse_transform``."""

    def __init__(self, n_components: int = 16, seed: int = 0, whiten: bool = True):
        self.n_components = n_components
        self.seed = seed
        self.whiten = whiten

    def fit(self, images: np.ndarray) -> PCAImages:
        """Fit the PCA (``__init__`` only stores the parameters; they are checked here)."""
        from sklearn.decomposition import PCA

        if self.n_components < 1:
            raise ValueError(f"digits_pca_dim must be >= 1, got {self.n_components}")
        self.pca_ = PCA(n_components=self.n_components, whiten=self.whiten, random_state=self.seed).fit(images)
        return self

    def transform(self, images: np.ndarray) -> np.ndarray:
        return self.pca_.transform(images)

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        """Pixel images decoded from PCA coordinates, clipped to [0, 1]."""
        return np.clip(self.pca_.inverse_transform(np.asarray(z, dtype=float)), 0.0, 1.0)
