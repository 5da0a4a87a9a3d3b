"""Chen, Jiang, Rao & Shea-Brown (2023), *Expressive probabilistic sampling in recurrent neural networks*.

Reservoir-sampler networks (RSN) vs sampler-only networks, trained by denoising score
matching with annealed noise, sampling by Euler-Maruyama Langevin dynamics (and the
accelerated, non-reversible variant with a skew-symmetric drift term).

Modules
-------
targets     target distributions: 1-D Gaussian mixture, 2-D correlated-Laplace mixture, digits in PCA space
models      score networks: reservoir-sampler (RSN), synaptic-current and firing-rate sampler-only networks
dsm         denoising score matching with geometrically annealed noise
langevin    Euler-Maruyama Langevin sampler, skew-symmetric acceleration
metrics     marginal Wasserstein-1 distance, energy distance, excess kurtosis
estimator   ``ScoreSampler``: scikit-learn style fit (DSM) / sample (Langevin)
experiment  the paper's experiments, returning labelled xarray Datasets and tables
figures     one function per figure, returning a matplotlib Figure
"""
from .estimator import ScoreSampler
from .langevin import langevin_sample, skew_matrix
from .metrics import excess_kurtosis, marginal_wasserstein, wasserstein_1d

__all__ = [
    "ScoreSampler",
    "excess_kurtosis",
    "langevin_sample",
    "marginal_wasserstein",
    "skew_matrix",
    "wasserstein_1d",
]
