"""Chen, Recanatesi & Shea-Brown 2023: loss flatness bounds representation compression.

Modules: :mod:`bounds` (the inequalities), :mod:`measure` (sharpness tr H and Jacobian
measures of one network), :mod:`experiment` (train one sweep point as the authors and
measure it along training), :mod:`analysis` (the late-phase rule, per-run slopes,
correlations, claims), :mod:`figures`.
"""
from neurorepro.flatness.measure import MeasureSettings, measure_network  # noqa: F401
