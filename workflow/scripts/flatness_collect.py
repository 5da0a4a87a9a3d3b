"""Rule flatness_collect: gather the runs into one table; final snapshots; correlations across runs."""
import pandas as pd

from neurorepro.flatness.analysis import correlation_table, final_rows, run_keys
from neurorepro.io import write_tsv
from neurorepro.runtime import get_logger

snakemake = globals()["snakemake"]
log = get_logger("flatness_collect", snakemake.log[0])
measures = pd.concat([pd.read_csv(f, sep="\t") for f in snakemake.input], ignore_index=True)
measures["diverged"] = measures["diverged"].astype(bool)
final = final_rows(measures)
corr = correlation_table(final)
log.info("%d runs (%d diverged), %d measured points", len(snakemake.input),
         int(measures.groupby(run_keys(measures))["diverged"].any().sum()), len(measures))
log.info("correlations:\n%s", corr.to_string())
write_tsv(measures, snakemake.output.measures)
write_tsv(final, snakemake.output.final)
write_tsv(corr, snakemake.output.correlations)
