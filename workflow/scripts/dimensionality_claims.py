"""Rule dimensionality_claims: the paper's claims measured on this run (over seeds), and the projection check."""
import pandas as pd

from neurorepro.claims import write_claims
from neurorepro.dimensionality.analysis import build_claims
from neurorepro.dimensionality.projection import projection_check
from neurorepro.io import write_tsv

snakemake = globals()["snakemake"]
p = snakemake.params
tables = [pd.read_csv(f, sep="\t") for f in snakemake.input.dims]
dims = {net: pd.concat([t for (n, _), t in zip(p.runs, tables) if n == net], ignore_index=True) for net in p.networks}
n_classes = {int(d["n_classes"].iloc[0]) for d in dims.values()}
if len(n_classes) != 1:
    raise ValueError(f"networks were trained on data sets with different numbers of classes: {n_classes}")
# the projection check at this run's sizes: whenever a layer was projected, and at every non-demo scale
projected = any(bool(d["projected"].any()) for d in dims.values() if "projected" in d)
rows = []
if p.probe_max_features is not None and (projected or p.scale != "demo"):
    rows = projection_check(int(p.n_probe), int(p.probe_max_features), twonn_discard=p.twonn_discard)
write_tsv(pd.DataFrame(rows), snakemake.output.projection)
claims = build_claims(
    dims, pd.read_csv(snakemake.input.sweep, sep="\t"),
    linear_measure=p.linear_measure, intrinsic_measure=p.intrinsic_measure, n_classes=n_classes.pop(),
    scale=p.scale, source=p.source, seed=p.seed, projection=rows or None, min_train_acc=p.min_train_acc,
    details={"run_seed": p.seed, "any_layer_projected": projected,
             "datasets": {n: d["dataset"].iloc[0] for n, d in dims.items()}},
)
write_claims(snakemake.output.claims, claims)
