# Shared by every rule file: config validation, scale selection, target registry.
import copy
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
