"""Rule causal_attention_granger: Granger causality (statsmodels VAR) for the networks of size N.

For each network the VAR lag is chosen by AIC and by BIC (up to ``max_lag``, as MVGC in
the paper); both fits are kept: ``granger_aic``, ``granger_bic`` (the configured
``statistic``: log variance ratio ``gc`` or Wald ``f``) and ``granger`` (the configured
``criterion``'s, the headline baseline).
"""
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
stat = cfg["statistic"]
with xr.open_dataset(sm.input[0]) as ds:
    ds = ds.load()
idx = networks_of_size(ds, n)
scores = {"aic": [], "bic": []}
extra = {"granger_lag": [], "granger_lag_aic": [], "granger_lag_bic": [], "granger_seconds": []}
for k in idx:
    x, _ = network_arrays(ds, k)
    t0 = time.time()
    g = GrangerCausality(max_lag=cfg["max_lag"], criterion="aic", statistic=stat).fit(x)
    fits = {"aic": g}
    bic_lag = g.lags_["bic"]
    fits["bic"] = g if bic_lag == g.lag_ else GrangerCausality(lag=bic_lag, statistic=stat).fit(x)
    for c in ("aic", "bic"):
        scores[c].append(fits[c].scores_)
    extra["granger_lag_aic"].append(g.lag_)
    extra["granger_lag_bic"].append(bic_lag)
    extra["granger_lag"].append(g.lags_.get(cfg["criterion"], -1))
    extra["granger_seconds"].append(time.time() - t0)
    log.info("network %d (N=%d, p=%.2f): lag AIC %d, BIC %d, %.1f s", k, n, float(ds["p"][k]), g.lag_, bic_lag,
             extra["granger_seconds"][-1])
crit = cfg["criterion"]
primary = scores[crit] if crit in scores else None
if primary is None:  # aic_plain / hqic / fpe: fit that order too
    primary = []
    for j, k in enumerate(idx):
        x, _ = network_arrays(ds, k)
        g = GrangerCausality(max_lag=cfg["max_lag"], criterion=crit, statistic=stat).fit(x)
        primary.append(g.scores_)
        extra["granger_lag"][j] = g.lag_
attrs = {"method": f"pairwise-conditional Granger {stat} (VAR by OLS; lag by MVGC's AIC (Hurvich-Tsai) and by BIC)",
         "max_lag": cfg["max_lag"], "criterion": crit, "statistic": stat, "n_neurons": n}
out = scores_dataset("granger", idx, primary, n, extra, attrs)
for c in ("aic", "bic"):
    out[f"granger_{c}"] = scores_dataset(f"granger_{c}", idx, scores[c], n, {}, {})[f"granger_{c}"]
write_netcdf(out, sm.output[0])
