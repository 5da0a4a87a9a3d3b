"""Every rule names a conda environment that exists, parses, and lists what the rule imports.

`--sdm conda` cannot be exercised here (no conda channel is reachable), so this checks
statically: each rule's `conda:` file, and the third-party packages imported by its
script and by every `neurorepro` module the script reaches.
"""
from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "workflow" / "rules"
PKG = REPO / "workflow" / "neurorepro"


def _rules() -> list[tuple[str, str, str | None, str | None]]:
    """(file, rule, conda expression, script path) for every rule in workflow/rules."""
    out = []
    for smk in sorted(RULES.glob("*.smk")):
        text = smk.read_text()
        for block in re.split(r"\n(?=rule \w+:)", text):
            m = re.match(r"rule (\w+):", block)
            if not m:
                continue
            body = block.split("\n\n\n")[0]
            conda = re.search(r"\n\s+conda:\s*\n\s+(.+)", body)
            script = re.search(r"\n\s+script:\s*\n\s+\"([^\"]+)\"", body)
            out.append((smk.name, m.group(1), conda and conda.group(1).strip(), script and script.group(1)))
    return out


def _env_vars() -> dict[str, str]:
    """Module-level string constants like ENV = "../../envs/x.yaml" in the rule files."""
    consts = {}
    for smk in RULES.glob("*.smk"):
        for name, value in re.findall(r'^(\w+)\s*=\s*"([^"]+\.ya?ml)"', smk.read_text(), re.M):
            consts[name] = value
    return consts


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


@lru_cache(maxsize=None)
def _third_party(path: Path) -> frozenset[str]:
    """Top-level third-party modules imported by ``path`` and the neurorepro modules it reaches."""
    seen, todo, found = set(), [path], set()
    while todo:
        p = todo.pop()
        if p in seen:
            continue
        seen.add(p)
        for name in _imports(p):
            top = name.split(".")[0]
            if top == "neurorepro":
                rel = Path(*name.split(".")[1:])
                for cand in (PKG / rel.with_suffix(".py"), PKG / rel / "__init__.py"):
                    if cand.exists():
                        todo.append(cand)
            elif top not in sys.stdlib_module_names and top not in ("snakemake", "__future__"):
                found.add(top)
    return frozenset(found)


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _env_packages(env: dict) -> set[str]:
    pkgs = set()
    for dep in env.get("dependencies", []):
        items = dep.get("pip", []) if isinstance(dep, dict) else [dep]
        for item in items:
            m = re.match(r"([A-Za-z0-9_.\-]+)", str(item))
            if m:
                pkgs.add(_norm(m.group(1)))
    return pkgs


RULE_LIST = _rules()


def test_rules_were_found():
    assert len(RULE_LIST) >= 10
    assert any(r[1] == "connectivity_data" for r in RULE_LIST)


@pytest.mark.parametrize("smk, rule, conda, script", RULE_LIST, ids=[r[1] for r in RULE_LIST])
def test_rule_env_exists_parses_and_lists_imports(smk, rule, conda, script):
    if script is None:
        pytest.skip(f"rule {rule} runs no script")
    assert conda, f"{smk}: rule {rule} has no conda: directive"
    rel = _env_vars().get(conda, conda.strip('"'))
    env_path = (RULES / rel).resolve()
    assert env_path.exists(), f"{smk}: rule {rule} names {rel}, which does not exist"
    env = yaml.safe_load(env_path.read_text())
    assert isinstance(env, dict) and env.get("dependencies"), f"{env_path} does not parse as a conda env"
    listed = _env_packages(env)
    dists = md.packages_distributions()
    script_path = (RULES / script).resolve()
    assert script_path.exists(), f"{smk}: rule {rule} names missing script {script}"
    for module in sorted(_third_party(script_path)):
        names = {_norm(d) for d in dists.get(module, [module])}
        assert names & listed, f"rule {rule}: {script} imports {module} ({names}), not listed in {env_path.name}"
