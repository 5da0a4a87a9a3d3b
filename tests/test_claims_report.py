"""Claims aggregation and the report's front page, from hand-made claims files."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from neurorepro.claims import Claim, read_claims, write_claims
from neurorepro.report import front_page, gather_claims


def _claims(tmp_path):
    a = tmp_path / "a" / "claims.json"
    b = tmp_path / "b" / "claims.json"
    write_claims(a, [Claim("paper_a", "X beats Y.", 0.2, "<", 0.5, "demo", "embedded")])
    write_claims(b, [
        Claim("paper_b", "Error within the paper's range.", 0.31, "within", [0.05, 0.15], "demo", "embedded",
              details={"paper": 0.111}),
        Claim("paper_b", "Rank grows.", 3.0, ">=", 3, "demo", "embedded"),
    ])
    return a, b


def test_claim_holds_is_computed_not_given():
    assert Claim("t", "c", 0.2, "<", 0.5, "demo", "embedded").holds
    assert not Claim("t", "c", 0.7, "<", 0.5, "demo", "embedded").holds
    assert not Claim("t", "c", float("nan"), ">", 0.0, "demo", "embedded").holds
    assert Claim("t", "c", 0.1, "within", [0.05, 0.15], "demo", "embedded").holds
    with pytest.raises(ValueError, match="comparison"):
        Claim("t", "c", 0.1, "≈", 0.1, "demo", "embedded")


def test_gather_keeps_a_failing_claim_as_failing(tmp_path):
    a, b = _claims(tmp_path)
    df = gather_claims([a, b])
    assert list(df["target"]) == ["paper_a", "paper_b", "paper_b"]
    assert list(df["holds"]) == [True, False, True]
    assert df.loc[1, "measured"] == pytest.approx(0.31)


def test_front_page_marks_the_failing_claim(tmp_path):
    a, b = _claims(tmp_path)
    df = gather_claims([a, b])
    prov = {"config": {"scale": "demo", "source": "embedded"}, "git_commit": "abc", "python": "3.11",
            "platform": "linux", "packages": {"numpy": "1.23.5"}, "allen": {"experiment ids": "1 2"}}
    text = front_page(df, prov, "Title\n=====\n")
    assert "2 of 3 headline claims hold" in text
    assert text.count("**NO**") == 1 and "0.31" in text
    assert "experiment ids" in text


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
