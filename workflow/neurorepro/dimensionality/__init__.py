"""Recanatesi et al. 2019: expansion then compression of representation dimension.

- :mod:`.experiment`: train a network recording probe activations; tabulate the
  dimension of every (snapshot, layer).
- :mod:`.analysis`: the paper's claims from those tables.
- :mod:`.projection`: the random projection of wide layers and the PR's correction.
- :mod:`.figures`: the figures.
"""
from neurorepro.dimensionality.experiment import (  # noqa: F401
    MeasureSettings,
    add_preactivations,
    early_layers,
    hidden_layers,
    late_layer,
    layer_dimensions,
    load_network_data,
    seeds_for,
    train_network,
)
