# Shi, Shea-Brown & Buice 2019: mouse visual areas vs task-driven CNN layers by RSA.
# model (per CNN weights) ; [embedded: stimuli -> planting_features -> embedded cache]
# -> experiments (allen_brain_observatory.smk) -> responses (per area x Cre x depth)
# -> cnn_rsm (per weights) + baseline_rsm (pixels, Gabor energy) -> similarity (SSM tables,
# area bootstrap) ; robustness (CNN-to-CNN subsampling) -> report (figures, claims).


# The Brain Observatory data rules (BO_CACHE, BO_INPUTS) come first.
include: "allen_brain_observatory.smk"


MVC = section("mouse_vs_cnn")
MVC_DIR = "results/mouse_vs_cnn"
MVC_CNN = MVC["cnn"]
MVC_WEIGHTS = list(MVC_CNN["weights"])
MVC_PRIMARY = MVC_CNN["primary_weights"]
MVC_FIGS = ["ssm_vs_layer", "best_layer_heatmap", "stability", "cnn_subsampling"]

if MVC_PRIMARY not in MVC_WEIGHTS:
    raise ValueError(
        f"config mouse_vs_cnn.cnn.primary_weights={MVC_PRIMARY!r} is not in mouse_vs_cnn.cnn.weights={MVC_WEIGHTS}"
    )
if SOURCE == "embedded" and MVC["embedded"]["planting_weights"] not in MVC_WEIGHTS:
    raise ValueError("config mouse_vs_cnn.embedded.planting_weights must be one of mouse_vs_cnn.cnn.weights")


wildcard_constraints:
    mvc_weights="|".join(MVC_WEIGHTS),


rule mouse_vs_cnn_model:
    output:
        model=f"{MVC_DIR}/models/{{mvc_weights}}.pt",
    log:
        "logs/mouse_vs_cnn/mouse_vs_cnn_model_{mvc_weights}.log",
    benchmark:
        "benchmarks/mouse_vs_cnn/mouse_vs_cnn_model_{mvc_weights}.tsv"
    conda:
        ENV
    threads: rule_resources("mouse_vs_cnn", "mouse_vs_cnn_model")["threads"]
    resources:
        **rule_job_resources("mouse_vs_cnn", "mouse_vs_cnn_model"),
    params:
        arch=MVC_CNN["arch"],
        input_size=MVC_CNN["input_size"],
        epochs=MVC_CNN["epochs"],
        model_dir=MVC_CNN["hub_dir"],
        seed=config["seed"] + 1,
        device=config["device"],
    script:
        "../scripts/mouse_vs_cnn_model.py"


rule mouse_vs_cnn_planting_features:
    input:
        stimuli=f"{BO_INPUTS}/natural_scenes.nc",
        model=f"{MVC_DIR}/models/{MVC['embedded']['planting_weights']}.pt",
    output:
        features=f"{BO_INPUTS}/planting_features.nc",
    log:
        "logs/mouse_vs_cnn/mouse_vs_cnn_planting_features.log",
    benchmark:
        "benchmarks/mouse_vs_cnn/mouse_vs_cnn_planting_features.tsv"
    conda:
        ENV
    threads: rule_resources("mouse_vs_cnn", "mouse_vs_cnn_planting_features")["threads"]
    resources:
        **rule_job_resources("mouse_vs_cnn", "mouse_vs_cnn_planting_features"),
    params:
        layers=sorted(
            set(MVC["embedded"]["planted_layers"][a] for a in MVC["areas"] if a in MVC["embedded"]["planted_layers"])
        ),
        warp=MVC["warp"],
        batch_size=MVC_CNN["batch_size"],
        max_units=MVC["embedded"]["max_units"],
        seed=config["seed"] + 2,
        device=config["device"],
        baselines=MVC["baselines"],
    script:
        "../scripts/mouse_vs_cnn_planting_features.py"


rule mouse_vs_cnn_responses:
    input:
        experiments=f"{MVC_DIR}/experiments.tsv",
        cache=[BO_CACHE] if SOURCE == "embedded" else [],
    output:
        responses=directory(f"{MVC_DIR}/responses"),
        stimuli=f"{MVC_DIR}/stimuli.nc",
    log:
        "logs/mouse_vs_cnn/mouse_vs_cnn_responses.log",
    benchmark:
        "benchmarks/mouse_vs_cnn/mouse_vs_cnn_responses.tsv"
    conda:
        ENV
    threads: rule_resources("mouse_vs_cnn", "mouse_vs_cnn_responses")["threads"]
    resources:
        **rule_job_resources("mouse_vs_cnn", "mouse_vs_cnn_responses"),
    params:
        manifest=f"{BO_CACHE}/manifest.json",
        lag_frames=MVC["response_lag_frames"],
        seed=config["seed"] + 4,
        source=SOURCE,
        trial_statistic=MVC["trial_statistic"],
        # real data: extracted responses kept beside the cache (reused on a rerun; NWBs deleted unless keep_nwb)
        extracted_dir=resources_path("allen", "brain_observatory_extracted") if SOURCE == "allen" else None,
        keep_nwb=MVC["download"]["keep_nwb"],
    script:
        "../scripts/mouse_vs_cnn_responses.py"


