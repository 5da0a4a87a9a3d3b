# Shared by every rule file (config validation, scale selection, target registry) and the
# helper functions of each paper's rule file, grouped by paper below (Snakemake's linter
# wants functions and rules in separate files).
import copy
import math
from pathlib import Path

from snakemake.utils import update_config, validate

validate(config, schema="../schemas/config.schema.yaml")

SCALES = ("demo", "reference", "paper")
SCALE = config["scale"]
SOURCE = config["source"]
ENV = "../../envs/neurorepro.yaml"

# Each paper's rule file registers its final outputs here under its target name;
# `rule all` and the claims table are built from this registry.
TARGET_OUTPUTS: dict[str, list[str]] = {}


def section(name: str) -> dict:
    """Config section `name` with its `demo:`/`reference:`/`paper:` block for the current scale merged in.

    Keys outside the blocks apply at every scale; keys inside the block of the
    run's `scale` override them (recursively, nested keys one by one).
    """
    sec = copy.deepcopy(config.get(name, {}))
    blocks = {s: sec.pop(s, {}) or {} for s in SCALES}
    update_config(sec, blocks[SCALE])  # recursive: nested keys override one by one
    return sec


def resources_path(*parts: str) -> str:
    """A path under the configured resources folder, per data source (e.g. resources/embedded/...)."""
    return str(Path(config["resources_dir"], *parts))


def register_target(name: str, outputs: list[str]) -> list[str]:
    """Record the final outputs of paper `name` (each paper writes `claims.json`)."""
    TARGET_OUTPUTS[name] = list(outputs)
    return TARGET_OUTPUTS[name]


def all_outputs() -> list[str]:
    files = [f for outs in TARGET_OUTPUTS.values() for f in outs]
    return files + [
        "results/claims.tsv",
        "results/claims_findings.png",
        "results/provenance.json",
        "results/report/front_page.rst",
    ]


# -- job resources (every rule file) -------------------------------------------
# Each rule's threads, mem_mb, runtime (minutes) and gpu come from the config: the `resources:`
# mapping of the rule's paper section (or the top-level `resources:` for the Allen data, claims
# and report rules), merged for the run's scale by section(). Layers, last wins: top-level
# `default`, the section's `default`, the rule's entry, the entry's `allen:` block (source: allen).

RESOURCE_KEYS = ("threads", "mem_mb", "runtime", "gpu")
# (section, rule) pairs the rule files asked for; check_rule_resources() compares the config with them
_RESOURCES_READ: set[tuple[str, str]] = set()


def rule_resources(name: str | None, rule: str) -> dict:
    """{threads, mem_mb, runtime, gpu} of `rule` from config section `name` (None: top-level `resources:`)."""
    key = "resources" if name is None else name
    _RESOURCES_READ.add((key, rule))
    top = section("resources")
    entries = top if name is None else section(name).get("resources") or {}
    res: dict = {}
    for layer in (top.get("default"), entries.get("default"), entries.get(rule)):
        layer = dict(layer or {})
        allen = layer.pop("allen", None) or {}
        res.update(layer)
        if SOURCE == "allen":
            res.update(allen)
    missing = [k for k in RESOURCE_KEYS if k not in res]
    if missing:
        where = "resources" if name is None else f"{name}.resources"
        raise ValueError(f"config {where}: rule {rule} has no {missing} (set them under {where}.default or {rule})")
    return {k: res[k] for k in RESOURCE_KEYS}


def rule_job_resources(name: str | None, rule: str, **overrides) -> dict:
    """mem_mb, runtime and gpu of `rule` for a rule's `resources:` (threads go to `threads:`);
    `overrides` replace values, e.g. a callable mem_mb sized from the rule's input."""
    res = rule_resources(name, rule)
    res.pop("threads")
    res.update(overrides)
    return res


