"""Chen, Recanatesi & Shea-Brown 2023: loss flatness bounds representation compression.

Modules: :mod:`bounds` (the inequalities), :mod:`measure` (sharpness and Jacobian
measures of one network), :mod:`experiment` (train one sweep point and measure its
snapshots), :mod:`analysis` (correlations, claims), :mod:`figures`.
"""
from neurorepro.flatness.measure import MeasureSettings, measure_network  # noqa: F401