rule mouse_vs_cnn_cnn_rsm:
    input:
        stimuli=f"{MVC_DIR}/stimuli.nc",
        model=f"{MVC_DIR}/models/{{mvc_weights}}.pt",
    output:
        rsm=f"{MVC_DIR}/cnn_rsm/{{mvc_weights}}.nc",
    log:
        "logs/mouse_vs_cnn/mouse_vs_cnn_cnn_rsm_{mvc_weights}.log",
    benchmark:
        "benchmarks/mouse_vs_cnn/mouse_vs_cnn_cnn_rsm_{mvc_weights}.tsv"
    conda:
        ENV
    threads: rule_resources("mouse_vs_cnn", "mouse_vs_cnn_cnn_rsm")["threads"]
    resources:
        **rule_job_resources("mouse_vs_cnn", "mouse_vs_cnn_cnn_rsm"),
    params:
        warp=MVC["warp"],
        batch_size=MVC_CNN["batch_size"],
        device=config["device"],
        memory_limit_gb=config["memory_limit_gb"],
        layers=MVC_CNN["layers"],
    script:
        "../scripts/mouse_vs_cnn_cnn_rsm.py"


rule mouse_vs_cnn_baseline_rsm:
    input:
        stimuli=f"{MVC_DIR}/stimuli.nc",
    output:
        rsm=f"{MVC_DIR}/cnn_rsm/baselines.nc",
    log:
        "logs/mouse_vs_cnn/mouse_vs_cnn_baseline_rsm.log",
    benchmark:
        "benchmarks/mouse_vs_cnn/mouse_vs_cnn_baseline_rsm.tsv"
    conda:
        ENV
    threads: rule_resources("mouse_vs_cnn", "mouse_vs_cnn_baseline_rsm")["threads"]
    resources:
        **rule_job_resources("mouse_vs_cnn", "mouse_vs_cnn_baseline_rsm"),
    params:
        warp=MVC["warp"],
        input_size=MVC["baselines"]["input_size"],
        models=MVC["baselines"]["models"],
        gabor=MVC["baselines"]["gabor"],
    script:
        "../scripts/mouse_vs_cnn_baseline_rsm.py"


rule mouse_vs_cnn_robustness:
    input:
        stimuli=f"{MVC_DIR}/stimuli.nc",
        model=f"{MVC_DIR}/models/{MVC_PRIMARY}.pt",
        rsm=f"{MVC_DIR}/cnn_rsm/{MVC_PRIMARY}.nc",
    output:
        table=f"{MVC_DIR}/cnn_subsampling.tsv",
    log:
        "logs/mouse_vs_cnn/mouse_vs_cnn_robustness.log",
    benchmark:
        "benchmarks/mouse_vs_cnn/mouse_vs_cnn_robustness.tsv"
    conda:
        ENV
    threads: rule_resources("mouse_vs_cnn", "mouse_vs_cnn_robustness")["threads"]
    resources:
        **rule_job_resources("mouse_vs_cnn", "mouse_vs_cnn_robustness"),
    params:
        warp=MVC["warp"],
        batch_size=MVC_CNN["batch_size"],
        device=config["device"],
        max_units=MVC["robustness"]["max_units"],
        unit_counts=MVC["robustness"]["unit_counts"],
        image_fractions=MVC["robustness"]["image_fractions"],
        repeats=MVC["robustness"]["repeats"],
        method=MVC["ssm_method"] if MVC["ssm_method"] != "kendall" else "spearman",
        seed=config["seed"] + 6,
    script:
        "../scripts/mouse_vs_cnn_robustness.py"


