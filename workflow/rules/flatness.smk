# Chen, Recanatesi & Shea-Brown 2023, A simple connection from loss flatness to
# compressed representations in neural networks.
# run (per experiment x (lr, batch size) x seed: train with plain SGD on the authors' MSE for
# n_iters iterations, measure every measure_every) -> collect (late phase, tables,
# correlations) -> figures ; claims.
# Experiments: `flatness.experiments` maps a name to overrides of the section's keys
# (demo/reference: `mlp` on digits; paper: the MLP on FashionMNIST and the authors' VGG on two
# CIFAR-10 classes); null drops one. `hparams` lists (lr, batch size) pairs (the authors'
# run.slurm: lr .05/.1/.2 at batch 20, batch 8/32 at lr .1); null = the grid lrs x batch_sizes.

FLAT = section("flatness")
FLAT_DIR = "results/flatness"


FLAT_EXPS = _flat_experiments(FLAT)
FLAT_RUNS = [
    f"{FLAT_DIR}/runs/{exp}/lr{lr:g}_bs{bs}_seed{s}.tsv"
    for exp, e in FLAT_EXPS.items()
    for lr, bs in dict.fromkeys(_flat_hparams(e))
    for s in range(e["n_seeds"])
]
FLAT_FIGS = ["over_training", "correlations"]
FLAT_MEASURE_KEYS = (
    "hessian_iters",
    "hessian_tol",
    "hessian_method",
    "trace_samples",
    "volume_k",
    "chunk_size",
    "dtype",
)
FLAT_LATE = {
    exp: {"late_loss_frac": e["late_loss_frac"], "min_late_points": e["min_late_points"]}
    for exp, e in FLAT_EXPS.items()
}


rule flatness_run:
    output:
        f"{FLAT_DIR}/runs/{{exp}}/lr{{lr}}_bs{{bs}}_seed{{seed}}.tsv",
    log:
        "logs/flatness/flatness_run_{exp}_lr{lr}_bs{bs}_seed{seed}.log",
    benchmark:
        "benchmarks/flatness/flatness_run_{exp}_lr{lr}_bs{bs}_seed{seed}.tsv"
    wildcard_constraints:
        exp=r"[A-Za-z][A-Za-z0-9_]*",
        lr=r"[0-9.eE+-]+",
        bs=r"[0-9]+",
        seed=r"[0-9]+",
    conda:
        ENV
    threads: rule_resources("flatness", "flatness_run")["threads"]
    resources:
        **rule_job_resources("flatness", "flatness_run"),
    params:
        data=lambda wc: {
            k: FLAT_EXPS[wc.exp][k] for k in ("dataset", "classes", "n_train", "n_test", "standardize", "resize")
        },
        data_root=resources_path("datasets"),
        train=lambda wc: {
            **{k: FLAT_EXPS[wc.exp][k] for k in ("n_iters", "measure_every", "n_probe", "n_outputs")},
            **_flat_model(FLAT_EXPS[wc.exp]),
        },
        measure=lambda wc: {k: FLAT_EXPS[wc.exp][k] for k in FLAT_MEASURE_KEYS},
        base_seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/flatness_run.py"


rule flatness_collect:
    input:
        FLAT_RUNS,
    output:
        measures=f"{FLAT_DIR}/measures.tsv",
        final=f"{FLAT_DIR}/final.tsv",
        late_runs=f"{FLAT_DIR}/late_runs.tsv",
        correlations=f"{FLAT_DIR}/correlations.tsv",
    log:
        "logs/flatness/flatness_collect.log",
    benchmark:
        "benchmarks/flatness/flatness_collect.tsv"
    conda:
        ENV
    threads: rule_resources("flatness", "flatness_collect")["threads"]
    resources:
        **rule_job_resources("flatness", "flatness_collect"),
    params:
        late=FLAT_LATE,
    script:
        "../scripts/flatness_collect.py"


rule flatness_figures:
    input:
        measures=f"{FLAT_DIR}/measures.tsv",
    output:
        over_training_pdf=f"{FLAT_DIR}/figures/over_training.pdf",
        over_training_png=report(
            f"{FLAT_DIR}/figures/over_training.png",
            caption="../report/flatness_over_training.rst",
            category="flatness",
        ),
        correlations_pdf=f"{FLAT_DIR}/figures/correlations.pdf",
        correlations_png=report(
            f"{FLAT_DIR}/figures/correlations.png", caption="../report/flatness_correlations.rst", category="flatness"
        ),
    log:
        "logs/flatness/flatness_figures.log",
    benchmark:
        "benchmarks/flatness/flatness_figures.tsv"
    conda:
        ENV
    threads: rule_resources("flatness", "flatness_figures")["threads"]
    resources:
        **rule_job_resources("flatness", "flatness_figures"),
    script:
        "../scripts/flatness_figures.py"


rule flatness_claims:
    input:
        measures=f"{FLAT_DIR}/measures.tsv",
    output:
        f"{FLAT_DIR}/claims.json",
    log:
        "logs/flatness/flatness_claims.log",
    benchmark:
        "benchmarks/flatness/flatness_claims.tsv"
    conda:
        ENV
    threads: rule_resources("flatness", "flatness_claims")["threads"]
    resources:
        **rule_job_resources("flatness", "flatness_claims"),
    params:
        scale=SCALE,
        source=SOURCE,
        seed=config["seed"],
        late=FLAT_LATE,
    script:
        "../scripts/flatness_claims.py"


register_target(
    "flatness",
    [
        f"{FLAT_DIR}/claims.json",
        f"{FLAT_DIR}/measures.tsv",
        f"{FLAT_DIR}/final.tsv",
        f"{FLAT_DIR}/late_runs.tsv",
        f"{FLAT_DIR}/correlations.tsv",
        *[f"{FLAT_DIR}/figures/{name}.{ext}" for name in FLAT_FIGS for ext in ("pdf", "png")],
    ],
)


rule flatness:
    input:
        TARGET_OUTPUTS["flatness"],
