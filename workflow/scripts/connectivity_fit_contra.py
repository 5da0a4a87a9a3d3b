"""Rule connectivity_fit_contra: the contralateral matrix W_contra.nc at its own cross-validated lambda."""
from neurorepro.connectivity.pipeline import fit_contra, load_fit_inputs
from neurorepro.io import write_netcdf, write_tsv
from neurorepro.runtime import get_logger, seed_everything, set_threads

sm = snakemake  # noqa: F821
log = get_logger("neurorepro.connectivity", sm.log[0])
set_threads(sm.threads)
seed_everything(sm.params.seed)
data, mp = load_fit_inputs(sm.input.data, sm.params.model, sm.params.memory_limit_gb, targets="contra")
log.info("contralateral: %d target x %d source voxels, %d injections", data.Y.shape[0], data.X.shape[0], data.n_inj)
W, curve, rec = fit_contra(data, mp, sm.params.seed, sm.params.device)
log.info("contralateral lambda curve:\n%s\nrecovery:\n%s", curve.to_string(), rec.to_string())
write_netcdf(W, sm.output.W_contra)
write_tsv(curve, sm.output.lambda_cv)
write_tsv(rec, sm.output.recovery)
