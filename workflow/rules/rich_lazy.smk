# Liu et al. 2024, How connectivity structure shapes rich and lazy learning in neural circuits.
# inits (random rank sweep + connectivity block of results/connectivity/W.nc + shuffle)
#   -> train per task (laziness measures; aligned init from task statistics, warm start extra)
#   -> theory (two-layer linear network: closed form vs simulation)
#   -> report (tables, figures, claims.json).

RL = section("rich_lazy")
RL_DIR = "results/rich_lazy"
RL_FIGS = ["rank_sweep", "connectivity", "aligned", "training", "theory"]


_check_rich_lazy(RL)


wildcard_constraints:
    rl_task="|".join(RL["tasks"]),


rule rich_lazy_inits:
    input:
        W="results/connectivity/W.nc",
    output:
        f"{RL_DIR}/inits.nc",
    log:
        "logs/rich_lazy/rich_lazy_inits.log",
    benchmark:
        "benchmarks/rich_lazy/rich_lazy_inits.tsv"
    conda:
        ENV
    threads: rule_resources("rich_lazy", "rich_lazy_inits")["threads"]
    resources:
        **rule_job_resources("rich_lazy", "rich_lazy_inits"),
    params:
        n_hidden=RL["n_hidden"],
        ranks=RL["ranks"],
        gain=RL["gain"],
        n_seeds=RL["n_seeds"],
        connectivity=RL["connectivity"],
        seed=config["seed"],
        scale=SCALE,
        source=SOURCE,
    script:
        "../scripts/rich_lazy_inits.py"


rule rich_lazy_train:
    input:
        f"{RL_DIR}/inits.nc",
    output:
        measures=f"{RL_DIR}/{{rl_task}}/laziness.tsv",
        curves=f"{RL_DIR}/{{rl_task}}/loss_curves.tsv",
    log:
        "logs/rich_lazy/rich_lazy_train_{rl_task}.log",
    benchmark:
        "benchmarks/rich_lazy/rich_lazy_train_{rl_task}.tsv"
    conda:
        ENV
    threads: rule_resources("rich_lazy", "rich_lazy_train")["threads"]
    resources:
        **rule_job_resources("rich_lazy", "rich_lazy_train"),
    params:
        task=lambda wc: _rl_task_params(RL, wc.rl_task),
        trainer=lambda wc: _rl_trainer(RL, wc.rl_task),
        probe_trials=lambda wc: _rl_task_value(RL, wc.rl_task, "probe_trials"),
        ntk_trials=lambda wc: _rl_task_value(RL, wc.rl_task, "ntk_trials"),
        ntk_steps=RL["ntk_steps"],
        aligned_rank=RL["aligned_rank"],
        warm_rank=RL["warm_start_rank"],
        stats_trials=RL["stats_trials"],
        seed=config["seed"],
        device=config["device"],
    script:
        "../scripts/rich_lazy_train.py"


rule rich_lazy_theory:
    output:
        table=f"{RL_DIR}/theory/theory.tsv",
        curve=f"{RL_DIR}/theory/curve.tsv",
    log:
        "logs/rich_lazy/rich_lazy_theory.log",
    benchmark:
        "benchmarks/rich_lazy/rich_lazy_theory.tsv"
    conda:
        ENV
    threads: rule_resources("rich_lazy", "rich_lazy_theory")["threads"]
    resources:
        **rule_job_resources("rich_lazy", "rich_lazy_theory"),
    params:
        theory=RL["theory"],
        seed=config["seed"],
    script:
        "../scripts/rich_lazy_theory.py"


rule rich_lazy_report:
    input:
        inits=f"{RL_DIR}/inits.nc",
        theory=f"{RL_DIR}/theory/theory.tsv",
        theory_curve=f"{RL_DIR}/theory/curve.tsv",
        measures=expand(f"{RL_DIR}/{{t}}/laziness.tsv", t=RL["tasks"]),
        curves=expand(f"{RL_DIR}/{{t}}/loss_curves.tsv", t=RL["tasks"]),
    output:
        **{
            f"{fig}_{ext}": (
                report(
                    f"{RL_DIR}/figures/{fig}.png",
                    caption=f"../report/rich_lazy_{fig}.rst",
                    category="rich_lazy",
                )
                if ext == "png"
                else f"{RL_DIR}/figures/{fig}.pdf"
            )
            for fig in RL_FIGS
            for ext in ("pdf", "png")
        },
        table=f"{RL_DIR}/laziness.tsv",
        summary=f"{RL_DIR}/summary.tsv",
        init_ranks=f"{RL_DIR}/init_ranks.tsv",
        claims=f"{RL_DIR}/claims.json",
    log:
        "logs/rich_lazy/rich_lazy_report.log",
    benchmark:
        "benchmarks/rich_lazy/rich_lazy_report.tsv"
    conda:
        ENV
    threads: rule_resources("rich_lazy", "rich_lazy_report")["threads"]
    resources:
        **rule_job_resources("rich_lazy", "rich_lazy_report"),
    params:
        aligned_rank=RL["aligned_rank"],
        scale=SCALE,
        source=SOURCE,
        seed=config["seed"],
    script:
        "../scripts/rich_lazy_report.py"


register_target(
    "rich_lazy",
    [
        f"{RL_DIR}/laziness.tsv",
        f"{RL_DIR}/summary.tsv",
        f"{RL_DIR}/init_ranks.tsv",
        f"{RL_DIR}/claims.json",
        f"{RL_DIR}/theory/theory.tsv",
    ]
    + [f"{RL_DIR}/figures/{fig}.{ext}" for fig in RL_FIGS for ext in ("pdf", "png")],
)


rule rich_lazy:
    input:
        TARGET_OUTPUTS["rich_lazy"],
