"""SSM of every neural group with every CNN layer and baseline; best layers; subsampling stability; area bootstrap."""
from neurorepro.io import write_netcdf, write_tsv
from neurorepro.mouse_vs_cnn.pipeline import compare
from neurorepro.runtime import get_logger

sm = snakemake  # noqa: F821
log = get_logger("neurorepro", sm.log[0])
p = sm.params
rsms = dict(zip(p.weights, sm.input.rsms))
rsms["baselines"] = sm.input.baselines
ssm, best, stab, boot = compare(sm.input.responses, rsms, p.seed, p.method, p.n_permutations, p.min_reliability,
                                p.fractions, p.repeats, p.primary, p.n_boot, p.bootstrap_unit, "baselines", p.alpha)
write_tsv(ssm, sm.output.ssm)
write_tsv(best, sm.output.best)
write_tsv(stab, sm.output.stability)
write_netcdf(boot, sm.output.bootstrap)
log.info("best layers:\n%s", best[["weights", "group", "n_cells", "layer", "ssm", "p_perm", "ceiling"]].to_string())
