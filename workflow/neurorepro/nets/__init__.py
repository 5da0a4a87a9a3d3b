"""Shared networks layer: data sets, models, and an SGD loop that records snapshots.

- :func:`load_dataset` (``nets.data``): ``digits`` offline, ``mnist``/``fashion_mnist``
  through torchvision (lazy import), ``cifar10`` from the official python batches
  (:func:`read_cifar10`; downloaded with an md5 check when missing).
- :class:`DeepNet`, :class:`ResNet`, :class:`VGG`, :func:`build_model` (``nets.models``):
  every model has ``layers(x)`` → ``{layer name: (n, features) activations}``.
- :class:`SGDTrainer`, :func:`probe_activations`, :func:`evaluate`, snapshot I/O
  (``nets.train``).
"""
from neurorepro.nets.data import DATASETS, DatasetUnavailable, load_dataset, read_cifar10  # noqa: F401
from neurorepro.nets.models import VGG, VGG11, DeepNet, ResNet, build_model  # noqa: F401
from neurorepro.nets.train import (  # noqa: F401
    SGDTrainer,
    activations_dataset,
    evaluate,
    load_snapshot,
    load_snapshots,
    probe_activations,
    save_snapshots,
)
