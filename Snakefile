# neurorepro: one DAG that regenerates the figures of eight papers.
# Entry point: `snakemake --cores all` builds `all`; `snakemake --cores all <target>`
# builds one paper. See README.md and docs/design.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


# Front page of `snakemake --report`: written by rule report_front_page (part of `all`).
report: "results/report/front_page.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/allen_connectivity.smk"
include: "workflow/rules/rich_lazy.smk"
include: "workflow/rules/mouse_vs_cnn.smk"
include: "workflow/rules/sampling.smk"
include: "workflow/rules/dimensionality.smk"
include: "workflow/rules/credit_assignment.smk"
include: "workflow/rules/causal_attention.smk"
include: "workflow/rules/flatness.smk"
include: "workflow/rules/connectivity.smk"
include: "workflow/rules/claims.smk"
include: "workflow/rules/report.smk"


# every rule file is read: a rule name under a `resources:` mapping that no rule reads is an error
check_rule_resources()


rule all:
    default_target: True
    input:
        all_outputs(),
