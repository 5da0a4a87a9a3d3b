"""Eigendecompositions of the two Laplacians, the basis in which the penalty of (P1) is diagonal.

Computed once per geometry (O(n^3)) and reused across lambda, cross-validation folds and warm starts.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch

from .solve_common import LOG


def _eig_laplacian(L: sp.spmatrix, dtype: torch.dtype, device: torch.device,
                   eig_dtype: torch.dtype = torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    """Eigenvalues and eigenvectors of a symmetric (sparse) Laplacian, computed in ``eig_dtype``."""
    Ld = torch.as_tensor(np.asarray(sp.csr_matrix(L).todense()), dtype=eig_dtype, device=device)
    evals, evecs = torch.linalg.eigh(Ld)
    return evals.to(dtype), evecs.to(dtype)


@dataclass
class Eigenbasis:
    """Eigendecompositions of L_x and L_y (reused across lambda, folds and warm starts)."""

    a: torch.Tensor
    Qx: torch.Tensor
    b: torch.Tensor
    Qy: torch.Tensor

    @classmethod
    def build(cls, Lx: sp.spmatrix, Ly: sp.spmatrix, dtype: torch.dtype, device: torch.device,
              eig_dtype: torch.dtype = torch.float64) -> "Eigenbasis":
        """Dense eigendecompositions (O(n^3) once per geometry); ``eig_dtype=float32`` halves
        their cost for a preconditioner that does not need eigenvectors to 1e-15."""
        t0 = time.perf_counter()
        if eig_dtype == torch.bfloat16:  # bfloat16 changes of basis still need float32 eigenvectors
            eig_dtype = torch.float32
        a, Qx = _eig_laplacian(Lx, dtype, device, eig_dtype)
        if Ly.shape == Lx.shape and (sp.csr_matrix(Ly) != sp.csr_matrix(Lx)).nnz == 0:
            b, Qy = a, Qx
        else:
            b, Qy = _eig_laplacian(Ly, dtype, device, eig_dtype)
        LOG.info("eigenbases of L_x (%d) and L_y (%d) in %s: %.1fs", Lx.shape[0], Ly.shape[0],
                 str(eig_dtype).replace("torch.", ""), time.perf_counter() - t0)
        return cls(a, Qx, b, Qy)
