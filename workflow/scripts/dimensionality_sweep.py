"""Rule dimensionality_sweep: gather the SGD-noise sweep points (every seed) into one table."""
import pandas as pd

from neurorepro.io import write_tsv

snakemake = globals()["snakemake"]
sweep = pd.concat([pd.read_csv(f, sep="\t") for f in snakemake.input], ignore_index=True)
sweep.insert(3, "noise", sweep["lr"] / sweep["batch_size"])
write_tsv(sweep.sort_values(["measure", "batch_size", "lr", "seed"]), snakemake.output[0])
