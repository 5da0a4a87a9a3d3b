"""Rule connectivity_claims: the paper's checked claims as measured numbers (claims.json)."""
import pandas as pd

from neurorepro.claims import write_claims
from neurorepro.connectivity.pipeline import make_claims
from neurorepro.runtime import get_logger

sm = snakemake  # noqa: F821
log = get_logger("neurorepro.connectivity", sm.log[0])
read = lambda p: pd.read_csv(p, sep="\t")  # noqa: E731
claims = make_claims(read(sm.input.synthetic), read(sm.input.table), read(sm.input.recovery), sm.params.rank,
                     sm.params.tolerances, sm.params.scale, sm.params.source, seed=sm.params.seed,
                     folds=read(sm.input.folds), contra=read(sm.input.contra_recovery))
for c in claims:
    log.info("%s: measured %.4g (CI %s, n=%s) %s %s -> %s", c.claim, c.measured, c.ci, c.n, c.comparison, c.expected,
             c.outcome)
write_claims(sm.output.claims, claims)
