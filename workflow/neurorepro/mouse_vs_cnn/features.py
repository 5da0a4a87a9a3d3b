"""Baseline feature models: what low-level image statistics alone explain.

A CNN layer that matches a mouse area is only interesting if it matches it better than
the image's own low-level statistics. Two standard baselines (absent from Shi et al.
2019) are computed from the same grey images the CNN sees, and enter every comparison
as extra "layers" (weights ``baselines``, layers ``pixels`` and ``gabor``):

- ``pixels``: the grey image itself, resized to ``input_size`` (square, centre crop).
- ``gabor``: a V1-like energy model: a bank of quadrature-pair Gabor filters
  (``orientations`` evenly spaced in [0, pi), ``frequencies`` in cycles per pixel of
  the ``input_size`` image, Gaussian envelope sd ``envelope / frequency`` pixels), each
  filter's energy sqrt(even^2 + odd^2) sampled every ``stride`` pixels (complex cells
  tiling the image; the border is edge-replicated). Its features are (orientation x
  frequency x position) energies, each channel divided by its mean energy over the
  images and positions.

:func:`scene_images` also generates natural-like images with an oriented edge and
its orientation as a label: the task the demo's ``scenes`` CNN is trained on (see
:mod:`.cnn`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BASELINES = ("pixels", "gabor")


@dataclass
class GaborBank:
    """Quadrature-pair Gabor filters, scikit-learn style parameters (nothing computed here).

    Parameters
    ----------
    orientations : number of orientations evenly spaced in [0, pi) (0 = luminance
        varying along x, i.e. vertical bars).
    frequencies : spatial frequencies in cycles per pixel (each < 0.5).
    envelope : Gaussian envelope sd in carrier periods (sd = envelope / frequency pixels;
        0.5 gives about a 1.4-octave bandwidth, V1-like).
    stride : spacing in pixels of the sampled energy positions.
    """

    orientations: int = 8
    frequencies: tuple = (0.06, 0.12, 0.24)
    envelope: float = 0.5
    stride: int = 4

    def __post_init__(self):
        self.frequencies = tuple(float(f) for f in self.frequencies)
        if self.orientations < 1:
            raise ValueError("gabor orientations must be >= 1")
        if not self.frequencies or any(not 0 < f < 0.5 for f in self.frequencies):
            raise ValueError(f"gabor frequencies must lie in (0, 0.5) cycles/pixel, got {self.frequencies}")
        if self.envelope <= 0 or self.stride < 1:
            raise ValueError("gabor envelope must be > 0 and stride >= 1")

    @property
    def thetas(self) -> np.ndarray:
        return np.arange(self.orientations) * np.pi / self.orientations

    def kernels(self, frequency: float) -> tuple[np.ndarray, np.ndarray]:
        """Even and odd kernels ``(orientations, k, k)`` of one frequency (zero-mean, unit norm)."""
        sd = self.envelope / frequency
        half = int(np.ceil(2.5 * sd))
        yy, xx = np.mgrid[-half : half + 1, -half : half + 1].astype(float)
        env = np.exp(-(xx**2 + yy**2) / (2 * sd**2))
        even, odd = [], []
        for t in self.thetas:
            u = xx * np.cos(t) + yy * np.sin(t)
            e = env * np.cos(2 * np.pi * frequency * u)
            o = env * np.sin(2 * np.pi * frequency * u)
            e = e - env * e.sum() / env.sum()  # no response to uniform luminance
            even.append(e / np.linalg.norm(e))
            odd.append(o / np.linalg.norm(o))
        return np.stack(even), np.stack(odd)

    def energy(self, images: np.ndarray) -> np.ndarray:
        """Energy maps ``(n, frequencies, orientations, H', W')`` of grey images ``(n, H, W)``."""
        import torch
        import torch.nn.functional as F

        x = torch.as_tensor(np.asarray(images, np.float32))[:, None]
        out = []
        for f in self.frequencies:
            even, odd = self.kernels(f)
            w = torch.as_tensor(np.concatenate([even, odd]), dtype=torch.float32)[:, None]
            h = w.shape[-1] // 2
            with torch.no_grad():  # edge-replicated border: no spurious edges where the image meets the padding
                r = F.conv2d(F.pad(x, (h, h, h, h), mode="replicate"), w)
            e = torch.sqrt(r[:, : self.orientations] ** 2 + r[:, self.orientations :] ** 2)
            s = self.stride
            out.append(e[:, :, s // 2 :: s, s // 2 :: s].numpy())
        return np.stack(out, axis=1)

    def features(self, images: np.ndarray) -> np.ndarray:
        """Energies flattened per image: ``(n, frequencies * orientations * positions)``.

        Each (frequency, orientation) channel is divided by its mean energy over the images
        and positions (a gain normalisation): natural images carry far more energy at low
        frequencies, and without it those channels alone would set every image's feature
        vector and the RSM would see little but the spectral slope.
        """
        e = self.energy(images).astype(np.float64)
        e /= e.mean(axis=(0, 3, 4), keepdims=True) + 1e-12
        return e.reshape(e.shape[0], -1)


def grey_inputs(views: np.ndarray, input_size: int) -> np.ndarray:
    """Grey images ``(n, input_size, input_size)`` in [0, 1], shorter side resized, centre-cropped
    (the same geometry as the CNN input, one channel, no normalisation)."""
    from neurorepro.mouse_vs_cnn.images import cnn_input, IMAGENET_MEAN, IMAGENET_STD

    x = cnn_input(views, input_size)[:, 0].numpy()
    return x * IMAGENET_STD[0] + IMAGENET_MEAN[0]


def baseline_features(views: np.ndarray, names, input_size: int = 64, gabor: dict | None = None) -> dict[str, np.ndarray]:
    """Features ``(n_images, units)`` of the named baselines for the views (mouse-view images)."""
    unknown = sorted(set(names) - set(BASELINES))
    if unknown:
        raise ValueError(f"unknown baseline models {unknown}; known: {list(BASELINES)}")
    grey = grey_inputs(views, input_size)
    out = {}
    if "pixels" in names:
        out["pixels"] = grey.reshape(grey.shape[0], -1).astype(np.float64)
    if "gabor" in names:
        out["gabor"] = GaborBank(**(gabor or {})).features(grey)
    return out


def grating(size: int, theta: float, frequency: float, phase: float = 0.0) -> np.ndarray:
    """A full-field sinusoidal grating in [0, 1]: luminance varies along direction ``theta``."""
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    return 0.5 + 0.5 * np.cos(2 * np.pi * frequency * (xx * np.cos(theta) + yy * np.sin(theta)) + phase)


def scene_images(n: int, size: int, rng: np.random.Generator, n_classes: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """Natural-like grey images ``(n, size, size)`` in [0, 1] and the orientation class of their edge.

    Each image is 1/f^alpha noise (alpha in [0.8, 1.6], the natural-scene range) plus one
    high-contrast oriented edge (a tanh step along a random direction theta, at a random
    offset) and a weaker distractor edge; the label is theta's bin of ``n_classes`` equal
    bins of [0, pi). A network that reports the label must become orientation selective on
    images whose other statistics are natural-like.
    """
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.fftfreq(size)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = 1.0
    yy, xx = (np.mgrid[0:size, 0:size] / size) - 0.5
    alpha = rng.uniform(0.8, 1.6, size=(n, 1, 1))
    spec = (rng.standard_normal((n, size, size)) + 1j * rng.standard_normal((n, size, size))) / f[None] ** alpha
    spec[:, 0, 0] = 0
    img = np.real(np.fft.ifft2(spec))
    img = (img - img.mean(axis=(1, 2), keepdims=True)) / (img.std(axis=(1, 2), keepdims=True) + 1e-12)
    theta = rng.uniform(0, np.pi, size=n)
    for k, amp in ((theta, 1.5), (rng.uniform(0, np.pi, size=n), 0.6)):
        off = rng.uniform(-0.25, 0.25, size=(n, 1, 1))
        d = np.cos(k)[:, None, None] * xx + np.sin(k)[:, None, None] * yy - off
        img = img + amp * np.tanh(d * rng.uniform(15, 60, size=(n, 1, 1)))
    img = (img - img.mean(axis=(1, 2), keepdims=True)) / (img.std(axis=(1, 2), keepdims=True) + 1e-12)
    img = np.clip(0.5 + 0.18 * img, 0, 1).astype(np.float32)
    label = np.minimum((theta / np.pi * n_classes).astype(np.int64), n_classes - 1)
    return img, label
