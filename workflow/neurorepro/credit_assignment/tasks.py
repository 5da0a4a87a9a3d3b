"""Temporal tasks, each a fixed train set and a held-out test set of ``(x, label)`` trials.

``x`` has shape ``(trials, time, inputs)``; the label is read out at the last step.

- ``digits``: row-wise sequential images. ``scale: demo`` uses scikit-learn's bundled
  8x8 digits (8 steps x 8 inputs, offline); ``scale: paper`` uses MNIST (28 steps x 28
  inputs) through torchvision, imported lazily.
- ``evidence``: evidence accumulation (cue counting, as in Morcos & Tank 2018 and the
  e-prop paper): ``n_cues`` cues arrive one at a time on a left or right channel, then a
  delay, then a go cue; the answer is the side that got more cues.
- ``delayed_match``: delayed match-to-sample: one of ``n_stimuli`` stimuli, a delay, a
  second stimulus; the answer is match / non-match.

- ``pattern``: pattern generation (regression, loss at every step): a cue channel names one of
  ``n_patterns`` fixed target curves (sums of sinusoids); frozen random "clock" inputs, the same
  on every trial, give the network a time code (as in the e-prop paper's pattern generation).

Evidence, delayed-match and pattern inputs carry additive Gaussian noise (``noise``) drawn
once per trial, so a finite training set can be over-fitted and a generalisation gap
can open.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

TASKS: tuple[str, ...] = ("digits", "evidence", "delayed_match", "pattern")

@dataclass
class Task:
    """A task's data: float32 inputs ``(trials, time, inputs)`` and int64 labels."""

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    n_classes: int
    attrs: dict = field(default_factory=dict)
    loss_steps: int = 1  # the loss (and the answer) is taken over the last ``loss_steps`` steps

    @property
    def n_in(self) -> int:
        return int(self.x_train.shape[-1])

    @property
    def n_steps(self) -> int:
        return int(self.x_train.shape[1])


def sequential_digits(
    n_train: int | None, n_test: int | None, seed: int, dataset: str = "digits", root: str = "resources/datasets"
) -> Task:
    """Row-wise sequential images: each image row is one time step (pixels in [0, 1]).

    Loaded through the shared ``neurorepro.nets.load_dataset`` (``digits``: 8 steps x 8
    inputs, offline, fixed 360-image test split; ``mnist``: 28 x 28 through torchvision,
    which raises ``DatasetUnavailable`` with install instructions when it is missing).
    """
    if dataset not in ("digits", "mnist", "fashion_mnist"):
        raise ValueError(f"dataset must be 'digits' (demo, offline) or 'mnist'/'fashion_mnist' (paper), got {dataset!r}")
    from neurorepro.nets import load_dataset

    xtr, ytr, xte, yte = load_dataset(dataset, root, n_train=n_train, n_test=n_test, seed=seed, standardize=False)
    rows = lambda X: X[:, 0].contiguous()  # (n, 1, H, W) -> (n, H time steps, W inputs)  # noqa: E731
    return Task("digits", rows(xtr), ytr, rows(xte), yte, n_classes=10,
                attrs={"dataset": dataset, "rows_as_time": 1, "input_min": 0.0, "input_max": 1.0})


