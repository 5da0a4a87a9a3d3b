"""Plot every finding of results/claims.tsv: measured with CI, threshold, paper's value."""
from neurorepro.plotting import save_figure
from neurorepro.report import findings_figure, read_claims_table

sm = snakemake  # noqa: F821
save_figure(findings_figure(read_claims_table(sm.input.claims)), sm.output.pdf, sm.output.png)
