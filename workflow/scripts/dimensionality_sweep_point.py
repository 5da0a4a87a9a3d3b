"""Rule dimensionality_sweep_point: train with one (lr, batch size) for every sweep seed; measure the last hidden layer.

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
log = get_logger("dimensionality_sweep_point", snakemake.log[0])
set_threads(snakemake.threads)
device = resolve_device(p.device)
parts = []
for seed in p.seeds:
    t = dict(p.train)
    lr, bs = t["lr"], t["batch_size"]
    log.info("%s with lr=%g batch=%d momentum=%g seed %d on %s", p.network, lr, bs, t["momentum"], seed, device)
    data, t = load_network_data(t, p.data_root, seed, p.network)
    settings = MeasureSettings(seed=seed, **p.measure)
    final = {"train_acc": np.nan, "test_acc": np.nan, "train_loss": np.nan, "test_loss": np.nan}
    try:
        model, trainer = train_network(data, seed=seed, device=str(device), logger=log, preactivations=False, **t)
    except FloatingPointError as err:
        log.warning("diverged: %s", err)
        names = build_model(t["kind"], tuple(data[0].shape[1:]), int(data[1].max()) + 1, **t["model_kwargs"]).layer_names
        layer = late_layer(names)
        dims = pd.DataFrame({"measure": list(settings.measures), "dimension": np.nan, "layer": layer})
        diverged = True
    else:
        acts = trainer.activations_
        layer = late_layer(acts.attrs["layers"].split(","))
        dims = layer_dimensions(acts, settings, layers=[layer], snapshots=[acts.sizes["snapshot"] - 1])
        last = trainer.history_.iloc[-1]
        final = {k: float(last[k]) for k in final}
        diverged = False
    dims.insert(0, "network", p.network)
    dims.insert(1, "lr", lr)
    dims.insert(2, "batch_size", bs)
    dims.insert(3, "seed", seed)
    dims["momentum"] = t["momentum"]
    for k, v in final.items():
        dims[k] = v
    dims["diverged"] = diverged
    parts.append(dims)
write_tsv(pd.concat(parts, ignore_index=True), snakemake.output[0])
