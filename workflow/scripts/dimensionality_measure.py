"""Rule dimensionality_measure: dimension of every layer at every snapshot."""
import xarray as xr

from neurorepro.dimensionality.experiment import MeasureSettings, training_dimensions
from neurorepro.io import write_tsv
from neurorepro.runtime import get_logger, set_threads

snakemake = globals()["snakemake"]
p = snakemake.params
log = get_logger("dimensionality_measure", snakemake.log[0])
set_threads(snakemake.threads)
with xr.open_dataset(snakemake.input.activations) as ds:
    ds.load()
settings = MeasureSettings(seed=p.seed, **p.measure)
dims = training_dimensions(ds, settings, all_layers_at=p.all_layers_at, logger=log)
dims.insert(0, "network", snakemake.wildcards.dim_net)
dims.insert(1, "dataset", ds.attrs["dataset"])
dims["n_probe"] = ds.sizes["image"]
dims["n_classes"] = int(ds.attrs["n_classes"])
dims["seed"] = int(ds.attrs["seed"])
write_tsv(dims, snakemake.output.dims)
