"""Gather results/<target>/claims.json files into results/claims.tsv."""
import pandas as pd

from neurorepro.claims import read_claims
from neurorepro.io import write_tsv

rows = []
for path in snakemake.input:  # noqa: F821
    for rec in read_claims(path):
        rec = dict(rec)
        rec["details"] = str(rec.get("details", {}))
        rows.append(rec)
cols = ["target", "claim", "measured", "comparison", "expected", "holds", "scale", "source", "details"]
write_tsv(pd.DataFrame(rows, columns=cols), snakemake.output[0])  # noqa: F821
