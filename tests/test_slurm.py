"""The DAG through a real one-node SLURM cluster with profiles/slurm's plugin.

Needs root and Debian's slurmctld/slurmd/munge (installed by .ci/run). Outside CI the
test is skipped when SLURM is not installed; in CI (CI=true) a missing SLURM fails.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from conftest import REPO, SnakemakeRunner, copy_workflow

SLURM_DIR = REPO / "tests" / "slurm"
TARGET = "connectivity_data"


def _have_slurm() -> bool:
    return all(shutil.which(b) for b in ("slurmctld", "slurmd", "munged", "sbatch", "squeue")) and os.geteuid() == 0


@pytest.fixture(scope="module")
def slurm_cluster():
    if not _have_slurm():
        if os.environ.get("CI") == "true":
            pytest.fail("CI must install slurmctld, slurmd, munge and slurm-client (see .ci/run)")
        pytest.skip("SLURM daemons not installed (apt-get install slurmctld slurmd munge slurm-client)")
    started = subprocess.run(["bash", str(SLURM_DIR / "start_slurm.sh")], capture_output=True, text=True, timeout=120)
    assert started.returncode == 0, started.stdout + started.stderr
    yield
    subprocess.run(["bash", str(SLURM_DIR / "stop_slurm.sh")], capture_output=True, timeout=60)


@pytest.mark.slurm
@pytest.mark.workflow
def test_target_through_slurm_equals_local_run(slurm_cluster, snakemake_run, tmp_path):
    shutil.copytree(SLURM_DIR / "profile", snakemake_run.workdir / "slurm-test-profile")
    log_before = Path("/var/log/slurm/slurmctld.log").read_text() if Path("/var/log/slurm/slurmctld.log").exists() else ""
    proc = snakemake_run("--profile", "slurm-test-profile", TARGET, timeout=900)
    out = proc.stdout + proc.stderr
    job_ids = re.findall(r"submitted with SLURM jobid (\d+)", out)
    assert len(job_ids) >= 2, out[-3000:]  # embedded cache + data, each an sbatch job
    slurm_logs = list((snakemake_run.workdir / ".snakemake" / "slurm_logs").rglob("*.log"))
    assert {p.stem for p in slurm_logs} >= set(job_ids)
    ctld = Path("/var/log/slurm/slurmctld.log").read_text()[len(log_before):]
    for jid in job_ids:
        assert f"Allocate JobId={jid} " in ctld and f"JobId={jid} WEXITSTATUS 0" in ctld, ctld[-2000:]

    # the same target run locally gives the same numbers
    local = SnakemakeRunner(copy_workflow(tmp_path / "local"))
    local(TARGET)
    rel = Path("results/connectivity/data.nc")
    with xr.open_dataset(snakemake_run.workdir / rel) as a, xr.open_dataset(local.workdir / rel) as b:
        for name in ("X", "Y", "Omega", "W_true"):
            np.testing.assert_array_equal(a[name].values, b[name].values)
        np.testing.assert_array_equal(a.experiment_id.values, b.experiment_id.values)
