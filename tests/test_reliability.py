"""Interrupted runs and repeatability, through the real Snakemake CLI."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import xarray as xr

from conftest import SnakemakeRunner, copy_workflow

# A larger toy brain so that the cache job runs for a few seconds.
BIG = {"connectivity": {"embedded": {"n_ap": 24, "n_ml": 20, "n_injections": 24}}}


@pytest.mark.workflow
def test_sigkill_mid_job_then_rerun_equals_uninterrupted(tmp_path):
    killed = SnakemakeRunner(copy_workflow(tmp_path / "killed"))
    cfg = killed.write_config(BIG)
    cmd = [sys.executable, "-m", "snakemake", "--cores", "1", "connectivity_data", "--configfile", str(cfg)]
    proc = subprocess.Popen(cmd, cwd=killed.workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    job_log = killed.workdir / "logs/connectivity/connectivity_embedded_cache.log"
    deadline = time.time() + 120
    while not job_log.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert job_log.exists() and proc.poll() is None, "the job did not start"
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # Snakemake and its job, as a power cut would
    proc.wait(timeout=30)
    assert not (killed.workdir / "results/connectivity/data.nc").exists()

    # The killed run left its lock: the rerun stops and says how to remove it ...
    again = killed("connectivity_data", config=BIG, check=False)
    assert again.returncode != 0 and "--unlock" in again.stdout + again.stderr
    killed("--unlock", config=BIG)
    # ... and the same command then redoes the incomplete job (profiles/default, which
    # Snakemake applies to every run here, sets rerun-incomplete) and completes.
    killed("connectivity_data", config=BIG)

    clean = SnakemakeRunner(copy_workflow(tmp_path / "clean"))
    clean("connectivity_data", config=BIG)
    rel = "results/connectivity/data.nc"
    with xr.open_dataset(killed.workdir / rel) as a, xr.open_dataset(clean.workdir / rel) as b:
        for name in ("X", "Y", "Omega", "W_true"):
            np.testing.assert_array_equal(a[name].values, b[name].values)
