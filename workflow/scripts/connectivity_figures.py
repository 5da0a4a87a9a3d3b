"""Rule connectivity_figures: recovery vs lambda, projection-field maps, singular value spectrum."""
import pandas as pd
import xarray as xr

from neurorepro.connectivity.data import load_data
from neurorepro.connectivity.pipeline import figure_data
from neurorepro.connectivity.figures import fig_maps, fig_recovery, fig_spectrum
from neurorepro.io import write_tsv
from neurorepro.plotting import save_figure
from neurorepro.runtime import get_logger

sm = snakemake  # noqa: F821
log = get_logger("neurorepro.connectivity", sm.log[0])
with xr.open_dataset(sm.input.W) as W, xr.open_dataset(sm.input.W_lowrank) as low:
    fd = figure_data(load_data(sm.input.data), W.load(), low.load(), pd.read_csv(sm.input.recovery, sep="\t"),
                     sm.params.map_area, sm.params.n_map_sources, sm.params.rank)
log.info("spectrum ranks: %s; low-rank vs full relative difference %.4f", fd["ranks"], fd["lowrank_diff"])
write_tsv(fd["spectrum"], sm.output.spectrum)
save_figure(fig_recovery(**fd["recovery"]), sm.output.recovery_pdf, sm.output.recovery_png)
save_figure(fig_maps(fd["maps"], fd["target_coord"]), sm.output.maps_pdf, sm.output.maps_png)
save_figure(fig_spectrum(fd["s"], fd["ranks"], fd["lowrank_diff"], sm.params.rank), sm.output.spectrum_pdf,
            sm.output.spectrum_png)
