"""Rule sampling_claims: the paper's headline claims (claims.json) and one table of all metrics."""
import pandas as pd
import xarray as xr

from neurorepro.claims import write_claims
from neurorepro.io import write_tsv
from neurorepro.sampling.claims import build_claims

sm = snakemake  # noqa: F821
metrics = {k: pd.read_csv(sm.input[k], sep="\t") for k in ("bimodal", "laplace", "digits")}
sweep = pd.read_csv(sm.input.sweep, sep="\t")
with xr.open_dataset(sm.input.laplace_samples) as ds:
    claims = build_claims(metrics, sweep, ds.load(), sm.params.accel_threshold_frac, sm.params.scale, sm.params.source,
                          run_seed=sm.params.seed)
write_claims(sm.output.claims, claims)
write_tsv(pd.concat(list(metrics.values()), ignore_index=True), sm.output.summary)
