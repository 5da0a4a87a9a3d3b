"""Rule connectivity_fit: full-rank W at the cross-validated lambda (W.nc), rank-r fit, recovery vs lambda."""
import pandas as pd

from neurorepro.connectivity.pipeline import fit_final, load_fit_inputs
from neurorepro.io import write_netcdf, write_tsv
from neurorepro.runtime import get_logger, seed_everything, set_threads

sm = snakemake  # noqa: F821
log = get_logger("neurorepro.connectivity", sm.log[0])
set_threads(sm.threads)
seed_everything(sm.params.seed)
curve = pd.read_csv(sm.input.lambda_cv, sep="\t")
lam = float(curve.loc[curve["chosen"].astype(bool), "lambda"].iloc[0])
log.info("lambda chosen by cross-validation: %g", lam)
data, mp = load_fit_inputs(sm.input.data, sm.params.model, sm.params.memory_limit_gb)
W, low, recovery = fit_final(data, mp, lam, sm.params.seed, sm.params.device)
log.info("recovery:\n%s", recovery.to_string())
write_netcdf(W, sm.output.W)
write_netcdf(low, sm.output.W_lowrank)
write_tsv(recovery, sm.output.recovery)