def evidence_trials(n: int, *, n_cues: int, delay: int, p_major: float, noise: float, rng: np.random.Generator,
                    response: int = 1):
    """``n`` evidence-accumulation trials: inputs ``(n, 2 n_cues + delay + response, 3)``, labels (0 left, 1 right).

    Channels: 0 left cue, 1 right cue, 2 go. A cue occupies one step, followed by a blank
    step; after ``delay`` blank steps the go cue is on for the ``response`` steps of the
    answer window (the loss window). Each cue falls on the trial's favoured side with
    probability ``p_major``; the label is the side with more cues (``n_cues`` odd: no ties).
    """
    if response < 1:
        raise ValueError(f"response must be >= 1, got {response}")
    if n_cues < 1 or n_cues % 2 == 0:
        raise ValueError(f"n_cues must be odd and >= 1, got {n_cues}")
    if not 0.5 <= p_major <= 1.0:
        raise ValueError(f"p_major must lie in [0.5, 1], got {p_major}")
    T = 2 * n_cues + delay + response
    favoured = rng.integers(0, 2, size=n)
    on_favoured = rng.random((n, n_cues)) < p_major
    side = np.where(on_favoured, favoured[:, None], 1 - favoured[:, None])  # (n, n_cues)
    x = np.zeros((n, T, 3), dtype=np.float32)
    steps = 2 * np.arange(n_cues)
    x[np.arange(n)[:, None], steps[None, :], side] = 1.0
    x[:, T - response :, 2] = 1.0
    x += noise * rng.standard_normal(x.shape).astype(np.float32)
    label = (side.sum(axis=1) > n_cues // 2).astype(np.int64)
    return x, label


def delayed_match_trials(n: int, *, n_stimuli: int, delay: int, noise: float, rng: np.random.Generator,
                         response: int = 1):
    """``n`` delayed match-to-sample trials: inputs ``(n, delay + 1 + response, n_stimuli)``, labels (1 match).

    Step 0 shows the sample (one-hot), then ``delay`` blank steps, then the test stimulus
    (the same one, match, probability 1/2, or another one drawn uniformly), held on for the
    ``response`` steps of the answer window.
    """
    if response < 1:
        raise ValueError(f"response must be >= 1, got {response}")
    if n_stimuli < 2:
        raise ValueError(f"n_stimuli must be >= 2, got {n_stimuli}")
    T = delay + 1 + response
    sample = rng.integers(0, n_stimuli, size=n)
    match = rng.random(n) < 0.5
    other = (sample + rng.integers(1, n_stimuli, size=n)) % n_stimuli
    test = np.where(match, sample, other)
    x = np.zeros((n, T, n_stimuli), dtype=np.float32)
    x[np.arange(n), 0, sample] = 1.0
    x[np.arange(n), T - response :, test] = 1.0
    x += noise * rng.standard_normal(x.shape).astype(np.float32)
    return x, match.astype(np.int64)


def pattern_trials(n: int, *, n_patterns: int, n_steps: int, n_clock: int, noise: float, rng: np.random.Generator):
    """``n`` pattern-generation trials: inputs ``(n, n_steps, n_patterns + n_clock)``, targets ``(n, n_steps, 1)``.

    The patterns and the clock are drawn from ``rng`` first (fixed for the task); each trial
    picks a pattern uniformly, its cue channel is on at every step, the clock channels carry
    frozen N(0, 1) values, and every input gets fresh N(0, noise^2) noise. Each target is a sum
    of 3 sinusoids (periods n_steps / 1, 2, 3; random amplitudes and phases), scaled to unit SD.
    """
    if n_patterns < 1 or n_steps < 2 or n_clock < 0:
        raise ValueError("pattern needs n_patterns >= 1, n_steps >= 2, n_clock >= 0")
    t = np.arange(n_steps)[None, :]
    amp = rng.uniform(0.5, 1.5, size=(n_patterns, 3, 1))
    phase = rng.uniform(0, 2 * np.pi, size=(n_patterns, 3, 1))
    freq = np.array([1.0, 2.0, 3.0])[None, :, None]
    curves = (amp * np.sin(2 * np.pi * freq * t[:, None] / n_steps + phase)).sum(axis=1)  # (n_patterns, T)
    curves = (curves - curves.mean(axis=1, keepdims=True)) / curves.std(axis=1, keepdims=True)
    clock = rng.standard_normal((n_steps, n_clock)).astype(np.float32)
    which = rng.integers(0, n_patterns, size=n)
    x = np.zeros((n, n_steps, n_patterns + n_clock), dtype=np.float32)
    x[np.arange(n), :, which] = 1.0
    x[:, :, n_patterns:] = clock[None]
    x += noise * rng.standard_normal(x.shape).astype(np.float32)
    return x, curves[which][:, :, None].astype(np.float32)


#: the keyword settings each task takes (make_task raises on any other)
TASK_KEYS = {"digits": ("dataset", "root"), "evidence": ("n_cues", "delay", "p_major", "noise", "response"),
             "delayed_match": ("n_stimuli", "delay", "noise", "response"),
             "pattern": ("n_patterns", "n_steps", "n_clock", "noise")}


def make_task(name: str, *, n_train: int, n_test: int | None, seed: int, **kw) -> Task:
    """Build task ``name`` (one of :data:`TASKS`) with its keyword settings.

    ``digits``: ``dataset`` ('digits' | 'mnist'), ``root`` (download folder). ``evidence``: ``n_cues``, ``delay``,
    ``p_major``, ``noise``, ``response``. ``delayed_match``: ``n_stimuli``, ``delay``, ``noise``, ``response``
    (``response``: steps of the answer window, over which the loss is taken).
    """
    unknown = sorted(set(kw) - set(TASK_KEYS.get(name, kw)))
    if unknown:
        raise ValueError(f"task {name!r}: unknown settings {unknown}; allowed: {sorted(TASK_KEYS[name])}")
    rng = np.random.default_rng(seed)
    if name == "digits":
        return sequential_digits(n_train, n_test, seed, dataset=kw.get("dataset", "digits"), root=kw.get("root", "resources/datasets"))
    if name == "evidence":
        opts = dict(n_cues=kw.get("n_cues", 7), delay=kw.get("delay", 4), p_major=kw.get("p_major", 0.7), noise=kw.get("noise", 0.3),
                    response=kw.get("response", 1))
        n_test = 1000 if n_test is None else n_test
        x, y = evidence_trials(n_train + n_test, rng=rng, **opts)
        return Task(name, *_tensors(x, y, n_train), n_classes=2, attrs=opts, loss_steps=opts["response"])
    if name == "delayed_match":
        opts = dict(n_stimuli=kw.get("n_stimuli", 4), delay=kw.get("delay", 4), noise=kw.get("noise", 0.3),
                    response=kw.get("response", 1))
        n_test = 1000 if n_test is None else n_test
        x, y = delayed_match_trials(n_train + n_test, rng=rng, **opts)
        return Task(name, *_tensors(x, y, n_train), n_classes=2, attrs=opts, loss_steps=opts["response"])
    if name == "pattern":
        opts = dict(n_patterns=kw.get("n_patterns", 3), n_steps=kw.get("n_steps", 20), n_clock=kw.get("n_clock", 5),
                    noise=kw.get("noise", 0.3))
        n_test = 1000 if n_test is None else n_test
        x, y = pattern_trials(n_train + n_test, rng=rng, **opts)
        # the loss and the score (R^2) over every step; n_classes is the readout size (1)
        return Task(name, *_tensors(x, y, n_train), n_classes=1, attrs={**opts, "regression": 1}, loss_steps=opts["n_steps"])
    raise ValueError(f"unknown task {name!r}; choose from {TASKS}")


def _tensors(x: np.ndarray, y: np.ndarray, n_train: int):
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)
    return xt[:n_train], yt[:n_train], xt[n_train:], yt[n_train:]
