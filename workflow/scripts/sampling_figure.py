"""Rule sampling_figure: draw one figure of the paper from its experiment's outputs."""
import pandas as pd
import xarray as xr

from neurorepro.plotting import save_figure
from neurorepro.sampling import figures

sm = snakemake  # noqa: F821
name = sm.params.fig
if name == "size":
    fig = figures.size_figure(pd.read_csv(sm.input.data, sep="\t"))
else:
    with xr.open_dataset(sm.input.data) as ds:
        fig = figures.FIGURES[name](ds.load(), pd.read_csv(sm.input.metrics, sep="\t"))
save_figure(fig, sm.output.pdf, sm.output.png)
