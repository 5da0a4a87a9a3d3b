# Paper `connectivity`: Harris, Mihalas & Shea-Brown 2016, nonnegative spline regression of
# voxel-scale connectivity. Starts from results/connectivity/data.nc (rule connectivity_data).


CONN_MODEL = CONN["model"]  # section("connectivity"), merged for the scale (allen_connectivity.smk)
CONN_FIG = "results/connectivity/figures/{name}.{ext}"


rule connectivity_synthetic_1d:
    output:
        **_conn_figs("synthetic_1d", "synthetic_1d_draws"),
        table="results/connectivity/synthetic_1d.tsv",
    log:
        "logs/connectivity/connectivity_synthetic_1d.log",
    benchmark:
        "benchmarks/connectivity/connectivity_synthetic_1d.tsv"
    conda:
        ENV
    threads: rule_resources("connectivity", "connectivity_synthetic_1d")["threads"]
    resources:
        **rule_job_resources("connectivity", "connectivity_synthetic_1d"),
    params:
        spec=CONN_MODEL["synthetic_1d"],
        dtype=CONN_MODEL["dtype"],
        solver=CONN_MODEL["solver"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/connectivity_synthetic_1d.py"


rule connectivity_cv_fold:
    input:
        data="results/connectivity/data.nc",
    output:
        fold="results/connectivity/cv/fold_{fold}.json",
    log:
        "logs/connectivity/connectivity_cv_fold_{fold}.log",
    benchmark:
        "benchmarks/connectivity/connectivity_cv_fold_{fold}.tsv"
    wildcard_constraints:
        fold=r"\d+",
    conda:
        ENV
    threads: rule_resources("connectivity", "connectivity_cv_fold")["threads"]
    resources:
        **rule_job_resources(
            "connectivity",
            "connectivity_cv_fold",
            mem_mb=_conn_fit_mem_mb("connectivity_cv_fold"),
        ),
    params:
        model=CONN_MODEL,
        seed=config["seed"],
        device=config["device"],
        memory_limit_gb=config["memory_limit_gb"],
    script:
        "../scripts/connectivity_cv_fold.py"


rule connectivity_cv:
    input:
        data="results/connectivity/data.nc",
        folds=expand(
            "results/connectivity/cv/fold_{fold}.json",
            fold=range(CONN_MODEL["cv_outer_folds"]),
        ),
    output:
        **_conn_figs("table1"),
        table="results/connectivity/table1.tsv",
        folds="results/connectivity/cv_folds.tsv",
        lambda_cv="results/connectivity/lambda_cv.tsv",
    log:
        "logs/connectivity/connectivity_cv.log",
    benchmark:
        "benchmarks/connectivity/connectivity_cv.tsv"
    conda:
        ENV
    threads: rule_resources("connectivity", "connectivity_cv")["threads"]
    resources:
        **rule_job_resources("connectivity", "connectivity_cv", mem_mb=_conn_fit_mem_mb("connectivity_cv")),
    params:
        model=CONN_MODEL,
        seed=config["seed"],
        device=config["device"],
        memory_limit_gb=config["memory_limit_gb"],
    script:
        "../scripts/connectivity_cv.py"


rule connectivity_fit:
    input:
        data="results/connectivity/data.nc",
        lambda_cv="results/connectivity/lambda_cv.tsv",
    output:
        W="results/connectivity/W.nc",
        W_lowrank="results/connectivity/W_lowrank.nc",
        recovery="results/connectivity/recovery.tsv",
    log:
        "logs/connectivity/connectivity_fit.log",
    benchmark:
        "benchmarks/connectivity/connectivity_fit.tsv"
    conda:
        ENV
    threads: rule_resources("connectivity", "connectivity_fit")["threads"]
    resources:
        **rule_job_resources("connectivity", "connectivity_fit", mem_mb=_conn_fit_mem_mb("connectivity_fit")),
    params:
        model=CONN_MODEL,
        seed=config["seed"],
        device=config["device"],
        memory_limit_gb=config["memory_limit_gb"],
    script:
        "../scripts/connectivity_fit.py"


rule connectivity_fit_contra:
    input:
        data="results/connectivity/data.nc",
    output:
        W_contra="results/connectivity/W_contra.nc",
        lambda_cv="results/connectivity/contra_lambda_cv.tsv",
        recovery="results/connectivity/contra_recovery.tsv",
    log:
        "logs/connectivity/connectivity_fit_contra.log",
    benchmark:
        "benchmarks/connectivity/connectivity_fit_contra.tsv"
    conda:
        ENV
    threads: rule_resources("connectivity", "connectivity_fit_contra")["threads"]
    resources:
        **rule_job_resources(
            "connectivity",
            "connectivity_fit_contra",
            mem_mb=_conn_fit_mem_mb("connectivity_fit_contra", targets="contra"),
        ),
    params:
        model=CONN_MODEL,
        seed=config["seed"],
        device=config["device"],
        memory_limit_gb=config["memory_limit_gb"],
    script:
        "../scripts/connectivity_fit_contra.py"


rule connectivity_figures:
    input:
        data="results/connectivity/data.nc",
        W="results/connectivity/W.nc",
        W_lowrank="results/connectivity/W_lowrank.nc",
        recovery="results/connectivity/recovery.tsv",
    output:
        **_conn_figs("recovery", "maps", "spectrum"),
        spectrum="results/connectivity/spectrum.tsv",
    log:
        "logs/connectivity/connectivity_figures.log",
    benchmark:
        "benchmarks/connectivity/connectivity_figures.tsv"
    conda:
        ENV
    threads: rule_resources("connectivity", "connectivity_figures")["threads"]
    resources:
        **rule_job_resources("connectivity", "connectivity_figures"),
    params:
        map_area=CONN_MODEL["map_area"],
        n_map_sources=CONN_MODEL["n_map_sources"],
        rank=CONN_MODEL["rank"],
    script:
        "../scripts/connectivity_figures.py"


rule connectivity_claims:
    input:
        synthetic="results/connectivity/synthetic_1d.tsv",
        table="results/connectivity/table1.tsv",
        folds="results/connectivity/cv_folds.tsv",
        recovery="results/connectivity/recovery.tsv",
        contra_recovery="results/connectivity/contra_recovery.tsv",
    output:
        claims="results/connectivity/claims.json",
    log:
        "logs/connectivity/connectivity_claims.log",
    benchmark:
        "benchmarks/connectivity/connectivity_claims.tsv"
    conda:
        ENV
    threads: rule_resources("connectivity", "connectivity_claims")["threads"]
    resources:
        **rule_job_resources("connectivity", "connectivity_claims"),
    params:
        rank=CONN_MODEL["rank"],
        tolerances=CONN_MODEL["tolerances"],
        scale=SCALE,
        source=SOURCE,
        seed=config["seed"],
    script:
        "../scripts/connectivity_claims.py"


register_target(
    "connectivity",
    [
        "results/connectivity/claims.json",
        "results/connectivity/W.nc",
        "results/connectivity/W_lowrank.nc",
        "results/connectivity/W_contra.nc",
        "results/connectivity/table1.tsv",
        "results/connectivity/spectrum.tsv",
    ]
    + [
        CONN_FIG.format(name=n, ext=e)
        for n in ("synthetic_1d", "synthetic_1d_draws", "table1", "recovery", "maps", "spectrum")
        for e in ("pdf", "png")
    ],
)


rule connectivity:
    input:
        TARGET_OUTPUTS["connectivity"],
