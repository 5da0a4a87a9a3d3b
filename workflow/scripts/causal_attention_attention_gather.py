"""Rule causal_attention_attention_gather: the parts of one forecaster and network size, joined in network order.

Writes the file rule causal_attention_evaluate reads (one per arch and size), checking that the
parts hold every network of the size once and agree on their settings.
"""
import xarray as xr

from neurorepro.causal_attention.data import networks_of_size
from neurorepro.io import write_netcdf
from neurorepro.runtime import get_logger

sm = snakemake  # noqa: F821
log = get_logger("causal_attention.attention_gather", sm.log[0])
n = int(sm.wildcards.n)
parts = [xr.open_dataset(f).load() for f in sm.input.parts]
for f, p in zip(sm.input.parts[1:], parts[1:]):
    if p.attrs != parts[0].attrs:
        raise ValueError(f"{f}: settings differ from {sm.input.parts[0]}'s (rerun the attention parts of N={n})")
out = xr.concat(parts, dim="network") if len(parts) > 1 else parts[0]
with xr.open_dataset(sm.input.networks) as ds:
    want = networks_of_size(ds, n)
got = [int(k) for k in out["network"].values]
if got != want:
    raise ValueError(f"attention parts of N={n} hold networks {got}, expected {want}: rerun them")
log.info("%s N=%d: %d networks from %d part(s)", sm.wildcards.arch, n, len(got), len(parts))
write_netcdf(out, sm.output[0])
