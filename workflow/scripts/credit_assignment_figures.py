"""Rule credit_assignment_figures: accuracy/gap, curvature over training, gap vs curvature, remedy."""
import pandas as pd
import xarray as xr

from neurorepro.credit_assignment import figures
from neurorepro.plotting import save_figure
from neurorepro.runtime import get_logger

sm = snakemake  # noqa: F821
log = get_logger("credit_assignment_figures", sm.log[0])
runs = pd.read_csv(sm.input.runs, sep="\t")
corr = pd.read_csv(sm.input.correlation, sep="\t")
histories = [xr.load_dataset(f) for f in sm.input.histories]
out = sm.output
save_figure(figures.accuracy_gap_figure(runs), out.accuracy_pdf, out.accuracy_png)
save_figure(figures.curvature_figure(histories), out.curvature_pdf, out.curvature_png)
save_figure(figures.gap_vs_curvature_figure(runs, corr, gap=sm.params.gap), out.scatter_pdf, out.scatter_png)
save_figure(figures.remedy_figure(runs, gap=sm.params.gap), out.remedy_pdf, out.remedy_png)
save_figure(figures.theorem_figure(runs), out.theorem_pdf, out.theorem_png)
log.info("wrote %d figures", 5)
