"""Task-driven CNNs whose conv/pool layers are compared with mouse visual areas.

- ``arch: vgg16``: VGG16's convolutional part, built here in plain torch with exactly
  torchvision's ``features`` layout (so torchvision's ImageNet state dict loads into it
  unchanged). ``weights: imagenet`` downloads that state dict through
  ``torch.hub.load_state_dict_from_url`` (needs internet once, then the torch hub cache);
  ``weights: random`` is torchvision's initialisation (Kaiming-normal fan-out), seeded.
  torchvision itself is not needed.
- ``arch: small``: a 4-stage VGG-style net for the demo scale, ``weights: digits`` trains
  it offline on scikit-learn's bundled 8×8 digits (upsampled), ``weights: scenes`` trains
  it offline on generated natural-like images (1/f spectra, oriented edges) to report
  the orientation of the dominant edge (:func:`.features.scene_images`): a network that
  sees natural-image statistics, not object categories; ``weights: random`` leaves it
  untrained (seeded).

Every model exposes its conv/pool layers as named *taps* (``conv1_1``, ..., ``pool5``):
``blocks()`` yields ``(name, module)`` where each module maps the previous tap's output
to this tap's. :func:`layer_rsms` streams the stimuli through the blocks one layer at a
time, keeping only one layer's activations in memory.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import numpy as np
import torch
from torch import nn

VGG16_CFG: tuple = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
SMALL_CFG: tuple = (16, "M", 32, "M", 64, "M", 64, "M")
ARCHS = {"vgg16": VGG16_CFG, "small": SMALL_CFG}
VGG16_IMAGENET_URL = "https://download.pytorch.org/models/vgg16-397923af.pth"
WEIGHTS = {"vgg16": ("imagenet", "random"), "small": ("scenes", "digits", "random")}
#: Orientation classes of the ``scenes`` task and generated training / test images.
SCENES_CLASSES, SCENES_TRAIN, SCENES_TEST = 8, 2500, 500


class WeightsUnavailable(RuntimeError):
    """Pretrained weights could not be obtained (e.g. offline)."""


class VGGLike(nn.Module):
    """VGG-style stack of 3×3 conv + ReLU and 2×2 max-pool layers (torchvision layout).

    Parameters
    ----------
    cfg : channel counts and ``"M"`` (max-pool), as in torchvision's VGG configs.
    n_classes : when given, a linear read-out of the last pool layer (global average
        pooled) for training on a task; feature comparisons never use it.
    """

    def __init__(self, cfg: Sequence, n_classes: int | None = None):
        super().__init__()
        layers: list[nn.Module] = []
        names: list[tuple[str, int]] = []  # (tap name, index in features after which it is taken)
        c_in, stage, k = 3, 1, 0
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
                names.append((f"pool{stage}", len(layers)))
                stage, k = stage + 1, 0
            else:
                k += 1
                layers += [nn.Conv2d(c_in, int(v), kernel_size=3, padding=1), nn.ReLU(inplace=False)]
                names.append((f"conv{stage}_{k}", len(layers)))
                c_in = int(v)
        self.features = nn.Sequential(*layers)
        self._taps = names
        self.n_channels = c_in
        self.classifier = nn.Linear(c_in, n_classes) if n_classes else None
        for m in self.modules():  # torchvision's VGG initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    @property
    def layer_names(self) -> list[str]:
        return [n for n, _ in self._taps]

    def blocks(self) -> Iterator[tuple[str, nn.Module]]:
        """``(tap name, module from the previous tap to this one)`` in order."""
        prev = 0
        for name, end in self._taps:
            yield name, self.features[prev:end]
            prev = end

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.features(x)
        if self.classifier is None:
            return h
        return self.classifier(h.mean(dim=(2, 3)))


def _load_imagenet_vgg16(model: VGGLike, model_dir: str | None) -> None:
    try:
        state = torch.hub.load_state_dict_from_url(VGG16_IMAGENET_URL, model_dir=model_dir, progress=False, map_location="cpu")
    except Exception as err:  # URLError, HTTPError, OSError: no network or no cache
        raise WeightsUnavailable(
            f"could not get VGG16 ImageNet weights from {VGG16_IMAGENET_URL} ({err}). They are downloaded once "
            "into the torch hub cache ($TORCH_HOME, default ~/.cache/torch/hub/checkpoints); on a machine "
            "without internet, copy vgg16-397923af.pth there, or use 'weights: random' (untrained, offline)."
        ) from err
    feats = {k[len("features."):]: v for k, v in state.items() if k.startswith("features.")}
    model.features.load_state_dict(feats)


def _prep_grey(x: torch.Tensor, input_size: int) -> torch.Tensor:
    """Grey images (n, 1, h, w) in [0, 1] -> the CNN input: resized, 3 channels, ImageNet-normalised."""
    from neurorepro.mouse_vs_cnn.images import IMAGENET_MEAN, IMAGENET_STD

    if tuple(x.shape[-2:]) != (input_size, input_size):
        x = nn.functional.interpolate(x, size=(input_size, input_size), mode="bilinear", align_corners=False)
    x = x.repeat(1, 3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def train_on_digits(model: VGGLike, input_size: int, epochs: int, seed: int, device, lr: float = 2e-3) -> float:
    """Train ``model`` (with a 10-way classifier) on scikit-learn's digits, upsampled to
    ``input_size`` and ImageNet-normalised as grey 3-channel images; return test accuracy."""
    from neurorepro.nets.data import load_dataset

    Xtr, ytr, Xte, yte = load_dataset("digits", seed=seed, standardize=False)
    return _train(model, _prep_grey(Xtr, input_size), ytr, _prep_grey(Xte, input_size), yte, epochs, seed, device, lr)


def train_on_scenes(model: VGGLike, input_size: int, epochs: int, seed: int, device, lr: float = 2e-3) -> float:
    """Train ``model`` (with an 8-way classifier) to report the orientation of the dominant
    edge in generated natural-like images (:func:`.features.scene_images`); return test accuracy."""
    from neurorepro.mouse_vs_cnn.features import scene_images

    rng = np.random.default_rng(seed)
    xtr, ytr = scene_images(SCENES_TRAIN, input_size, rng, SCENES_CLASSES)
    xte, yte = scene_images(SCENES_TEST, input_size, rng, SCENES_CLASSES)
    prep = lambda x: _prep_grey(torch.as_tensor(x)[:, None], input_size)  # noqa: E731
    return _train(model, prep(xtr), torch.as_tensor(ytr), prep(xte), torch.as_tensor(yte), epochs, seed, device, lr)


def _train(model: VGGLike, Xtr, ytr, Xte, yte, epochs: int, seed: int, device, lr: float) -> float:
    Xtr, Xte = Xtr.to(device), Xte.to(device)
    ytr, yte = ytr.to(device), yte.to(device)
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    model.to(device).train()
    for _ in range(epochs):
        perm = torch.randperm(len(ytr), generator=gen)
        for b in range(0, len(perm), 64):
            idx = perm[b : b + 64].to(device)
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(Xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        acc = (model(Xte).argmax(1) == yte).float().mean().item()
    return float(acc)


class TaskCNN:
    """A CNN for the comparison, built and (if asked) trained, scikit-learn style.

    Parameters
    ----------
    arch : ``vgg16`` or ``small``.
    weights : ``imagenet`` (vgg16), ``scenes`` / ``digits`` (small; trained offline) or ``random``.
    input_size : side of the square input in pixels.
    epochs : training epochs for ``scenes`` and ``digits``.
    seed : seeds the initialisation and the training order.
    device : a torch device.
    model_dir : torch hub cache folder for downloaded weights (None: torch's default).

    After ``fit()``: ``model_`` (eval mode), ``test_accuracy_`` (scenes, digits; NaN otherwise).
    """

    def __init__(self, arch: str = "small", weights: str = "random", input_size: int = 32, epochs: int = 4,
                 seed: int = 0, device="cpu", model_dir: str | None = None):
        self.arch, self.weights, self.input_size = arch, weights, input_size
        self.epochs, self.seed, self.device, self.model_dir = epochs, seed, device, model_dir

    def _validate(self) -> None:
        """Check the parameters (called by ``fit``; ``__init__`` only stores them, as scikit-learn's estimators)."""
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {sorted(ARCHS)}, got {self.arch!r}")
        if self.weights not in WEIGHTS[self.arch]:
            raise ValueError(f"weights for arch {self.arch!r} must be one of {WEIGHTS[self.arch]}, got {self.weights!r}")
        n_pools = sum(v == "M" for v in ARCHS[self.arch])
        if self.input_size < 2**n_pools:
            raise ValueError(f"input_size must be >= {2 ** n_pools} for arch {self.arch!r}, got {self.input_size}")
        if self.epochs < 0:
            raise ValueError("epochs must be >= 0")

    def fit(self) -> "TaskCNN":
        self._validate()
        torch.manual_seed(self.seed)
        n_classes = {"digits": 10, "scenes": SCENES_CLASSES}.get(self.weights)
        model = VGGLike(ARCHS[self.arch], n_classes=n_classes)
        self.test_accuracy_ = float("nan")
        if self.weights == "imagenet":
            _load_imagenet_vgg16(model, self.model_dir)
        elif self.weights == "digits":
            self.test_accuracy_ = train_on_digits(model, self.input_size, self.epochs, self.seed, self.device)
        elif self.weights == "scenes":
            self.test_accuracy_ = train_on_scenes(model, self.input_size, self.epochs, self.seed, self.device)
        self.model_ = model.to(self.device).eval()
        return self


def load_model(path: str, device="cpu") -> tuple[VGGLike, dict]:
    """A model saved by :func:`save_model` and its metadata."""
    blob = torch.load(path, map_location="cpu", weights_only=False)
    meta = blob["meta"]
    model = VGGLike(ARCHS[meta["arch"]], n_classes=meta.get("n_classes"))
    model.load_state_dict(blob["state_dict"])
    return model.to(device).eval(), meta


def save_model(cnn: TaskCNN, path: str, **extra) -> None:
    """Save a fitted :class:`TaskCNN` (state dict + metadata) atomically."""
    from pathlib import Path

    m = cnn.model_
    meta = {"arch": cnn.arch, "weights": cnn.weights, "input_size": cnn.input_size, "seed": cnn.seed,
            "epochs": cnn.epochs, "test_accuracy": cnn.test_accuracy_, "layers": m.layer_names,
            "n_classes": m.classifier.out_features if m.classifier is not None else None, **extra}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save({"state_dict": {k: v.cpu() for k, v in m.state_dict().items()}, "meta": meta}, tmp)
    tmp.replace(path)


def _gram_pearson(x: torch.Tensor, chunk: int = 1 << 20) -> np.ndarray:
    """Pearson correlation between rows of ``x`` (n × units), accumulated over unit chunks in float64."""
    n, u = x.shape
    g = torch.zeros((n, n), dtype=torch.float64, device=x.device)
    s = torch.zeros(n, dtype=torch.float64, device=x.device)
    for c in range(0, u, chunk):
        xc = x[:, c : c + chunk].to(torch.float64)
        g += xc @ xc.T
        s += xc.sum(1)
    mean = s / u
    cov = g / u - torch.outer(mean, mean)
    sd = torch.sqrt(torch.clamp(torch.diag(cov), min=0))
    r = cov / torch.outer(sd, sd)
    r = torch.clamp(r, -1, 1)
    r.fill_diagonal_(1.0)
    return r.cpu().numpy()


@torch.no_grad()
def layer_activations(model: VGGLike, x: torch.Tensor, layers: Sequence[str], batch_size: int = 16,
                      device="cpu", max_units: int | None = None, seed: int = 0) -> dict[str, np.ndarray]:
    """Activations ``(n_images, units)`` of the named layers (a random subset of at most
    ``max_units`` units per layer when given)."""
    unknown = set(layers) - set(model.layer_names)
    if unknown:
        raise ValueError(f"unknown layers {sorted(unknown)}; the model has {model.layer_names}")
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    for name, acts in _stream(model, x, batch_size, device, last=max(model.layer_names.index(n) for n in layers)):
        if name in layers:
            a = acts.flatten(1)
            if max_units is not None and a.shape[1] > max_units:
                keep = torch.as_tensor(np.sort(rng.choice(a.shape[1], max_units, replace=False)))
                a = a[:, keep]
            out[name] = a.cpu().numpy().astype(np.float64)
    return out


def _stream(model: VGGLike, x: torch.Tensor, batch_size: int, device, last: int | None = None):
    acts = x
    for i, (name, block) in enumerate(model.blocks()):
        block = block.to(device)
        acts = torch.cat([block(acts[b : b + batch_size].to(device)).cpu() for b in range(0, len(acts), batch_size)])
        yield name, acts
        if last is not None and i >= last:
            return


@torch.no_grad()
def largest_layer_size(model: VGGLike, x: torch.Tensor, device="cpu") -> int:
    """Units of the largest conv/pool layer for one input image (``x[:1]``)."""
    return max(acts[0].numel() for _, acts in _stream(model, x[:1], 1, device))


@torch.no_grad()
def layer_rsms(model: VGGLike, x: torch.Tensor, batch_size: int = 16, device="cpu") -> tuple[list[str], np.ndarray]:
    """RSM (Pearson between images across units) of every conv/pool layer: ``(n_layers, n, n)``.

    The stimuli pass through the network one layer at a time (in batches), so only one
    layer's activations for all images are held at once.
    """
    names, mats = [], []
    for name, acts in _stream(model, x, batch_size, device):
        names.append(name)
        mats.append(_gram_pearson(acts.flatten(1).to(device)))
    return names, np.stack(mats)
