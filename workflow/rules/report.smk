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
    threads: rule_resources(None, "provenance")["threads"]
    resources:
        **rule_job_resources(None, "provenance"),
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
    threads: rule_resources(None, "report_front_page")["threads"]
    resources:
        **rule_job_resources(None, "report_front_page"),
    script:
        "../scripts/report_front_page.py"
