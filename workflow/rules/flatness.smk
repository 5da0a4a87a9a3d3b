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


def _flat_experiments(sec):
    base = {k: v for k, v in sec.items() if k != "experiments"}
    out = {}
    for name, over in sec["experiments"].items():
        if over is None:  # `name: null` removes an experiment (e.g. from the paper block)
            continue
        e = copy.deepcopy(base)
        update_config(e, copy.deepcopy(over))
        out[name] = e
    if not out:
        raise ValueError("config flatness.experiments: every experiment is null; keep at least one")
    return out


def _flat_hparams(e):
    if e.get("hparams"):
        return [(float(lr), int(bs)) for lr, bs in e["hparams"]]
    return [(float(lr), int(bs)) for lr in e["lrs"] for bs in e["batch_sizes"]]


FLAT_EXPS = _flat_experiments(FLAT)
FLAT_RUNS = [
    f"{FLAT_DIR}/runs/{exp}/lr{lr:g}_bs{bs}_seed{s}.tsv"
    for exp, e in FLAT_EXPS.items()
    for lr, bs in dict.fromkeys(_flat_hparams(e))
    for s in range(e["n_seeds"])
]
FLAT_FIGS = ["over_training", "correlations"]
FLAT_MEASURE_KEYS = ("hessian_iters", "hessian_tol", "hessian_method", "trace_samples", "volume_k", "chunk_size", "dtype")
FLAT_LATE = {
    exp: {"late_loss_frac": e["late_loss_frac"], "min_late_points": e["min_late_points"]}
    for exp, e in FLAT_EXPS.items()
}


def _flat_model(e):
    if e["arch"] == "vgg":
        return {"model_kind": "vgg", "model_kwargs": {**e["vgg"], "activation": e["activation"]}}
    return {"model_kind": "deepnet", "model_kwargs": {"widths": e["widths"], "activation": e["activation"]}}


rule flatness_run:
    wildcard_constraints:
        exp=r"[A-Za-z][A-Za-z0-9_]*",
        lr=r"[0-9.eE+-]+",
        bs=r"[0-9]+",
        seed=r"[0-9]+",
    output:
        f"{FLAT_DIR}/runs/{{exp}}/lr{{lr}}_bs{{bs}}_seed{{seed}}.tsv",
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
    log:
        "logs/flatness/flatness_run_{exp}_lr{lr}_bs{bs}_seed{seed}.log",
    benchmark:
        "benchmarks/flatness/flatness_run_{exp}_lr{lr}_bs{bs}_seed{seed}.tsv"
    threads: 1
    resources:
        mem_mb=2000 if SCALE == "demo" else (4000 if SCALE == "reference" else 16000),
        runtime=20 if SCALE == "demo" else (60 if SCALE == "reference" else 2880),
        gpu=1 if SCALE == "paper" else 0,
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
        late_runs=f"{FLAT_DIR}/late_runs.tsv",
        correlations=f"{FLAT_DIR}/correlations.tsv",
    params:
        late=FLAT_LATE,
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
        seed=config["seed"],
        late=FLAT_LATE,
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
        f"{FLAT_DIR}/late_runs.tsv",
        f"{FLAT_DIR}/correlations.tsv",
        *[f"{FLAT_DIR}/figures/{name}.{ext}" for name in FLAT_FIGS for ext in ("pdf", "png")],
    ],
)


rule flatness:
    input:
        TARGET_OUTPUTS["flatness"],
