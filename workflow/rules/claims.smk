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
    resources:
        mem_mb=500,
        runtime=5,
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
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "../scripts/claims_figure.py"
