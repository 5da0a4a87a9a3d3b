"""Image classification data sets as torch tensors.

``digits`` (scikit-learn's bundled 8x8 handwritten digits, 1797 images) needs no
download and is what ``scale: demo`` and offline runs use. ``mnist`` and
``fashion_mnist`` come through torchvision, which is imported only when one of them is
asked for, and are downloaded into ``root`` on first use.

``cifar10`` is read by :func:`read_cifar10` from the official python version
(``<root>/cifar10/cifar-10-batches-py/``: ``data_batch_1``..``5`` and ``test_batch``,
pickled dicts with ``b"data"`` uint8 (N, 3072), channel-major 3x32x32 rows, and
``b"labels"``), with every file's md5 checked against the official one. When the folder
is missing it is downloaded: by torchvision's ``datasets.CIFAR10(download=True)``
(md5-checked) when torchvision is importable, otherwise by :func:`download_cifar10`
(urllib, md5 of the archive checked before extraction). No torchvision is needed to
read it.
"""
from __future__ import annotations

import hashlib
import logging
import pickle
import shutil
import tarfile
import urllib.request
from pathlib import Path

import numpy as np

__all__ = [
    "DATASETS",
    "OFFLINE_DATASETS",
    "load_dataset",
    "DatasetUnavailable",
    "read_cifar10",
    "download_cifar10",
    "CIFAR10_MD5",
]

log = logging.getLogger(__name__)

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


CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_ARCHIVE_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_FOLDER = "cifar-10-batches-py"
#: md5 of every official batch file (the values torchvision checks).
CIFAR10_MD5 = {
    "data_batch_1": "c99cafc152244af753f735de768cd75f",
    "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
    "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
    "data_batch_4": "634d18415352ddfa80567beed471001a",
    "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
    "test_batch": "40351d587109b95175f43aff81a1287e",
}
CIFAR10_TRAIN = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5")
CIFAR10_TEST = ("test_batch",)


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles a CIFAR batch: plain containers and numpy arrays only (no other code)."""

    _ALLOWED = {
        ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store bytes
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"a CIFAR-10 batch may not reference {module}.{name}")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``(images (n, 3, 32, 32) uint8, labels (n,) int64)`` of one batch file; errors name the file."""
    try:
        with open(path, "rb") as fh:
            d = _BatchUnpickler(fh, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError) as err:
        raise DatasetUnavailable(f"CIFAR-10 file {path} is not a readable python batch: {err}") from err
    if not isinstance(d, dict) or b"data" not in d or b"labels" not in d:
        keys = sorted(d) if isinstance(d, dict) else type(d).__name__
        raise DatasetUnavailable(f"CIFAR-10 file {path} lacks b'data'/b'labels' (has {keys})")
    data, labels = np.asarray(d[b"data"]), np.asarray(d[b"labels"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DatasetUnavailable(f"CIFAR-10 file {path}: b'data' must be uint8 (N, 3072), got {data.dtype} {data.shape}")
    if labels.ndim != 1 or len(labels) != len(data):
        raise DatasetUnavailable(f"CIFAR-10 file {path}: {len(data)} images but labels of shape {labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() > 9):
        raise DatasetUnavailable(f"CIFAR-10 file {path}: labels outside 0..9 ({labels.min()}..{labels.max()})")
    return data.reshape(-1, 3, 32, 32), labels.astype(np.int64)


def read_cifar10(folder: str | Path, *, verify_md5: bool = True):
    """Read the official python CIFAR-10 batches in ``folder`` (``cifar-10-batches-py``).

    Returns ``(X_train, y_train, X_test, y_test)`` numpy arrays: images uint8 of shape
    (n, 3, 32, 32) (RGB, channel-major as stored), labels int64 0..9; the training set
    is ``data_batch_1``..``5`` in order, the test set ``test_batch``. With ``verify_md5``
    each file must have the official md5 (:data:`CIFAR10_MD5`). Every error
    (:class:`DatasetUnavailable`) names the file.
    """
    folder = Path(folder)
    out = []
    for names in (CIFAR10_TRAIN, CIFAR10_TEST):
        xs, ys = [], []
        for name in names:
            path = folder / name
            if not path.is_file():
                raise DatasetUnavailable(f"CIFAR-10 file {path} is missing")
            if verify_md5 and (got := _md5(path)) != CIFAR10_MD5[name]:
                raise DatasetUnavailable(
                    f"CIFAR-10 file {path} has md5 {got}, not the official {CIFAR10_MD5[name]}: "
                    f"corrupt or not CIFAR-10; delete {folder} to download it again"
                )
            x, y = _read_cifar_batch(path)
            xs.append(x)
            ys.append(y)
        out += [np.concatenate(xs), np.concatenate(ys)]
    return tuple(out)


def download_cifar10(root: str | Path, *, url: str = CIFAR10_URL, md5: str = CIFAR10_ARCHIVE_MD5) -> Path:
    """Download the python CIFAR-10 archive into ``root``, check its md5, extract it.

    Returns the ``cifar-10-batches-py`` folder. The archive is fetched to a temporary
    name and renamed only after its md5 matched; members are extracted with tarfile's
    ``data`` filter (no absolute paths or links out of ``root``).
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    archive = root / "cifar-10-python.tar.gz"
    if not archive.is_file() or _md5(archive) != md5:
        tmp = root / ".cifar-10-python.tar.gz.part"
        try:
            with urllib.request.urlopen(url, timeout=60) as resp, open(tmp, "wb") as fh:
                shutil.copyfileobj(resp, fh)
        except OSError as err:
            tmp.unlink(missing_ok=True)
            raise DatasetUnavailable(
                f"could not download CIFAR-10 from {url}: {err}. Put the python version's batches "
                f"(data_batch_1..5, test_batch) into {root / CIFAR10_FOLDER} by hand, or set the "
                f"dataset to 'digits' in the config (what `scale: demo` uses; offline)."
            ) from err
        if (got := _md5(tmp)) != md5:
            tmp.unlink()
            raise DatasetUnavailable(f"CIFAR-10 archive from {url} has md5 {got}, expected {md5}")
        tmp.replace(archive)
    with tarfile.open(archive, "r:gz") as tf:
        tf.extractall(root, filter="data")
    folder = root / CIFAR10_FOLDER
    if not folder.is_dir():
        raise DatasetUnavailable(f"CIFAR-10 archive {archive} has no {CIFAR10_FOLDER}/ folder")
    return folder


def _cifar10(root: Path, n_train: int | None, n_test: int | None, seed: int):
    root = Path(root) / "cifar10"
    folder = root / CIFAR10_FOLDER
    if not all((folder / name).is_file() for name in CIFAR10_MD5):
        try:
            from torchvision import datasets
        except ImportError:
            log.info("CIFAR-10 not in %s: downloading %s", folder, CIFAR10_URL)
            download_cifar10(root, url=CIFAR10_URL, md5=CIFAR10_ARCHIVE_MD5)
        else:
            try:  # torchvision downloads, checks the md5 and extracts into the same folder
                datasets.CIFAR10(str(root), train=True, download=True)
            except Exception as err:  # no network, blocked host, corrupt archive
                raise DatasetUnavailable(
                    f"could not download CIFAR-10 into {root}: {err}. Put the python version's batches "
                    f"into {folder} by hand, or set the dataset to 'digits' in the config (offline)."
                ) from err
    Xtr, ytr, Xte, yte = read_cifar10(folder)
    rng = np.random.default_rng(seed)  # same draws as the other data sets: train, then test
    out = []
    for X, y, n, what in ((Xtr, ytr, n_train, "n_train"), (Xte, yte, n_test, "n_test")):
        idx = _subsample(len(X), n, rng, what)
        out += [(X[idx] / 255.0).astype(np.float32), y[idx]]
    return tuple(out)


def _torchvision(name: str, root: Path, n_train: int | None, n_test: int | None, seed: int):
    try:
        import torchvision  # noqa: F401
        from torchvision import datasets
    except ImportError as err:
        raise DatasetUnavailable(f"data set {name!r}: {_TORCHVISION_HINT}") from err
    cls = {"mnist": datasets.MNIST, "fashion_mnist": datasets.FashionMNIST}[name]
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
        data = np.asarray(part.data)[:, None]  # (n, H, W) grey -> (n, 1, H, W)
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
    offline ``digits`` set when torchvision or the download is missing (``cifar10``
    needs no torchvision: see :func:`read_cifar10`).
    """
    import torch

    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {DATASETS}")
    if name == "digits":
        Xtr, ytr, Xte, yte = _digits(n_train, n_test, seed)
    elif name == "cifar10":
        Xtr, ytr, Xte, yte = _cifar10(Path(root), n_train, n_test, seed)
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
