"""Rule dimensionality_sweep_point: train with one (lr, batch size); measure the last hidden layer.

A run whose loss diverges is recorded (diverged = True, dimension NaN), not dropped.
"""
import numpy as np
import pandas as pd

from neurorepro.dimensionality import MeasureSettings, layer_dimensions, late_layer, load_network_data, train_network
from neurorepro.io import write_tsv
from neurorepro.nets import build_model
from neurorepro.runtime import get_logger, resolve_device, set_threads

snakemake = globals()["snakemake"]
p = snakemake.params
t = dict(p.train)
log = get_logger("dimensionality_sweep_point", snakemake.log[0])
set_threads(snakemake.threads)
device = resolve_device(p.device)
lr, bs = t["lr"], t["batch_size"]
log.info("%s with lr=%g batch=%d momentum=%g on %s", p.network, lr, bs, t["momentum"], device)
data, t = load_network_data(t, p.data_root, p.seed, p.network)
settings = MeasureSettings(seed=p.seed, **p.measure)
try:
    model, trainer = train_network(data, seed=p.seed, device=str(device), logger=log, **t)
except FloatingPointError as err:
    log.warning("diverged: %s", err)
    names = build_model(t["kind"], tuple(data[0].shape[1:]), int(data[1].max()) + 1, **t["model_kwargs"]).layer_names
    layer = late_layer(names)
    dims = pd.DataFrame({"measure": list(settings.measures), "dimension": np.nan, "layer": layer})
    test_acc, train_loss, diverged = np.nan, np.nan, True
else:
    acts = trainer.activations_
    layer = late_layer(acts.attrs["layers"].split(","))
    dims = layer_dimensions(acts, settings, layers=[layer], snapshots=[acts.sizes["snapshot"] - 1])
    final = trainer.history_.iloc[-1]
    test_acc, train_loss, diverged = final["test_acc"], final["train_loss"], False
dims.insert(0, "network", p.network)
dims.insert(1, "lr", lr)
dims.insert(2, "batch_size", bs)
dims["momentum"], dims["test_acc"], dims["train_loss"] = t["momentum"], test_acc, train_loss
dims["diverged"], dims["seed"] = diverged, p.seed
write_tsv(dims, snakemake.output[0])
