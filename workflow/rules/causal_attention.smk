# Lu et al. 2023, "Attention for causal relationship discovery from biological neural
# dynamics": simulated Izhikevich networks with known connectivity; a transformer forecaster
# whose cross-attention is read out as a causal graph vs multivariate Granger causality;
# AUROC against the true adjacency over N x p x seeds; figures; claims.

CAUSAL = section("causal_attention")
CAUSAL_DIR = "results/causal_attention"
CAUSAL_KEYS = [
    "sizes",
    "probs",
    "n_seeds",
    "n_steps",
    "burn_in",
    "variant",
    "strength",
    "input_mean",
    "input_std",
    "frac_excitatory",
    "networks_per_job",
    "archs",
    "granger",
    "model",
    "claims",
    "recovery",
]


_check_causal_attention(CAUSAL)

CAUSAL_SIM = {
    k: CAUSAL[k]
    for k in [
        "sizes",
        "probs",
        "n_seeds",
        "n_steps",
        "burn_in",
        "variant",
        "strength",
        "input_mean",
        "input_std",
        "frac_excitatory",
    ]
}
CAUSAL_ARCHS = list(CAUSAL["archs"])
# the networks of one size, split into jobs of `networks_per_job` (null: one job per size and arch)
CAUSAL_PER_SIZE = len(CAUSAL["probs"]) * int(CAUSAL["n_seeds"])
CAUSAL_PARTS = -(-CAUSAL_PER_SIZE // (CAUSAL["networks_per_job"] or CAUSAL_PER_SIZE))
CAUSAL_FIGURES = ["auroc", "matrices"]
CAUSAL_FIGURE_FILES = [f"{CAUSAL_DIR}/figures/{f}.{ext}" for f in CAUSAL_FIGURES for ext in ("pdf", "png")]


rule causal_attention_simulate:
    """Simulate every network of the grid (vectorised over neurons and networks)."""
    output:
        f"{CAUSAL_DIR}/networks.nc",
    log:
        "logs/causal_attention/simulate.log",
    benchmark:
        "benchmarks/causal_attention/simulate.tsv"
    conda:
        ENV
    threads: rule_resources("causal_attention", "causal_attention_simulate")["threads"]
    resources:
        **rule_job_resources("causal_attention", "causal_attention_simulate"),
    params:
        sim=CAUSAL_SIM,
        seed=config["seed"],
        scale=SCALE,
    script:
        "../scripts/causal_attention_simulate.py"


rule causal_attention_granger:
    """Multivariate Granger causality (VAR, lag by AIC and by BIC, pairwise-conditional GC and F) for networks of size N."""
    input:
        f"{CAUSAL_DIR}/networks.nc",
    output:
        f"{CAUSAL_DIR}/granger/N{{n}}.nc",
    log:
        "logs/causal_attention/granger_N{n}.log",
    benchmark:
        "benchmarks/causal_attention/granger_N{n}.tsv"
    wildcard_constraints:
        n="[0-9]+",
    conda:
        ENV
    threads: rule_resources("causal_attention", "causal_attention_granger")["threads"]
    resources:
        **rule_job_resources("causal_attention", "causal_attention_granger"),
    params:
        granger=CAUSAL["granger"],
    script:
        "../scripts/causal_attention_granger.py"


rule causal_attention_attention:
    """Train forecaster `arch` (n_init initialisations) on part `part` of the networks of size N
    (networks_per_job of them); read out its cross-attention."""
    input:
        f"{CAUSAL_DIR}/networks.nc",
    output:
        f"{CAUSAL_DIR}/attention/{{arch}}/N{{n}}/part{{part}}.nc",
    log:
        "logs/causal_attention/attention_{arch}_N{n}_part{part}.log",
    benchmark:
        "benchmarks/causal_attention/attention_{arch}_N{n}_part{part}.tsv"
    wildcard_constraints:
        n="[0-9]+",
        part="[0-9]+",
        arch="|".join(CAUSAL_ARCHS),
    conda:
        ENV
    threads: rule_resources("causal_attention", "causal_attention_attention")["threads"]
    resources:
        **rule_job_resources("causal_attention", "causal_attention_attention"),
    params:
        model=CAUSAL["model"],
        seed=config["seed"],
        device=config["device"],
        networks_per_job=CAUSAL["networks_per_job"],
    script:
        "../scripts/causal_attention_attention.py"


rule causal_attention_attention_gather:
    """The attention parts of forecaster `arch` on the networks of size N, joined in network order."""
    input:
        networks=f"{CAUSAL_DIR}/networks.nc",
        parts=expand(f"{CAUSAL_DIR}/attention/{{{{arch}}}}/N{{{{n}}}}/part{{part}}.nc", part=range(CAUSAL_PARTS)),
    output:
        f"{CAUSAL_DIR}/attention/{{arch}}/N{{n}}.nc",
    log:
        "logs/causal_attention/attention_gather_{arch}_N{n}.log",
    benchmark:
        "benchmarks/causal_attention/attention_gather_{arch}_N{n}.tsv"
    wildcard_constraints:
        n="[0-9]+",
        arch="|".join(CAUSAL_ARCHS),
    conda:
        ENV
    threads: rule_resources("causal_attention", "causal_attention_attention_gather")["threads"]
    resources:
        **rule_job_resources("causal_attention", "causal_attention_attention_gather"),
    script:
        "../scripts/causal_attention_attention_gather.py"


rule causal_attention_evaluate:
    """AUROC of every score against the true adjacency; table, figures, the planted-VAR recovery and claims."""
    input:
        networks=f"{CAUSAL_DIR}/networks.nc",
        granger=expand(f"{CAUSAL_DIR}/granger/N{{n}}.nc", n=CAUSAL["sizes"]),
        attention=expand(f"{CAUSAL_DIR}/attention/{{arch}}/N{{n}}.nc", arch=CAUSAL_ARCHS, n=CAUSAL["sizes"]),
    output:
        table=f"{CAUSAL_DIR}/auroc.tsv",
        summary=f"{CAUSAL_DIR}/auroc_summary.tsv",
        auroc_pdf=f"{CAUSAL_DIR}/figures/auroc.pdf",
        auroc_png=report(
            f"{CAUSAL_DIR}/figures/auroc.png",
            caption="../report/causal_attention_auroc.rst",
            category="causal_attention",
        ),
        matrices_pdf=f"{CAUSAL_DIR}/figures/matrices.pdf",
        matrices_png=report(
            f"{CAUSAL_DIR}/figures/matrices.png",
            caption="../report/causal_attention_matrices.rst",
            category="causal_attention",
        ),
        claims=f"{CAUSAL_DIR}/claims.json",
    log:
        "logs/causal_attention/evaluate.log",
    benchmark:
        "benchmarks/causal_attention/evaluate.tsv"
    conda:
        ENV
    threads: rule_resources("causal_attention", "causal_attention_evaluate")["threads"]
    resources:
        **rule_job_resources("causal_attention", "causal_attention_evaluate"),
    params:
        claims=CAUSAL["claims"],
        recovery=CAUSAL["recovery"],
        granger=CAUSAL["granger"],
        archs=CAUSAL_ARCHS,
        n_steps=CAUSAL["n_steps"],
        seed=config["seed"],
        scale=SCALE,
        source=SOURCE,
    script:
        "../scripts/causal_attention_evaluate.py"


register_target(
    "causal_attention",
    [f"{CAUSAL_DIR}/auroc.tsv", f"{CAUSAL_DIR}/auroc_summary.tsv", *CAUSAL_FIGURE_FILES, f"{CAUSAL_DIR}/claims.json"],
)


rule causal_attention:
    input:
        TARGET_OUTPUTS["causal_attention"],
