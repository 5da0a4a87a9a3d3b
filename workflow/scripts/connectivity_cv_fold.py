"""Rule connectivity_cv_fold: one outer fold of the cross-validation (inner lambda search, fits, test errors)."""
import json

from neurorepro.connectivity.data import load_data
from neurorepro.connectivity.pipeline import ModelParams, check_fit_memory, cv_fold
from neurorepro.runtime import get_logger, seed_everything, set_threads

sm = snakemake  # noqa: F821
log = get_logger("neurorepro.connectivity", sm.log[0])
set_threads(sm.threads)
seed_everything(sm.params.seed)
data = load_data(sm.input.data)
mp = ModelParams.from_dict(sm.params.model)
log.info("full-rank fits need about %.2f GiB", check_fit_memory(data, mp.dtype, sm.params.memory_limit_gb))
record = cv_fold(data, mp, int(sm.wildcards.fold), sm.params.seed, sm.params.device)
with open(sm.output.fold, "w") as fh:
    json.dump(record, fh, indent=1)
