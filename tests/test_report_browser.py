"""The whole DAG on tiny sizes, then the HTML report opened in a real headless browser.

One Snakemake run of `all` with every paper's tiny config (tests/configs/*.yaml) joined, then
`snakemake --report`; Debian's chromium (driven by playwright, no browser download)
loads the report, shows each paper's section and decodes every figure. A screenshot of
the front page is saved to test-artifacts/report_front_page.png.
"""
from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from snakemake.utils import update_config

from conftest import REPO, SnakemakeRunner, copy_workflow, tiny_config, tiny_targets

PAPERS = ["connectivity", "mouse_vs_cnn", "dimensionality", "flatness", "causal_attention",
          "sampling", "rich_lazy", "credit_assignment"]
CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"
# On top of the joined tiny configs: the whole DAG checks that every paper's claims reach the
# table and the report (each paper's own workflow test checks its science), so it trains
# fewer attention models and dimensionality seeds, and on the CPU.
WHOLE_DAG = {
    "device": "cpu",
    "causal_attention": {"demo": {"archs": ["causalformer"], "model": {"n_init": 1}}},
    "dimensionality": {"n_seeds": 1},
}


def whole_dag_config() -> dict:
    """Every paper's tiny config joined, with the WHOLE_DAG overrides."""
    cfg = tiny_config(*tiny_targets())
    update_config(cfg, WHOLE_DAG)
    return cfg


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> SnakemakeRunner:
    run = SnakemakeRunner(copy_workflow(tmp_path_factory.mktemp("full") / "wf"))
    tiny = whole_dag_config()
    run("all", config=tiny, timeout=2400)
    run("--report", "results/report.zip", config=tiny, timeout=600)
    return run


@pytest.mark.workflow
def test_all_writes_every_claim(tiny_run):
    claims = pd.read_csv(tiny_run.workdir / "results" / "claims.tsv", sep="\t")
    assert set(claims["target"]) == set(PAPERS)
    assert claims["holds"].astype(str).str.lower().isin(["true", "false"]).all()
    assert claims["kind"].isin(["finding", "recovery", "bound"]).all()
    assert claims["outcome"].isin(["holds", "fails", "inconclusive"]).all()
    assert ((claims["outcome"] == "holds") == (claims["holds"].astype(str).str.lower() == "true")).all()
    # every claims.json the run wrote passes the contract's checks (kind, outcome from its numbers)
    from neurorepro.claims import read_claims
    for paper in PAPERS:
        assert read_claims(tiny_run.workdir / "results" / paper / "claims.json")
    front = (tiny_run.workdir / "results" / "report" / "front_page.rst").read_text()
    assert front.index("Findings\n") < front.index("Provenance")
    assert (tiny_run.workdir / "results" / "claims_findings.png").stat().st_size > 0


@pytest.mark.workflow
def test_report_in_headless_chromium(tiny_run, tmp_path):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("CI must install Debian's chromium (see .ci/run)")
        pytest.skip("chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with zipfile.ZipFile(tiny_run.workdir / "results" / "report.zip") as z:
        z.extractall(tmp_path)
    html = next(tmp_path.rglob("report.html"))
    text = html.read_text()
    images = sorted(set(re.findall(r'"data_uri": "(data/raw/[^"]+\.(?:png|svg))"', text)))
    assert len(images) >= 2 * len(PAPERS), images  # at least two figures per paper
    assert any("claims_findings" in src for src in images), "the findings figure is not in the report"
    for rel in images:
        assert (html.parent / rel).stat().st_size > 0, rel

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(html.as_uri())
        page.wait_for_selector("text=findings:", timeout=30000)
        page.evaluate("window.scrollTo(0, 0)")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report_front_page.png"), full_page=True)
        menu = page.inner_text("body")
        assert "Findings" in menu and "paper's value" in menu, "the front page has no findings section"
        for paper in PAPERS:
            assert paper in menu, f"report has no section for {paper}"
        widths = page.evaluate(
            """async (srcs) => Promise.all(srcs.map(async (src) => {
                   const im = new Image(); im.src = src;
                   try { await im.decode(); } catch (e) { return 0; }
                   return im.naturalWidth; }))""",
            images,
        )
        browser.close()
    broken = [src for src, w in zip(images, widths) if not w]
    assert not broken, f"figures that do not load: {broken}"
