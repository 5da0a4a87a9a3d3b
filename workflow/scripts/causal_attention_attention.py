"""Rule causal_attention_attention: train forecaster `arch` on one part of the networks of size N; read its attention.

The networks of size N are split into parts of ``networks_per_job`` networks (null: one part
holding all of them), so that at paper scale every network is its own job; rule
causal_attention_attention_gather joins the parts. ``model.n_init`` models from different
initialisations per network (the authors: 10); the causal matrix is the mean of their
row-normalised attention matrices. Network ``k`` is seeded from ``seed + k`` whatever part it is in.
"""
import time

import numpy as np
import xarray as xr

from neurorepro.causal_attention.data import network_arrays, networks_of_size, scores_dataset
from neurorepro.causal_attention.model import fit_ensemble
from neurorepro.io import write_netcdf
from neurorepro.runtime import get_logger, resolve_device, set_threads

sm = snakemake  # noqa: F821
log = get_logger("causal_attention.attention", sm.log[0])
set_threads(sm.threads)
n, seed, arch, part = int(sm.wildcards.n), int(sm.params.seed), sm.wildcards.arch, int(sm.wildcards.part)
cfg = dict(sm.params.model)
n_init = int(cfg.pop("n_init", 1))
with xr.open_dataset(sm.input[0]) as ds:
    ds = ds.load()
all_idx = networks_of_size(ds, n)
per_job = sm.params.networks_per_job or len(all_idx)
idx = all_idx[part * per_job:(part + 1) * per_job]
if not idx:
    raise ValueError(f"{sm.input[0]}: part {part} of the {len(all_idx)} networks of size {n} is empty "
                     f"(causal_attention.networks_per_job = {sm.params.networks_per_job})")
log.info("arch %s, networks %s of size %d (part %d), %d initialisation(s) per network, device %s",
         arch, idx, n, part, n_init, resolve_device(sm.params.device))
keys = ["r2", "r2_ensemble", "r2_persistence", "n_epochs", "best_epoch", "val_loss", "train_seconds"]
scores, each, extra = [], [], {k: [] for k in keys}
for k in idx:
    x, _ = network_arrays(ds, k)
    t0 = time.time()
    res = fit_ensemble(x, n_init, seed + k, arch=arch, **cfg, device=sm.params.device)
    res["train_seconds"] = time.time() - t0
    scores.append(res["scores"])
    each.append(res["scores_each"])
    for key in keys:
        extra[key].append(res[key])
    log.info("network %d (N=%d, p=%.2f): %.1f epochs, test R2 %.3f (ensemble %.3f, persistence %.3f), %.1f s", k, n,
             float(ds["p"][k]), res["n_epochs"], res["r2"], res["r2_ensemble"], res["r2_persistence"], res["train_seconds"])
out = scores_dataset("attention", idx, scores, n, extra,
                     {"method": f"{arch}: global cross-attention summed over heads and source context steps, averaged "
                                f"over test samples, row-normalised, diagonal zeroed, averaged over {n_init} initialisations",
                      "arch": arch, "n_init": n_init, "seed": seed, "n_neurons": n,
                      **{f"model_{k}": ("none" if v is None else v) for k, v in cfg.items()}})
out["attention_each"] = (("network", "init", "target", "source"), np.stack(each))
write_netcdf(out, sm.output[0])
