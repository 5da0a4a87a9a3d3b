"""Write results/provenance.json: config, package versions, git commit, Allen identifiers."""
from pathlib import Path

import numpy as np
import xarray as xr

from neurorepro.io import write_json
from neurorepro.report import provenance, sha256

sm = snakemake  # noqa: F821
with xr.open_dataset(sm.input.connectivity) as ds:
    allen = {
        "connectivity experiment ids": " ".join(str(int(i)) for i in ds.experiment_id.values),
        "connectivity cache": ds.attrs.get("cache", ""),
        "connectivity resolution (um)": ds.attrs.get("resolution_um", ""),
    }
    # how many experiments each selection step kept (the query's own exclusions are provenance too)
    for key in ("n_experiments_table", "n_experiments_structure_query", "n_experiments_query", "n_experiments_kept"):
        if key in ds.attrs:
            allen[f"connectivity {key}"] = int(ds.attrs[key])
    if "dropped_cre" in ds.attrs:
        allen["connectivity dropped (Cre line)"] = " ".join(str(int(i)) for i in np.atleast_1d(ds.attrs["dropped_cre"]))
manifest = Path(sm.params.manifest)
if manifest.exists():
    allen["connectivity manifest sha256"] = sha256(manifest)
write_json(provenance(dict(sm.params.config), allen), sm.output.json)
