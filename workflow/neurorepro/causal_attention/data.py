"""Labelled containers (xarray) for simulated networks and their causal scores."""
from __future__ import annotations

import numpy as np
import xarray as xr

from .simulate import Network


def networks_to_dataset(nets: list[Network], attrs: dict) -> xr.Dataset:
    """Stack networks of different sizes into one Dataset, padding with NaN.

    Variables: ``activity (network, time, neuron)`` (clipped, z-scored voltage),
    ``weights (network, target, source)`` (synaptic weight, mV; NaN outside the
    network), ``excitatory (network, neuron)``, ``rate (network, neuron)`` (Hz).
    Coordinates per network: ``n_neurons``, ``p``, ``rep``.
    """
    B, T = len(nets), nets[0].activity.shape[0]
    nmax = max(nt.n for nt in nets)
    act = np.full((B, T, nmax), np.nan, np.float32)
    W = np.full((B, nmax, nmax), np.nan)
    exc = np.full((B, nmax), -1, np.int8)
    rate = np.full((B, nmax), np.nan)
    for k, nt in enumerate(nets):
        act[k, :, : nt.n] = nt.activity
        W[k, : nt.n, : nt.n] = nt.weights
        exc[k, : nt.n] = nt.excitatory
        rate[k, : nt.n] = nt.spikes.mean(axis=0) * 1000.0
    ds = xr.Dataset(
        {
            "activity": (("network", "time", "neuron"), act, {"units": "z-scored membrane voltage (clipped at 30 mV)"}),
            "weights": (("network", "target", "source"), W, {"units": "mV per presynaptic spike", "convention": "weights[target, source]"}),
            "excitatory": (("network", "neuron"), exc, {"description": "1 excitatory, 0 inhibitory, -1 padding"}),
            "rate": (("network", "neuron"), rate, {"units": "Hz"}),
        },
        coords={
            "network": np.arange(B),
            "n_neurons": ("network", np.array([nt.n for nt in nets])),
            "p": ("network", np.array([nt.p for nt in nets])),
            "rep": ("network", np.array([nt.rep for nt in nets])),
            "time": np.arange(T),
        },
        attrs={k: (str(v) if isinstance(v, (list, dict, bool)) or v is None else v) for k, v in attrs.items()},
    )
    ds["time"].attrs["units"] = "ms"
    return ds


def network_arrays(ds: xr.Dataset, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Activity ``(time, n)`` and adjacency ``(target, source)`` of network ``k`` (padding removed)."""
    n = int(ds["n_neurons"].values[k])
    x = np.asarray(ds["activity"].values[k, :, :n], float)
    adj = (np.asarray(ds["weights"].values[k, :n, :n]) != 0).astype(np.int8)
    return x, adj


def networks_of_size(ds: xr.Dataset, n: int) -> list[int]:
    """Indices of the networks with ``n`` neurons."""
    return [int(k) for k in np.flatnonzero(ds["n_neurons"].values == n)]


def scores_dataset(name: str, networks: list[int], scores: list[np.ndarray], n: int, per_network: dict[str, list], attrs: dict) -> xr.Dataset:
    """Causal scores ``(network, target, source)`` of one method for the networks of size ``n``."""
    S = np.stack(scores) if scores else np.zeros((0, n, n))
    data = {name: (("network", "target", "source"), S, {"convention": "score[target, source]"})}
    for key, vals in per_network.items():
        data[key] = (("network",), np.asarray(vals))
    coords = {"network": np.asarray(networks, int), "target": np.arange(n), "source": np.arange(n)}
    return xr.Dataset(data, coords=coords, attrs=attrs)
