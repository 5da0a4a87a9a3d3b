"""Rule rich_lazy_report: combined table, summary, effective ranks of every init, figures and claims.json."""
import pandas as pd
import xarray as xr

from neurorepro.claims import write_claims
from neurorepro.io import write_tsv
from neurorepro.plotting import save_figure
from neurorepro.rich_lazy import figures
from neurorepro.rich_lazy.summary import build_claims, init_rank_table, summary_table
from neurorepro.runtime import get_logger

snakemake = globals()["snakemake"]
p, out = snakemake.params, snakemake.output
log = get_logger("rich_lazy_report", snakemake.log[0])
df = pd.concat([pd.read_csv(f, sep="\t") for f in snakemake.input.measures], ignore_index=True)
curves = pd.concat([pd.read_csv(f, sep="\t") for f in snakemake.input.curves], ignore_index=True)
theory = pd.read_csv(snakemake.input.theory, sep="\t")
theory_curve = pd.read_csv(snakemake.input.theory_curve, sep="\t")
with xr.open_dataset(snakemake.input.inits) as inits:
    inits.load()
write_tsv(df, out.table)
write_tsv(summary_table(df), out.summary)
ranks = init_rank_table(df)
write_tsv(ranks, out.init_ranks)
for _, r in ranks.iterrows():
    log.info("effective rank %-4s %-13s %6.2f (sd %.2f)", r["task"], r["init"], r["effective_rank_mean"],
             r["effective_rank_std"] if r["n_seeds"] > 1 else 0.0)
save_figure(figures.rank_sweep(df), out.rank_sweep_pdf, out.rank_sweep_png)
save_figure(figures.connectivity(df, inits), out.connectivity_pdf, out.connectivity_png)
save_figure(figures.aligned(df, p.aligned_rank), out.aligned_pdf, out.aligned_png)
save_figure(figures.training_curves(curves), out.training_pdf, out.training_png)
save_figure(figures.theory(theory, theory_curve), out.theory_pdf, out.theory_png)
conn_info = {"connectivity_sign": str(inits.attrs.get("connectivity_sign")),
             "inhibitory_fraction": float(inits.attrs.get("connectivity_inhibitory_fraction", -1)),
             "ei_balance": bool(int(inits.attrs.get("connectivity_ei_balance", 0)) == 1),
             "connectivity_matrix": ("embedded toy brain fitted by the connectivity target (planted W_true)"
                                     if p.source == "embedded" else
                                     "mouse visual-cortex voxel matrix fitted to Allen tracing data"),
             "connectivity_source": str(inits.attrs.get("connectivity_source"))}
claims = build_claims(df, p.scale, p.source, p.aligned_rank, p.seed, connectivity_info=conn_info, theory=theory)
for c in claims:
    log.info("%s [%s]: measured %.4g %s %s, ci %s -> %s", c.claim, c.kind, c.measured, c.comparison, c.expected,
             c.ci, c.outcome)
write_claims(out.claims, claims)
