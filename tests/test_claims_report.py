"""The claim record, its outcome rule, the bootstrap over units, the claims table, the
front page, the findings figure and the results pages, on hand-made claims."""
from __future__ import annotations

import json

import numpy as np
import pytest

from neurorepro.claims import Claim, decide, read_claims, write_claims
from neurorepro.measures.bootstrap import bootstrap_ci, bootstrap_seed
from neurorepro.report import findings_figure, front_page, gather_claims, read_claims_table
from neurorepro.results_doc import render


def _claim(measured=0.2, comparison="<", expected=0.5, **kw):
    kw.setdefault("kind", "finding")
    return Claim("t", "c", measured, comparison, expected, "demo", "embedded", **kw)


# -- the outcome rule -------------------------------------------------------------------
@pytest.mark.parametrize("ci, outcome", [
    ([0.6, 0.9], "holds"),          # whole CI above the threshold 0.5 (claim: > 0.5)
    ([0.1, 0.4], "fails"),          # whole CI below
    ([0.4, 0.7], "inconclusive"),   # straddles
    ([0.5, 0.9], "inconclusive"),   # touches the threshold of a strict claim
])
def test_outcome_of_a_finding_follows_its_interval(ci, outcome):
    c = _claim(0.65, ">", 0.5, ci=ci, n=10, unit="seeds")
    assert c.outcome == outcome
    assert c.holds == (outcome == "holds")
    assert c.to_dict()["outcome"] == outcome


def test_outcome_of_a_non_strict_claim_counts_the_threshold_as_its_side():
    assert _claim(0.7, ">=", 0.5, ci=[0.5, 0.9], n=5).outcome == "holds"
    assert _claim(0.3, "<=", 0.5, ci=[0.1, 0.5], n=5).outcome == "holds"
    assert _claim(0.3, "<", 0.5, ci=[0.1, 0.5], n=5).outcome == "inconclusive"


@pytest.mark.parametrize("ci, outcome", [
    ([0.06, 0.14], "holds"),        # inside the band [0.05, 0.15]
    ([0.20, 0.30], "fails"),        # wholly above it
    ([0.00, 0.04], "fails"),        # wholly below it
    ([0.10, 0.20], "inconclusive"),  # crosses its upper end
])
def test_outcome_of_a_within_claim(ci, outcome):
    assert _claim(0.1, "within", [0.05, 0.15], ci=ci, n=20).outcome == outcome


def test_a_finding_without_interval_or_with_few_units_is_inconclusive():
    assert _claim(0.9, ">", 0.5).outcome == "inconclusive"                       # no CI
    assert _claim(0.9, ">", 0.5, ci=[0.8, 1.0], n=2).outcome == "inconclusive"   # n < 3
    assert _claim(float("nan"), ">", 0.5).outcome == "inconclusive"


def test_recoveries_and_bounds_decide_on_the_measured_value_without_interval():
    assert _claim(0.2, "<", 0.5, kind="recovery").outcome == "holds"
    assert _claim(0.7, "<", 0.5, kind="recovery").outcome == "fails"
    assert _claim(0.7, "<", 0.5, kind="recovery", ci=[0.3, 0.9], n=5).outcome == "inconclusive"
    assert _claim(1.0, ">=", 1.0, kind="bound").outcome == "holds"
    assert _claim(0.99, ">=", 1.0, kind="bound", ci=[0.9, 1.2], n=5).outcome == "fails"  # a bound ignores CIs
    assert _claim(float("nan"), ">=", 1.0, kind="bound").outcome == "fails"
    assert decide("recovery", 0.1, "within", [0.05, 0.15], None, None) == "holds"


def test_a_claim_needs_a_known_kind_and_comparison():
    with pytest.raises(ValueError, match="kind"):
        Claim("t", "c", 0.2, "<", 0.5, "demo", "embedded")
    with pytest.raises(ValueError, match="kind"):
        _claim(kind="anecdote")
    with pytest.raises(ValueError, match="comparison"):
        _claim(comparison="≈")
    with pytest.raises(ValueError, match="ci low"):
        _claim(ci=[0.4, 0.1], n=5)


# -- the bootstrap ------------------------------------------------------------------------
def test_bootstrap_interval_covers_a_normal_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    covered = 0
    for rep in range(500):
        x = rng.normal(1.0, 2.0, size=20)
        low, high = bootstrap_ci(x, seed=bootstrap_seed(rep, "coverage"), n_boot=1000)
        covered += low <= 1.0 <= high
    assert 0.90 <= covered / 500 <= 0.98


def test_bootstrap_resamples_units_not_samples():
    # 4 units of 1,000 correlated samples each: the unit means are 0, 1, 2, 3. An interval
    # from resampled units is as wide as the spread of 4 means; resampling the 4,000
    # samples as if independent would give a width of ~0.1.
    units = np.repeat(np.arange(4.0), 1000).reshape(4, 1000)
    low, high = bootstrap_ci(units, lambda u: u.mean(), seed=1)
    assert high - low > 1.0
    # paired arrays are resampled together: a perfect rank correlation stays perfect
    x = np.arange(10.0)
    lo, hi = bootstrap_ci((x, 2 * x + 1), lambda a, b: np.corrcoef(a, b)[0, 1], seed=2)
    assert lo == pytest.approx(1.0) and hi == pytest.approx(1.0)
    assert bootstrap_ci(np.array([1.0, 2.0]), seed=3) is None  # n < 3: no interval
    assert bootstrap_seed(5, "a") == bootstrap_seed(5, "a") != bootstrap_seed(5, "b")


