"""Claims table, provenance and the report's front page (all built from results/)."""
from __future__ import annotations

import hashlib
import math
import importlib.metadata as md
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from neurorepro.claims import read_claims

#: Packages whose versions the provenance records (the pinned stack).
PACKAGES = (
    "neurorepro", "snakemake", "allensdk", "numpy", "scipy", "pandas", "xarray", "torch",
    "scikit-learn", "matplotlib", "netCDF4", "h5py", "pynrrd", "statsmodels",
)
#: Columns of results/claims.tsv, in order (names are a contract: other tools read them).
CLAIM_COLUMNS = ["target", "kind", "claim", "measured", "ci_low", "ci_high", "n", "unit", "comparison", "expected",
                 "paper_value", "paper_ref", "outcome", "holds", "scale", "source", "details"]
#: Order in which the front page and the figure show the kinds.
KIND_ORDER = ("finding", "recovery", "bound")
OUTCOME_COLOURS = {"holds": "#1b7837", "fails": "#b2182b", "inconclusive": "#878787"}


def gather_claims(paths: list[str | Path]) -> pd.DataFrame:
    """One row per claim from several ``claims.json`` files (each checked by ``read_claims``).

    The interval becomes two columns (``ci_low``, ``ci_high``; empty without one).
    """
    rows = []
    for path in paths:
        for rec in read_claims(path):
            rec = dict(rec)
            ci = rec.pop("ci", None)
            rec["ci_low"], rec["ci_high"] = (ci if ci is not None else (float("nan"), float("nan")))
            rec["details"] = str(rec.get("details", {}))
            if isinstance(rec.get("paper_value"), list):
                rec["paper_value"] = str(rec["paper_value"])
            rows.append(rec)
    df = pd.DataFrame(rows, columns=CLAIM_COLUMNS)
    df["holds"] = df["holds"].astype(bool)
    df["n"] = df["n"].astype("Int64")
    return df


def read_claims_table(path: str | Path) -> pd.DataFrame:
    """``results/claims.tsv`` back as written by :func:`gather_claims` (holds as bool)."""
    df = pd.read_csv(path, sep="\t", keep_default_na=False, na_values=[""])
    missing = set(CLAIM_COLUMNS) - set(df.columns)
    if missing:
        raise ValueError(f"{path}: lacks columns {sorted(missing)} (written by an older pipeline? rebuild it)")
    df["holds"] = df["holds"].astype(str).str.lower() == "true"
    return df


def counts_line(claims: pd.DataFrame, scale: str | None = None) -> str:
    """'findings: 9 hold, 3 fail, 14 inconclusive (demo scale; ...); recoveries: 12 of 12 hold; bounds: 6 of 6 hold'."""
    parts = []
    for kind in KIND_ORDER:
        c = claims[claims["kind"] == kind]
        if not len(c):
            continue
        hold = int((c["outcome"] == "holds").sum())
        if kind == "finding":
            fail, inc = int((c["outcome"] == "fails").sum()), int((c["outcome"] == "inconclusive").sum())
            text = f"findings: {hold} hold, {fail} fail, {inc} inconclusive"
            if scale:
                text += f" ({scale} scale; see each paper's reference run in docs/results/)"
            parts.append(text)
        else:
            parts.append(f"{'recoveries' if kind == 'recovery' else 'bounds'}: {hold} of {len(c)} hold")
    return "; ".join(parts) if parts else "no claims"


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return ""
    if isinstance(v, (float, np.floating)):
        return f"{v:.4g}"
    return str(v)


def _interval(low: Any, high: Any) -> str:
    if _fmt(low) == "" or _fmt(high) == "":
        return "no CI"
    return f"[{_fmt(low)}, {_fmt(high)}]"


