"""Rule connectivity_cv_fold: one outer fold of the cross-validation (inner lambda search, fits, test errors)."""
import json

from neurorepro.connectivity.pipeline import cv_fold, load_fit_inputs
from neurorepro.runtime import get_logger, seed_everything, set_threads

sm = snakemake  # noqa: F821
log = get_logger("neurorepro.connectivity", sm.log[0])
set_threads(sm.threads)
seed_everything(sm.params.seed)
data, mp = load_fit_inputs(sm.input.data, sm.params.model, sm.params.memory_limit_gb)
record = cv_fold(data, mp, int(sm.wildcards.fold), sm.params.seed, sm.params.device)
with open(sm.output.fold, "w") as fh:
    json.dump(record, fh, indent=1)
