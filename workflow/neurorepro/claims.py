"""Headline claims of a paper as measured numbers with a pass/fail (``claims.json``).

Each paper's final rule writes ``results/<target>/claims.json``: a JSON list of
records with the keys of :class:`Claim`. A claim that does not hold is written with
``holds: false``, never hidden; the pipeline does not fail on it.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from neurorepro.io import write_text

COMPARISONS = ("<", "<=", ">", ">=", "within")


@dataclass
class Claim:
    """One claim of a paper and what this run measured.

    Parameters
    ----------
    target : the pipeline target (paper) the claim belongs to, e.g. ``"connectivity"``.
    claim : one sentence, as the paper states it.
    measured : the number this run measured.
    comparison : one of ``<, <=, >, >=, within``.
    expected : the threshold (for ``within``: ``[low, high]``).
    scale, source : the run's configuration axes.
    details : extra measured numbers (e.g. both sides of a comparison, n seeds).
    """

    target: str
    claim: str
    measured: float
    comparison: str
    expected: float | list[float]
    scale: str
    source: str
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.comparison not in COMPARISONS:
            raise ValueError(f"comparison must be one of {COMPARISONS}, got {self.comparison!r}")
        if self.comparison == "within":
            if not (isinstance(self.expected, (list, tuple)) and len(self.expected) == 2):
                raise ValueError("comparison 'within' needs expected=[low, high]")
            self.expected = [float(v) for v in self.expected]
        else:
            self.expected = float(self.expected)
        self.measured = float(self.measured)

    @property
    def holds(self) -> bool:
        m, e = self.measured, self.expected
        if math.isnan(m):
            return False
        if self.comparison == "within":
            return e[0] <= m <= e[1]
        return {"<": m < e, "<=": m <= e, ">": m > e, ">=": m >= e}[self.comparison]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["holds"] = self.holds
        return d


def write_claims(path: str | Path, claims: list[Claim]) -> None:
    """Write ``claims`` to ``path`` as a JSON list (atomically)."""
    write_text(json.dumps([c.to_dict() for c in claims], indent=2, allow_nan=True) + "\n", path)


def read_claims(path: str | Path) -> list[dict[str, Any]]:
    """Read a ``claims.json`` written by :func:`write_claims`, checking its keys."""
    path = Path(path)
    try:
        records = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from err
    required = {"target", "claim", "measured", "comparison", "expected", "holds", "scale", "source"}
    if not isinstance(records, list):
        raise ValueError(f"{path}: expected a JSON list of claims")
    for i, rec in enumerate(records):
        missing = required - set(rec)
        if missing:
            raise ValueError(f"{path}: claim {i} lacks keys {sorted(missing)}")
    return records
