"""CIFAR-10 for the flatness paper scale, offline: tiny batch files written in the official
python format (pickled dicts with b"data" uint8 (N, 3072) and b"labels") are read through
the real reader and load_dataset, and the real download path is exercised with a file:// URL."""
from __future__ import annotations

import hashlib
import io
import pickle
import sys
import tarfile

import numpy as np
import pytest
import torch

from neurorepro.flatness.experiment import load_data
from neurorepro.nets import DatasetUnavailable, load_dataset, read_cifar10
from neurorepro.nets import data as nets_data

NAMES = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"]


def _images(seed: int, n: int) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), [int(v) for v in rng.integers(0, 10, n)]


def _plant(folder, n_per_batch=(4, 3, 5, 2, 6, 7)) -> dict:
    """Write the six batch files as the official ones are written (protocol 2, bytes keys,
    labels a list); returns {name: (data, labels)}."""
    folder.mkdir(parents=True, exist_ok=True)
    planted = {}
    for i, (name, n) in enumerate(zip(NAMES, n_per_batch)):
        data, labels = _images(i, n)
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                 b"filenames": [f"img{j}.png".encode() for j in range(n)]}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        planted[name] = (data, labels)
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"airplane", b"automobile"]}, protocol=2))
    return planted


def _md5s(folder) -> dict:
    return {name: hashlib.md5((folder / name).read_bytes()).hexdigest() for name in NAMES}


def test_reader_returns_the_planted_images_in_channel_major_order(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    planted = _plant(folder)
    Xtr, ytr, Xte, yte = read_cifar10(folder, verify_md5=False)
    assert Xtr.shape == (20, 3, 32, 32) and Xte.shape == (7, 3, 32, 32) and Xtr.dtype == np.uint8
    data = np.concatenate([planted[n][0] for n in NAMES[:5]])
    assert ytr.tolist() == sum((planted[n][1] for n in NAMES[:5]), []) and yte.tolist() == planted["test_batch"][1]
    # pixel (channel c, row r, column w) of image i is byte c*1024 + r*32 + w of its row
    i, c, r, w = 13, 2, 5, 30
    assert Xtr[i, c, r, w] == data[i, c * 1024 + r * 32 + w]
    assert np.array_equal(Xte.reshape(7, -1), planted["test_batch"][0])


def test_reader_checks_md5_and_names_the_file(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _plant(folder)
    with pytest.raises(DatasetUnavailable, match=r"data_batch_1 has md5 .* not the official"):
        read_cifar10(folder)  # planted files are not the official ones
    (folder / "data_batch_3").unlink()
    with pytest.raises(DatasetUnavailable, match="data_batch_3 is missing"):
        read_cifar10(folder, verify_md5=False)


@pytest.mark.parametrize(
    "content,message",
    [
        (b"not a pickle at all", "test_batch is not a readable python batch"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}, protocol=2), r"test_batch lacks b'data'/b'labels'"),
        (pickle.dumps({b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]}, protocol=2),
         r"test_batch: b'data' must be uint8 \(N, 3072\)"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}, protocol=2), "must be uint8"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}, protocol=2), "2 images but labels"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 12]}, protocol=2), "labels outside 0..9"),
    ],
)
def test_reader_rejects_malformed_batches(tmp_path, content, message):
    folder = tmp_path / "cifar-10-batches-py"
    _plant(folder)
    (folder / "test_batch").write_bytes(content)
    with pytest.raises(DatasetUnavailable, match=message):
        read_cifar10(folder, verify_md5=False)


class _Evil:
    def __reduce__(self):
        return (print, ("unpickled code ran",))


def test_reader_refuses_pickles_that_reference_code(tmp_path, capsys):
    folder = tmp_path / "cifar-10-batches-py"
    _plant(folder)
    (folder / "data_batch_2").write_bytes(pickle.dumps({b"data": _Evil(), b"labels": []}, protocol=2))
    with pytest.raises(DatasetUnavailable, match=r"data_batch_2 .*may not reference .*print"):
        read_cifar10(folder, verify_md5=False)
    assert "unpickled code ran" not in capsys.readouterr().out


