"""Rule connectivity_fit: full-rank W at the cross-validated lambda (W.nc), rank-r fit, recovery vs lambda."""
import pandas as pd

from neurorepro.connectivity.data import load_data
from neurorepro.connectivity.pipeline import ModelParams, check_fit_memory, fit_final
from neurorepro.io import write_netcdf, write_tsv
from neurorepro.runtime import get_logger, seed_everything, set_threads

sm = snakemake  # noqa: F821
log = get_logger("neurorepro.connectivity", sm.log[0])
set_threads(sm.threads)
seed_everything(sm.params.seed)
curve = pd.read_csv(sm.input.lambda_cv, sep="\t")
lam = float(curve.loc[curve["chosen"].astype(bool), "lambda"].iloc[0])
log.info("lambda chosen by cross-validation: %g", lam)
data = load_data(sm.input.data)
mp = ModelParams.from_dict(sm.params.model)
log.info("full-rank fits need about %.2f GiB", check_fit_memory(data, mp.dtype, sm.params.memory_limit_gb))
W, low, recovery = fit_final(data, mp, lam, sm.params.seed, sm.params.device)
log.info("recovery:\n%s", recovery.to_string())
write_netcdf(W, sm.output.W)
write_netcdf(low, sm.output.W_lowrank)
write_tsv(recovery, sm.output.recovery)
