"""Shared fixtures: run the real Snakemake DAG in a scratch copy of the workflow."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COPIED = ["Snakefile", "config.yaml", "config", "workflow", "envs", "profiles"]
TINY_CONFIGS = REPO / "tests" / "configs"


def tiny_targets() -> list[str]:
    """The targets with a tiny config overlay, ``tests/configs/<target>.yaml`` (one per paper)."""
    return sorted(p.stem for p in TINY_CONFIGS.glob("*.yaml"))


def tiny_config(*targets: str) -> dict:
    """The tiny config overlays of ``targets`` joined into one dict (a fresh copy on each call).

    Each file holds one paper's section at toy size, for that paper's workflow test; the
    whole-DAG test joins them all. Files are merged as Snakemake merges ``--configfile``s
    (nested keys one by one), so the result is what the run sees on top of config.yaml.
    """
    from snakemake.utils import update_config

    joined: dict = {}
    for target in targets:
        path = TINY_CONFIGS / f"{target}.yaml"
        if not path.is_file():
            raise FileNotFoundError(f"no tiny config for target {target!r}: {path} is missing")
        update_config(joined, yaml.safe_load(path.read_text()))
    return joined


def copy_workflow(dest: Path) -> Path:
    """Copy the files Snakemake needs (not results/ or resources/) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif src.exists():
            shutil.copy2(src, dest / name)
    return dest


class SnakemakeRunner:
    """Runs ``python -m snakemake`` inside a scratch copy of the workflow."""

    def __init__(self, workdir: Path):
        self.workdir = workdir

    def write_config(self, overrides: dict, name: str = "test.yaml") -> Path:
        path = self.workdir / name
        path.write_text(yaml.safe_dump(overrides))
        return path

    def __call__(self, *args: str, config: dict | None = None, check: bool = True, timeout: int = 1500):
        cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
        if config is not None:  # last: --configfile takes every following word as a file
            cmd += ["--configfile", str(self.write_config(config))]
        proc = subprocess.run(cmd, cwd=self.workdir, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(
                f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
            )
        return proc


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Unit tests use tiny tensors: one torch thread avoids oversubscribing shared cores."""
    import torch

    torch.set_num_threads(1)


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@pytest.fixture(params=["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not _cuda_available(), reason="no CUDA device here (runs where a GPU is present)"))])
def device(request) -> str:
    """Each torch device of this machine: ``cpu``, and ``cuda`` where a GPU is present."""
    return request.param


@pytest.fixture
def snakemake_run(tmp_path: Path) -> SnakemakeRunner:
    """A runner for Snakemake in a fresh copy of the workflow under ``tmp_path``."""
    return SnakemakeRunner(copy_workflow(tmp_path / "wf"))


def pytest_collection_modifyitems(config, items):
    """Mark every test that runs Snakemake (it takes the ``snakemake_run`` fixture) as ``workflow``,
    so ``make test-fast`` (``-m "not workflow and not slurm"``) keeps to unit tests."""
    for item in items:
        if "snakemake_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.workflow)
