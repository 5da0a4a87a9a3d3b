"""Rule flatness_claims: the paper's claims as measured numbers (claims.json)."""
import pandas as pd

from neurorepro.claims import write_claims
from neurorepro.flatness.analysis import make_claims
from neurorepro.runtime import get_logger

snakemake = globals()["snakemake"]
p = snakemake.params
log = get_logger("flatness_claims", snakemake.log[0])
measures = pd.read_csv(snakemake.input.measures, sep="\t")
measures["diverged"] = measures["diverged"].astype(bool)
claims = make_claims(measures, scale=p.scale, source=p.source, seed=int(p.seed), late=p.late)
for c in claims:
    log.info("%s [%s]: %s %.4g %s %s (ci %s, n %s)", c.outcome.upper(), c.kind, c.claim, c.measured, c.comparison,
             c.expected, c.ci, c.n)
write_claims(snakemake.output[0], claims)
