"""Shared run-time helpers: device choice, seeds, the memory guard."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from neurorepro.runtime import MemoryBudgetError, check_memory, resolve_device, seed_everything


def test_memory_guard_names_the_key_and_the_advice():
    assert check_memory(2**30, 2.0, what="x", hint="y") == pytest.approx(1.0)
    with pytest.raises(MemoryBudgetError, match=r"needs about 8\.0 GiB.*memory_limit_gb=4.*low-rank"):
        check_memory(8 * 2**30, 4, what="full-rank fit", hint="use the low-rank path")


def test_device_auto_is_cpu_without_gpu_and_cuda_request_fails_clearly():
    if torch.cuda.is_available():
        assert resolve_device("auto").type == "cuda"
    else:
        assert resolve_device("auto").type == "cpu"
        with pytest.raises(RuntimeError, match="device: cuda"):
            resolve_device("cuda")


def test_seed_everything_repeats():
    a = seed_everything(5).normal(size=3), torch.rand(2)
    b = seed_everything(5).normal(size=3), torch.rand(2)
    np.testing.assert_array_equal(a[0], b[0])
    assert torch.equal(a[1], b[1])
