"""Rule causal_attention_attention: train the transformer on each network of size N; read its attention."""
import time

import xarray as xr

from neurorepro.causal_attention.data import network_arrays, networks_of_size, scores_dataset
from neurorepro.causal_attention.model import AttentionCausality
from neurorepro.io import write_netcdf
from neurorepro.runtime import get_logger, resolve_device, set_threads

sm = snakemake  # noqa: F821
log = get_logger("causal_attention.attention", sm.log[0])
set_threads(sm.threads)
n, seed, cfg = int(sm.wildcards.n), int(sm.params.seed), dict(sm.params.model)
log.info("device %s", resolve_device(sm.params.device))
with xr.open_dataset(sm.input[0]) as ds:
    ds = ds.load()
idx = networks_of_size(ds, n)
scores, extra = [], {k: [] for k in ["r2", "r2_persistence", "n_epochs", "best_epoch", "val_loss", "train_seconds"]}
for k in idx:
    x, _ = network_arrays(ds, k)
    t0 = time.time()
    m = AttentionCausality(**cfg, device=sm.params.device, seed=seed + k).fit(x)
    scores.append(m.scores_)
    for key, val in [("r2", m.r2_), ("r2_persistence", m.r2_persistence_), ("n_epochs", m.n_epochs_),
                     ("best_epoch", m.best_epoch_), ("val_loss", m.history_[m.best_epoch_][1]), ("train_seconds", time.time() - t0)]:
        extra[key].append(val)
    log.info("network %d (N=%d, p=%.2f): %d epochs, test R2 %.3f (persistence %.3f), %.1f s", k, n, float(ds["p"][k]),
             m.n_epochs_, m.r2_, m.r2_persistence_, extra["train_seconds"][-1])
out = scores_dataset("attention", idx, scores, n, extra,
                     {"method": "transformer cross-attention summed over heads and source context steps, "
                                "averaged over test samples, row-normalised, diagonal zeroed",
                      "seed": seed, "n_neurons": n, **{f"model_{k}": v for k, v in cfg.items()}})
write_netcdf(out, sm.output[0])
