# Recanatesi et al. 2019, Dimensionality compression and expansion in deep neural networks.
# train (per network and seed: snapshots + probe activations, pre- and post-activation)
# -> measure (dimension per layer and snapshot) ; sweep_point (per lr x batch size, every
# sweep seed) -> sweep (table) ; figures ; claims (over seeds, with bootstrap CIs).

DIM = section("dimensionality")
DIM_DIR = "results/dimensionality"
DIM_NETS = list(DIM["run_networks"])
DIM_SEEDS = [config["seed"] + i for i in range(int(DIM["n_seeds"]))]
DIM_SWEEP_SEEDS = [config["seed"] + i for i in range(int(DIM["sgd_sweep"]["n_seeds"]))]
DIM_RUNS = [(net, s) for net in DIM_NETS for s in DIM_SEEDS]  # (network, seed), network-major
DIM_FIGS = ["dimension_per_layer", "dimension_over_training", "sgd_noise"]
DIM_SWEEP = [(lr, bs) for lr in DIM["sgd_sweep"]["lr"] for bs in DIM["sgd_sweep"]["batch_size"]]

_unknown_nets = sorted(set(DIM_NETS) - set(DIM["networks"]))
if _unknown_nets:
    raise ValueError(f"config dimensionality.run_networks names {_unknown_nets}, not in dimensionality.networks")


wildcard_constraints:
    dim_net="|".join(DIM_NETS) if DIM_NETS else "^$",
    dim_seed=r"[0-9]+",
    dim_lr=r"[0-9.eE+-]+",
    dim_bs=r"[0-9]+",


DIM_MEASURE_PARAMS = {
    k: DIM[k] for k in ("measures", "pca_variance", "twonn_discard", "mle_k", "local_k", "local_anchors")
}


rule dimensionality_train:
    output:
        activations=f"{DIM_DIR}/{{dim_net}}/seed{{dim_seed}}/activations.nc",
        history=f"{DIM_DIR}/{{dim_net}}/seed{{dim_seed}}/history.tsv",
        snapshots=f"{DIM_DIR}/{{dim_net}}/seed{{dim_seed}}/snapshots.pt",
    log:
        "logs/dimensionality/dimensionality_train_{dim_net}_seed{dim_seed}.log",
    benchmark:
        "benchmarks/dimensionality/dimensionality_train_{dim_net}_seed{dim_seed}.tsv"
    conda:
        ENV
    threads: rule_resources("dimensionality", "dimensionality_train")["threads"]
    resources:
        **rule_job_resources("dimensionality", "dimensionality_train"),
    params:
        train=lambda wc: _dim_train_params(wc.dim_net),
        data_root=resources_path("datasets"),
        seed=lambda wc: int(wc.dim_seed),
        device=config["device"],
    script:
        "../scripts/dimensionality_train.py"


rule dimensionality_measure:
    input:
        activations=f"{DIM_DIR}/{{dim_net}}/seed{{dim_seed}}/activations.nc",
    output:
        dims=f"{DIM_DIR}/{{dim_net}}/seed{{dim_seed}}/dimensions.tsv",
    log:
        "logs/dimensionality/dimensionality_measure_{dim_net}_seed{dim_seed}.log",
    benchmark:
        "benchmarks/dimensionality/dimensionality_measure_{dim_net}_seed{dim_seed}.tsv"
    conda:
        ENV
    threads: rule_resources("dimensionality", "dimensionality_measure")["threads"]
    resources:
        **rule_job_resources("dimensionality", "dimensionality_measure"),
    params:
        measure=DIM_MEASURE_PARAMS,
        all_layers_at=DIM["all_layers_at"],
        seed=lambda wc: int(wc.dim_seed),
    script:
        "../scripts/dimensionality_measure.py"


rule dimensionality_sweep_point:
    output:
        f"{DIM_DIR}/sweep/lr{{dim_lr}}_bs{{dim_bs}}.tsv",
    log:
        "logs/dimensionality/dimensionality_sweep_lr{dim_lr}_bs{dim_bs}.log",
    benchmark:
        "benchmarks/dimensionality/dimensionality_sweep_lr{dim_lr}_bs{dim_bs}.tsv"
    conda:
        ENV
    threads: rule_resources("dimensionality", "dimensionality_sweep_point")["threads"]
    resources:
        **rule_job_resources("dimensionality", "dimensionality_sweep_point"),
    params:
        train=lambda wc: _dim_train_params(
            DIM["sgd_sweep"]["network"],
            lr=wc.dim_lr,
            batch_size=wc.dim_bs,
            momentum=DIM["sgd_sweep"]["momentum"],
            epochs=DIM["sgd_sweep"]["epochs"],
            snapshot_epochs=[DIM["sgd_sweep"]["epochs"]],
        ),
        network=DIM["sgd_sweep"]["network"],
        measure=DIM_MEASURE_PARAMS,
        data_root=resources_path("datasets"),
        seeds=DIM_SWEEP_SEEDS,
        device=config["device"],
    script:
        "../scripts/dimensionality_sweep_point.py"