# -- claims.json --------------------------------------------------------------------------
def _claims(tmp_path):
    a = tmp_path / "a" / "claims.json"
    b = tmp_path / "b" / "claims.json"
    write_claims(a, [Claim("paper_a", "X beats Y.", 0.2, "<", 0.5, "demo", "embedded", kind="finding",
                           ci=[0.1, 0.3], n=8, unit="seeds", paper_value=0.15, paper_ref="Fig. 2b")])
    write_claims(b, [
        Claim("paper_b", "The analysis recovers the planted kernel.", 0.31, "within", [0.05, 0.15], "demo",
              "embedded", details={"paper": 0.111}, kind="recovery", paper_value=0.111, paper_ref="§4"),
        Claim("paper_b", "Rank grows.", 3.0, ">=", 3, "demo", "embedded", kind="finding"),
        Claim("paper_b", "Bound holds.", 1.0, ">=", 1.0, "demo", "embedded", kind="bound"),
    ])
    return a, b


def test_claims_json_round_trips_with_every_new_field(tmp_path):
    a, _ = _claims(tmp_path)
    (rec,) = read_claims(a)
    assert rec["kind"] == "finding" and rec["outcome"] == "holds" and rec["holds"] is True
    assert rec["ci"] == [0.1, 0.3] and rec["n"] == 8 and rec["unit"] == "seeds"
    assert rec["paper_value"] == 0.15 and rec["paper_ref"] == "Fig. 2b"


def _rewrite(path, **changes):
    recs = json.loads(path.read_text())
    recs[0].update(changes)
    for key in [k for k, v in changes.items() if v is ...]:
        del recs[0][key]
    path.write_text(json.dumps(recs))


@pytest.mark.parametrize("changes, message", [
    ({"kind": ...}, "lacks keys"),
    ({"kind": "opinion"}, "unknown kind"),
    ({"outcome": "fails"}, "disagrees with its numbers"),
    ({"ci": [0.6, 0.9]}, "disagrees with its numbers"),  # CI moved, outcome typed in by hand
    ({"holds": False}, "disagrees with outcome"),
])
def test_a_claim_whose_record_is_wrong_is_rejected_naming_file_and_claim(tmp_path, changes, message):
    a, _ = _claims(tmp_path)
    _rewrite(a, **changes)
    with pytest.raises(ValueError, match=message) as err:
        read_claims(a)
    assert str(a) in str(err.value) and "X beats Y." in str(err.value)


@pytest.mark.parametrize("content, message", [
    ("{not json", "not valid JSON"),
    (json.dumps({"claim": "x"}), "expected a JSON list"),
    (json.dumps([{"claim": "x", "measured": 1}]), "lacks keys"),
])
def test_bad_claims_file_names_the_file(tmp_path, content, message):
    path = tmp_path / "paper" / "claims.json"
    path.parent.mkdir()
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as err:
        read_claims(path)
    assert str(path) in str(err.value)


# -- table, front page, figure, results page ------------------------------------------
def test_gather_writes_the_new_columns_and_keeps_failing_claims(tmp_path):
    a, b = _claims(tmp_path)
    df = gather_claims([a, b])
    assert list(df["target"]) == ["paper_a", "paper_b", "paper_b", "paper_b"]
    assert list(df["kind"]) == ["finding", "recovery", "finding", "bound"]
    assert list(df["outcome"]) == ["holds", "fails", "inconclusive", "holds"]
    assert list(df["holds"]) == [True, False, False, True]
    assert df.loc[0, "ci_low"] == pytest.approx(0.1) and np.isnan(df.loc[2, "ci_low"])
    path = tmp_path / "claims.tsv"
    df.to_csv(path, sep="\t", index=False)
    back = read_claims_table(path)
    assert list(back["outcome"]) == list(df["outcome"]) and back["holds"].tolist() == df["holds"].tolist()


def test_front_page_groups_by_kind_with_findings_first(tmp_path):
    a, b = _claims(tmp_path)
    df = gather_claims([a, b])
    prov = {"config": {"scale": "demo", "source": "embedded"}, "git_commit": "abc", "python": "3.11",
            "platform": "linux", "packages": {"numpy": "1.23.5"}, "allen": {"experiment ids": "1 2"}}
    text = front_page(df, prov, "Title\n=====\n")
    assert "findings: 1 hold, 0 fail, 1 inconclusive (demo scale" in text
    assert "recoveries: 0 of 1 hold" in text and "bounds: 1 of 1 hold" in text
    assert text.index("Findings\n") < text.index("Recoveries") < text.index("Bounds")
    assert "0.15 (Fig. 2b)" in text and "[0.1, 0.3]" in text and "8 seeds" in text
    assert "**FAILS**" in text and "**INCONCLUSIVE**" in text
    assert "experiment ids" in text


def test_findings_figure_has_one_row_per_finding(tmp_path):
    a, b = _claims(tmp_path)
    fig = findings_figure(gather_claims([a, b]))
    assert len(fig.axes) == 2  # two findings; the recovery and the bound are not plotted
    colours = {line.get_color() for ax in fig.axes for line in ax.lines if line.get_marker() == "o"}
    assert colours == {"#1b7837", "#878787"}  # holds, inconclusive


def test_results_page_is_generated_from_the_run_files(tmp_path):
    a, b = _claims(tmp_path)
    prov = {"config": {"scale": "reference", "source": "embedded", "seed": 1, "paper_b": {"k": 1}},
            "git_commit": "abc123", "python": "3.11", "platform": "linux", "packages": {"numpy": "1.23.5"}}
    page = render("paper_b", read_claims(b), prov)
    assert "findings: 0 hold, 0 fail, 1 inconclusive; recoveries: 0 of 1 hold; bounds: 1 of 1 hold" in page
    assert page.index("## Findings") < page.index("## Recoveries") < page.index("## Bounds")
    assert "`abc123`" in page and '"k": 1' in page and "0.111 (§4)" in page
