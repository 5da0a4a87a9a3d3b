"""A paper's claims as measured numbers: what kind of evidence, how sure, and the paper's own number.

Each paper's final rule writes ``results/<target>/claims.json``: a JSON list of records
with the keys of :class:`Claim`. The record says

- what **kind** of evidence the claim is (:data:`KINDS`):

  - ``finding``: an empirical statement of the paper, about brains or networks;
  - ``recovery``: the analysis recovers ground truth this run planted (proves the
    method works; never evidence for the paper);
  - ``bound``: a proved inequality checked numerically (a regression test of the
    implementation, not a finding);

- the **paper's number** and where it stands (``paper_value``, ``paper_ref``);
- how sure the run is: ``n`` independent ``unit``\\ s and a 95% interval ``ci``
  (:func:`neurorepro.measures.bootstrap.bootstrap_ci`, over units, never over
  correlated samples such as time steps);
- the **outcome** (:data:`OUTCOMES`), derived from those numbers by :func:`decide`,
  never stored by hand.

A claim that does not hold is written with its outcome, never hidden; the pipeline
does not fail on it. ``holds`` stays in the record as ``outcome == "holds"`` for
older readers.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from neurorepro.io import write_text

COMPARISONS = ("<", "<=", ">", ">=", "within")
KINDS = ("finding", "recovery", "bound")
OUTCOMES = ("holds", "fails", "inconclusive")
#: Fewest independent units for which an interval is reported and trusted.
MIN_UNITS_FOR_CI = 3


def _side(value: float, comparison: str, expected: float | list[float]) -> bool:
    """Whether one number lies on the claimed side of the threshold."""
    if comparison == "within":
        return expected[0] <= value <= expected[1]
    return {"<": value < expected, "<=": value <= expected, ">": value > expected, ">=": value >= expected}[comparison]


def decide(kind: str, measured: float, comparison: str, expected: float | list[float],
           ci: list[float] | None, n: int | None) -> str:
    """The outcome of a claim from its numbers (the one rule every claim follows).

    - ``bound``: ``holds`` or ``fails`` on the measured value (a proved inequality has no
      sampling uncertainty to weigh; it either held at every checked point or not).
    - ``finding`` / ``recovery`` with an interval (``n`` >= 3): ``holds`` when the whole
      interval lies on the claimed side of the threshold, ``fails`` when the whole interval
      lies on the other side (for ``within``: wholly below or wholly above the band),
      otherwise ``inconclusive``.
    - ``finding`` without an interval (``n`` < 3 or not computable): ``inconclusive``.
    - ``recovery`` without an interval (one planted problem): decided on the measured value.
    - a ``finding`` whose measured value is NaN is ``inconclusive``; a NaN ``bound`` or
      ``recovery`` ``fails`` (the check could not be made).
    """
    if math.isnan(measured):
        return "inconclusive" if kind == "finding" else "fails"
    has_ci = ci is not None and (n is None or n >= MIN_UNITS_FOR_CI)
    if kind == "bound" or (kind == "recovery" and not has_ci):
        return "holds" if _side(measured, comparison, expected) else "fails"
    if not has_ci:
        return "inconclusive"
    low, high = ci
    if comparison == "within":
        lo_b, hi_b = expected
        if lo_b <= low and high <= hi_b:
            return "holds"
        if high < lo_b or low > hi_b:
            return "fails"
        return "inconclusive"
    if _side(low, comparison, expected) and _side(high, comparison, expected):
        return "holds"
    if not _side(low, comparison, expected) and not _side(high, comparison, expected):
        return "fails"
    return "inconclusive"


@dataclass
class Claim:
    """One claim of a paper and what this run measured.

    Parameters
    ----------
    target : the pipeline target (paper) the claim belongs to, e.g. ``"connectivity"``.
    claim : one sentence, as the paper states it (a ``recovery`` is worded as one:
        "the analysis recovers the planted ...").
    measured : the number this run measured (the statistic over the units).
    comparison : one of ``<, <=, >, >=, within``.
    expected : the threshold the claim is tested against (for ``within``: ``[low, high]``).
    scale, source : the run's configuration axes.
    details : extra measured numbers (e.g. both sides of a comparison, per-unit values).
    kind : ``finding``, ``recovery`` or ``bound`` (required; see the module docstring).
    paper_value : the paper's own number (a number, a list, or None) and
    paper_ref : where it stands in the paper ("Table 1", "Fig. 2b", "§4").
    n, unit : how many independent units the statistic is computed over, and what they are.
    ci : 95% interval ``[low, high]`` of ``measured`` over the units, or None.
    """

    target: str
    claim: str
    measured: float
    comparison: str
    expected: float | list[float]
    scale: str
    source: str
    details: dict[str, Any] = field(default_factory=dict)
    kind: str = ""
    paper_value: float | list[float] | None = None
    paper_ref: str | None = None
    n: int | None = None
    unit: str | None = None
    ci: list[float] | None = None

    def __post_init__(self) -> None:
        where = f"claim {self.claim!r} of {self.target!r}"
        if self.kind not in KINDS:
            raise ValueError(f"{where}: kind must be one of {KINDS}, got {self.kind!r}")
        if self.comparison not in COMPARISONS:
            raise ValueError(f"{where}: comparison must be one of {COMPARISONS}, got {self.comparison!r}")
        if self.comparison == "within":
            if not (isinstance(self.expected, (list, tuple)) and len(self.expected) == 2):
                raise ValueError(f"{where}: comparison 'within' needs expected=[low, high]")
            self.expected = [float(v) for v in self.expected]
        else:
            self.expected = float(self.expected)
        self.measured = float(self.measured)
        if self.n is not None:
            self.n = int(self.n)
        if self.ci is not None:
            if len(self.ci) != 2:
                raise ValueError(f"{where}: ci must be [low, high], got {self.ci!r}")
            self.ci = [float(self.ci[0]), float(self.ci[1])]
            if not self.ci[0] <= self.ci[1]:
                raise ValueError(f"{where}: ci low {self.ci[0]} exceeds high {self.ci[1]}")
            if any(math.isnan(v) for v in self.ci):
                self.ci = None
        if isinstance(self.paper_value, (list, tuple)):
            self.paper_value = [float(v) for v in self.paper_value]
        elif self.paper_value is not None:
            self.paper_value = float(self.paper_value)

    @property
    def outcome(self) -> str:
        return decide(self.kind, self.measured, self.comparison, self.expected, self.ci, self.n)

    @property
    def holds(self) -> bool:
        return self.outcome == "holds"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["outcome"] = self.outcome
        d["holds"] = self.holds
        return d


def write_claims(path: str | Path, claims: list[Claim]) -> None:
    """Write ``claims`` to ``path`` as a JSON list (atomically)."""
    write_text(json.dumps([c.to_dict() for c in claims], indent=2, allow_nan=True) + "\n", path)


#: Keys every record of a claims.json carries.
REQUIRED_KEYS = {"target", "claim", "kind", "measured", "comparison", "expected", "scale", "source",
                 "paper_value", "paper_ref", "n", "unit", "ci", "outcome", "holds"}


def read_claims(path: str | Path) -> list[dict[str, Any]]:
    """Read a ``claims.json`` written by :func:`write_claims`, checking every record.

    A record that lacks a key, has an unknown ``kind``, or whose ``outcome`` / ``holds``
    disagree with its own numbers (by :func:`decide`) is rejected with the file and the
    claim named: an outcome is derived, never typed in.
    """
    path = Path(path)
    try:
        records = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a JSON list of claims")
    for i, rec in enumerate(records):
        name = f"{path}: claim {i} ({str(rec.get('claim', '?'))[:80]!r})"
        missing = REQUIRED_KEYS - set(rec)
        if missing:
            raise ValueError(f"{name} lacks keys {sorted(missing)}")
        if rec["kind"] not in KINDS:
            raise ValueError(f"{name}: unknown kind {rec['kind']!r} (one of {KINDS})")
        try:
            rebuilt = Claim(**{k: rec[k] for k in Claim.__dataclass_fields__ if k in rec})
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name}: {err}") from err
        if rec["outcome"] != rebuilt.outcome:
            raise ValueError(f"{name}: outcome {rec['outcome']!r} disagrees with its numbers "
                             f"(measured {rec['measured']}, ci {rec['ci']}, n {rec['n']}: {rebuilt.outcome!r})")
        if bool(rec["holds"]) != rebuilt.holds:
            raise ValueError(f"{name}: holds={rec['holds']} disagrees with outcome {rebuilt.outcome!r}")
    return records
