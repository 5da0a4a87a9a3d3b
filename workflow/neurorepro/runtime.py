"""Run-time helpers shared by every paper: seeds, torch device and threads, logging."""
from __future__ import annotations

import logging
import os
import random
import sys

import numpy as np


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and torch (if importable); return a NumPy Generator from ``seed``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    return np.random.default_rng(seed)


def resolve_device(device: str = "auto"):
    """Return a ``torch.device``: ``auto`` picks CUDA when present, else CPU.

    ``cpu``, ``cuda`` and ``cuda:N`` are taken as given; asking for CUDA where none
    exists raises a clear error instead of failing later inside torch.
    """
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"config 'device: {device}' asks for CUDA but no GPU is visible; use 'auto' or 'cpu'")
    return dev


def set_threads(n: int) -> None:
    """Let torch and BLAS use ``n`` threads (a rule's ``threads:``)."""
    n = max(1, int(n))
    os.environ.setdefault("OMP_NUM_THREADS", str(n))
    try:
        import torch

        torch.set_num_threads(n)
    except ImportError:  # pragma: no cover
        pass


def get_logger(name: str, logfile: str | None = None) -> logging.Logger:
    """A logger writing to stderr and, when given, to ``logfile`` (a rule's ``log:``)."""
    logger = logging.getLogger(name)
    logger.setLevel(logging.INFO)
    logger.handlers.clear()
    fmt = logging.Formatter("%(asctime)s %(name)s %(levelname)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if logfile:
        os.makedirs(os.path.dirname(os.path.abspath(logfile)), exist_ok=True)
        handlers.append(logging.FileHandler(logfile, mode="w"))
    for h in handlers:
        h.setFormatter(fmt)
        logger.addHandler(h)
    logger.propagate = False
    return logger


class MemoryBudgetError(MemoryError):
    """A step would need more memory than the configured ``memory_limit_gb``."""


def check_int_params(obj, bounds) -> None:
    """Check that each attribute ``name`` of ``obj`` is an integer (not a bool) >= ``lo``, for
    ``(name, lo)`` in ``bounds``; the estimators' ``_validate`` (their ``fit`` checks what
    ``__init__`` stored, as scikit-learn's estimators) share this one rule and message."""
    for name, lo in bounds:
        val = getattr(obj, name)
        if not isinstance(val, (int, np.integer)) or isinstance(val, bool) or val < lo:
            raise ValueError(f"{name} must be an integer >= {lo}, got {val!r}")


def check_memory(n_bytes: float, limit_gb: float, *, what: str, hint: str) -> float:
    """Stop before a large allocation that would exceed ``limit_gb``; return the estimate in GiB.

    ``what`` names the step (e.g. "full-rank connectivity fit, 7497 x 7497"), ``hint``
    says what the user can change (a config key, the low-rank path).
    """
    need = float(n_bytes) / 2**30
    if need > limit_gb:
        raise MemoryBudgetError(
            f"{what} needs about {need:.1f} GiB, above memory_limit_gb={limit_gb:g} "
            f"(config key `memory_limit_gb`): {hint}"
        )
    return need
