"""Rule rich_lazy_report: combined table, summary, figures and claims.json."""
import pandas as pd
import xarray as xr

from neurorepro.claims import write_claims
from neurorepro.io import write_tsv
from neurorepro.plotting import save_figure
from neurorepro.rich_lazy import figures
from neurorepro.rich_lazy.summary import build_claims, summary_table
from neurorepro.runtime import get_logger

snakemake = globals()["snakemake"]
p, out = snakemake.params, snakemake.output
log = get_logger("rich_lazy_report", snakemake.log[0])
df = pd.concat([pd.read_csv(f, sep="\t") for f in snakemake.input.measures], ignore_index=True)
curves = pd.concat([pd.read_csv(f, sep="\t") for f in snakemake.input.curves], ignore_index=True)
with xr.open_dataset(snakemake.input.inits) as inits:
    inits.load()
write_tsv(df, out.table)
write_tsv(summary_table(df), out.summary)
save_figure(figures.rank_sweep(df), out.rank_sweep_pdf, out.rank_sweep_png)
save_figure(figures.connectivity(df, inits), out.connectivity_pdf, out.connectivity_png)
save_figure(figures.aligned(df, p.aligned_rank), out.aligned_pdf, out.aligned_png)
save_figure(figures.training_curves(curves), out.training_pdf, out.training_png)
claims = build_claims(df, p.scale, p.source, p.aligned_rank)
for c in claims:
    log.info("%s: measured %.4g %s %s -> %s", c.claim, c.measured, c.comparison, c.expected, c.holds)
write_claims(out.claims, claims)
