"""Rule causal_attention_granger: Granger causality (statsmodels VAR) for the networks of size N."""
import time

import xarray as xr

from neurorepro.causal_attention.data import network_arrays, networks_of_size, scores_dataset
from neurorepro.causal_attention.granger import GrangerCausality
from neurorepro.io import write_netcdf
from neurorepro.runtime import get_logger, set_threads

sm = snakemake  # noqa: F821
log = get_logger("causal_attention.granger", sm.log[0])
set_threads(sm.threads)
n = int(sm.wildcards.n)
cfg = dict(sm.params.granger)
with xr.open_dataset(sm.input[0]) as ds:
    ds = ds.load()
idx = networks_of_size(ds, n)
scores, lags, secs = [], [], []
for k in idx:
    x, _ = network_arrays(ds, k)
    t0 = time.time()
    g = GrangerCausality(max_lag=cfg["max_lag"], criterion=cfg["criterion"]).fit(x)
    scores.append(g.F_)
    lags.append(g.lag_)
    secs.append(time.time() - t0)
    log.info("network %d (N=%d, p=%.2f): lag %d, %.1f s", k, n, float(ds["p"][k]), g.lag_, secs[-1])
out = scores_dataset("granger", idx, scores, n, {"granger_lag": lags, "granger_seconds": secs},
                     {"method": "pairwise-conditional Granger F (statsmodels VAR, lag by " + cfg["criterion"] + ")",
                      "max_lag": cfg["max_lag"], "criterion": cfg["criterion"], "n_neurons": n})
write_netcdf(out, sm.output[0])