def check_rule_resources() -> None:
    """Every key under a `resources:` mapping (at every scale) other than `default` is read by a rule.

    Called once every rule file is read, so a misspelt rule name stops the run naming its key.
    """
    read: dict[str, set[str]] = {}
    for key, rname in _RESOURCES_READ:
        read.setdefault(key, set()).add(rname)
    for key, sec in config.items():
        if not isinstance(sec, dict):
            continue
        blocks = {"": sec if key == "resources" else sec.get("resources")}
        for s in SCALES:
            block = sec.get(s) or {}
            blocks[f"{s}."] = block if key == "resources" else block.get("resources")
        for prefix, mapping in blocks.items():
            for rname in mapping or {}:
                if rname in SCALES and key == "resources" and not prefix:
                    continue
                if rname != "default" and rname not in read.get(key, set()):
                    where = f"resources.{prefix}".rstrip(".") if key == "resources" else f"{key}.{prefix}resources"
                    raise ValueError(
                        f"config {where}.{rname}: no rule of this section is named {rname!r} "
                        f"(rules: {', '.join(sorted(read.get(key, set()))) or 'none'})"
                    )


# -- allen_connectivity.smk ----------------------------------------------------


def _user_cache() -> str | None:
    """The folder of a user's own Allen cache (config connectivity.cache_manifest), checked."""
    manifest = CONN["cache_manifest"]
    if not manifest:
        return None
    path = Path(manifest).expanduser()
    if SOURCE != "allen":
        raise ValueError(
            f"connectivity.cache_manifest ({manifest}) names an existing Allen cache; "
            f"it needs source: allen (source is {SOURCE!r})"
        )
    if path.name != "mouse_connectivity_manifest.json" or not path.is_file():
        raise ValueError(
            f"connectivity.cache_manifest: {path} is not an existing mouse_connectivity_manifest.json "
            "(give the manifest file of a MouseConnectivityCache folder)"
        )
    return str(path.parent.resolve())


def _selection_params():
    keys = (
        "source_areas",
        "target_areas",
        "hemisphere",
        "min_injection_fraction_in_source",
        "max_injection_volume_mm3",
        "injection_site_min_fraction",
        "data_mask_threshold",
        "min_data_coverage",
        "cre",
        "contralateral",
    )
    return {k: CONN[k] for k in keys}


# -- rich_lazy.smk -------------------------------------------------------------


def _check_rich_lazy(sec: dict) -> None:
    """Keys the merged `rich_lazy` section needs, and the checks the schema cannot express."""
    need = [
        "tasks",
        "n_hidden",
        "ranks",
        "aligned_rank",
        "gain",
        "alpha",
        "dt",
        "sigma",
        "cxt_explicit_context",
        "learning_rate",
        "momentum",
        "n_iter",
        "batch_size",
        "n_seeds",
        "probe_trials",
        "ntk_trials",
        "log_every",
        "connectivity",
        "theory",
        "ntk_steps",
        "warm_start_rank",
        "stats_trials",
    ]
    missing = [k for k in need if k not in sec]
    if missing:
        raise ValueError(f"config rich_lazy (scale {SCALE}) lacks keys {missing}")
    if max(sec["ranks"]) > sec["n_hidden"]:
        raise ValueError(f"config rich_lazy.ranks {sec['ranks']} exceed rich_lazy.n_hidden={sec['n_hidden']}")
    if sec["aligned_rank"] not in sec["ranks"]:
        raise ValueError(f"config rich_lazy.aligned_rank={sec['aligned_rank']} must be one of rich_lazy.ranks")
    if sec["aligned_rank"] > 2:
        raise ValueError(
            f"config rich_lazy.aligned_rank={sec['aligned_rank']}: the task statistic of a two-choice "
            "task has rank <= 2"
        )
    if sec["warm_start_rank"] is not None and sec["warm_start_rank"] not in sec["ranks"]:
        raise ValueError(f"config rich_lazy.warm_start_rank={sec['warm_start_rank']} must be one of rich_lazy.ranks")
    th = sec["theory"]
    lacks = [k for k in ("d", "h", "ranks", "gain", "n_seeds", "n_samples", "lr", "max_steps", "tol") if k not in th]
    if lacks:
        raise ValueError(f"config rich_lazy.theory (scale {SCALE}) lacks keys {lacks}")
    if max(th["ranks"]) > min(th["d"], th["h"]):
        raise ValueError(f"config rich_lazy.theory.ranks {th['ranks']} exceed min(theory.d, theory.h)")
    if sec["ntk_trials"] > sec["probe_trials"]:
        raise ValueError("config rich_lazy.ntk_trials must not exceed rich_lazy.probe_trials")
    for k in ("sign", "selection", "inhibitory_fraction", "ei_balance"):
        if k not in sec["connectivity"]:
            raise ValueError(f"config rich_lazy.connectivity lacks key {k!r}")
    if "SMNIST" in sec["tasks"]:
        sm = sec.get("smnist") or {}
        if "holdout" not in sm:
            raise ValueError("config rich_lazy.tasks has SMNIST: rich_lazy.smnist.holdout is missing")
        if not sm.get("data_dir"):
            raise ValueError(
                "config rich_lazy.tasks has SMNIST: set rich_lazy.smnist.data_dir to the folder of the "
                "MNIST IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz])"
            )
        if sm.get("ntk_trials", sec["ntk_trials"]) > sm.get("probe_trials", sec["probe_trials"]):
            raise ValueError("config rich_lazy.smnist.ntk_trials must not exceed rich_lazy.smnist.probe_trials")


