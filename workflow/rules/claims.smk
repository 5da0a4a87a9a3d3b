# Gathers every paper's claims.json into results/claims.tsv.


rule claims_table:
    input:
        _claims_files,
    output:
        report("results/claims.tsv", caption="../report/claims.rst", category="0. Claims"),
    log:
        "logs/claims_table.log",
    conda:
        ENV
    threads: rule_resources(None, "claims_table")["threads"]
    resources:
        **rule_job_resources(None, "claims_table"),
    script:
        "../scripts/claims_table.py"


rule claims_figure:
    input:
        claims="results/claims.tsv",
    output:
        pdf="results/claims_findings.pdf",
        png=report("results/claims_findings.png", caption="../report/claims_findings.rst", category="0. Claims"),
    log:
        "logs/claims_figure.log",
    conda:
        ENV
    threads: rule_resources(None, "claims_figure")["threads"]
    resources:
        **rule_job_resources(None, "claims_figure"),
    script:
        "../scripts/claims_figure.py"
