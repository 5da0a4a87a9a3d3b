"""Gather results/<target>/claims.json files into results/claims.tsv."""
from neurorepro.io import write_tsv
from neurorepro.report import gather_claims

sm = snakemake  # noqa: F821
write_tsv(gather_claims(list(sm.input)), sm.output[0])
