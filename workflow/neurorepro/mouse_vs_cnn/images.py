"""Natural-scene templates as the mouse saw them, then as CNN input.

1. The template (918 × 1174 in the Brain Observatory; embedded caches store smaller
   stacks, which are first resized to that size) is placed on the 1200 × 1920 stimulus
   monitor with allensdk's ``BrainObservatoryMonitor.natural_scene_image_to_screen``.
2. With ``warp=True`` the screen is spherically warped as the Brain Observatory did for
   the mouse's eye (the warp coordinates of ``BrainObservatoryMonitor``, as in its
   ``warp_image``, sampled at reduced resolution, see :func:`mouse_view`).
3. The screen is cropped to the bounding box the image occupies (after warping).
4. For the CNN: shorter side resized to ``input_size``, centre crop, grey copied to 3
   channels, ImageNet normalisation.
"""
from __future__ import annotations

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _resize(images: np.ndarray, shape: tuple[int, int]):
    import torch
    import torch.nn.functional as F

    t = torch.as_tensor(np.asarray(images, np.float32))[:, None]
    out = F.interpolate(t, size=tuple(int(s) for s in shape), mode="bilinear", align_corners=False, antialias=True)
    return out[:, 0]


_WARP_CACHE: dict = {}


def _warp_grid(monitor) -> np.ndarray:
    """allensdk's warp coordinates of the monitor as a (rows, cols, 2) source-pixel grid (cached)."""
    key = (monitor.n_pixels_r, monitor.n_pixels_c)
    if key not in _WARP_CACHE:
        _WARP_CACHE[key] = monitor.experiment_geometry.warp_coordinates.reshape(key[0], key[1], 2)
    return _WARP_CACHE[key]


def _block_mean(img: np.ndarray, s: int) -> np.ndarray:
    if s == 1:
        return img.astype(np.float32)
    h, w = (img.shape[0] // s) * s, (img.shape[1] // s) * s
    return img[:h, :w].reshape(h // s, s, w // s, s).mean(axis=(1, 3), dtype=np.float32)


def _screen_at(screen: np.ndarray, grid: np.ndarray | None, s: int) -> np.ndarray:
    """The screen (optionally warped) at 1/s resolution.

    Equivalent to ``BrainObservatoryMonitor.warp_image`` followed by s × s block
    averaging, computed by sampling the block-averaged screen at the warp coordinates
    of the output block centres (bilinear): s² times fewer samples.
    """
    small = _block_mean(screen, s)
    if grid is None:
        return small
    from scipy.ndimage import map_coordinates

    g = grid[s // 2 :: s, s // 2 :: s][: small.shape[0], : small.shape[1]]
    coords = (g - (s - 1) / 2.0) / s
    return map_coordinates(small, [coords[..., 0], coords[..., 1]], order=1, mode="constant", cval=0.0)


def mouse_view(template: np.ndarray, warp: bool = True, downsample: int = 1) -> np.ndarray:
    """Images ``(n, h, w)`` float32 in [0, 1]: the template on the monitor, warped, cropped.

    ``downsample`` (s >= 1) returns the view at 1/s of the monitor's resolution (block
    averages; the warp is sampled at block centres), which is all a CNN input of a few
    hundred pixels needs and s² times cheaper.
    """
    from allensdk.brain_observatory.stimulus_info import NATURAL_SCENES_PIXELS, BrainObservatoryMonitor

    template = np.asarray(template)
    if template.ndim != 3:
        raise ValueError(f"template must be (n_images, H, W), got shape {template.shape}")
    s = int(downsample)
    if s < 1:
        raise ValueError("downsample must be >= 1")
    if template.shape[1:] != tuple(NATURAL_SCENES_PIXELS):
        template = np.clip(_resize(template, NATURAL_SCENES_PIXELS).numpy().round(), 0, 255).astype(np.uint8)
    monitor = BrainObservatoryMonitor()
    grid = _warp_grid(monitor) if warp else None
    box = monitor.natural_scene_image_to_screen(np.full(NATURAL_SCENES_PIXELS, 255, np.uint8), origin="upper")
    box = _screen_at((box == 255).astype(np.float32), grid, s)
    rows = np.flatnonzero((box > 0.5).any(axis=1))
    cols = np.flatnonzero((box > 0.5).any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    out = np.empty((template.shape[0], r1 - r0, c1 - c0), np.float32)
    for k, img in enumerate(template):
        screen = monitor.natural_scene_image_to_screen(np.asarray(img, np.uint8), origin="upper")
        out[k] = _screen_at(screen, grid, s)[r0:r1, c0:c1] / 255.0
    return out


def view_downsample(input_size: int) -> int:
    """Largest monitor downsampling that keeps the view's shorter side >= 2 × ``input_size``."""
    from allensdk.brain_observatory.stimulus_info import MONITOR_DIMENSIONS

    return max(1, int(min(MONITOR_DIMENSIONS) // (2 * int(input_size))))


def cnn_input(views: np.ndarray, input_size: int):
    """Torch tensor ``(n, 3, input_size, input_size)``: resized, centre-cropped, ImageNet-normalised."""
    import torch

    views = np.asarray(views, np.float32)
    n, h, w = views.shape
    scale = input_size / min(h, w)
    nh, nw = max(input_size, round(h * scale)), max(input_size, round(w * scale))
    x = _resize(views, (nh, nw))
    top, left = (nh - input_size) // 2, (nw - input_size) // 2
    x = x[:, top : top + input_size, left : left + input_size].clamp(0, 1)
    x = x[:, None].repeat(1, 3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return ((x - mean) / std).contiguous()
