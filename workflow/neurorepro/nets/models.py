"""Small networks whose every layer's activations can be read out.

Every model follows one interface:

- ``model(x)`` returns the class logits;
- ``model.layers(x)`` returns an ordered ``dict`` ``{layer name: activations}``, each
  activation flattened to ``(n, features)``, from ``"input"`` to ``"output"`` (logits);
- ``model.layer_names`` lists those names in order.

Weights are drawn by PyTorch's default initialisers (scaled by ``init_scale``) from the
global torch RNG: seed it (``neurorepro.runtime.seed_everything``) before building.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Sequence

import torch
from torch import nn

__all__ = ["ACTIVATIONS", "DeepNet", "ResNet", "VGG", "VGG11", "build_model"]

ACTIVATIONS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "linear": nn.Identity,
    "gelu": nn.GELU,
    "sigmoid": nn.Sigmoid,
}


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]()


def _scale_init(module: nn.Module, init_scale: float) -> None:
    if init_scale <= 0:
        raise ValueError(f"init_scale must be > 0, got {init_scale}")
    if init_scale != 1.0:
        with torch.no_grad():
            for p in module.parameters():
                p.mul_(init_scale)


class DeepNet(nn.Module):
    """Fully connected network ("DeepNet"): input → hidden layers → logits.

    Parameters
    ----------
    in_features : size of the flattened input (images are flattened).
    widths : width of each hidden layer, e.g. ``[200, 200, 200]``.
    n_classes : number of outputs.
    activation : nonlinearity after each hidden layer (``relu``, ``tanh``, ``linear``, ...).
    bias : whether linear layers have biases.
    init_scale : factor on the default-initialised weights and biases.
    """

    def __init__(
        self,
        in_features: int,
        widths: Sequence[int],
        n_classes: int,
        activation: str = "relu",
        bias: bool = True,
        init_scale: float = 1.0,
    ):
        super().__init__()
        if in_features < 1 or n_classes < 1:
            raise ValueError("in_features and n_classes must be >= 1")
        widths = [int(w) for w in widths]
        if any(w < 1 for w in widths):
            raise ValueError(f"widths must be >= 1, got {widths}")
        self.in_features, self.widths, self.n_classes = int(in_features), widths, int(n_classes)
        self.activation = activation
        sizes = [self.in_features, *widths]
        self.hidden = nn.ModuleList(nn.Linear(a, b, bias=bias) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = nn.ModuleList(_activation(activation) for _ in widths)
        self.readout = nn.Linear(sizes[-1], self.n_classes, bias=bias)
        _scale_init(self, init_scale)

    @property
    def layer_names(self) -> list[str]:
        return ["input", *[f"hidden{i + 1}" for i in range(len(self.widths))], "output"]

    def layers(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        h = x.reshape(x.shape[0], -1)
        out: OrderedDict[str, torch.Tensor] = OrderedDict(input=h)
        for i, (lin, act) in enumerate(zip(self.hidden, self.act)):
            h = act(lin(h))
            out[f"hidden{i + 1}"] = h
        out["output"] = self.readout(h)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.reshape(x.shape[0], -1)
        for lin, act in zip(self.hidden, self.act):
            h = act(lin(h))
        return self.readout(h)


class _Block(nn.Module):
    """Residual block: conv-BN-act-conv-BN plus (projected) skip, then act."""

    def __init__(self, c_in: int, c_out: int, stride: int, activation: str):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.act1, self.act2 = _activation(activation), _activation(activation)
        self.skip: nn.Module = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.skip = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act1(self.bn1(self.conv1(x)))
        return self.act2(self.bn2(self.conv2(h)) + self.skip(x))


class ResNet(nn.Module):
    """Small residual network for small images (8x8 digits to 32x32 CIFAR).

    A 3x3 stem conv with ``widths[0]`` channels, then for each entry of ``widths`` a
    stage of ``blocks_per_stage`` residual blocks (the first block of every stage after
    the first halves the resolution), global average pooling and a linear readout.
    Recorded layers: ``input``, ``stem``, ``block1``..``blockK`` (every block),
    ``pool`` and ``output``. Use ``model.eval()`` for probe activations (BatchNorm).
    """

    def __init__(
        self,
        in_channels: int,
        n_classes: int,
        widths: Sequence[int] = (16, 32, 64),
        blocks_per_stage: int = 1,
        activation: str = "relu",
        init_scale: float = 1.0,
    ):
        super().__init__()
        widths = [int(w) for w in widths]
        if not widths or any(w < 1 for w in widths) or blocks_per_stage < 1:
            raise ValueError(f"need widths >= 1 and blocks_per_stage >= 1, got {widths}, {blocks_per_stage}")
        self.in_channels, self.n_classes, self.widths = int(in_channels), int(n_classes), widths
        self.blocks_per_stage, self.activation = int(blocks_per_stage), activation
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False), nn.BatchNorm2d(widths[0]), _activation(activation)
        )
        blocks = []
        c = widths[0]
        for s, w in enumerate(widths):
            for b in range(blocks_per_stage):
                blocks.append(_Block(c, w, stride=2 if (s > 0 and b == 0) else 1, activation=activation))
                c = w
        self.blocks = nn.ModuleList(blocks)
        self.readout = nn.Linear(c, n_classes)
        _scale_init(self, init_scale)

    @property
    def layer_names(self) -> list[str]:
        return ["input", "stem", *[f"block{i + 1}" for i in range(len(self.blocks))], "pool", "output"]

    def layers(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        n = x.shape[0]
        out: OrderedDict[str, torch.Tensor] = OrderedDict(input=x.reshape(n, -1))
        h = self.stem(x)
        out["stem"] = h.reshape(n, -1)
        for i, blk in enumerate(self.blocks):
            h = blk(h)
            out[f"block{i + 1}"] = h.reshape(n, -1)
        h = h.mean(dim=(2, 3))
        out["pool"] = h
        out["output"] = self.readout(h)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        for blk in self.blocks:
            h = blk(h)
        return self.readout(h.mean(dim=(2, 3)))


#: VGG-11 ("configuration A" of Simonyan & Zisserman 2015) for 32x32 inputs: the conv
#: widths, ``"M"`` = 2x2 max-pooling. After five poolings a 32x32 image is 1x1x512.
VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")


class VGG(nn.Module):
    """VGG-style convolutional network: 3x3 conv (+BN) + activation blocks with 2x2
    max-pooling, then a fully connected head.

    Parameters
    ----------
    input_shape : ``(C, H, W)`` of the inputs (the head's input size follows from it).
    n_classes : number of outputs.
    cfg : conv widths in order, ``"M"`` for a 2x2 max-pool (stride 2); default
        :data:`VGG11`. Every conv is 3x3, stride 1, zero padding 1 (keeps H, W).
    head_widths : hidden widths of the fully connected head (``()``: one linear
        readout from the flattened features, as in the common CIFAR VGGs).
    activation : nonlinearity after every conv and hidden linear layer.
    batch_norm : BatchNorm2d after every conv (use ``model.eval()`` for per-sample maps).
    init_scale : factor on the default-initialised weights and biases.

    Attributes: ``features`` (``nn.Sequential`` of Conv2d / BatchNorm2d / activation /
    MaxPool2d), then the head with the same names as :class:`DeepNet`: ``hidden``
    (``ModuleList`` of Linear), ``act`` and ``readout``. ``features_flat(x)`` is the
    input of the first linear layer. Recorded layers: ``input``, ``conv1``..``convK``
    (after the activation), ``pool1``..``poolP``, ``hidden1``..``hiddenJ``, ``output``.
    """

    def __init__(
        self,
        input_shape: Sequence[int],
        n_classes: int,
        cfg: Sequence[int | str] = VGG11,
        head_widths: Sequence[int] = (),
        activation: str = "relu",
        batch_norm: bool = False,
        init_scale: float = 1.0,
    ):
        super().__init__()
        if len(input_shape) != 3:
            raise ValueError(f"input_shape must be (C, H, W), got {tuple(input_shape)}")
        c, h, w = (int(v) for v in input_shape)
        cfg = [v if v == "M" else int(v) for v in cfg]
        if not any(v != "M" for v in cfg):
            raise ValueError(f"cfg needs at least one conv width, got {cfg}")
        if any(v != "M" and v < 1 for v in cfg):
            raise ValueError(f"conv widths must be >= 1, got {cfg}")
        head_widths = [int(v) for v in head_widths]
        if any(v < 1 for v in head_widths) or n_classes < 1:
            raise ValueError(f"head widths and n_classes must be >= 1, got {head_widths}, {n_classes}")
        self.input_shape, self.n_classes, self.cfg = (c, h, w), int(n_classes), cfg
        self.head_widths, self.activation, self.batch_norm = head_widths, activation, bool(batch_norm)
        mods: list[nn.Module] = []
        self._names: list[str] = []
        n_conv = n_pool = 0
        for v in cfg:
            if v == "M":
                if h < 2 or w < 2:
                    raise ValueError(f"cfg {cfg} pools a {h}x{w} map: too many 'M' for input {tuple(input_shape)}")
                mods.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
                n_pool += 1
                self._names.append(f"pool{n_pool}")
            else:
                mods.append(nn.Conv2d(c, v, 3, padding=1))
                if batch_norm:
                    mods.append(nn.BatchNorm2d(v))
                mods.append(_activation(activation))
                c = v
                n_conv += 1
                self._names.append(f"conv{n_conv}")
        self.features = nn.Sequential(*mods)
        self.n_features = c * h * w
        sizes = [self.n_features, *head_widths]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))
        self.act = nn.ModuleList(_activation(activation) for _ in head_widths)
        self.readout = nn.Linear(sizes[-1], self.n_classes)
        _scale_init(self, init_scale)

    @property
    def layer_names(self) -> list[str]:
        return ["input", *self._names, *[f"hidden{i + 1}" for i in range(len(self.head_widths))], "output"]

    def features_flat(self, x: torch.Tensor) -> torch.Tensor:
        """The flattened conv features: the input of the first linear layer."""
        return self.features(x).flatten(1)

    def _head(self, h: torch.Tensor, out: "OrderedDict[str, torch.Tensor] | None" = None) -> torch.Tensor:
        for i, (lin, act) in enumerate(zip(self.hidden, self.act)):
            h = act(lin(h))
            if out is not None:
                out[f"hidden{i + 1}"] = h
        return self.readout(h)

    def layers(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        n = x.shape[0]
        out: OrderedDict[str, torch.Tensor] = OrderedDict(input=x.reshape(n, -1))
        h, k = x, 0
        for m in self.features:
            h = m(h)
            if isinstance(m, (nn.MaxPool2d, *ACTIVATIONS.values())):  # end of a conv block or a pool
                out[self._names[k]] = h.reshape(n, -1)
                k += 1
        out["output"] = self._head(h.flatten(1), out)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._head(self.features_flat(x))


def build_model(kind: str, input_shape: Sequence[int], n_classes: int, **kwargs) -> nn.Module:
    """Build ``"deepnet"``, ``"resnet"`` or ``"vgg"`` for inputs of shape ``(C, H, W)``.

    ``kwargs`` go to the model's constructor (``widths``, ``activation``, ``cfg``, ...).
    """
    if kind == "deepnet":
        return DeepNet(math.prod(input_shape), n_classes=n_classes, **kwargs)
    if kind == "resnet":
        return ResNet(int(input_shape[0]), n_classes=n_classes, **kwargs)
    if kind == "vgg":
        return VGG(tuple(input_shape), n_classes=n_classes, **kwargs)
    raise ValueError(f"unknown model kind {kind!r}; choose 'deepnet', 'resnet' or 'vgg'")
