"""The tiny config overlays under tests/configs/: one per paper, each holding only its paper's
section, each valid against the schema once merged onto config.yaml, and joined by the
whole-DAG test without one file overriding another (the join is dry-run through Snakemake)."""
from __future__ import annotations

import copy
import re

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate

from conftest import REPO, TINY_CONFIGS, tiny_config, tiny_targets

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"


def _paper_sections() -> set[str]:
    """The paper sections of the config: top-level keys whose schema is ``<key>.schema.yaml``."""
    props = yaml.safe_load(SCHEMA.read_text())["properties"]
    return {k for k, v in props.items() if isinstance(v, dict) and v.get("$ref") == f"{k}.schema.yaml"}


def _on_config_yaml(overlay: dict) -> dict:
    """config.yaml with ``overlay`` merged in, as Snakemake merges a ``--configfile``."""
    cfg = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(cfg, copy.deepcopy(overlay))
    return cfg


def test_one_tiny_config_per_paper():
    assert len(_paper_sections()) == 8
    assert set(tiny_targets()) == _paper_sections()


@pytest.mark.parametrize("target", tiny_targets())
def test_tiny_config_holds_its_paper_section_and_validates(target):
    raw = yaml.safe_load((TINY_CONFIGS / f"{target}.yaml").read_text())
    assert list(raw) == [target], f"tests/configs/{target}.yaml must hold only the `{target}:` section"
    assert isinstance(raw[target], dict) and raw[target]
    validate(_on_config_yaml(raw), str(SCHEMA))


def test_whole_dag_join_keeps_every_section_and_validates():
    joined = tiny_config(*tiny_targets())
    assert set(joined) == _paper_sections()
    for target in tiny_targets():
        assert joined[target] == tiny_config(target)[target]  # no file touches another's section
    validate(_on_config_yaml(joined), str(SCHEMA))


def test_tiny_config_merges_nested_keys_like_snakemake():
    """A second overlay replaces only the nested keys it names (lists whole), as ``--configfile`` does."""
    cfg = tiny_config("causal_attention")
    update_config(cfg, {"causal_attention": {"demo": {"archs": ["keyed"], "model": {"n_init": 1}}}})
    demo = cfg["causal_attention"]["demo"]
    assert demo["archs"] == ["keyed"] and demo["model"]["n_init"] == 1
    assert demo["model"]["d_model"] == 8 and demo["sizes"] == [4, 6]  # untouched keys stay
    assert tiny_config("causal_attention")["causal_attention"]["demo"]["model"]["n_init"] == 2  # a fresh copy


def test_a_typo_in_a_tiny_config_is_refused_naming_the_key():
    cfg = tiny_config("flatness")
    cfg["flatness"]["n_prob"] = 48
    with pytest.raises(WorkflowError, match="n_prob"):
        validate(_on_config_yaml(cfg), str(SCHEMA))


def test_unknown_target_names_the_missing_file():
    with pytest.raises(FileNotFoundError, match=r"tests/configs/conectivity\.yaml"):
        tiny_config("conectivity")


def test_joined_tiny_configs_plan_the_whole_dag_from_each_file(snakemake_run):
    """A dry run of `all` on the join (seconds): every paper's checks accept its file, and the
    job counts follow each file's sizes."""
    cfg = tiny_config(*tiny_targets())
    proc = snakemake_run("-n", "all", config=cfg)
    counts = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+(\d+)$", proc.stdout, re.M)}
    dim, flat, ca = cfg["dimensionality"], cfg["flatness"], cfg["credit_assignment"]
    assert counts["dimensionality_train"] == dim["n_seeds"] * len(dim["run_networks"])
    assert counts["flatness_run"] == len(flat["hparams"]) * flat["n_seeds"]
    assert counts["credit_assignment_train"] == len(ca["tasks"]) * len(ca["rules"])
    assert counts["rich_lazy_train"] == len(cfg["rich_lazy"]["tasks"])
    assert counts["all"] == 1