rule dimensionality_sweep:
    input:
        [f"{DIM_DIR}/sweep/lr{lr}_bs{bs}.tsv" for lr, bs in DIM_SWEEP],
    output:
        f"{DIM_DIR}/sgd_sweep.tsv",
    log:
        "logs/dimensionality/dimensionality_sweep.log",
    benchmark:
        "benchmarks/dimensionality/dimensionality_sweep.tsv"
    conda:
        ENV
    threads: rule_resources("dimensionality", "dimensionality_sweep")["threads"]
    resources:
        **rule_job_resources("dimensionality", "dimensionality_sweep"),
    script:
        "../scripts/dimensionality_sweep.py"


rule dimensionality_figures:
    input:
        dims=[f"{DIM_DIR}/{net}/seed{s}/dimensions.tsv" for net, s in DIM_RUNS],
        history=[f"{DIM_DIR}/{net}/seed{s}/history.tsv" for net, s in DIM_RUNS],
        sweep=f"{DIM_DIR}/sgd_sweep.tsv",
    output:
        table=f"{DIM_DIR}/dimensions.tsv",
        pdf=[f"{DIM_DIR}/figures/{name}.pdf" for name in DIM_FIGS],
        png=[
            report(
                f"{DIM_DIR}/figures/{name}.png",
                caption=f"../report/dimensionality_{name}.rst",
                category="dimensionality",
            )
            for name in DIM_FIGS
        ],
    log:
        "logs/dimensionality/dimensionality_figures.log",
    benchmark:
        "benchmarks/dimensionality/dimensionality_figures.tsv"
    conda:
        ENV
    threads: rule_resources("dimensionality", "dimensionality_figures")["threads"]
    resources:
        **rule_job_resources("dimensionality", "dimensionality_figures"),
    params:
        runs=DIM_RUNS,
        networks=DIM_NETS,
        figures=DIM_FIGS,
        measures=DIM["measures"],
        linear_measure=DIM["linear_measure"],
        intrinsic_measure=DIM["intrinsic_measure"],
    script:
        "../scripts/dimensionality_figures.py"


rule dimensionality_claims:
    input:
        dims=[f"{DIM_DIR}/{net}/seed{s}/dimensions.tsv" for net, s in DIM_RUNS],
        sweep=f"{DIM_DIR}/sgd_sweep.tsv",
    output:
        claims=f"{DIM_DIR}/claims.json",
        projection=f"{DIM_DIR}/projection_check.tsv",
    log:
        "logs/dimensionality/dimensionality_claims.log",
    benchmark:
        "benchmarks/dimensionality/dimensionality_claims.tsv"
    conda:
        ENV
    threads: rule_resources("dimensionality", "dimensionality_claims")["threads"]
    resources:
        **rule_job_resources("dimensionality", "dimensionality_claims"),
    params:
        runs=DIM_RUNS,
        networks=DIM_NETS,
        linear_measure=DIM["linear_measure"],
        intrinsic_measure=DIM["intrinsic_measure"],
        n_probe=DIM["n_probe"],
        probe_max_features=DIM["probe_max_features"],
        twonn_discard=DIM["twonn_discard"],
        min_train_acc=DIM["sgd_sweep"]["min_train_acc"],
        seed=config["seed"],
        scale=SCALE,
        source=SOURCE,
    script:
        "../scripts/dimensionality_claims.py"


register_target(
    "dimensionality",
    [
        f"{DIM_DIR}/claims.json",
        f"{DIM_DIR}/dimensions.tsv",
        f"{DIM_DIR}/sgd_sweep.tsv",
        f"{DIM_DIR}/projection_check.tsv",
    ]
    + [f"{DIM_DIR}/figures/{name}.{ext}" for name in DIM_FIGS for ext in ("pdf", "png")],
)


rule dimensionality:
    input:
        TARGET_OUTPUTS["dimensionality"],
