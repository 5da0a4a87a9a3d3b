"""Faulty downloads, against a real local HTTP server that plays the Allen API.

The `source: allen` download rule runs through Snakemake with allensdk pointed at the
server (config `allen_api`); every file reaching the cache must verify, broken ones are
refetched with backoff, and a file that never arrives fails the rule with a message
naming the URL and the file, leaving nothing broken behind.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr

from fault_server import AllenFaultServer
from neurorepro.allen import embedded_connectivity as emb
from neurorepro.allen.download import verify_json_table, verify_nrrd

SPEC = {"n_ap": 8, "n_ml": 6, "n_injections": 8}


def _allen_config(server: AllenFaultServer, attempts: int = 4) -> dict:
    return {
        "source": "allen",
        "allen_api": {"base_uri": server.url, "download_url": server.url},
        "download": {"attempts": attempts, "backoff_s": 0.1},
        "connectivity": {"embedded": SPEC},
    }


@pytest.fixture(scope="module")
def served_cache(tmp_path_factory):
    root = tmp_path_factory.mktemp("served")
    emb.write_embedded_connectivity_cache(root, emb.EmbeddedConnectivitySpec(**SPEC), seed=2016)
    return root


def _verify_tree(root) -> int:
    n = 0
    for path in root.rglob("*"):
        if path.suffix == ".nrrd":
            verify_nrrd(path)
            n += 1
        elif path.name in ("experiments.json", "structures.json"):
            verify_json_table(path)
            n += 1
        assert not path.name.endswith(".tmp"), path
    return n


@pytest.mark.workflow
def test_faulty_server_every_file_verified_and_data_identical(served_cache, snakemake_run, tmp_path):
    with AllenFaultServer(served_cache, faults_per_resource=1, slow_s=0.5) as server:
        snakemake_run("connectivity_download", config=_allen_config(server))
    cache = snakemake_run.workdir / "resources" / "allen" / "connectivity"
    done = json.loads((cache / "download_complete.json").read_text())
    n_files = _verify_tree(cache)
    failing = sum(v for k, v in server.injected.items() if k != "slow")
    print(f"\nfault injection: injected={dict(server.injected)} retries={done['retries']} "
          f"files_verified={done['files_verified']} files_on_disk_verified={n_files} corrupt_left=0")
    assert sum(server.injected.values()) >= 10 and set(server.injected) == set(
        ["truncate", "truncate_nolength", "reset", "500", "503", "slow"])
    assert done["retries"] == failing  # each failing answer cost exactly one retry
    assert done["files_verified"] == n_files == 3 + 4 * len(done["experiment_ids"])
    assert done["failures"] == []
    # the plan was announced before any volume: wild-type experiments only, files, GB, voxels
    log = (snakemake_run.workdir / "logs/connectivity/connectivity_download.log").read_text()
    plan = done["plan"]
    assert plan["n_experiments"] == len(done["experiment_ids"]) == plan["n_experiments_query"]
    assert plan["n_experiments_structure_query"] - plan["n_experiments_query"] == len(plan["dropped_cre"]) > 0
    assert plan["files"] == 1 + 4 * plan["n_experiments"] and plan["n_source_voxels"] > 0
    assert log.index("download plan:") < log.index("voxels:")

    # The downloaded cache gives the same regression data as the embedded cache itself.
    snakemake_run("connectivity_data", config=_allen_config(server))
    with xr.open_dataset(snakemake_run.workdir / "results/connectivity/data.nc") as got:
        from neurorepro.allen import connectivity as conn

        sel = conn.ConnectivitySelection(**{k: v for k, v in {
            "source_areas": ["VISp", "VISl", "VISal", "VISam", "VISpm", "VISrl"],
            "target_areas": ["VISp", "VISl", "VISal", "VISam", "VISpm", "VISrl"]}.items()})
        ref = conn.build_connectivity_data(conn.open_cache(served_cache, 100, offline=True), sel,
                                           offline=True, progress=False)
        for name in ("X", "Y", "Omega"):
            np.testing.assert_array_equal(got[name].values, ref[name].values)


@pytest.mark.workflow
def test_file_that_never_arrives_fails_naming_url_and_file(served_cache, snakemake_run):
    experiments = json.loads((served_cache / "experiments.json").read_text())
    eid = experiments[0]["data_set_id"]
    key = f"grid/{eid}/projection_density"
    with AllenFaultServer(served_cache, faults_per_resource=0, always_fail=(key,)) as server:
        proc = snakemake_run("connectivity_download", config=_allen_config(server, attempts=3), check=False)
        assert server.requests[key] == 3
    assert proc.returncode != 0
    log = (snakemake_run.workdir / "logs/connectivity/connectivity_download.log").read_text()
    out = proc.stdout + proc.stderr + log
    assert f"{server.url}/grid_data/download_file/{eid}?image=projection_density" in out
    assert f"experiment_{eid}/projection_density_100.nrrd" in out and "after 3 attempts" in out
    cache = snakemake_run.workdir / "resources" / "allen" / "connectivity"
    assert not (cache / f"experiment_{eid}" / "projection_density_100.nrrd").exists()
    assert not (cache / "download_complete.json").exists()
    _verify_tree(cache)  # whatever did arrive is complete


def test_user_cache_broken_file_is_moved_aside_not_deleted(tmp_path, caplog):
    """In a user's own cache (keep_broken) a file failing its check is moved aside with a message."""
    from neurorepro.allen.download import DownloadError, RetryPolicy, fetch_verified

    path = tmp_path / "structures.json"
    path.write_text("{not json")
    arrivals = iter(['[{"id": 1}]'])

    def fetch():
        path.write_text(next(arrivals))
        return "ok"

    with caplog.at_level("WARNING"):
        assert fetch_verified(fetch, path, verify_json_table, url="u", policy=RetryPolicy(attempts=2, backoff_s=0),
                              keep_broken=True, sleep=lambda s: None) == "ok"
    aside = list(tmp_path.glob("structures.json.broken-*"))
    assert len(aside) == 1 and aside[0].read_text() == "{not json"
    assert str(aside[0]) in caplog.text and json.loads(path.read_text()) == [{"id": 1}]
    # default (our own cache): a broken file is removed; a user's cache that never verifies says where it went

    def bad():
        path.write_text("[]")

    with pytest.raises(DownloadError, match="moved aside"):
        fetch_verified(bad, path, verify_json_table, url="u", policy=RetryPolicy(attempts=2, backoff_s=0),
                       keep_broken=True, sleep=lambda s: None)
    assert len(list(tmp_path.glob("structures.json.broken-*"))) == 3


@pytest.mark.workflow
def test_cache_manifest_key_is_checked_and_named(snakemake_run, tmp_path):
    missing = tmp_path / "mine" / "mouse_connectivity_manifest.json"
    proc = snakemake_run("-n", "connectivity_data", config={"source": "allen",
                                                            "connectivity": {"cache_manifest": str(missing)}},
                         check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "connectivity.cache_manifest" in out and str(missing) in out
    # an existing manifest: the download rule works in that folder (dry run)
    missing.parent.mkdir(parents=True)
    missing.write_text('{"manifest": []}')
    proc = snakemake_run("-n", "-p", "connectivity_data", config={"source": "allen",
                                                                  "connectivity": {"cache_manifest": str(missing)}})
    assert proc.returncode == 0
