"""Measures shared by the papers.

- :mod:`neurorepro.measures.dimension`: linear and intrinsic dimension of point clouds
  (participation ratio, PCA at 90% variance, TwoNN, Levina–Bickel MLE, local PCA).
- ``neurorepro.measures.hessian`` (HVPs, top eigenvalue, Hutchinson trace) /
  ``neurorepro.measures.jacobian`` (input Jacobians and their spectra, conv operator norms)
  (flatness and credit_assignment papers),
  ``neurorepro.measures.alignment`` (matrix, representation and tangent-kernel alignment,
  relative weight change; rich_lazy),
  ``neurorepro.measures.similarity`` (RSMs and their similarity; mouse_vs_cnn),
  ``neurorepro.measures.bootstrap`` (percentile bootstrap over independent units; every paper),
  ``neurorepro.measures.correlation`` (Spearman's rho, its p-value and partial form; every paper):
  import them by their module path; this package does not import them eagerly.
"""
from neurorepro.measures.dimension import (  # noqa: F401
    MEASURES,
    all_dimensions,
    covariance_eigenvalues,
    local_pca_dimension,
    mle_dimension,
    participation_ratio,
    participation_ratio_from_eigenvalues,
    pca_dimension,
    twonn_dimension,
)
