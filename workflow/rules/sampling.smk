# Chen, Jiang, Rao, Shea-Brown 2023, "Expressive probabilistic sampling in recurrent neural networks".
# Reservoir-sampler networks (RSN) vs sampler-only networks on a 1-D bimodal mixture, a 2-D
# heavy-tailed Laplace mixture and digits in PCA space; quality vs reservoir size; what sampler-only
# networks can represent (theory); claims with 95% intervals over seeds.

SAMPLING = section("sampling")
SAMPLING_FIGURES = ["bimodal", "laplace", "digits", "size", "theory"]


_check_sampling(SAMPLING)


rule sampling_density:
    """Fit RSN and both sampler-only networks to a synthetic target; sample; measure."""
    output:
        samples="results/sampling/{task}/samples.nc",
        metrics="results/sampling/{task}/metrics.tsv",
    log:
        "logs/sampling/sampling_density_{task}.log",
    benchmark:
        "benchmarks/sampling/sampling_density_{task}.tsv"
    wildcard_constraints:
        task="bimodal|laplace",
    conda:
        ENV
    threads: rule_resources("sampling", "sampling_density")["threads"]
    resources:
        **rule_job_resources("sampling", "sampling_density"),
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
    script:
        "../scripts/sampling_density.py"


rule sampling_digits:
    """Fit the three networks to digit images in whitened PCA space; decode samples to images."""
    output:
        samples="results/sampling/digits/samples.nc",
        metrics="results/sampling/digits/metrics.tsv",
    log:
        "logs/sampling/sampling_digits.log",
    benchmark:
        "benchmarks/sampling/sampling_digits.tsv"
    conda:
        ENV
    threads: rule_resources("sampling", "sampling_digits")["threads"]
    resources:
        **rule_job_resources("sampling", "sampling_digits"),
    params:
        train=lambda wc: {
            **_sampling_train(SAMPLING),
            "n_iter": SAMPLING["digits_n_iter"],
            "lr": SAMPLING["digits_lr"] or SAMPLING["lr"],  # null: lr
        },
        dataset=SAMPLING["digits_dataset"],
        pca_dim=SAMPLING["digits_pca_dim"],
        n_hidden=SAMPLING["digits_n_hidden"],
        n_images=SAMPLING["digits_n_images"],
        n_show=SAMPLING["digits_n_show"],
        n_seeds=SAMPLING["digits_n_seeds"],
        heldout_frac=SAMPLING["digits_heldout_frac"],
        whiten=SAMPLING["digits_whiten"],
        n_energy=SAMPLING["n_energy"],
        scale=SCALE,
        root=config["resources_dir"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/sampling_digits.py"


rule sampling_size_sweep:
    """RSN sampling error vs reservoir size."""
    output:
        "results/sampling/size_sweep.tsv",
    log:
        "logs/sampling/sampling_size_sweep.log",
    benchmark:
        "benchmarks/sampling/sampling_size_sweep.tsv"
    conda:
        ENV
    threads: rule_resources("sampling", "sampling_size_sweep")["threads"]
    resources:
        **rule_job_resources("sampling", "sampling_size_sweep"),
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
    script:
        "../scripts/sampling_size_sweep.py"


rule sampling_figure:
    """One figure of the paper (PDF + PNG) from the numbers of one experiment."""
    input:
        unpack(_sampling_figure_inputs),
    output:
        pdf="results/sampling/figures/{fig}.pdf",
        png=report("results/sampling/figures/{fig}.png", caption="../report/sampling_figure.rst", category="sampling"),
    log:
        "logs/sampling/sampling_figure_{fig}.log",
    benchmark:
        "benchmarks/sampling/sampling_figure_{fig}.tsv"
    wildcard_constraints:
        fig="|".join(SAMPLING_FIGURES),
    conda:
        ENV
    threads: rule_resources("sampling", "sampling_figure")["threads"]
    resources:
        **rule_job_resources("sampling", "sampling_figure"),
    params:
        fig="{fig}",
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
    log:
        "logs/sampling/sampling_claims.log",
    benchmark:
        "benchmarks/sampling/sampling_claims.tsv"
    conda:
        ENV
    threads: rule_resources("sampling", "sampling_claims")["threads"]
    resources:
        **rule_job_resources("sampling", "sampling_claims"),
    params:
        accel_threshold_frac=SAMPLING["accel_threshold_frac"],
        seed=config["seed"],
        scale=SCALE,
        source=SOURCE,
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