rule mouse_vs_cnn_similarity:
    input:
        responses=f"{MVC_DIR}/responses",
        rsms=expand(f"{MVC_DIR}/cnn_rsm/{{w}}.nc", w=MVC_WEIGHTS),
        baselines=f"{MVC_DIR}/cnn_rsm/baselines.nc",
    output:
        ssm=f"{MVC_DIR}/ssm.tsv",
        best=f"{MVC_DIR}/best_layers.tsv",
        stability=f"{MVC_DIR}/stability.tsv",
        bootstrap=f"{MVC_DIR}/bootstrap.nc",
    log:
        "logs/mouse_vs_cnn/mouse_vs_cnn_similarity.log",
    benchmark:
        "benchmarks/mouse_vs_cnn/mouse_vs_cnn_similarity.tsv"
    conda:
        ENV
    threads: rule_resources("mouse_vs_cnn", "mouse_vs_cnn_similarity")["threads"]
    resources:
        **rule_job_resources("mouse_vs_cnn", "mouse_vs_cnn_similarity"),
    params:
        weights=MVC_WEIGHTS,
        primary=MVC_PRIMARY,
        method=MVC["ssm_method"],
        n_permutations=MVC["n_permutations"],
        min_reliability=MVC["min_reliability"],
        fractions=MVC["subsample"]["fractions"],
        repeats=MVC["subsample"]["repeats"],
        n_boot=MVC["bootstrap"]["n_boot"],
        bootstrap_unit=MVC["bootstrap"]["unit"],
        alpha=MVC["alpha"],
        seed=config["seed"] + 5,
    script:
        "../scripts/mouse_vs_cnn_similarity.py"


rule mouse_vs_cnn_report:
    input:
        ssm=f"{MVC_DIR}/ssm.tsv",
        best=f"{MVC_DIR}/best_layers.tsv",
        stability=f"{MVC_DIR}/stability.tsv",
        bootstrap=f"{MVC_DIR}/bootstrap.nc",
        robustness=f"{MVC_DIR}/cnn_subsampling.tsv",
        rsm=f"{MVC_DIR}/cnn_rsm/{MVC_PRIMARY}.nc",
        cache=[BO_CACHE] if SOURCE == "embedded" else [],
    output:
        claims=f"{MVC_DIR}/claims.json",
        ssm_vs_layer_pdf=f"{MVC_DIR}/figures/ssm_vs_layer.pdf",
        ssm_vs_layer_png=report(
            f"{MVC_DIR}/figures/ssm_vs_layer.png",
            caption="../report/mouse_vs_cnn_ssm_vs_layer.rst",
            category="mouse_vs_cnn",
        ),
        best_layer_heatmap_pdf=f"{MVC_DIR}/figures/best_layer_heatmap.pdf",
        best_layer_heatmap_png=report(
            f"{MVC_DIR}/figures/best_layer_heatmap.png",
            caption="../report/mouse_vs_cnn_best_layer_heatmap.rst",
            category="mouse_vs_cnn",
        ),
        stability_pdf=f"{MVC_DIR}/figures/stability.pdf",
        stability_png=report(
            f"{MVC_DIR}/figures/stability.png", caption="../report/mouse_vs_cnn_stability.rst", category="mouse_vs_cnn"
        ),
        cnn_subsampling_pdf=f"{MVC_DIR}/figures/cnn_subsampling.pdf",
        cnn_subsampling_png=report(
            f"{MVC_DIR}/figures/cnn_subsampling.png",
            caption="../report/mouse_vs_cnn_cnn_subsampling.rst",
            category="mouse_vs_cnn",
        ),
    log:
        "logs/mouse_vs_cnn/mouse_vs_cnn_report.log",
    benchmark:
        "benchmarks/mouse_vs_cnn/mouse_vs_cnn_report.tsv"
    conda:
        ENV
    threads: rule_resources("mouse_vs_cnn", "mouse_vs_cnn_report")["threads"]
    resources:
        **rule_job_resources("mouse_vs_cnn", "mouse_vs_cnn_report"),
    params:
        primary=MVC_PRIMARY,
        source=SOURCE,
        scale=SCALE,
        alpha=MVC["alpha"],
        seed=config["seed"],
        robust_units=MVC["robustness"]["claim_units"],
        robust_image_fraction=MVC["robustness"]["claim_image_fraction"],
    script:
        "../scripts/mouse_vs_cnn_report.py"


register_target(
    "mouse_vs_cnn",
    [
        f"{MVC_DIR}/claims.json",
        f"{MVC_DIR}/ssm.tsv",
        f"{MVC_DIR}/best_layers.tsv",
        f"{MVC_DIR}/stability.tsv",
        f"{MVC_DIR}/bootstrap.nc",
        f"{MVC_DIR}/cnn_subsampling.tsv",
    ]
    + [f"{MVC_DIR}/figures/{f}.{ext}" for f in MVC_FIGS for ext in ("pdf", "png")],
)


rule mouse_vs_cnn:
    input:
        TARGET_OUTPUTS["mouse_vs_cnn"],
