"""Rule rich_lazy_inits: every initial recurrent matrix (random rank sweep, connectivity, shuffled)."""
import xarray as xr

from neurorepro.io import write_netcdf
from neurorepro.rich_lazy.experiment import build_inits
from neurorepro.runtime import get_logger

snakemake = globals()["snakemake"]
p = snakemake.params
log = get_logger("rich_lazy_inits", snakemake.log[0])
with xr.open_dataset(snakemake.input.W) as W_conn:
    W_conn.load()
ds = build_inits(p.n_hidden, p.ranks, p.gain, p.n_seeds, p.seed, W_conn=W_conn,
                 sign=p.connectivity["sign"], selection=p.connectivity["selection"],
                 inhibitory_fraction=p.connectivity["inhibitory_fraction"], balance=p.connectivity["ei_balance"])
ds.attrs.update(scale=p.scale, source=p.source, seed=p.seed)
for lab, er, pr in zip(ds.init.values, ds.effective_rank.mean("seed").values, ds.participation_ratio.mean("seed").values):
    log.info("init %-13s effective rank %.2f  participation ratio %.2f", lab, er, pr)
write_netcdf(ds, snakemake.output[0])
