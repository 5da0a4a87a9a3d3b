"""Job resources come from the config: a dry run's threads, mem_mb, runtime and gpu of every job
equal the `resources:` entries of config.yaml (and config/paper.yaml) at each scale, and
connectivity's full-rank fits ask at least the memory guard's estimate."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from neurorepro.connectivity.pipeline import full_rank_fit_bytes

REPO = Path(__file__).resolve().parents[1]
SCALES = ("demo", "reference", "paper")
# rule files whose rules read the top-level `resources:`; every other rule file is a paper
# section named like the file
TOP_LEVEL_FILES = {"allen_brain_observatory", "allen_connectivity", "claims", "report"}
# the rules that size their memory by the full-rank fit's estimate
FULL_RANK = set(re.findall(r'_conn_fit_mem_mb\(\s*"(\w+)"', (REPO / "workflow" / "rules" / "connectivity.smk").read_text()))
PAPER_VOXELS = 7497  # config/paper.yaml's 10 visual areas at 100 um (connectivity.paper.expected_size)


def rule_sections() -> dict[str, str | None]:
    """rule name -> its config section (None: top level), from the rule files."""
    out = {}
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        sec = None if smk.stem in TOP_LEVEL_FILES else smk.stem
        for name in re.findall(r"^rule (\w+):", smk.read_text(), flags=re.M):
            out[name] = sec
    return out


def merged_config(*overlays: dict) -> dict:
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    for o in overlays:
        update_config(cfg, o)
    return cfg


def at_scale(sec: dict, scale: str) -> dict:
    """A section with its block for `scale` merged in, as the workflow's section() does."""
    sec = dict(sec)
    blocks = {s: sec.pop(s, None) or {} for s in SCALES}
    update_config(sec, blocks[scale])
    return sec


def expected(cfg: dict, rule: str, sec: str | None) -> dict:
    """threads, mem_mb, runtime, gpu of `rule` by hand: top default < section default < rule < allen."""
    scale, allen = cfg["scale"], cfg["source"] == "allen"
    top = at_scale(cfg["resources"], scale)
    entries = top if sec is None else at_scale(cfg[sec], scale).get("resources", {})
    res: dict = {}
    for layer in (top["default"], entries.get("default", {}), entries.get(rule, {})):
        res.update({k: v for k, v in layer.items() if k != "allen"})
        if allen:
            res.update(layer.get("allen", {}))
    return res


def dry_run_jobs(stdout: str) -> list[dict]:
    """rule, threads and resources of every job a dry run lists."""
    jobs, cur = [], None
    for line in stdout.splitlines():
        m = re.match(r"^(?:local)?rule (\w+):$", line)
        if m:
            cur = {"rule": m.group(1), "threads": 1}
            jobs.append(cur)
            continue
        s = line.strip()
        if cur is None:
            continue
        if s.startswith("threads:"):
            cur["threads"] = int(s.split(":")[1])
        elif s.startswith("resources:"):
            cur["resources"] = dict(kv.split("=", 1) for kv in s[len("resources: "):].split(", "))
        elif not s:
            cur = None
    return jobs


@pytest.mark.parametrize("scale", SCALES)
def test_dry_run_resources_equal_the_config(snakemake_run, scale):
    if scale == "paper":
        overlay = yaml.safe_load((REPO / "config" / "paper.yaml").read_text())
        args = ["--configfile", "config/paper.yaml"]
    else:
        overlay = {"scale": scale}
        args = ["--config", f"scale={scale}"]
    cfg = merged_config(overlay)
    # -F: every job of the DAG; --cores 64: threads are not capped by this machine's cores
    proc = snakemake_run("-n", "-F", "--cores", "64", *args)
    jobs = dry_run_jobs(proc.stdout)
    sections = rule_sections()
    checked = {j["rule"] for j in jobs if j["rule"] != "all" and j["rule"] in sections and "resources" in j}
    assert len(checked) >= 40, sorted(checked)  # every rule of the DAG but the target rules
    conn = at_scale(cfg["connectivity"], cfg["scale"])
    for job in jobs:
        rule = job["rule"]
        if rule not in checked:
            continue
        want = expected(cfg, rule, sections[rule])
        got = job["resources"]
        assert job["threads"] == want["threads"], (rule, job)
        assert int(got["runtime"]) == want["runtime"], (rule, got, want)
        assert int(got["gpu"]) == want["gpu"], (rule, got, want)
        mem = want["mem_mb"]
        if rule in FULL_RANK and conn.get("expected_size"):  # no data.nc in the copy: the declared size
            size = conn["expected_size"]
            mem += math.ceil(full_rank_fit_bytes(size["n_source_voxels"], size["n_target_voxels"],
                                                 conn["model"]["dtype"]) / 2**20)
        assert int(got["mem_mb"]) == mem, (rule, got, mem)
    if scale == "paper":
        guard_mb = full_rank_fit_bytes(PAPER_VOXELS, PAPER_VOXELS, "float64") / 2**20
        fits = [j for j in jobs if j["rule"] in FULL_RANK]
        assert {"connectivity_fit", "connectivity_fit_contra"} <= {j["rule"] for j in fits}
        for j in fits:
            assert int(j["resources"]["mem_mb"]) >= guard_mb, j
            assert int(j["resources"]["gpu"]) == 1 and int(j["resources"]["runtime"]) >= 60, j
        # the attention step fans out: one job per network and forecaster
        ca = at_scale(cfg["causal_attention"], "paper")
        n_nets = len(ca["sizes"]) * len(ca["probs"]) * ca["n_seeds"]
        assert sum(j["rule"] == "causal_attention_attention" for j in jobs) == n_nets * len(ca["archs"])


