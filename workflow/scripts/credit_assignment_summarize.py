"""Rule credit_assignment_summarize: per-run table, per-rule summary, gap-curvature correlation, claims."""
import xarray as xr

from neurorepro.claims import write_claims
from neurorepro.credit_assignment.analysis import final_runs, gap_curvature_correlation, make_claims, summarize
from neurorepro.io import write_tsv
from neurorepro.runtime import get_logger

sm = snakemake  # noqa: F821
log = get_logger("credit_assignment_summarize", sm.log[0])
datasets = [xr.load_dataset(f) for f in sm.input.runs]
runs = final_runs(datasets)
write_tsv(runs, sm.output.runs)
write_tsv(summarize(runs), sm.output.summary)
write_tsv(gap_curvature_correlation(runs, sm.params.gap), sm.output.correlation)
claims = make_claims(runs, scale=sm.params.scale, source=sm.params.source, seed=sm.params.seed, gap=sm.params.gap)
for c in claims:
    log.info("%s measured=%.4g %s %s ci=%s -> %s", c.claim, c.measured, c.comparison, c.expected, c.ci, c.outcome)
write_claims(sm.output.claims, claims)
