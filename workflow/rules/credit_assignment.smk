# Liu, Ghosh, Richards, Shea-Brown, Lajoie 2022, "Beyond accuracy: generalization properties of
# bio-plausible temporal credit assignment rules". A (leaky) ReLU RNN trained on temporal tasks
# with BPTT, truncated BPTT, e-prop, RFLO (and MDGL), each run until a common training-accuracy
# criterion (matched training performance, with a cap); generalisation gap, top Hessian eigenvalue
# w.r.t. W_rec, the curvature each rule's update sees (theorem); gap vs curvature; remedies; claims.

CA = section("credit_assignment")
CA_DIR = "results/credit_assignment"
CA_TRAINER_KEYS = [
    "n_hidden",
    "alpha",
    "rec_gain",
    "lr",
    "optimizer",
    "momentum",
    "batch_size",
    "max_steps",
    "check_every",
    "target_train_acc",
    "weight_decay",
    "grad_clip",
    "truncation",
    "n_types",
    "hessian_every",
    "hessian_samples",
    "hessian_iter",
    "hessian_tol",
    "eval_noise",
]
CA_TASK_OVERRIDES = ("max_steps", "lr", "target_train_acc", "alpha")  # training keys a task block may set for itself


_check_credit_assignment(CA)


CA_RUNS = [f"{CA_DIR}/runs/{t}/{r}.nc" for t in CA["tasks"] for r in CA["rules"]]
CA_FIGURES = ["accuracy_gap", "curvature", "gap_vs_curvature", "remedy", "theorem"]


rule credit_assignment_train:
    """Train one rule on one task for every seed (and each remedy that applies to the rule)."""
    output:
        f"{CA_DIR}/runs/{{task}}/{{rule}}.nc",
    log:
        "logs/credit_assignment/train_{task}_{rule}.log",
    benchmark:
        "benchmarks/credit_assignment/train_{task}_{rule}.tsv"
    wildcard_constraints:
        task="|".join(CA["tasks"]),
        rule="|".join(CA["rules"]),
    conda:
        ENV
    threads: rule_resources("credit_assignment", "credit_assignment_train")["threads"]
    resources:
        **rule_job_resources("credit_assignment", "credit_assignment_train"),
    params:
        task=_ca_task,
        trainer=_ca_trainer,
        n_seeds=CA["n_seeds"],
        remedies=CA["remedies"] or [],
        seed=config["seed"],
        device=config["device"],
        scale=SCALE,
    script:
        "../scripts/credit_assignment_train.py"


rule credit_assignment_summarize:
    """Per-run table, per-rule summary (mean/SD over seeds), gap-curvature correlation, claims."""
    input:
        runs=CA_RUNS,
    output:
        runs=f"{CA_DIR}/runs.tsv",
        summary=f"{CA_DIR}/summary.tsv",
        correlation=f"{CA_DIR}/gap_curvature_correlation.tsv",
        claims=f"{CA_DIR}/claims.json",
    log:
        "logs/credit_assignment/summarize.log",
    benchmark:
        "benchmarks/credit_assignment/summarize.tsv"
    conda:
        ENV
    threads: rule_resources("credit_assignment", "credit_assignment_summarize")["threads"]
    resources:
        **rule_job_resources("credit_assignment", "credit_assignment_summarize"),
    params:
        scale=SCALE,
        source=SOURCE,
        seed=config["seed"],
        gap=CA["gap"],
    script:
        "../scripts/credit_assignment_summarize.py"


rule credit_assignment_figures:
    """Accuracy and gap per rule; curvature over training; gap vs curvature; remedy."""
    input:
        runs=f"{CA_DIR}/runs.tsv",
        correlation=f"{CA_DIR}/gap_curvature_correlation.tsv",
        histories=CA_RUNS,
    output:
        accuracy_pdf=f"{CA_DIR}/figures/accuracy_gap.pdf",
        accuracy_png=report(
            f"{CA_DIR}/figures/accuracy_gap.png",
            caption="../report/credit_assignment_accuracy_gap.rst",
            category="credit_assignment",
        ),
        curvature_pdf=f"{CA_DIR}/figures/curvature.pdf",
        curvature_png=report(
            f"{CA_DIR}/figures/curvature.png",
            caption="../report/credit_assignment_curvature.rst",
            category="credit_assignment",
        ),
        scatter_pdf=f"{CA_DIR}/figures/gap_vs_curvature.pdf",
        scatter_png=report(
            f"{CA_DIR}/figures/gap_vs_curvature.png",
            caption="../report/credit_assignment_gap_vs_curvature.rst",
            category="credit_assignment",
        ),
        remedy_pdf=f"{CA_DIR}/figures/remedy.pdf",
        remedy_png=report(
            f"{CA_DIR}/figures/remedy.png",
            caption="../report/credit_assignment_remedy.rst",
            category="credit_assignment",
        ),
        theorem_pdf=f"{CA_DIR}/figures/theorem.pdf",
        theorem_png=report(
            f"{CA_DIR}/figures/theorem.png",
            caption="../report/credit_assignment_theorem.rst",
            category="credit_assignment",
        ),
    log:
        "logs/credit_assignment/figures.log",
    benchmark:
        "benchmarks/credit_assignment/figures.tsv"
    conda:
        ENV
    threads: rule_resources("credit_assignment", "credit_assignment_figures")["threads"]
    resources:
        **rule_job_resources("credit_assignment", "credit_assignment_figures"),
    params:
        gap=CA["gap"],
    script:
        "../scripts/credit_assignment_figures.py"


register_target(
    "credit_assignment",
    [f"{CA_DIR}/claims.json", f"{CA_DIR}/summary.tsv", f"{CA_DIR}/runs.tsv", f"{CA_DIR}/gap_curvature_correlation.tsv"]
    + [f"{CA_DIR}/figures/{name}.{ext}" for name in CA_FIGURES for ext in ("pdf", "png")],
)


rule credit_assignment:
    input:
        TARGET_OUTPUTS["credit_assignment"],
