"""Rule flatness_collect: gather the runs into one table, mark the late phase; per-run late-phase
slopes; last late-phase point of every run; correlations across runs."""
import pandas as pd

from neurorepro.flatness.analysis import (
    correlation_table, experiments, late_final_rows, late_run_table, mark_all, of_experiment, run_keys,
)
from neurorepro.io import write_tsv
from neurorepro.runtime import get_logger

snakemake = globals()["snakemake"]
log = get_logger("flatness_collect", snakemake.log[0])
measures = pd.concat([pd.read_csv(f, sep="\t") for f in snakemake.input], ignore_index=True)
measures["diverged"] = measures["diverged"].astype(bool)
marked = mark_all(measures, snakemake.params.late)
final = late_final_rows(marked)
late_runs = [late_run_table(of_experiment(marked, name)).assign(experiment=name) for name in experiments(marked)]
late_runs = pd.concat(late_runs, ignore_index=True) if late_runs else pd.DataFrame()
corr = correlation_table(final)
log.info("%d runs (%d diverged, %d reached the late phase), %d measured points (%d late)", len(snakemake.input),
         int(measures.groupby(run_keys(measures))["diverged"].any().sum()), len(final), len(measures),
         int(marked["late"].sum()))
log.info("late-phase runs:\n%s", late_runs.to_string())
log.info("correlations across runs (last late-phase point):\n%s", corr.to_string())
write_tsv(marked, snakemake.output.measures)
write_tsv(final, snakemake.output.final)
write_tsv(late_runs, snakemake.output.late_runs)
write_tsv(corr, snakemake.output.correlations)
