"""Cognitive tasks of Liu et al. 2024 with the trial structure of neurogym.

The paper trains on neurogym's ``PerceptualDecisionMaking-v0`` (2AF),
``DelayMatchSample-v0`` (DMS) and ``ContextDecisionMaking-v0`` (CXT) with
``dt = 100 ms`` and eight time steps per trial. neurogym itself cannot be used
here: its current release (2.3.1) requires ``numpy==2.2.*`` while this pipeline is
pinned to numpy 1.23.5 (allensdk), and the authors' version (0.0.2) predates
gymnasium. The tasks are therefore re-implemented with the same trial structure:

* every trial is a sequence of named periods whose durations (ms) are divided by
  ``dt`` to give time steps;
* input channel 0 is the fixation cue, 1 during every period but ``decision``;
* stimulus channels follow neurogym's ring code: ``cos(theta - theta_choice) * c + 0.5``
  plus Gaussian noise of s.d. ``sigma / sqrt(dt)`` during the stimulus periods;
* the label is 0 ("fixate") in every step but the decision period, where it is
  the correct choice (1 or 2); the network is trained with cross-entropy on
  every step, as in the authors' code (``ngym.Dataset`` labels).

``SMNIST`` is the authors' sequential MNIST (``main.py --task_mode sMNIST``): each
28 x 28 training image is read row by row, 28 steps of 28 pixels scaled to [0, 1]
(torchvision's ``ToTensor``), and the class (10) is the target of the last step only.
The images come from the standard MNIST files on disk (:mod:`.mnist`, folder given by
``data_dir``); as in the authors' ``random_split(.., [55000, 5000])``, ``holdout``
images chosen by ``split_seed`` are set aside and trials are drawn from the rest.
``DIGITS`` is its demo-scale stand-in, offline: scikit-learn's 8 x 8 digits as 8 steps
of 8 pixels, 10 classes, the target on the last step only.

Checked against neurogym's source (tag v0.0.1, the release line the authors used,
0.0.2): ring codes, coherences, noise s.d. and the fixation/decision structure match.
Differences: (i) in CXT neurogym adds the stimulus noise to every input channel
(fixation and context cues included); this is reproduced; (ii) neurogym's
``ngym.Dataset`` streams trials back to back and cuts them into ``seq_len`` pieces;
with the authors' 8-step trials and ``seq_len = 8`` each piece is one trial, as here;
(iii) neurogym >= 2 keeps the 2AF fixation cue only in the fixation period (0 ms here),
v0.0.1 keeps it on through stimulus and delay, as here.

Timings default to the authors' released settings (all eight steps long):
2AF ``stimulus 700, decision 100``; DMS ``sample 100, delay 500, test 100,
decision 100``; CXT ``stimulus 200, delay 500, decision 100`` (fixation 0 ms).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TASKS = ("2AF", "DMS", "CXT", "DIGITS", "SMNIST")
#: Tasks whose trials are images read row by row, the class the target of the last step.
SEQUENTIAL_IMAGE_TASKS = ("DIGITS", "SMNIST")
#: Label of steps that carry no target (ignored by ``torch.nn.CrossEntropyLoss``).
IGNORE = -100
_DIGITS: tuple[np.ndarray, np.ndarray] | None = None


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8 x 8 handwritten digits (1,797 images, pixels 0..16), read once."""
    global _DIGITS
    if _DIGITS is None:
        from sklearn.datasets import load_digits

        d = load_digits()
        _DIGITS = (d.images.astype(float) / 16.0, d.target.astype(np.int64))
    return _DIGITS

#: Default period durations (ms), as in the authors' released code.
DEFAULT_TIMING: dict[str, dict[str, int]] = {
    "2AF": {"fixation": 0, "stimulus": 700, "delay": 0, "decision": 100},
    "DMS": {"fixation": 0, "sample": 100, "delay": 500, "test": 100, "decision": 100},
    "CXT": {"fixation": 0, "stimulus": 200, "delay": 500, "decision": 100},
    # sequential digits: one 8-pixel row per step, the class read out at the last row
    "DIGITS": {"stimulus": 700, "decision": 100},
    # sequential MNIST: one 28-pixel row per step (dt 100 ms), the class read out at the last row
    "SMNIST": {"stimulus": 2700, "decision": 100},
}


@dataclass
class TrialBatch:
    """A batch of trials, time-major like the authors' networks.

    x : (T, B, n_inputs) float32 inputs.
    y : (T, B) int64 labels (0 = fixate, 1..n_choices = choice).
    ground_truth : (B,) int correct choice of each trial (1-based).
    periods : name -> (start, stop) step indices, identical for every trial.
    info : per-trial conditions (coherences, context, ...), arrays of length B.
    """

    x: np.ndarray
    y: np.ndarray
    ground_truth: np.ndarray
    periods: dict[str, tuple[int, int]]
    info: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def decision(self) -> slice:
        start, stop = self.periods["decision"]
        return slice(start, stop)


