"""Rule dimensionality_figures: the three figures and the combined dimension table."""
import pandas as pd

from neurorepro.dimensionality.figures import plot_dimension_over_training, plot_dimension_per_layer, plot_sgd_noise
from neurorepro.io import write_tsv
from neurorepro.plotting import save_figure

snakemake = globals()["snakemake"]
p = snakemake.params
dims = {net: pd.read_csv(f, sep="\t") for net, f in zip(p.networks, snakemake.input.dims)}
hist = {net: pd.read_csv(f, sep="\t") for net, f in zip(p.networks, snakemake.input.history)}
sweep = pd.read_csv(snakemake.input.sweep, sep="\t")
n_classes = int(pd.concat(dims.values())["n_classes"].max())
table = pd.concat(
    [d.merge(hist[n][["step", "test_acc", "train_loss"]], on="step", how="left") for n, d in dims.items()],
    ignore_index=True,
)
write_tsv(table, snakemake.output.table)
figs = {
    "dimension_per_layer": plot_dimension_per_layer(
        dims, [m for m in p.measures if m in ("pr", "pca90")], [m for m in p.measures if m not in ("pr", "pca90")]
    ),
    "dimension_over_training": plot_dimension_over_training(dims, hist, p.measures, n_classes=n_classes),
    "sgd_noise": plot_sgd_noise(sweep, [p.linear_measure, p.intrinsic_measure]),
}
for name, pdf, png in zip(p.figures, snakemake.output.pdf, snakemake.output.png):
    save_figure(figs[name], pdf, png)
