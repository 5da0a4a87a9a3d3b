"""Rule dimensionality_claims: the paper's claims measured on this run."""
import pandas as pd

from neurorepro.claims import write_claims
from neurorepro.dimensionality.analysis import build_claims

snakemake = globals()["snakemake"]
p = snakemake.params
dims = {net: pd.read_csv(f, sep="\t") for net, f in zip(p.networks, snakemake.input.dims)}
n_classes = {int(d["n_classes"].iloc[0]) for d in dims.values()}
if len(n_classes) != 1:
    raise ValueError(f"networks were trained on data sets with different numbers of classes: {n_classes}")
claims = build_claims(
    dims, pd.read_csv(snakemake.input.sweep, sep="\t"),
    linear_measure=p.linear_measure, intrinsic_measure=p.intrinsic_measure, n_classes=n_classes.pop(),
    class_band=p.class_band, scale=p.scale, source=p.source,
    details={"seed": p.seed, "datasets": {n: d["dataset"].iloc[0] for n, d in dims.items()}},
)
write_claims(snakemake.output.claims, claims)
