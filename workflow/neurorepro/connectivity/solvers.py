"""Index of the solvers of (P1), min_{W >= 0} f(W) (see :mod:`.objective`), by ``model.solver``.

- ``newton`` (the default): projected Newton-CG with the exact Hessian inverse as preconditioner,
  :mod:`.newton` and :mod:`.preconditioner`;
- ``admm``, ``fista``: first-order alternatives, :mod:`.first_order`;
- ``lbfgsb``: scipy's L-BFGS-B, the authors' algorithm, the benchmark's reference,
  :mod:`.lbfgsb_reference`.

Shared pieces: :mod:`.eigenbasis` (the Laplacians' eigendecompositions, reused across lambda and
folds) and :mod:`.solve_common` (result record, stopping rule). Speed measurements: README.
"""
from .eigenbasis import Eigenbasis
from .first_order import lipschitz, solve_admm, solve_fista
from .lbfgsb_reference import solve_lbfgsb
from .newton import solve_newton
from .preconditioner import EigPreconditioner
from .solve_common import SolveResult

__all__ = ["EigPreconditioner", "Eigenbasis", "SolveResult", "lipschitz", "solve_admm", "solve_fista", "solve_lbfgsb",
           "solve_newton"]
