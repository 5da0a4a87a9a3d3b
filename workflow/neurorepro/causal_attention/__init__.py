"""Lu et al. 2023: transformer cross-attention vs Granger causality on simulated Izhikevich networks.

Modules: :mod:`.simulate` (vectorised Izhikevich networks), :mod:`.model` (transformer
forecaster and attention causal score), :mod:`.granger` (statsmodels VAR Granger
baseline), :mod:`.metrics` (AUROC), :mod:`.data` (xarray containers), :mod:`.evaluate`
(tables and claims), :mod:`.figures`.
"""
