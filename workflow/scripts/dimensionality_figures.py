"""Rule dimensionality_figures: the three figures and the combined dimension table (every network and seed)."""
import pandas as pd

from neurorepro.dimensionality.figures import plot_dimension_over_training, plot_dimension_per_layer, plot_sgd_noise
from neurorepro.io import write_tsv
from neurorepro.plotting import save_figure

snakemake = globals()["snakemake"]
p = snakemake.params
dims_list = [pd.read_csv(f, sep="\t") for f in snakemake.input.dims]
hist_list = [pd.read_csv(f, sep="\t") for f in snakemake.input.history]
dims = {net: pd.concat([d for (n, _), d in zip(p.runs, dims_list) if n == net], ignore_index=True) for net in p.networks}
hist = {net: pd.concat([h for (n, _), h in zip(p.runs, hist_list) if n == net], ignore_index=True) for net in p.networks}
sweep = pd.read_csv(snakemake.input.sweep, sep="\t")
n_classes = int(pd.concat(dims.values())["n_classes"].max())
table = pd.concat(
    [d.merge(hist[n][["seed", "step", "test_acc", "train_loss"]], on=["seed", "step"], how="left") for n, d in dims.items()],
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
