# Provenance and the report's front page. Build the report after `all`:
#   snakemake --cores all && snakemake --report results/report.zip

# The front page (results/report/front_page.rst) is set by the `report:` line of the Snakefile.


rule provenance:
    input:
        connectivity="results/connectivity/data.nc",
    output:
        json="results/provenance.json",
    log:
        "logs/provenance.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    params:
        config=config,
        manifest=str(Path(CONN_CACHE) / "mouse_connectivity_manifest.json"),  # a user's own cache too
    script:
        "../scripts/report_provenance.py"


rule report_front_page:
    input:
        claims="results/claims.tsv",
        provenance="results/provenance.json",
        description="workflow/report/workflow.rst",
    output:
        rst="results/report/front_page.rst",
    log:
        "logs/report_front_page.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    script:
        "../scripts/report_front_page.py"