def test_load_dataset_reads_cifar10_through_the_real_path(tmp_path, monkeypatch):
    folder = tmp_path / "cifar10" / "cifar-10-batches-py"
    planted = _plant(folder)
    monkeypatch.setattr(nets_data, "CIFAR10_MD5", _md5s(folder))  # these files are the "official" ones
    Xtr, ytr, Xte, yte = load_dataset("cifar10", tmp_path, standardize=False)
    assert Xtr.shape == (20, 3, 32, 32) and Xtr.dtype == torch.float32 and ytr.dtype == torch.int64
    first = planted["data_batch_1"][0][0].reshape(3, 32, 32) / 255.0
    assert np.allclose(Xtr[0].numpy(), first)
    Xs, ys, Xt, yt = load_dataset("cifar10", tmp_path, n_train=10, n_test=4, seed=3)
    assert Xs.shape == (10, 3, 32, 32) and Xt.shape == (4, 3, 32, 32)
    assert torch.allclose(Xs.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)  # standardised per channel
    # the flatness loader keeps two classes with their labels (10-dim one-hot targets, as the
    # authors), pixels in [0, 1] unless standardised
    a, b = sorted(set(ytr.tolist()))[:2]
    X2, y2, _, _ = load_data("cifar10", str(tmp_path), classes=[b, a])
    keep = (ytr == a) | (ytr == b)
    assert sorted(set(y2.tolist())) == [a, b] and torch.equal(y2, ytr[keep])
    assert torch.allclose(X2, Xtr[keep])


@pytest.fixture
def no_torchvision(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # `import torchvision` raises ImportError


def _archive(tmp_path):
    src = tmp_path / "src"
    _plant(src / "cifar-10-batches-py")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        tf.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    path = tmp_path / "mirror" / "cifar-10-python.tar.gz"
    path.parent.mkdir()
    path.write_bytes(buf.getvalue())
    return path, _md5s(src / "cifar-10-batches-py")


def test_missing_cifar10_is_downloaded_md5_checked_and_read(tmp_path, monkeypatch, no_torchvision):
    archive, md5s = _archive(tmp_path)
    monkeypatch.setattr(nets_data, "CIFAR10_URL", archive.as_uri())
    monkeypatch.setattr(nets_data, "CIFAR10_ARCHIVE_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    monkeypatch.setattr(nets_data, "CIFAR10_MD5", md5s)
    root = tmp_path / "datasets"
    Xtr, ytr, Xte, yte = load_dataset("cifar10", root, standardize=False)
    assert Xtr.shape == (20, 3, 32, 32) and Xte.shape == (7, 3, 32, 32)
    assert (root / "cifar10" / "cifar-10-python.tar.gz").is_file()
    assert not list((root / "cifar10").glob(".*part"))


def test_download_with_a_wrong_md5_or_no_network_fails_clearly(tmp_path, monkeypatch, no_torchvision):
    archive, _ = _archive(tmp_path)
    monkeypatch.setattr(nets_data, "CIFAR10_URL", archive.as_uri())
    monkeypatch.setattr(nets_data, "CIFAR10_ARCHIVE_MD5", "0" * 32)
    with pytest.raises(DatasetUnavailable, match="has md5 .* expected 0000"):
        load_dataset("cifar10", tmp_path / "a")
    assert not (tmp_path / "a" / "cifar10" / "cifar-10-python.tar.gz").exists()  # nothing half-verified kept
    monkeypatch.setattr(nets_data, "CIFAR10_URL", (tmp_path / "nowhere.tar.gz").as_uri())
    with pytest.raises(DatasetUnavailable, match=r"could not download CIFAR-10 .*cifar-10-batches-py by hand.*digits"):
        load_dataset("cifar10", tmp_path / "b")
