# Liu, Ghosh, Richards, Shea-Brown, Lajoie 2022, "Beyond accuracy: generalization properties of
# bio-plausible temporal credit assignment rules". A (leaky) ReLU RNN trained on temporal tasks
# with BPTT, truncated BPTT, e-prop, RFLO (and MDGL), each run until a common training-accuracy
# criterion (matched training performance, with a cap); generalisation gap, top Hessian eigenvalue
# w.r.t. W_rec, the curvature each rule's update sees (theorem); gap vs curvature; remedies; claims.

CA = section("credit_assignment")
CA_DIR = "results/credit_assignment"
CA_TRAINER_KEYS = ["n_hidden", "alpha", "rec_gain", "lr", "optimizer", "momentum", "batch_size", "max_steps",
                   "check_every", "target_train_acc", "weight_decay", "grad_clip", "truncation", "n_types",
                   "hessian_every", "hessian_samples", "hessian_iter", "hessian_tol", "eval_noise"]
CA_TASK_OVERRIDES = ("max_steps", "lr", "target_train_acc", "alpha")  # training keys a task block may set for itself


def _check_credit_assignment(sec: dict) -> None:
    """Checks the schema cannot express, with the config key named."""
    missing = [k for k in ["tasks", "rules", "n_seeds", "threads", "gap", *CA_TRAINER_KEYS] if k not in sec]
    if missing:
        raise ValueError(f"config credit_assignment (scale {SCALE}) lacks keys {missing}")
    if "bptt" not in sec["rules"]:
        raise ValueError("config credit_assignment.rules must include 'bptt' (the reference the claims compare with)")
    if len(sec["rules"]) < 2:
        raise ValueError("config credit_assignment.rules needs 'bptt' and at least one approximate rule")
    if sec["n_seeds"] < 2:
        raise ValueError("config credit_assignment.n_seeds must be >= 2 (the claims compare spreads over seeds)")
    for task in sec["tasks"]:
        if task not in sec:
            raise ValueError(f"config credit_assignment.tasks names '{task}' but credit_assignment.{task} (its settings) is missing")
    for i, rem in enumerate(sec.get("remedies") or []):
        bad = [r for r in rem["rules"] if r not in sec["rules"]]
        if bad:
            raise ValueError(f"config credit_assignment.remedies[{i}].rules names {bad}, not in credit_assignment.rules")


_check_credit_assignment(CA)


def _ca_task(wildcards) -> dict:
    opts = {k: v for k, v in CA[wildcards.task].items() if k not in CA_TASK_OVERRIDES}
    if wildcards.task == "digits":
        opts["root"] = resources_path("datasets")
    return opts


def _ca_trainer(wildcards) -> dict:
    kw = {k: CA[k] for k in CA_TRAINER_KEYS}
    kw.update({k: CA[wildcards.task][k] for k in CA_TASK_OVERRIDES if k in CA[wildcards.task]})
    return kw


CA_RUNS = [f"{CA_DIR}/runs/{t}/{r}.nc" for t in CA["tasks"] for r in CA["rules"]]
CA_FIGURES = ["accuracy_gap", "curvature", "gap_vs_curvature", "remedy", "theorem"]


rule credit_assignment_train:
    """Train one rule on one task for every seed (and each remedy that applies to the rule)."""
    output:
        f"{CA_DIR}/runs/{{task}}/{{rule}}.nc",
    wildcard_constraints:
        task="|".join(CA["tasks"]),
        rule="|".join(CA["rules"]),
    params:
        task=_ca_task,
        trainer=_ca_trainer,
        n_seeds=CA["n_seeds"],
        remedies=CA.get("remedies") or [],
        seed=config["seed"],
        device=config["device"],
        scale=SCALE,
    log:
        "logs/credit_assignment/train_{task}_{rule}.log",
    benchmark:
        "benchmarks/credit_assignment/train_{task}_{rule}.tsv"
    threads: CA["threads"]
    resources:
        mem_mb={"demo": 2000, "reference": 4000}.get(SCALE, 16000),
        runtime={"demo": 20, "reference": 120}.get(SCALE, 1440),
        gpu=1 if SCALE == "paper" else 0,
    conda:
        ENV
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
    params:
        scale=SCALE,
        source=SOURCE,
        seed=config["seed"],
        gap=CA["gap"],
    log:
        "logs/credit_assignment/summarize.log",
    benchmark:
        "benchmarks/credit_assignment/summarize.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        ENV
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
        accuracy_png=report(f"{CA_DIR}/figures/accuracy_gap.png", caption="../report/credit_assignment_accuracy_gap.rst", category="credit_assignment"),
        curvature_pdf=f"{CA_DIR}/figures/curvature.pdf",
        curvature_png=report(f"{CA_DIR}/figures/curvature.png", caption="../report/credit_assignment_curvature.rst", category="credit_assignment"),
        scatter_pdf=f"{CA_DIR}/figures/gap_vs_curvature.pdf",
        scatter_png=report(f"{CA_DIR}/figures/gap_vs_curvature.png", caption="../report/credit_assignment_gap_vs_curvature.rst", category="credit_assignment"),
        remedy_pdf=f"{CA_DIR}/figures/remedy.pdf",
        remedy_png=report(f"{CA_DIR}/figures/remedy.png", caption="../report/credit_assignment_remedy.rst", category="credit_assignment"),
        theorem_pdf=f"{CA_DIR}/figures/theorem.pdf",
        theorem_png=report(f"{CA_DIR}/figures/theorem.png", caption="../report/credit_assignment_theorem.rst", category="credit_assignment"),
    params:
        gap=CA["gap"],
    log:
        "logs/credit_assignment/figures.log",
    benchmark:
        "benchmarks/credit_assignment/figures.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        ENV
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
