"""The embedded Brain Observatory cache, read through allensdk with the network made impossible."""
from __future__ import annotations

import json
from pathlib import Path
from unittest import mock

import h5py
import numpy as np
import pytest

from neurorepro.allen import brain_observatory as bo
from neurorepro.allen import embedded_brain_observatory as ebo


class NetworkUsed(RuntimeError):
    pass


@pytest.fixture
def no_network():
    """Every allensdk HTTP path raises NetworkUsed (with the URL it tried)."""
    from allensdk.api.api import Api
    from allensdk.core import json_utilities

    def boom(*args, **kwargs):
        raise NetworkUsed(" ".join(str(a) for a in args))

    with mock.patch.object(Api, "retrieve_parsed_json_over_http", boom), \
            mock.patch.object(Api, "retrieve_file_over_http", boom), \
            mock.patch.object(json_utilities, "read_url_get", boom), \
            mock.patch("requests.get", boom), mock.patch("requests.post", boom):
        yield


N_IMAGES = 6


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """A small embedded cache: 2 areas × 2 planes, plus an epileptiform and a failed container."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("bo") / "brain_observatory"
    template = ebo.synthetic_natural_images(N_IMAGES, (20, 26), rng)
    feats = rng.standard_normal((N_IMAGES, 30))
    specs = [("VISp", "Cux2-CreERT2", 175, [], False), ("VISp", "Rorb-IRES2-Cre", 275, [], False),
             ("VISl", "Cux2-CreERT2", 175, [], False), ("VISl", "Rorb-IRES2-Cre", 275, [], False),
             ("VISp", "Cux2-CreERT2", 175, [bo.EPILEPTIFORM_TAG], False), ("VISl", "Cux2-CreERT2", 175, [], True)]
    containers = [ebo.EmbeddedContainer(700 + k, 800 + k, a, c, d, ebo.plant_responses(feats, 5, rng), failed=f, tags=t)
                  for k, (a, c, d, t, f) in enumerate(specs)]
    ebo.write_embedded_cache(root, template, containers, rng, n_repeats=4, frames_per_presentation=3,
                             attrs={"planted_layers": {"VISp": "a"}})
    return {"root": root, "template": template, "containers": containers}


def test_manifest_and_json_as_allensdk_reads_them(cache, no_network):
    manifest = json.loads((cache["root"] / "manifest.json").read_text())
    version = [m for m in manifest["manifest"] if m["type"] == "manifest_version"][0]["value"]
    assert version == "1.3"  # a string: the number 1.3 raises ManifestVersionError
    boc = bo.open_cache(cache["root"] / "manifest.json")
    assert boc.get_all_targeted_structures() == ["VISl", "VISp"]
    assert boc.get_all_cre_lines() == ["Cux2-CreERT2", "Rorb-IRES2-Cre"]
    assert boc.get_all_imaging_depths() == [175, 275]
    assert len(boc.get_experiment_containers()) == 5  # the failed one is left out by allensdk
    cells = boc.get_cell_specimens()
    assert len(cells) == 5 * 5 and {c["area"] for c in cells} == {"VISp", "VISl"}


def test_get_ophys_experiments_is_the_documented_offline_blocker(cache, no_network):
    boc = bo.open_cache(cache["root"] / "manifest.json")
    with pytest.raises(NetworkUsed, match="eye|all_eye_mapping|well_known_file"):
        boc.get_ophys_experiments()  # allensdk 2.16.2 always queries eye-tracking files
    exps = bo.ophys_experiments(boc, session_types=["three_session_B"])
    assert sorted(e["id"] for e in exps) == [800, 801, 802, 803, 804]


def test_select_skips_epileptiform_and_failed(cache, no_network):
    boc = bo.open_cache(cache["root"] / "manifest.json")
    df = bo.select_experiments(boc, ["VISp", "VISl"])
    assert sorted(df["experiment_id"]) == [800, 801, 802, 803]
    assert set(df["group"]) == {"VISp_Cux2-CreERT2_L23", "VISp_Rorb-IRES2-Cre_L4", "VISl_Cux2-CreERT2_L23", "VISl_Rorb-IRES2-Cre_L4"}
    kept = bo.select_experiments(boc, ["VISp"], skip_epileptiform=False)
    assert 804 in set(kept["experiment_id"])
    one = bo.select_experiments(boc, ["VISp"], skip_epileptiform=False, max_containers_per_group=1)
    assert len(one[one["cre_line"] == "Cux2-CreERT2"]) == 1
    assert bo.select_experiments(boc, ["VISp"], cre_lines=["Rorb-IRES2-Cre"])["experiment_id"].tolist() == [801]


def test_nwb_read_through_allensdk_matches_what_was_planted(cache, no_network):
    boc = bo.open_cache(cache["root"] / "manifest.json")
    c = cache["containers"][0]
    ds = boc.get_ophys_experiment_data(c.experiment_id)
    meta = ds.get_metadata()
    assert meta["targeted_structure"] == "VISp" and meta["imaging_depth_um"] == 175
    assert meta["ophys_experiment_id"] == c.experiment_id and meta["age_days"] == 95
    assert meta["cre_line"].startswith("Cux2-CreERT2") and meta["pipeline_version"] == "3.0"
    assert ds.get_session_type() == "three_session_B"
    assert "natural_scenes" in ds.list_stimuli()
    np.testing.assert_array_equal(ds.get_stimulus_template("natural_scenes"), cache["template"])
    table = ds.get_stimulus_table("natural_scenes")
    assert list(table.columns[:3]) == ["frame", "start", "end"]
    assert set(table["frame"]) == set(range(N_IMAGES)) | {-1}
    assert (table["frame"] >= 0).sum() == N_IMAGES * 4
    r = bo.natural_scene_responses(ds, c.experiment_id)
    mean, halves, n_trials = bo.trial_average(r.responses, r.frame, N_IMAGES, np.random.default_rng(0))
    assert (n_trials == 4).all()
    # the planted rates come back (trial gain noise sd 0.3 -> close, not equal)
    corr = np.corrcoef(mean.ravel(), c.rates.ravel())[0, 1]
    assert corr > 0.8


def hand_made_nwb(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """2 cells, 40 frames; presentations of images 0, 1, blank, 0, 1 at known frames."""
    frame_index = np.array([1, 0, -1, 0, 1])
    frame_duration = np.array([[2, 6], [6, 10], [10, 14], [20, 24], [30, 35]], float)
    dff = np.zeros((2, 40), np.float32)
    values = np.array([[1.0, 2.0, 9.0, 3.0, 4.0], [10.0, 20.0, 90.0, 30.0, 40.0]])
    for p, (s, e) in enumerate(frame_duration.astype(int)):
        dff[:, s:e] = values[:, p][:, None]
    dff[:, 5] += np.array([4.0, 40.0])  # one frame inside presentation 0 differs
    ebo.write_nwb(path, experiment_id=9, container_id=8, area="VISp", cre_line="Cux2-CreERT2", imaging_depth=175,
                  session_type="three_session_B", cell_specimen_ids=np.array([11, 12]), dff=dff,
                  timestamps=np.arange(40) / 30.0, frame_index=frame_index, frame_duration=frame_duration,
                  template=np.zeros((2, 8, 8), np.uint8))
    return dff, values


def test_stimulus_table_alignment_on_a_hand_made_nwb(tmp_path):
    from allensdk.core.brain_observatory_nwb_data_set import BrainObservatoryNwbDataSet

    hand_made_nwb(tmp_path / "9.nwb")
    ds = BrainObservatoryNwbDataSet(str(tmp_path / "9.nwb"))
    r = bo.natural_scene_responses(ds, 9)
    # table sorted by start; windows [start, end)
    np.testing.assert_array_equal(r.frame, [1, 0, -1, 0, 1])
    np.testing.assert_array_equal(r.start, [2, 6, 10, 20, 30])
    expected = np.array([[1 + 4 / 4, 2, 9, 3, 4], [10 + 40 / 4, 20, 90, 30, 40]]).T
    np.testing.assert_allclose(r.responses, expected)
    mean, halves, n = bo.trial_average(r.responses, r.frame, 2, np.random.default_rng(1))
    np.testing.assert_allclose(mean, [[(2 + 3) / 2, (2 + 4) / 2], [(20 + 30) / 2, (20 + 40) / 2]])
    np.testing.assert_array_equal(n, [2, 2])
    np.testing.assert_allclose(np.sort(halves[:, 0, 0]), [2, 3])  # each half holds one trial
    lagged = bo.natural_scene_responses(ds, 9, lag_frames=1)
    # presentation 1 lagged by one frame: frames 7, 8, 9 (image 1) and 10 (the blank's first frame)
    np.testing.assert_allclose(lagged.responses[1], [(3 * 2 + 9) / 4, (3 * 20 + 90) / 4])
    assert lagged.start[0] == 3


def test_window_means_against_brute_force():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 50))
    start = rng.integers(0, 40, 12)
    end = start + rng.integers(1, 10, 12)
    got = bo.window_means(x, start, end)
    want = np.array([x[:, s:e].mean(axis=1) for s, e in zip(start, end)])
    np.testing.assert_allclose(got, want, atol=1e-12)
    with pytest.raises(ValueError, match="outside"):
        bo.window_means(x, [45], [55])


def test_corrupt_nwb_error_names_the_file(cache, tmp_path, no_network):
    bad = tmp_path / "broken.nwb"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(bo.CorruptNWBError, match="broken.nwb"):
        bo.verify_nwb(bad)
    good = cache["root"] / "ophys_experiment_data" / "800.nwb"
    truncated = tmp_path / "truncated.nwb"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(bo.CorruptNWBError, match="truncated.nwb"):
        bo.verify_nwb(truncated)
    nodff = tmp_path / "nodff.nwb"
    with h5py.File(nodff, "w") as f:
        f["general/session_type"] = np.bytes_(b"three_session_B")
    with pytest.raises(bo.CorruptNWBError, match="nodff.nwb.*lacks"):
        bo.verify_nwb(nodff)


def test_ensure_nwb_redownloads_a_broken_file_through_allensdk(cache, tmp_path, no_network):
    """source: allen path: a broken file is deleted and allensdk's download is called (here it hits the network)."""
    import shutil

    root = tmp_path / "copy"
    shutil.copytree(cache["root"], root)
    boc = bo.open_cache(root / "manifest.json")
    assert bo.ensure_nwb(boc, 800, allow_download=False).endswith("800.nwb")
    path = root / "ophys_experiment_data" / "801.nwb"
    path.write_bytes(b"partial download")
    with pytest.raises(bo.CorruptNWBError, match="801.nwb"):
        bo.ensure_nwb(boc, 801, allow_download=False)
    with pytest.raises(NetworkUsed, match="ophys_experiment_data|801"):
        bo.ensure_nwb(boc, 801, allow_download=True)
    assert not path.exists()  # the broken file was removed before the download
    path.unlink(missing_ok=True)
    with pytest.raises(FileNotFoundError, match="802"):
        (root / "ophys_experiment_data" / "802.nwb").unlink()
        bo.ensure_nwb(boc, 802, allow_download=False)


@pytest.mark.parametrize("depth,layer", [(175, "L23"), (265, "L4"), (275, "L4"), (350, "L4"), (375, "L5"), (550, "L6"), (625, "L6")])
def test_depth_layer(depth, layer):
    assert bo.depth_layer(depth) == layer


def test_plant_responses_reproduce_the_feature_rsm():
    from neurorepro.measures.similarity import rsm, ssm

    rng = np.random.default_rng(5)
    feats = rng.standard_normal((20, 200))
    other = rng.standard_normal((20, 200))
    rates = ebo.plant_responses(feats, 2000, rng)
    assert rates.shape == (2000, 20) and (rates > 0).all()
    assert ssm(rsm(rates.T), rsm(feats)) > 0.8
    assert abs(ssm(rsm(rates.T), rsm(other))) < 0.3


def test_source_allen_selection_goes_to_allensdk_download(tmp_path, no_network):
    """An empty cache: allensdk writes its manifest, then asks the warehouse for the containers."""
    boc = bo.open_cache(tmp_path / "allen" / "manifest.json")
    assert (tmp_path / "allen" / "manifest.json").exists()
    with pytest.raises(NetworkUsed, match="experiment_container|ExperimentContainer"):
        bo.select_experiments(boc, ["VISp"])
