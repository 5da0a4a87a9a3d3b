"""Rule flatness_figures: measures over training, and correlations across runs."""
import pandas as pd

from neurorepro.flatness import figures
from neurorepro.plotting import save_figure
from neurorepro.runtime import get_logger

snakemake = globals()["snakemake"]
log = get_logger("flatness_figures", snakemake.log[0])
measures = pd.read_csv(snakemake.input.measures, sep="\t")
measures["diverged"] = measures["diverged"].astype(bool)
save_figure(figures.over_training(measures), snakemake.output.over_training_pdf, snakemake.output.over_training_png)
save_figure(figures.correlations(measures), snakemake.output.correlations_pdf, snakemake.output.correlations_png)
log.info("figures written")
