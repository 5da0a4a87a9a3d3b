"""SSM of every neural group with every CNN layer; best layers; subsampling stability."""
from neurorepro.io import write_tsv
from neurorepro.mouse_vs_cnn.pipeline import compare
from neurorepro.runtime import get_logger

sm = snakemake  # noqa: F821
log = get_logger("neurorepro", sm.log[0])
p = sm.params
ssm, best, stab = compare(sm.input.responses, dict(zip(p.weights, sm.input.rsms)), p.seed, p.method,
                          p.n_permutations, p.min_reliability, p.fractions, p.repeats, p.primary)
write_tsv(ssm, sm.output.ssm)
write_tsv(best, sm.output.best)
write_tsv(stab, sm.output.stability)
log.info("best layers:\n%s", best[["weights", "group", "n_cells", "layer", "ssm", "ceiling"]].to_string())
