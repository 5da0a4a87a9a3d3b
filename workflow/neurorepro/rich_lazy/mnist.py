"""MNIST from its standard files on disk (IDX format), for the sequential-MNIST task.

The IDX format (LeCun, Cortes & Burges, the distribution format of MNIST) is a
big-endian header followed by the raw array:

* bytes 0-1: zero; byte 2: element type (0x08 unsigned byte, 0x09 signed byte,
  0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64); byte 3: number of dimensions;
* one big-endian uint32 per dimension;
* the elements, big-endian, in C order.

So the magic number (the first four bytes as a big-endian int) is 2051 for MNIST's
image files (ubyte, 3 dims: n x 28 x 28) and 2049 for its label files (ubyte, 1 dim).
Files are read gzipped (``.gz``, as distributed) or not, from a folder laid out flat
(``<dir>/train-images-idx3-ubyte[.gz]``) or as torchvision stores them
(``<dir>/MNIST/raw/...``).
"""
from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np

#: IDX element-type codes and their big-endian numpy dtypes.
IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
#: File stems of the MNIST training and test splits (images, labels).
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049


def read_idx(path: str | Path) -> np.ndarray:
    """The array stored in IDX file ``path`` (gzipped if its name ends in ``.gz``).

    Raises ``ValueError`` naming the file when the header is not IDX or the payload
    does not hold exactly the number of elements the header declares.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (the first two bytes must be zero)")
    code, ndim = raw[2], raw[3]
    if code not in IDX_DTYPES:
        raise ValueError(f"{path}: unknown IDX element type 0x{code:02x}")
    head = 4 + 4 * ndim
    if len(raw) < head:
        raise ValueError(f"{path}: truncated IDX header ({ndim} dimensions declared)")
    dims = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(IDX_DTYPES[code])
    n = int(np.prod(dims, dtype=np.int64))
    if len(raw) - head != n * dtype.itemsize:
        raise ValueError(f"{path}: IDX header declares {dims} x {dtype.itemsize} bytes, "
                         f"the file holds {len(raw) - head} bytes after the header")
    return np.frombuffer(raw, dtype=dtype, count=n, offset=head).reshape(dims).astype(dtype.newbyteorder("="))


def idx_magic(path: str | Path) -> int:
    """The magic number (first four bytes, big-endian) of an IDX file, gzipped or not."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        head = f.read(4)
    if len(head) < 4:
        raise ValueError(f"{path}: shorter than an IDX header")
    return int.from_bytes(head, "big")


def find_mnist_file(data_dir: str | Path, stem: str, key: str = "rich_lazy.smnist.data_dir") -> Path:
    """Path of MNIST file ``stem`` under ``data_dir``: plain or ``.gz``, flat or torchvision's ``MNIST/raw``.

    Raises ``FileNotFoundError`` naming the file, the places looked at and the config ``key``.
    """
    root = Path(data_dir)
    tried = [root / sub / (stem + ext) for sub in ("", "MNIST/raw") for ext in ("", ".gz")]
    for p in tried:
        if p.is_file():
            return p
    raise FileNotFoundError(
        f"MNIST file {stem} not found (looked for {', '.join(str(p) for p in tried)}); put the standard "
        f"MNIST IDX files (gzipped or not) in that folder or point config key {key} at theirs"
    )


def load_mnist(data_dir: str | Path, split: str = "train",
               key: str = "rich_lazy.smnist.data_dir") -> tuple[np.ndarray, np.ndarray, dict[str, str]]:
    """MNIST ``split`` ('train' or 'test') from ``data_dir``: images (n, 28, 28) uint8, labels (n,) int64.

    Also returns ``{file name: sha256}`` of the files read, for provenance. Checks the
    magic numbers (2051 images, 2049 labels), the image size and that the two files
    describe the same number of examples with labels 0-9.
    """
    if split not in MNIST_FILES:
        raise ValueError(f"MNIST split must be one of {sorted(MNIST_FILES)}, got {split!r}")
    paths = [find_mnist_file(data_dir, stem, key) for stem in MNIST_FILES[split]]
    for p, magic in zip(paths, (IMAGE_MAGIC, LABEL_MAGIC)):
        found = idx_magic(p)
        if found != magic:
            raise ValueError(f"{p}: magic number {found}, expected {magic} for an MNIST "
                             f"{'image' if magic == IMAGE_MAGIC else 'label'} file")
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{paths[0]}: MNIST images must be n x 28 x 28, got {images.shape}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"{paths[1]}: {labels.shape[0] if labels.ndim == 1 else labels.shape} labels for "
                         f"{images.shape[0]} images in {paths[0]}")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{paths[1]}: MNIST labels must lie in 0-9, got {labels.min()}..{labels.max()}")
    digests = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths}
    return images.astype(np.uint8), labels.astype(np.int64), digests


def write_idx(path: str | Path, array: np.ndarray) -> Path:
    """Write ``array`` as an IDX file (gzipped if ``path`` ends in ``.gz``); the inverse of :func:`read_idx`."""
    path = Path(path)
    a = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in IDX_DTYPES.items()}
    code = codes.get(a.dtype.newbyteorder("="))
    if code is None:
        raise ValueError(f"IDX cannot store dtype {a.dtype}")
    payload = (bytes([0, 0, code, a.ndim]) + np.asarray(a.shape, dtype=">u4").tobytes()
               + a.astype(a.dtype.newbyteorder(">")).tobytes())
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(payload)
    return path
