"""Target distributions of the paper: samples, log densities and analytic scores.

* :class:`GaussianMixture1D` — 1-D bimodal mixture of Gaussians.
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
class LaplaceMixture2D:
    """Mixture of 2-D correlated Laplace distributions ``mu_k + L_k u``, ``u`` i.i.d. unit-variance Laplace."""

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
            from torchvision.datasets import MNIST  # lazy: only the paper scale needs it
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
    """Whitened PCA coordinates of images: ``fit(images)``, ``transform``, ``inverse_transform``."""

    def __init__(self, n_components: int = 16, seed: int = 0):
        if n_components < 1:
            raise ValueError(f"digits_pca_dim must be >= 1, got {n_components}")
        self.n_components = n_components
        self.seed = seed

    def fit(self, images: np.ndarray) -> "PCAImages":
        from sklearn.decomposition import PCA

        self.pca_ = PCA(n_components=self.n_components, whiten=True, random_state=self.seed).fit(images)
        return self

    def transform(self, images: np.ndarray) -> np.ndarray:
        return self.pca_.transform(images)

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        """Pixel images decoded from PCA coordinates, clipped to [0, 1]."""
        return np.clip(self.pca_.inverse_transform(np.asarray(z, dtype=float)), 0.0, 1.0)
