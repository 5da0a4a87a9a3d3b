"""Image classification data sets as torch tensors.

``digits`` (scikit-learn's bundled 8x8 handwritten digits, 1797 images) needs no
download and is what ``scale: demo`` and offline runs use. ``mnist``, ``fashion_mnist``
and ``cifar10`` come through torchvision, which is imported only when one of them is
asked for, and are downloaded into ``root`` on first use.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["DATASETS", "OFFLINE_DATASETS", "load_dataset", "DatasetUnavailable"]

DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10")
OFFLINE_DATASETS = ("digits",)

_TORCHVISION_HINT = (
    "torchvision is not installed. Install the build that matches this project's torch with "
    "`pip install torch==2.14.1 torchvision==0.29.1`, or use the offline data set: "
    "set the dataset to 'digits' in the config (what `scale: demo` uses; scikit-learn's "
    "bundled digits, no download)."
)


class DatasetUnavailable(RuntimeError):
    """A data set cannot be loaded here (torchvision missing or download impossible)."""


def _subsample(n_total: int, n: int | None, rng: np.random.Generator, what: str) -> np.ndarray:
    if n is None:
        return np.arange(n_total)
    if n < 1 or n > n_total:
        raise ValueError(f"{what}={n} must lie in [1, {n_total}]")
    return np.sort(rng.choice(n_total, size=n, replace=False))


def _digits(n_train: int | None, n_test: int | None, seed: int):
    from sklearn.datasets import load_digits

    d = load_digits()
    X = (d.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8) in [0, 1]
    y = d.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(y))
    n_test_split = 360  # fixed 20% test split; n_train/n_test subsample inside each part
    test_idx, train_idx = perm[:n_test_split], perm[n_test_split:]
    train_idx = train_idx[_subsample(len(train_idx), n_train, rng, "n_train")]
    test_idx = test_idx[_subsample(len(test_idx), n_test, rng, "n_test")]
    return X[train_idx], y[train_idx], X[test_idx], y[test_idx]


def _torchvision(name: str, root: Path, n_train: int | None, n_test: int | None, seed: int):
    try:
        import torchvision  # noqa: F401
        from torchvision import datasets
    except ImportError as err:
        raise DatasetUnavailable(f"data set {name!r}: {_TORCHVISION_HINT}") from err
    cls = {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST, "cifar10": datasets.CIFAR10}[name]
    root = Path(root) / name
    try:
        train = cls(str(root), train=True, download=True)
        test = cls(str(root), train=False, download=True)
    except Exception as err:  # no network, blocked host, corrupt archive
        raise DatasetUnavailable(
            f"could not download or read data set {name!r} into {root}: {err}. Copy the files "
            f"there by hand, or set the dataset to 'digits' in the config (what `scale: demo` "
            f"uses; offline)."
        ) from err
    rng = np.random.default_rng(seed)
    out = []
    for part, n, what in ((train, n_train, "n_train"), (test, n_test, "n_test")):
        data = np.asarray(part.data)
        if data.ndim == 3:  # (n, H, W) grey
            data = data[:, None]
        else:  # CIFAR: (n, H, W, C)
            data = data.transpose(0, 3, 1, 2)
        idx = _subsample(len(data), n, rng, what)
        out += [(data[idx] / 255.0).astype(np.float32), np.asarray(part.targets, dtype=np.int64)[idx]]
    return tuple(out)


def load_dataset(
    name: str,
    root: str | Path = "resources/datasets",
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    standardize: bool = True,
):
    """Load data set ``name`` as ``(X_train, y_train, X_test, y_test)`` torch tensors.

    ``X`` is float32 of shape (n, channels, height, width) with values scaled to [0, 1]
    and, when ``standardize``, shifted and scaled by the training set's per-channel
    mean and standard deviation; ``y`` is int64 class labels 0..9.
    ``n_train`` / ``n_test`` take a random subset (drawn with ``seed``) of each split.

    Raises :class:`DatasetUnavailable` with a message saying how to switch to the
    offline ``digits`` set when torchvision or the download is missing.
    """
    import torch

    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {DATASETS}")
    if name == "digits":
        Xtr, ytr, Xte, yte = _digits(n_train, n_test, seed)
    else:
        Xtr, ytr, Xte, yte = _torchvision(name, Path(root), n_train, n_test, seed)
    if standardize:
        mean = Xtr.mean(axis=(0, 2, 3), keepdims=True)
        std = Xtr.std(axis=(0, 2, 3), keepdims=True)
        std = np.where(std > 0, std, 1.0)
        Xtr, Xte = (Xtr - mean) / std, (Xte - mean) / std
    return (
        torch.from_numpy(np.ascontiguousarray(Xtr, dtype=np.float32)),
        torch.from_numpy(ytr),
        torch.from_numpy(np.ascontiguousarray(Xte, dtype=np.float32)),
        torch.from_numpy(yte),
    )
