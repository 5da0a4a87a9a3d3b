"""Rule causal_attention_evaluate: AUROC table and summary, figures, the planted-VAR recovery, claims.json."""
import xarray as xr

from neurorepro.causal_attention.data import network_arrays
from neurorepro.causal_attention.evaluate import auroc_table, claims, planted_var_recovery, summarize
from neurorepro.causal_attention.figures import auroc_figure, example_network, matrices_figure
from neurorepro.claims import write_claims
from neurorepro.io import write_tsv
from neurorepro.plotting import save_figure
from neurorepro.runtime import get_logger

sm = snakemake  # noqa: F821
log = get_logger("causal_attention.evaluate", sm.log[0])
archs = list(sm.params.archs)
with xr.open_dataset(sm.input.networks) as ds:
    nets = ds.load()
granger = xr.concat([xr.open_dataset(f).load() for f in sm.input.granger], dim="network", join="outer")
per_arch = {a: [f for f in sm.input.attention if f"/attention/{a}/" in f] for a in archs}
attention = {a: xr.concat([xr.open_dataset(f).load()[["attention", "r2", "r2_ensemble", "r2_persistence", "n_epochs"]]
                           for f in fs], dim="network", join="outer") for a, fs in per_arch.items()}
table = auroc_table(nets, granger, attention, primary=archs[0])
summary = summarize(table)
write_tsv(table, sm.output.table, float_format="%.4f")
write_tsv(summary, sm.output.summary, float_format="%.4f")
log.info("\n%s", summary.to_string())

cl = dict(sm.params.claims)
save_figure(auroc_figure(table), sm.output.auroc_pdf, sm.output.auroc_png)
k = example_network(table, cl["dense_p"])
_, adj = network_arrays(nets, k)
n = adj.shape[0]
row = table.set_index("network").loc[k]
fig = matrices_figure(
    nets["weights"].values[k, :n, :n], attention[archs[0]]["attention"].sel(network=k).values[:n, :n],
    granger["granger"].sel(network=k).values[:n, :n], table,
    f"Network {k}: N={n}, p={row['p']:g}, seed {int(row['rep'])} ({sm.params.scale} scale, {archs[0]})",
    row["auroc_attention"], row["auroc_granger"], cl["r2_floor"],
)
save_figure(fig, sm.output.matrices_pdf, sm.output.matrices_png)

rc, gc = dict(sm.params.recovery), dict(sm.params.granger)
rec = planted_var_recovery(rc["n_systems"], rc["n_neurons"], rc["density"], rc["order"], int(sm.params.n_steps),
                           gc["max_lag"], gc["criterion"], gc["statistic"], int(sm.params.seed))
rec["floor"] = rc["floor"]
log.info("planted VAR recovery: AUROC %s, lags %s", rec["auroc"], rec["lags"])
result = claims(table, cl["large_n"], cl["dense_p"], cl["r2_floor"], sm.params.scale, sm.params.source,
                run_seed=int(sm.params.seed), recovery=rec)
for c in result:
    log.info("claim %s measured=%.3f ci=%s: %s", c.outcome, c.measured, c.ci, c.claim)
write_claims(sm.output.claims, result)