def test_connectivity_fit_memory_follows_data_nc(snakemake_run):
    """Once data.nc exists, a full-rank rule sizes its memory from its header."""
    import numpy as np
    import xarray as xr

    n_x, n_y, n_c = 300, 500, 400
    path = snakemake_run.workdir / "results" / "connectivity" / "data.nc"
    path.parent.mkdir(parents=True)
    xr.Dataset({"X": (("source_voxel", "injection"), np.zeros((n_x, 3))),
                "Y": (("target_voxel", "injection"), np.zeros((n_y, 3))),
                "Y_contra": (("contra_target_voxel", "injection"), np.zeros((n_c, 3)))}).to_netcdf(path)
    rule = "connectivity_fit_contra"
    proc = snakemake_run("-n", "--cores", "64", rule, "--allowed-rules", rule)
    jobs = {j["rule"]: j for j in dry_run_jobs(proc.stdout)}
    base = expected(merged_config(), rule, "connectivity")["mem_mb"]
    want = base + math.ceil(full_rank_fit_bytes(n_x, n_c, "float64") / 2**20)
    assert int(jobs[rule]["resources"]["mem_mb"]) == want, jobs[rule]
    # at paper scale the smaller data.nc left by another run does not undersize the job
    proc = snakemake_run("-n", "--cores", "64", rule, "--allowed-rules", rule, "--configfile", "config/paper.yaml")
    job = {j["rule"]: j for j in dry_run_jobs(proc.stdout)}[rule]
    paper = merged_config(yaml.safe_load((REPO / "config" / "paper.yaml").read_text()))
    base = expected(paper, rule, "connectivity")["mem_mb"]
    assert int(job["resources"]["mem_mb"]) == base + math.ceil(
        full_rank_fit_bytes(PAPER_VOXELS, PAPER_VOXELS, "float64") / 2**20), job


@pytest.mark.parametrize(
    "overrides, named",
    [
        ({"connectivity": {"paper": {"resources": {"connectivity_fitt": {"mem_mb": 100}}}}}, "connectivity_fitt"),
        ({"resources": {"claims_tabel": {"runtime": 5}}}, "claims_tabel"),
        ({"sampling": {"resources": {"sampling_density": {"mem_mb": -1}}}}, "mem_mb"),
        ({"flatness": {"reference": {"resources": {"flatness_run": {"runtime": 1.5}}}}}, "runtime"),
        ({"rich_lazy": {"resources": {"rich_lazy_train": {"gpus": 1}}}}, "gpus"),
    ],
)
def test_bad_resources_are_rejected_naming_the_key(snakemake_run, overrides, named):
    proc = snakemake_run("-n", config=overrides, check=False)
    assert proc.returncode != 0
    assert named in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-3000:]


def test_slurm_profile_passes_threads_and_gpus():
    """profiles/slurm sets no cpus_per_task default, so the plugin asks --cpus-per-task=threads and --gpus=gpu."""
    slurm = pytest.importorskip("snakemake_executor_plugin_slurm.utils")
    from snakemake_executor_plugin_slurm_jobstep import get_cpu_setting

    profile = yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())
    defaults = profile["default-resources"]
    assert "cpus_per_task" not in defaults and "cpus_per_gpu" not in defaults

    class Resources(dict):
        __getattr__ = dict.__getitem__

    class Job:
        def __init__(self, threads, **res):
            self.threads, self.resources = threads, Resources({**defaults, **res})

    fit = Job(8, mem_mb=9146, runtime=120, gpu=1)
    assert get_cpu_setting(fit, True) == "--cpus-per-task=8"
    assert slurm.set_gres_string(fit).strip() == "--gpus=1"
    cpu_job = Job(2, mem_mb=3000, runtime=20, gpu=0)
    assert get_cpu_setting(cpu_job, False) == "--cpus-per-task=2"
    assert "--gpus" not in slurm.set_gres_string(cpu_job)
