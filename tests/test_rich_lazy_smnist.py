"""rich_lazy: sequential MNIST from the standard IDX files, and the tangent kernel on target steps.

The tests write small MNIST files themselves in the real format (big-endian header
with magic numbers 2051 / 2049, then the raw bytes), built here with ``struct`` rather
than with the package's own writer.
"""
from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from neurorepro.rich_lazy.experiment import build_inits, run_task
from neurorepro.measures.alignment import empirical_ntk
from neurorepro.rich_lazy.mnist import load_mnist, read_idx, write_idx
from neurorepro.rich_lazy.model import RNNTrainer, target_steps
from neurorepro.rich_lazy.tasks import Task


def _idx_bytes(magic: int, array: np.ndarray) -> bytes:
    """IDX file content of a uint8 array, written from the format's definition."""
    return struct.pack(">i", magic) + struct.pack(f">{array.ndim}I", *array.shape) + array.astype(np.uint8).tobytes()


def write_fake_mnist(folder: Path, n: int = 40, gz: bool = True, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """n random 28 x 28 images (image i has pixel (0, 0) = i so it can be identified) and labels."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    images[:, 0, 0] = np.arange(n)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for stem, magic, arr in (("train-images-idx3-ubyte", 2051, images), ("train-labels-idx1-ubyte", 2049, labels)):
        data = _idx_bytes(magic, arr)
        if gz:
            with gzip.open(folder / f"{stem}.gz", "wb") as f:
                f.write(data)
        else:
            (folder / stem).write_bytes(data)
    return images, labels


@pytest.mark.parametrize("gz", [True, False])
def test_load_mnist_reads_the_idx_files(tmp_path, gz):
    images, labels = write_fake_mnist(tmp_path, gz=gz)
    got_x, got_y, digests = load_mnist(tmp_path)
    assert got_x.dtype == np.uint8 and got_x.shape == (40, 28, 28)
    assert np.array_equal(got_x, images) and np.array_equal(got_y, labels.astype(np.int64))
    assert set(digests) == {f"train-images-idx3-ubyte{'.gz' if gz else ''}", f"train-labels-idx1-ubyte{'.gz' if gz else ''}"}


def test_load_mnist_finds_the_torchvision_layout(tmp_path):
    images, _ = write_fake_mnist(tmp_path / "MNIST" / "raw")
    assert np.array_equal(load_mnist(tmp_path)[0], images)


def test_read_idx_other_types_and_round_trip(tmp_path):
    # int32 (type 0x0C), 2-D, big-endian payload: the header says 2 x 3
    a = np.array([[1, -2, 3], [70000, 5, -6]], dtype=np.int32)
    raw = bytes([0, 0, 0x0C, 2]) + struct.pack(">II", 2, 3) + a.astype(">i4").tobytes()
    (tmp_path / "a.idx").write_bytes(raw)
    assert np.array_equal(read_idx(tmp_path / "a.idx"), a)
    f = np.linspace(-1, 1, 6).reshape(3, 2)
    assert np.array_equal(read_idx(write_idx(tmp_path / "f.idx.gz", f)), f)
    assert write_idx(tmp_path / "b.idx", a).read_bytes() == raw


def test_mnist_errors_name_the_file_and_the_key(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"train-images-idx3-ubyte.*rich_lazy\.smnist\.data_dir"):
        load_mnist(tmp_path / "nowhere")
    write_fake_mnist(tmp_path, gz=False)
    # labels file with the image magic number
    lab = tmp_path / "train-labels-idx1-ubyte"
    lab.write_bytes(_idx_bytes(2051, np.zeros((40, 28, 28), np.uint8)))
    with pytest.raises(ValueError, match="magic number 2051, expected 2049"):
        load_mnist(tmp_path)
    # truncated payload
    lab.write_bytes(_idx_bytes(2049, np.zeros(40, np.uint8))[:-3])
    with pytest.raises(ValueError, match="train-labels-idx1-ubyte: IDX header declares"):
        load_mnist(tmp_path)
    # count mismatch between images and labels
    lab.write_bytes(_idx_bytes(2049, np.zeros(39, np.uint8)))
    with pytest.raises(ValueError, match="39 labels for 40 images"):
        load_mnist(tmp_path)
    (tmp_path / "x.idx").write_bytes(b"\x01\x00\x08\x01abcd")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(tmp_path / "x.idx")


def test_smnist_task_rows_as_steps_pixels_scaled_target_at_the_end(tmp_path):
    images, labels = write_fake_mnist(tmp_path, n=40)
    task = Task("SMNIST", data_dir=str(tmp_path), holdout=10, split_seed=3)
    assert (task.n_steps, task.n_inputs, task.n_outputs) == (28, 28, 10)
    b = task.sample(16, np.random.default_rng(1))
    assert b.x.shape == (28, 16, 28) and b.x.dtype == np.float32 and b.y.shape == (28, 16)
    assert 0.0 <= b.x.min() and b.x.max() <= 1.0
    assert (b.y[:-1] == -100).all() and np.array_equal(b.y[-1], b.ground_truth)
    train_images, _ = task.mnist()
    assert len(train_images) == 30  # 10 of the 40 held out
    held_out = set(range(40)) - set(train_images[:, 0, 0].tolist())
    for k in range(16):
        i = int(round(b.x[0, k, 0] * 255))  # pixel (0, 0) identifies the image
        assert i not in held_out
        assert np.allclose(b.x[:, k, :], images[i] / 255.0, atol=1e-7)  # row t of the image at step t
        assert b.ground_truth[k] == labels[i]
    # the held-out set depends on split_seed only
    again = Task("SMNIST", data_dir=str(tmp_path), holdout=10, split_seed=3).mnist()[0]
    assert np.array_equal(again, train_images)


def test_smnist_task_errors_name_the_key(tmp_path):
    with pytest.raises(ValueError, match="rich_lazy.smnist.data_dir"):
        Task("SMNIST")
    task = Task("SMNIST", data_dir=str(tmp_path / "missing"))  # constructed: the files are read at sampling
    with pytest.raises(FileNotFoundError, match="rich_lazy.smnist.data_dir"):
        task.sample(2, np.random.default_rng(0))
    write_fake_mnist(tmp_path, n=5)
    with pytest.raises(ValueError, match="holdout=5 leaves no training image"):
        Task("SMNIST", data_dir=str(tmp_path), holdout=5).sample(2, np.random.default_rng(0))
    with pytest.raises(ValueError, match="SMNIST needs 28 steps"):
        Task("SMNIST", data_dir=str(tmp_path), holdout=0, dt=50).sample(2, np.random.default_rng(0))


def test_kernel_on_target_steps_is_the_block_of_the_full_kernel(tmp_path):
    """The 'target' kernel is the full kernel restricted to the rows and columns of the last step."""
    write_fake_mnist(tmp_path, n=20)
    task = Task("SMNIST", data_dir=str(tmp_path), holdout=0)
    probe = task.sample(3, np.random.default_rng(0))
    assert np.array_equal(target_steps(probe), [27])
    W0 = build_inits(6, [6], 1.25, 1, 0)["W0"].values[0, 0]
    tr = RNNTrainer(task, n_hidden=6, n_iter=3, batch_size=4, log_every=1).fit(W0)
    m_target = tr.laziness(probe, 3, "target")
    m_all = tr.laziness(probe, 3, "all")
    x = torch.as_tensor(probe.x)
    T, B, K = 28, 3, 10
    rows = np.arange(T * B * K).reshape(T, B, K)[27].ravel()  # (t, b, k) C order, t = last step
    blocks = [empirical_ntk(net, x)[np.ix_(rows, rows)] for net in (tr.net0_, tr.net_)]
    expect = float(np.sum(blocks[0] * blocks[1]) / (np.linalg.norm(blocks[0]) * np.linalg.norm(blocks[1])))
    assert m_target["ntk_alignment"] == pytest.approx(expect, rel=1e-10)
    assert m_target["ntk_alignment"] != pytest.approx(m_all["ntk_alignment"], rel=1e-6)
    for key in ("weight_change", "rep_alignment", "accuracy"):
        assert m_target[key] == m_all[key]
    with pytest.raises(ValueError, match="rich_lazy.ntk_steps"):
        tr.laziness(probe, 3, "last")


def test_kernel_on_target_steps_equals_all_steps_when_every_step_has_a_target():
    task = Task("2AF")
    probe = task.sample(4, np.random.default_rng(0))
    assert np.array_equal(target_steps(probe), np.arange(task.n_steps))
    W0 = build_inits(5, [5], 1.25, 1, 0)["W0"].values[0, 0]
    tr = RNNTrainer(task, n_hidden=5, n_iter=3, batch_size=4, log_every=1).fit(W0)
    assert tr.laziness(probe, 4, "target")["ntk_alignment"] == pytest.approx(
        tr.laziness(probe, 4, "all")["ntk_alignment"], rel=1e-12)


def test_smnist_runs_end_to_end(tmp_path):
    write_fake_mnist(tmp_path, n=30)
    task = Task("SMNIST", data_dir=str(tmp_path), holdout=5)
    inits = build_inits(8, [1, 2, 8], 1.25, 1, 0)
    df, curves = run_task(task, inits, dict(n_hidden=8, n_iter=4, batch_size=5, log_every=2), 6, 2, 2, 0,
                          stats_trials=20, ntk_steps="target")
    assert set(df.init) == {"rank_1", "rank_2", "rank_8", "aligned_2"}
    assert df[["weight_change", "rep_alignment", "ntk_alignment"]].notna().all().all()
    assert set(curves.task) == {"SMNIST"}


def test_a_diverging_init_is_logged_and_its_measures_are_nan(tmp_path, caplog):
    """W0 = 20 I (spectral radius 20) blows a ReLU network up over 28 steps of positive pixels."""
    import logging

    write_fake_mnist(tmp_path, n=20)
    task = Task("SMNIST", data_dir=str(tmp_path), holdout=0)
    inits = build_inits(6, [1, 6], 1.25, 1, 0)
    inits["W0"].values[0, 0] = 20.0 * np.eye(6)
    with caplog.at_level(logging.WARNING):
        df, _ = run_task(task, inits, dict(n_hidden=6, n_iter=3, batch_size=4, log_every=1), 4, 2, None, 0,
                         stats_trials=10, logger=logging.getLogger("h5test"))
    blown = df.set_index("init").loc["rank_1"]
    assert not np.isfinite(blown["final_loss"]) and np.isnan(blown["weight_change"])
    assert "SMNIST seed 0 rank_1 diverged" in caplog.text and "spectral radius 20.00" in caplog.text
    assert np.isfinite(df.set_index("init").loc["rank_6", "weight_change"])
