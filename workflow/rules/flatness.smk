# Chen, Recanatesi & Shea-Brown 2023, A simple connection from loss flatness to
# compressed representations in neural networks.
# run (per lr x batch size x seed: train with plain SGD on MSE, measure snapshots)
# -> collect (tables, correlations) -> figures ; claims.

FLAT = section("flatness")
FLAT_DIR = "results/flatness"
FLAT_RUNS = [
    f"{FLAT_DIR}/runs/lr{lr:g}_bs{int(bs)}_seed{s}.tsv"
    for lr in FLAT["lrs"]
    for bs in FLAT["batch_sizes"]
    for s in range(FLAT["n_seeds"])
]
FLAT_FIGS = ["over_training", "correlations"]


rule flatness_run:
    wildcard_constraints:
        lr=r"[0-9.eE+-]+",
        bs=r"[0-9]+",
        seed=r"[0-9]+",
    output:
        f"{FLAT_DIR}/runs/lr{{lr}}_bs{{bs}}_seed{{seed}}.tsv",
    params:
        data={k: FLAT[k] for k in ("dataset", "classes", "n_train", "n_test")},
        data_root=resources_path("datasets"),
        train={
            "epochs": FLAT["epochs"],
            "n_snapshots": FLAT["n_snapshots"],
            "n_probe": FLAT["n_probe"],
            "model_kind": "deepnet",
            "model_kwargs": {"widths": FLAT["widths"], "activation": FLAT["activation"]},
        },
        measure={k: FLAT[k] for k in ("hessian_iters", "hessian_tol", "hessian_method", "trace_samples", "volume_k", "chunk_size", "dtype")},
        base_seed=config["seed"],
        device=config["device"],
    log:
        "logs/flatness/flatness_run_lr{lr}_bs{bs}_seed{seed}.log",
    benchmark:
        "benchmarks/flatness/flatness_run_lr{lr}_bs{bs}_seed{seed}.tsv"
    threads: 1
    resources:
        mem_mb=2000 if SCALE == "demo" else 16000,
        runtime=20 if SCALE == "demo" else 720,
        gpu=0 if SCALE == "demo" else 1,
    conda:
        ENV
    script:
        "../scripts/flatness_run.py"


rule flatness_collect:
    input:
        FLAT_RUNS,
    output:
        measures=f"{FLAT_DIR}/measures.tsv",
        final=f"{FLAT_DIR}/final.tsv",
        correlations=f"{FLAT_DIR}/correlations.tsv",
    log:
        "logs/flatness/flatness_collect.log",
    benchmark:
        "benchmarks/flatness/flatness_collect.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        ENV
    script:
        "../scripts/flatness_collect.py"


rule flatness_figures:
    input:
        measures=f"{FLAT_DIR}/measures.tsv",
    output:
        over_training_pdf=f"{FLAT_DIR}/figures/over_training.pdf",
        over_training_png=report(f"{FLAT_DIR}/figures/over_training.png", caption="../report/flatness_over_training.rst", category="flatness"),
        correlations_pdf=f"{FLAT_DIR}/figures/correlations.pdf",
        correlations_png=report(f"{FLAT_DIR}/figures/correlations.png", caption="../report/flatness_correlations.rst", category="flatness"),
    log:
        "logs/flatness/flatness_figures.log",
    benchmark:
        "benchmarks/flatness/flatness_figures.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        ENV
    script:
        "../scripts/flatness_figures.py"


rule flatness_claims:
    input:
        measures=f"{FLAT_DIR}/measures.tsv",
    output:
        f"{FLAT_DIR}/claims.json",
    params:
        scale=SCALE,
        source=SOURCE,
    log:
        "logs/flatness/flatness_claims.log",
    benchmark:
        "benchmarks/flatness/flatness_claims.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        ENV
    script:
        "../scripts/flatness_claims.py"


register_target(
    "flatness",
    [
        f"{FLAT_DIR}/claims.json",
        f"{FLAT_DIR}/measures.tsv",
        f"{FLAT_DIR}/final.tsv",
        f"{FLAT_DIR}/correlations.tsv",
        *[f"{FLAT_DIR}/figures/{name}.{ext}" for name in FLAT_FIGS for ext in ("pdf", "png")],
    ],
)


rule flatness:
    input:
        TARGET_OUTPUTS["flatness"],