def _rl_task_value(sec: dict, task: str, key: str):
    """`key` for one rich_lazy task: SMNIST's own value from `rich_lazy.smnist` when given, else the common one."""
    if task == "SMNIST" and key in (sec.get("smnist") or {}):
        return sec["smnist"][key]
    return sec[key]


def _rl_task_params(sec: dict, task: str) -> dict:
    """Keyword arguments of `Task(task, ...)` (the MNIST folder and held-out split for SMNIST)."""
    kw = {
        "dt": sec["dt"],
        "sigma": sec["sigma"],
        "explicit_context": sec["cxt_explicit_context"],
        "timing": sec.get("timing", {}).get(task, {}),
    }
    if task == "SMNIST":
        sm = sec["smnist"]
        kw.update(data_dir=sm["data_dir"], holdout=sm["holdout"], split_seed=config["seed"])
    return kw


def _rl_trainer(sec: dict, task: str) -> dict:
    keys = ("n_hidden", "alpha", "learning_rate", "momentum", "n_iter", "log_every")
    return {**{k: sec[k] for k in keys}, "batch_size": _rl_task_value(sec, task, "batch_size")}


# -- sampling.smk --------------------------------------------------------------


def _check_sampling(sec: dict) -> None:
    """Keys the merged `sampling` section needs, and the checks the schema cannot express."""
    need = [
        "activation",
        "n_hidden",
        "sigma_max",
        "sigma_min",
        "n_stages",
        "n_iter",
        "batch_size",
        "lr",
        "n_train",
        "n_reference",
        "n_chains",
        "n_steps",
        "dt",
        "record_every",
        "init_std",
        "bimodal_means",
        "bimodal_stds",
        "laplace_rhos",
        "skew",
        "accel_init",
        "accel_init_std",
        "accel_threshold_frac",
        "digits_dataset",
        "digits_pca_dim",
        "digits_n_hidden",
        "digits_n_iter",
        "digits_n_show",
        "sweep_sizes",
        "sweep_task",
        "sweep_seeds",
        "weight_decay",
        "amsgrad",
        "lr_schedule",
        "restart_per_stage",
        "loss_weighting",
        "n_seeds",
        "n_energy",
        "digits_whiten",
        "digits_heldout_frac",
        "digits_n_seeds",
        "digits_lr",
        "digits_n_images",
        "bimodal_weights",
        "laplace_means",
        "laplace_scale",
        "laplace_kind",
    ]
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


