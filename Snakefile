# neurorepro: one DAG that regenerates the figures of eight papers.
# Entry point: `snakemake --cores all` builds `all`; `snakemake --cores all <target>`
# builds one paper. See README.md and ../shared/DESIGN.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/allen_connectivity.smk"
include: "workflow/rules/claims.smk"


rule all:
    default_target: True
    input:
        all_outputs(),