class Task:
    """A neurogym-style supervised trial generator.

    Parameters
    ----------
    name : one of ``TASKS``.
    dt : time step (ms).
    sigma : stimulus noise; the per-step s.d. is ``sigma / sqrt(dt)`` (neurogym's convention).
    timing : period durations in ms, overriding :data:`DEFAULT_TIMING`.
    explicit_context : CXT only: the context is cued on two extra input channels
        (neurogym's explicit-context variant; 7 inputs). With ``False`` the context is
        fixed to modality 1 and not cued (5 inputs).
    data_dir : SMNIST only: folder of the MNIST IDX files (config ``rich_lazy.smnist.data_dir``);
        read at the first :meth:`sample`, so a missing folder fails when trials are drawn.
    holdout, split_seed : SMNIST only: training images set aside (authors: 5,000 of 60,000)
        and the seed of that split.
    """

    def __init__(
        self,
        name: str,
        dt: int = 100,
        sigma: float = 1.0,
        timing: dict[str, int] | None = None,
        explicit_context: bool = True,
        data_dir: str | None = None,
        holdout: int = 5000,
        split_seed: int = 0,
    ) -> None:
        if name not in TASKS:
            raise ValueError(f"unknown task {name!r}; choose one of {TASKS}")
        if dt <= 0:
            raise ValueError(f"dt must be positive, got {dt}")
        if sigma < 0:
            raise ValueError(f"sigma must be >= 0, got {sigma}")
        self.name = name
        self.dt = int(dt)
        self.sigma = float(sigma)
        self.explicit_context = bool(explicit_context)
        self.data_dir = data_dir
        self.holdout = int(holdout)
        self.split_seed = int(split_seed)
        self._mnist: tuple[np.ndarray, np.ndarray] | None = None
        self.mnist_files: dict[str, str] = {}
        if name == "SMNIST" and data_dir is None:
            raise ValueError("task SMNIST needs the MNIST folder: set config key rich_lazy.smnist.data_dir")
        if self.holdout < 0:
            raise ValueError(f"rich_lazy.smnist.holdout must be >= 0, got {holdout}")
        self.timing = dict(DEFAULT_TIMING[name])
        if timing:
            unknown = set(timing) - set(self.timing)
            if unknown:
                raise ValueError(f"task {name}: unknown periods {sorted(unknown)}; known {list(self.timing)}")
            self.timing.update(timing)
        self.periods = self._periods()
        if self.periods["decision"][1] - self.periods["decision"][0] < 1:
            raise ValueError(f"task {name}: the decision period must last at least one step (dt={dt} ms)")
        self.theta = np.linspace(0.0, 2 * np.pi, 3)[:-1]  # two ring positions: 0, pi

    # -- structure -----------------------------------------------------------
    def _periods(self) -> dict[str, tuple[int, int]]:
        out, t = {}, 0
        for period, ms in self.timing.items():
            n = int(round(ms / self.dt))
            out[period] = (t, t + n)
            t += n
        return out

    @property
    def n_steps(self) -> int:
        return max(stop for _, stop in self.periods.values())

    @property
    def n_inputs(self) -> int:
        if self.name == "CXT":
            return 7 if self.explicit_context else 5
        if self.name == "DIGITS":
            return 8
        if self.name == "SMNIST":
            return 28
        return 3

    @property
    def n_outputs(self) -> int:
        """3 (fixate, choice 1, choice 2) for the neurogym tasks; 10 classes for DIGITS and SMNIST."""
        return 10 if self.name in SEQUENTIAL_IMAGE_TASKS else 3

    @property
    def noise_sd(self) -> float:
        return self.sigma / np.sqrt(self.dt)

    def _ring(self, theta_choice: np.ndarray, strength: np.ndarray) -> np.ndarray:
        """(B, 2) ring code of the choice angles with amplitude ``strength``."""
        return np.cos(self.theta[None, :] - theta_choice[:, None]) * strength[:, None] + 0.5

    def _span(self, period: str) -> slice:
        a, b = self.periods[period]
        return slice(a, b)

    # -- sampling ------------------------------------------------------------
    def sample(self, batch_size: int, rng: np.random.Generator) -> TrialBatch:
        """Draw ``batch_size`` independent trials with ``rng``."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        T, B = self.n_steps, batch_size
        if self.name in SEQUENTIAL_IMAGE_TASKS:
            return self._sample_images(B, rng)
        x = np.zeros((T, B, self.n_inputs))
        y = np.zeros((T, B), dtype=np.int64)
        dec = self._span("decision")
        x[: dec.start, :, 0] = 1.0  # fixation cue until the decision period
        x[dec.stop :, :, 0] = 1.0
        info: dict[str, np.ndarray] = {}
        if self.name == "2AF":
            gt = rng.choice([1, 2], size=B)
            coh = rng.choice([0.0, 6.4, 12.8, 25.6, 51.2], size=B)
            stim = self._span("stimulus")
            x[stim, :, 1:3] = self._ring(self.theta[gt - 1], coh / 200.0)
            x[stim, :, 1:3] += rng.normal(0.0, self.noise_sd, size=x[stim, :, 1:3].shape)
            info["coh"] = coh
        elif self.name == "DMS":
            gt = rng.choice([1, 2], size=B)  # 1 = match, 2 = non-match
            sample_theta = rng.choice(self.theta, size=B)
            test_theta = np.where(gt == 1, sample_theta, np.mod(sample_theta + np.pi, 2 * np.pi))
            for period, th in (("sample", sample_theta), ("test", test_theta)):
                sl = self._span(period)
                x[sl, :, 1:3] = self._ring(th, np.full(B, 0.5))
                x[sl, :, 1:3] += rng.normal(0.0, self.noise_sd, size=x[sl, :, 1:3].shape)
            info["sample_theta"], info["test_theta"] = sample_theta, test_theta
        else:  # CXT
            gt = rng.choice([1, 2], size=B)
            other = rng.choice([1, 2], size=B)
            context = rng.choice([0, 1], size=B) if self.explicit_context else np.zeros(B, dtype=int)
            coh1 = rng.choice([5.0, 15.0, 50.0], size=B)
            coh2 = rng.choice([5.0, 15.0, 50.0], size=B)
            choice1 = np.where(context == 0, gt, other)  # modality 1 carries gt in context 0
            choice2 = np.where(context == 0, other, gt)
            stim = self._span("stimulus")
            x[stim, :, 1:3] = self._ring(self.theta[choice1 - 1], coh1 / 200.0)
            x[stim, :, 3:5] = self._ring(self.theta[choice2 - 1], coh2 / 200.0)
            if self.explicit_context:
                x[:, np.arange(B), 5 + context] = 1.0  # context cue on all steps
            # neurogym 0.0.x ContextDecisionMaking: add_randn without `where` -> every channel
            # (fixation and context cues too) is noisy during the stimulus period
            x[stim] += rng.normal(0.0, self.noise_sd, size=x[stim].shape)
            info.update(context=context, coh_1=coh1, coh_2=coh2, other_choice=other)
        y[dec, :] = gt[None, :]
        return TrialBatch(
            x=x.astype(np.float32), y=y, ground_truth=np.asarray(gt), periods=dict(self.periods), info=info
        )

    def mnist(self) -> tuple[np.ndarray, np.ndarray]:
        """SMNIST's training images (n, 28, 28) uint8 and labels, the ``holdout`` set aside; read once."""
        if self._mnist is None:
            from .mnist import load_mnist

            images, labels, self.mnist_files = load_mnist(self.data_dir, "train")
            if self.holdout >= len(labels):
                raise ValueError(f"rich_lazy.smnist.holdout={self.holdout} leaves no training image "
                                 f"of the {len(labels)} in {self.data_dir}")
            keep = np.sort(np.random.default_rng([self.split_seed, 55]).permutation(len(labels))[self.holdout:])
            self._mnist = (images[keep], labels[keep])
        return self._mnist

    def _sample_images(self, B: int, rng: np.random.Generator) -> TrialBatch:
        """Sequential images: rows as steps, pixels scaled to [0, 1] as inputs, the class (0-9) as
        the target of the last step only; the other steps carry no target (:data:`IGNORE`), as the
        authors read sMNIST out at the end. DIGITS: scikit-learn's 8 x 8 digits (pixels / 16);
        SMNIST: MNIST's training images (pixels / 255, torchvision's ``ToTensor``)."""
        if self.name == "SMNIST":
            images, labels = self.mnist()
            scale, key = 255.0, "SMNIST timing at 2700 + 100 ms"
        else:
            images, labels = _digits()
            scale, key = 1.0, "DIGITS timing at 700 + 100 ms"
        if self.n_steps != images.shape[1]:
            raise ValueError(f"task {self.name} needs {images.shape[1]} steps (one per image row), got "
                             f"{self.n_steps}; keep rich_lazy.dt at 100 ms and the {key}")
        idx = rng.integers(0, len(labels), size=B)
        x = images[idx].transpose(1, 0, 2) / scale  # (rows = steps, B, pixels per row)
        y = np.full((self.n_steps, B), IGNORE, dtype=np.int64)
        y[self.decision_slice] = labels[idx][None, :]
        return TrialBatch(x=x.astype(np.float32), y=y, ground_truth=labels[idx], periods=dict(self.periods),
                          info={"image": idx})

    @property
    def decision_slice(self) -> slice:
        return self._span("decision")