def _sampling_train(cfg):
    """DSM/Langevin settings every rule passes to neurorepro.sampling.experiment.TrainSettings."""
    keys = [
        "activation",
        "sigma_max",
        "sigma_min",
        "n_stages",
        "n_iter",
        "batch_size",
        "lr",
        "weight_decay",
        "amsgrad",
        "lr_schedule",
        "restart_per_stage",
        "loss_weighting",
        "n_chains",
        "n_steps",
        "dt",
        "record_every",
        "init_std",
    ]
    return {k: cfg[k] for k in keys}


def _sampling_target(cfg):
    keys = [
        "bimodal_means",
        "bimodal_stds",
        "bimodal_weights",
        "laplace_rhos",
        "laplace_means",
        "laplace_scale",
        "laplace_kind",
    ]
    return {k: cfg[k] for k in keys}


def _sampling_figure_inputs(wc):
    if wc.fig == "size":
        return {"data": "results/sampling/size_sweep.tsv"}
    if wc.fig == "theory":
        return {"data": "results/sampling/bimodal/samples.nc", "metrics": "results/sampling/bimodal/metrics.tsv"}
    return {"data": f"results/sampling/{wc.fig}/samples.nc", "metrics": f"results/sampling/{wc.fig}/metrics.tsv"}


# -- dimensionality.smk --------------------------------------------------------


def _dim_train_params(net: str, lr=None, batch_size=None, momentum=None, epochs=None, snapshot_epochs=None) -> dict:
    spec = dict(DIM["networks"][net])
    return {
        "dataset": spec.pop("dataset"),
        "kind": spec.pop("kind"),
        "model_kwargs": spec,
        "n_train": DIM["n_train"],
        "n_test": DIM["n_test"],
        "n_probe": DIM["n_probe"],
        "probe_max_features": DIM["probe_max_features"],
        "lr": DIM["lr"] if lr is None else float(lr),
        "batch_size": DIM["batch_size"] if batch_size is None else int(batch_size),
        "momentum": DIM["momentum"] if momentum is None else momentum,
        "weight_decay": DIM["weight_decay"],
        "epochs": DIM["epochs"] if epochs is None else epochs,
        "snapshot_epochs": DIM["snapshot_epochs"] if snapshot_epochs is None else snapshot_epochs,
    }


# -- credit_assignment.smk -----------------------------------------------------


def _check_credit_assignment(sec: dict) -> None:
    """Checks the schema cannot express, with the config key named."""
    missing = [k for k in ["tasks", "rules", "n_seeds", "gap", "remedies", *CA_TRAINER_KEYS] if k not in sec]
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
            raise ValueError(
                f"config credit_assignment.tasks names '{task}' but credit_assignment.{task} (its settings) is missing"
            )
    for i, rem in enumerate(sec["remedies"] or []):
        bad = [r for r in rem["rules"] if r not in sec["rules"]]
        if bad:
            raise ValueError(
                f"config credit_assignment.remedies[{i}].rules names {bad}, not in credit_assignment.rules"
            )


def _ca_task(wildcards) -> dict:
    opts = {k: v for k, v in CA[wildcards.task].items() if k not in CA_TASK_OVERRIDES}
    if wildcards.task == "digits":
        opts["root"] = resources_path("datasets")
    return opts


def _ca_trainer(wildcards) -> dict:
    kw = {k: CA[k] for k in CA_TRAINER_KEYS}
    kw.update({k: CA[wildcards.task][k] for k in CA_TASK_OVERRIDES if k in CA[wildcards.task]})
    return kw


# -- causal_attention.smk ------------------------------------------------------