def findings_figure(claims: pd.DataFrame):
    """One row per finding: measured value with its 95% CI, the threshold and the paper's value.

    Findings are measured on different scales (ratios, differences, correlations), so each
    row has its own x-axis; the colour says the outcome. Returns a matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    from neurorepro.plotting import apply_style

    apply_style()
    f = claims[claims["kind"] == "finding"].reset_index(drop=True)
    n = max(len(f), 1)
    row_in, margin_in = 0.55, 0.7
    height = row_in * n + margin_in
    fig, axes = plt.subplots(n, 1, figsize=(8.0, height), squeeze=False)
    fig.subplots_adjust(left=0.52, right=0.97, top=1 - 0.45 / height, bottom=0.25 / height, hspace=1.1)
    if not len(f):
        axes[0, 0].text(0.5, 0.5, "no findings in this run", ha="center", va="center")
        axes[0, 0].set_axis_off()
        return fig
    for i, r in f.iterrows():
        ax = axes[i, 0]
        colour = OUTCOME_COLOURS.get(r["outcome"], "black")
        xs = [r["measured"]]
        if _fmt(r["ci_low"]) != "":
            ax.plot([r["ci_low"], r["ci_high"]], [0, 0], color=colour, lw=2.5, solid_capstyle="butt")
            xs += [r["ci_low"], r["ci_high"]]
        ax.plot([r["measured"]], [0], "o", color=colour, ms=5)
        thresholds = _expected_values(r["expected"])
        for e in thresholds:
            ax.axvline(e, color="black", lw=0.8, ls="--")
        xs += thresholds
        pv = _paper_number(r["paper_value"])
        if pv is not None:
            ax.plot([pv], [0], "D", color="#2166ac", ms=4, mfc="none")
            xs.append(pv)
        xs = [x for x in xs if x is not None and np.isfinite(x)]
        if xs:
            lo, hi = min(xs), max(xs)
            pad = 0.15 * (hi - lo) if hi > lo else 0.5 * max(abs(hi), 1e-3)
            ax.set_xlim(lo - pad, hi + pad)
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        ax.tick_params(axis="x", labelsize=6, pad=1, length=2)
        label = f"{r['target']}: {r['claim']}"
        label = label if len(label) <= 90 else label[:87] + "..."
        ax.text(-0.02, 0.5, label, transform=ax.transAxes, ha="right", va="center", fontsize=6)
        ax.text(1.0, 0.9, r["outcome"], transform=ax.transAxes, ha="right", va="bottom", fontsize=6, color=colour)
    axes[0, 0].set_title("Findings: measured (dot) with 95% CI (bar), threshold (dashed), paper's value (diamond)",
                         fontsize=7, loc="right")
    return fig


def _expected_values(expected: Any) -> list[float]:
    """The threshold(s) of a claim as numbers (a band's two ends for ``within``)."""
    if isinstance(expected, str):
        expected = expected.strip("[] ").split(",") if expected.strip().startswith("[") else [expected]
    if not isinstance(expected, (list, tuple)):
        expected = [expected]
    out = []
    for e in expected:
        try:
            out.append(float(e))
        except (TypeError, ValueError):
            pass
    return out


def _paper_number(value: Any) -> float | None:
    """The paper's value as one number to plot (None for a list or nothing)."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None

def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit(cwd: str | Path = ".") -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown (not a git checkout)"


def sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def provenance(config: dict, allen: dict[str, Any]) -> dict[str, Any]:
    """Everything a reader needs to know how results/ was made."""
    return {
        "config": config,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": package_versions(),
        "git_commit": git_commit(),
        "allen": allen,
    }


class _Markup(str):
    """A table cell that is already reStructuredText (not escaped)."""


def _rst_escape(text: Any) -> str:
    if isinstance(text, _Markup):
        return str(text)
    return str(text).replace("|", "\\|").replace("*", "\\*").replace("`", "\\`").replace("\n", " ")


def _rst_table(header: list[str], rows: list[list[Any]], widths: list[int] | None = None) -> str:
    lines = [".. list-table::", "   :header-rows: 1"]
    if widths:
        lines.append("   :widths: " + " ".join(str(w) for w in widths))
    lines.append("")
    for row in [header] + rows:
        lines.append("   * - " + _rst_escape(row[0]))
        lines += [f"     - {_rst_escape(c)}" for c in row[1:]]
    return "\n".join(lines) + "\n"


def front_page(claims: pd.DataFrame, prov: dict[str, Any], description: str) -> str:
    """reStructuredText of the report's front page: description, claims by kind, provenance.

    Findings come first, each with the paper's number and reference beside the measured
    value, its 95% CI, n and unit; then recoveries (planted truth recovered) and bounds
    (proved inequalities checked). The figure ``results/claims_findings.png`` (first in
    the report's "0. Claims" category) shows the findings at a glance.
    """
    scale = prov["config"].get("scale")
    parts = [description.rstrip() + "\n"]
    parts.append("Claims\n------\n")
    parts.append(
        f"**{counts_line(claims, scale)}** (scale: {scale}, source: {prov['config'].get('source')}).\n\n"
        "Three kinds of claim: a *finding* is an empirical statement of the paper; a *recovery* shows the "
        "analysis recovers truth this run planted (it proves the method, not the paper); a *bound* is a "
        "proved inequality checked numerically. A finding or recovery *holds* when its whole 95% CI "
        "(bootstrap over independent units: seeds, networks, cells) lies on the claimed side of the "
        "threshold, *fails* when it lies wholly on the other side, and is *inconclusive* otherwise or "
        "without a CI (fewer than 3 units). The figure *claims_findings* (category 0. Claims) plots them.\n"
    )
    titles = {"finding": "Findings", "recovery": "Recoveries (planted truth)", "bound": "Bounds (proved inequalities)"}
    for kind in KIND_ORDER:
        c = claims[claims["kind"] == kind]
        if not len(c):
            continue
        parts.append(f"{titles[kind]}\n{'~' * len(titles[kind])}\n")
        rows = []
        for r in c.itertuples():
            paper = _fmt(r.paper_value) + (f" ({r.paper_ref})" if _fmt(r.paper_ref) else "")
            n = f"{_fmt(r.n)} {_fmt(r.unit)}".strip()
            outcome = _Markup(r.outcome if r.outcome == "holds" else f"**{r.outcome.upper()}**")
            rows.append([r.target, r.claim, paper, _fmt(r.measured), _interval(r.ci_low, r.ci_high), n,
                         f"{r.comparison} {_fmt(r.expected)}", outcome])
        parts.append(_rst_table(["paper", "claim", "paper's value", "measured", "95% CI", "n", "test", "outcome"],
                                rows, widths=[10, 40, 10, 8, 12, 8, 7, 8]))
    parts.append("Provenance\n----------\n")
    prov_rows = [["git commit", prov["git_commit"]], ["python", prov["python"]], ["platform", prov["platform"]]]
    prov_rows += [[k, v] for k, v in prov["packages"].items()]
    for key, value in prov["allen"].items():
        prov_rows.append([f"Allen: {key}", value])
    cfg = {k: v for k, v in prov["config"].items() if not isinstance(v, dict)}
    prov_rows += [[f"config: {k}", v] for k, v in cfg.items()]
    parts.append(_rst_table(["item", "value"], prov_rows))
    return "\n".join(parts)
