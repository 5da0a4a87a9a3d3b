"""Paper `connectivity`: Harris, Mihalas & Shea-Brown (2016), *High resolution neural
connectivity from incomplete tracing data using nonnegative spline regression*.

Modules: :mod:`.laplacian` (voxel-grid Laplacians), :mod:`.objective` (the loss (P1)),
:mod:`.solvers` (index of the solvers): :mod:`.newton` + :mod:`.preconditioner` (projected
Newton-CG with the exact Hessian inverse, the default), :mod:`.first_order` (ADMM, FISTA),
:mod:`.lbfgsb_reference` (scipy's L-BFGS-B, the authors' algorithm), :mod:`.eigenbasis`,
:mod:`.solve_common`; :mod:`.lowrank` (P2), :mod:`.model` (``SplineConnectivity``), :mod:`.regional`
(NNLS regional model), :mod:`.cv` (nested CV, relative MSE), :mod:`.synthetic` (1-D test,
3-D planted blobs), :mod:`.figures`, :mod:`.pipeline` (rule steps), :mod:`.bench`.
"""
from .model import SplineConnectivity
from .regional import RegionalConnectivity

__all__ = ["SplineConnectivity", "RegionalConnectivity"]