def _check_causal_attention(sec: dict) -> None:
    """Checks the schema cannot express, with the config key named."""
    missing = [k for k in CAUSAL_KEYS if k not in sec]
    if missing:
        raise ValueError(f"config causal_attention (scale {SCALE}) lacks keys {missing}")
    m = sec["model"]
    if "keyed" in sec["archs"] and m["d_model"] % m["n_heads"]:
        raise ValueError(
            f"config causal_attention.model.d_model ({m['d_model']}) must be divisible by model.n_heads ({m['n_heads']})"
        )
    if m["train_frac"] + m["val_frac"] >= 1:
        raise ValueError("config causal_attention.model: train_frac + val_frac must be < 1 (the rest is the test set)")
    cl = sec["claims"]
    if not any(n >= cl["large_n"] for n in sec["sizes"]):
        raise ValueError(
            f"config causal_attention.claims.large_n ({cl['large_n']}) exceeds every size in causal_attention.sizes {sec['sizes']}"
        )
    if not any(p >= cl["dense_p"] for p in sec["probs"]):
        raise ValueError(
            f"config causal_attention.claims.dense_p ({cl['dense_p']}) exceeds every p in causal_attention.probs {sec['probs']}"
        )
    if sec["n_steps"] * (1 - m["train_frac"] - m["val_frac"]) < 5 * m["context"]:
        raise ValueError("config causal_attention.n_steps is too short for a test split of 5 context windows")


# -- flatness.smk --------------------------------------------------------------


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


def _flat_model(e):
    if e["arch"] == "vgg":
        return {"model_kind": "vgg", "model_kwargs": {**e["vgg"], "activation": e["activation"]}}
    return {"model_kind": "deepnet", "model_kwargs": {"widths": e["widths"], "activation": e["activation"]}}


# -- connectivity.smk ----------------------------------------------------------


def _conn_figs(*names):
    """Figure outputs {name}_{pdf,png}; the PNG goes into the Snakemake report with its caption."""
    out = {}
    for n in names:
        out[f"{n}_pdf"] = CONN_FIG.format(name=n, ext="pdf")
        out[f"{n}_png"] = report(
            CONN_FIG.format(name=n, ext="png"), caption=f"../report/connectivity_{n}.rst", category="connectivity"
        )
    return out


def _conn_problem_sizes(data_path: str, targets: str) -> list[tuple[int, int]]:
    """(source, target) voxel counts a full-rank fit may have: data.nc's header when the file exists
    (lazy open, no arrays read) and connectivity.expected_size at this scale when set."""
    sizes = []
    if Path(data_path).exists():
        import xarray as xr

        tdim = "contra_target_voxel" if targets == "contra" else "target_voxel"
        with xr.open_dataset(data_path) as ds:
            if "source_voxel" in ds.sizes and tdim in ds.sizes:
                sizes.append((int(ds.sizes["source_voxel"]), int(ds.sizes[tdim])))
    size = section("connectivity").get("expected_size")
    if size:
        sizes.append((size["n_source_voxels"], size["n_target_voxels"]))
    return sizes


def _conn_fit_mem_mb(rule: str, targets: str = "ipsi"):
    """mem_mb of a job running full-rank fits = the configured mem_mb (interpreter, data,
    low-rank and regional fits) plus the full-rank fit's memory as the memory guard estimates it
    (neurorepro.connectivity.pipeline.full_rank_fit_bytes), so a cluster job asks for what the fit needs.

    The larger of the two sizes counts: a data.nc left by a smaller run (e.g. demo) is rebuilt
    after the DAG is planned, so its header alone could undersize the job."""
    base = rule_resources("connectivity", rule)["mem_mb"]
    dtype = section("connectivity")["model"]["dtype"]

    def mem_mb(wildcards, input):
        sizes = _conn_problem_sizes(input.data, targets)
        if not sizes:
            return base
        from neurorepro.connectivity.pipeline import full_rank_fit_bytes

        return base + math.ceil(max(full_rank_fit_bytes(nx, ny, dtype) for nx, ny in sizes) / 2**20)

    return mem_mb


# -- claims.smk ----------------------------------------------------------------


def _claims_files(wildcards):
    return [
        f"results/{t}/claims.json" for t in sorted(TARGET_OUTPUTS) if f"results/{t}/claims.json" in TARGET_OUTPUTS[t]
    ]
