# Chen, Jiang, Rao, Shea-Brown 2023, "Expressive probabilistic sampling in recurrent neural networks".
# Reservoir-sampler networks (RSN) vs sampler-only networks on a 1-D bimodal mixture, a 2-D
# heavy-tailed Laplace mixture and digits in PCA space; quality vs reservoir size; what sampler-only
# networks can represent (theory); claims with 95% intervals over seeds.

SAMPLING = section("sampling")
SAMPLING_FIGURES = ["bimodal", "laplace", "digits", "size", "theory"]


def _check_sampling(sec: dict) -> None:
    """Keys the merged `sampling` section needs, and the checks the schema cannot express."""
    need = ["activation", "n_hidden", "sigma_max", "sigma_min", "n_stages", "n_iter", "batch_size", "lr",
            "n_train", "n_reference", "n_chains", "n_steps", "dt", "record_every", "init_std",
            "bimodal_means", "bimodal_stds", "laplace_rhos", "skew", "accel_init", "accel_init_std",
            "accel_threshold_frac", "digits_dataset", "digits_pca_dim", "digits_n_hidden", "digits_n_iter",
            "digits_n_show", "sweep_sizes", "sweep_task", "sweep_seeds", "threads", "weight_decay", "amsgrad",
            "lr_schedule", "restart_per_stage", "loss_weighting", "n_seeds", "n_energy", "digits_whiten",
            "digits_heldout_frac", "digits_n_seeds"]
    missing = [k for k in need if k not in sec]
    if missing:
        raise ValueError(f"config sampling (scale {SCALE}) lacks keys {missing}")
    if sec["sigma_min"] > sec["sigma_max"]:
        raise ValueError(f"config sampling.sigma_min={sec['sigma_min']} exceeds sampling.sigma_max={sec['sigma_max']}")
    k = len(sec["bimodal_means"])
    for key in ("bimodal_stds", "bimodal_weights"):
        if sec.get(key) is not None and len(sec[key]) != k:
            raise ValueError(f"config sampling.{key} needs {k} entries (one per sampling.bimodal_means)")
    k = len(sec["laplace_rhos"])
    for key in ("laplace_means",):
        if sec.get(key) is not None and len(sec[key]) != k:
            raise ValueError(f"config sampling.{key} needs {k} entries (one per sampling.laplace_rhos)")


_check_sampling(SAMPLING)


def _sampling_train(cfg):
    """DSM/Langevin settings every rule passes to neurorepro.sampling.experiment.TrainSettings."""
    keys = ["activation", "sigma_max", "sigma_min", "n_stages", "n_iter", "batch_size", "lr", "weight_decay",
            "amsgrad", "lr_schedule", "restart_per_stage", "loss_weighting", "n_chains", "n_steps", "dt",
            "record_every", "init_std"]
    return {k: cfg[k] for k in keys}


def _sampling_target(cfg):
    keys = ["bimodal_means", "bimodal_stds", "bimodal_weights", "laplace_rhos", "laplace_means", "laplace_scale",
            "laplace_kind"]
    return {k: cfg.get(k) for k in keys}


rule sampling_density:
    """Fit RSN and both sampler-only networks to a synthetic target; sample; measure."""
    output:
        samples="results/sampling/{task}/samples.nc",
        metrics="results/sampling/{task}/metrics.tsv",
    wildcard_constraints:
        task="bimodal|laplace",
    params:
        train=_sampling_train(SAMPLING),
        target=_sampling_target(SAMPLING),
        n_hidden=SAMPLING["n_hidden"],
        n_train=SAMPLING["n_train"],
        n_reference=SAMPLING["n_reference"],
        skew=lambda wc: SAMPLING["skew"] if wc.task == "laplace" else 0.0,
        accel_init=SAMPLING["accel_init"],
        accel_init_std=SAMPLING["accel_init_std"],
        n_seeds=SAMPLING["n_seeds"],
        n_energy=SAMPLING["n_energy"],
        seed=config["seed"],
        device=config["device"],
        scale=SCALE,
    log:
        "logs/sampling/sampling_density_{task}.log",
    benchmark:
        "benchmarks/sampling/sampling_density_{task}.tsv"
    threads: SAMPLING["threads"]
    resources:
        mem_mb=2000 if SCALE == "demo" else 4000,
        runtime=30 if SCALE == "demo" else 600,
        gpu=1 if SCALE == "paper" else 0,
    conda:
        ENV
    script:
        "../scripts/sampling_density.py"


