"""Rule connectivity_cv: Table 1 (voxel vs regional model) from the outer folds' records, the lambda curve."""
import json

from neurorepro.connectivity.figures import fig_cv_table
from neurorepro.connectivity.pipeline import cv_gather, load_fit_inputs
from neurorepro.io import write_tsv
from neurorepro.plotting import save_figure
from neurorepro.runtime import get_logger, seed_everything, set_threads

sm = snakemake  # noqa: F821
log = get_logger("neurorepro.connectivity", sm.log[0])
set_threads(sm.threads)
seed_everything(sm.params.seed)
data, mp = load_fit_inputs(sm.input.data, sm.params.model, sm.params.memory_limit_gb)
records = []
for path in sm.input.folds:
    with open(path) as fh:
        records.append(json.load(fh))
table, folds, curve = cv_gather(data, mp, records, sm.params.seed, sm.params.device)
log.info("Table 1:\n%s\nfolds:\n%s\nlambda curve:\n%s", table.to_string(), folds.to_string(), curve.to_string())
write_tsv(table, sm.output.table)
write_tsv(folds, sm.output.folds)
write_tsv(curve, sm.output.lambda_cv)
save_figure(fig_cv_table(table), sm.output.table1_pdf, sm.output.table1_png)