rule sampling_digits:
    """Fit the three networks to digit images in whitened PCA space; decode samples to images."""
    output:
        samples="results/sampling/digits/samples.nc",
        metrics="results/sampling/digits/metrics.tsv",
    params:
        train=lambda wc: {**_sampling_train(SAMPLING), "n_iter": SAMPLING["digits_n_iter"],
                          "lr": SAMPLING.get("digits_lr") or SAMPLING["lr"]},
        dataset=SAMPLING["digits_dataset"],
        pca_dim=SAMPLING["digits_pca_dim"],
        n_hidden=SAMPLING["digits_n_hidden"],
        n_images=SAMPLING.get("digits_n_images"),
        n_show=SAMPLING["digits_n_show"],
        n_seeds=SAMPLING["digits_n_seeds"],
        heldout_frac=SAMPLING["digits_heldout_frac"],
        whiten=SAMPLING["digits_whiten"],
        n_energy=SAMPLING["n_energy"],
        scale=SCALE,
        root=config.get("resources_dir", "resources"),
        seed=config["seed"],
        device=config["device"],
    log:
        "logs/sampling/sampling_digits.log",
    benchmark:
        "benchmarks/sampling/sampling_digits.tsv"
    threads: SAMPLING["threads"]
    resources:
        mem_mb=3000 if SCALE == "demo" else (16000 if SCALE == "paper" else 4000),
        runtime=30 if SCALE == "demo" else 1440,
        gpu=1 if SCALE == "paper" else 0,
    conda:
        ENV
    script:
        "../scripts/sampling_digits.py"


rule sampling_size_sweep:
    """RSN sampling error vs reservoir size."""
    output:
        "results/sampling/size_sweep.tsv",
    params:
        train=_sampling_train(SAMPLING),
        target=_sampling_target(SAMPLING),
        task=SAMPLING["sweep_task"],
        sizes=SAMPLING["sweep_sizes"],
        n_seeds=SAMPLING["sweep_seeds"],
        n_train=SAMPLING["n_train"],
        n_reference=SAMPLING["n_reference"],
        n_energy=SAMPLING["n_energy"],
        seed=config["seed"],
        device=config["device"],
    log:
        "logs/sampling/sampling_size_sweep.log",
    benchmark:
        "benchmarks/sampling/sampling_size_sweep.tsv"
    threads: SAMPLING["threads"]
    resources:
        mem_mb=2000 if SCALE == "demo" else 4000,
        runtime=30 if SCALE == "demo" else 1440,
        gpu=1 if SCALE == "paper" else 0,
    conda:
        ENV
    script:
        "../scripts/sampling_size_sweep.py"


def _sampling_figure_inputs(wc):
    if wc.fig == "size":
        return {"data": "results/sampling/size_sweep.tsv"}
    if wc.fig == "theory":
        return {"data": "results/sampling/bimodal/samples.nc", "metrics": "results/sampling/bimodal/metrics.tsv"}
    return {"data": f"results/sampling/{wc.fig}/samples.nc", "metrics": f"results/sampling/{wc.fig}/metrics.tsv"}


rule sampling_figure:
    """One figure of the paper (PDF + PNG) from the numbers of one experiment."""
    input:
        unpack(_sampling_figure_inputs),
    output:
        pdf="results/sampling/figures/{fig}.pdf",
        png=report("results/sampling/figures/{fig}.png", caption="../report/sampling_figure.rst", category="sampling"),
    wildcard_constraints:
        fig="|".join(SAMPLING_FIGURES),
    params:
        fig="{fig}",
    log:
        "logs/sampling/sampling_figure_{fig}.log",
    benchmark:
        "benchmarks/sampling/sampling_figure_{fig}.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        ENV
    script:
        "../scripts/sampling_figure.py"


rule sampling_claims:
    """The paper's headline claims as measured numbers (claims.json) and all metrics in one table."""
    input:
        bimodal="results/sampling/bimodal/metrics.tsv",
        laplace="results/sampling/laplace/metrics.tsv",
        laplace_samples="results/sampling/laplace/samples.nc",
        digits="results/sampling/digits/metrics.tsv",
        sweep="results/sampling/size_sweep.tsv",
    output:
        claims="results/sampling/claims.json",
        summary="results/sampling/summary.tsv",
    params:
        accel_threshold_frac=SAMPLING["accel_threshold_frac"],
        seed=config["seed"],
        scale=SCALE,
        source=SOURCE,
    log:
        "logs/sampling/sampling_claims.log",
    benchmark:
        "benchmarks/sampling/sampling_claims.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        ENV
    script:
        "../scripts/sampling_claims.py"


register_target(
    "sampling",
    ["results/sampling/claims.json", "results/sampling/summary.tsv"]
    + expand("results/sampling/figures/{fig}.{ext}", fig=SAMPLING_FIGURES, ext=["pdf", "png"]),
)


rule sampling:
    input:
        TARGET_OUTPUTS["sampling"],
