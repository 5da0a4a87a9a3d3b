"""Vectorised simulation of random networks of Izhikevich neurons.

Each network has ``N`` neurons, 80 % excitatory and 20 % inhibitory (Izhikevich 2003
heterogeneity: excitatory ``a=0.02, c=-65+15r^2, d=8-6r^2``, inhibitory
``a=0.02+0.08r, c=-65, d=2``), directed Bernoulli(``p``) connectivity without self-loops,
each connection signed by its presynaptic type with strength ``S``. Every millisecond
the membrane voltage is advanced in two half-steps of 0.5 ms (Izhikevich's scheme),
the recovery variable in one, with a Gaussian input current drawn afresh per neuron.

Two variants of the membrane equation are offered:

``izhikevich2003``
    ``v' = 0.04 v^2 + 5 v + 140 - u + I`` with ``b = 0.2`` (excitatory) and
    ``b = 0.25 - 0.05 r`` (inhibitory): the published "simple model" (regular spiking
    for ``a, b, c, d = 0.02, 0.2, -65, 8``).
``lu2023``
    ``v' = 0.04 v^2 + 4.1 v + 108 - u + I`` with ``b = -0.1`` for every neuron, as in
    the simulation code the authors of Lu et al. (2023) released.

Convention everywhere: ``weights[i, j]`` is the synapse from source ``j`` onto target
``i`` (``I_i += sum_j weights[i, j] * spiked_j``); ``adjacency = weights != 0``.

All networks of a batch are simulated together: state arrays are ``(network, neuron)``,
networks smaller than the largest are padded with disconnected neurons that are dropped
afterwards. Each network draws its parameters, connectivity and noise from its own
``numpy.random.Generator``, so a network is the same whatever else is in the batch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

VARIANTS = ("izhikevich2003", "lu2023")
V_PEAK = 30.0  # mV: spike cut-off and reset threshold


@dataclass(frozen=True)
class MembraneEquation:
    """Coefficients of ``v' = k2 v^2 + k1 v + k0 - u + I`` and the ``b`` rule."""

    k2: float
    k1: float
    k0: float
    b_exc: float
    b_inh_base: float
    b_inh_slope: float  # inhibitory b = b_inh_base + b_inh_slope * r


EQUATIONS: dict[str, MembraneEquation] = {
    "izhikevich2003": MembraneEquation(0.04, 5.0, 140.0, 0.2, 0.25, -0.05),
    "lu2023": MembraneEquation(0.04, 4.1, 108.0, -0.1, -0.1, 0.0),
}


@dataclass
class NeuronParams:
    """Izhikevich parameters of one network's neurons (arrays of length ``n``)."""

    a: np.ndarray
    b: np.ndarray
    c: np.ndarray
    d: np.ndarray
    excitatory: np.ndarray  # bool


def n_excitatory(n: int, frac_exc: float = 0.8) -> int:
    """Number of excitatory neurons in a network of ``n`` (rounded, at least 1 if n > 1)."""
    if n < 1:
        raise ValueError(f"network size must be >= 1, got {n}")
    ne = int(round(frac_exc * n))
    return min(max(ne, 1), n)


def neuron_params(n: int, rng: np.random.Generator, variant: str = "izhikevich2003", frac_exc: float = 0.8) -> NeuronParams:
    """Draw heterogeneous Izhikevich parameters: excitatory first, then inhibitory."""
    eq = _equation(variant)
    ne = n_excitatory(n, frac_exc)
    ni = n - ne
    re, ri = rng.random(ne), rng.random(ni)
    a = np.concatenate([np.full(ne, 0.02), 0.02 + 0.08 * ri])
    b = np.concatenate([np.full(ne, eq.b_exc), eq.b_inh_base + eq.b_inh_slope * ri])
    c = np.concatenate([-65.0 + 15.0 * re**2, np.full(ni, -65.0)])
    d = np.concatenate([8.0 - 6.0 * re**2, np.full(ni, 2.0)])
    exc = np.arange(n) < ne
    return NeuronParams(a, b, c, d, exc)


def random_connectivity(n: int, p: float, strength: float, excitatory: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Signed weight matrix ``(target, source)``: Bernoulli(``p``) edges, no self-loops.

    A connection from an excitatory source has weight ``+strength``, from an
    inhibitory source ``-strength``.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"connection probability must lie in [0, 1], got {p}")
    edges = rng.random((n, n)) < p
    np.fill_diagonal(edges, False)
    sign = np.where(excitatory, 1.0, -1.0)[None, :]
    return strength * edges * sign


def _equation(variant: str) -> MembraneEquation:
    try:
        return EQUATIONS[variant]
    except KeyError:
        raise ValueError(f"unknown Izhikevich variant {variant!r}; choose one of {VARIANTS}") from None


def integrate(
    params: list[NeuronParams] | NeuronParams,
    weights: list[np.ndarray] | np.ndarray,
    n_steps: int,
    rngs: list[np.random.Generator] | np.random.Generator | None = None,
    *,
    input_mean: float = 0.0,
    input_std: float = 0.0,
    constant_input: float | np.ndarray | None = None,
    variant: str = "izhikevich2003",
    chunk: int = 500,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Simulate a batch of networks for ``n_steps`` ms, all at once.

    Parameters
    ----------
    params, weights : per network, its neuron parameters and ``(target, source)`` weights.
    n_steps : number of 1 ms steps.
    rngs : per network, the generator of its input noise (needed when ``input_std > 0``).
    input_mean, input_std : Gaussian input current per neuron and ms.
    constant_input : if given, a deterministic input added to every step (scalar or
        per-neuron array for a single network), e.g. to probe a single neuron.
    variant : membrane equation, see :data:`EQUATIONS`.

    Returns
    -------
    voltages : per network, ``(n_steps, n)`` membrane voltage after each step, with
        spikes recorded at their peak ``V_PEAK`` (30 mV).
    spikes : per network, ``(n_steps, n)`` bool, the neurons that spiked at that step.
    """
    eq = _equation(variant)
    single = isinstance(params, NeuronParams)
    if single:
        params, weights = [params], [np.asarray(weights)]
        rngs = [rngs] if rngs is not None else None
    sizes = [len(pr.a) for pr in params]
    if input_std > 0 and (rngs is None or len(rngs) != len(params)):
        raise ValueError("integrate needs one generator per network when input_std > 0")
    B, nmax = len(params), max(sizes)

    def pad(values: list[np.ndarray], fill: float) -> np.ndarray:
        out = np.full((B, nmax), fill)
        for k, v in enumerate(values):
            out[k, : len(v)] = v
        return out

    a, b = pad([pr.a for pr in params], 0.02), pad([pr.b for pr in params], 0.2)
    c, d = pad([pr.c for pr in params], -65.0), pad([pr.d for pr in params], 8.0)
    W = np.zeros((B, nmax, nmax))
    for k, w in enumerate(weights):
        W[k, : sizes[k], : sizes[k]] = w
    real = pad([np.ones(s) for s in sizes], 0.0).astype(bool)
    const = np.zeros((B, nmax))
    if constant_input is not None:
        const += pad([np.broadcast_to(np.asarray(constant_input, float), (s,)) for s in sizes], 0.0)

    v = np.full((B, nmax), -65.0)
    u = b * v
    V = np.empty((n_steps, B, nmax))
    S = np.zeros((n_steps, B, nmax), dtype=bool)
    fired = np.zeros((B, nmax), dtype=bool)
    for t0 in range(0, n_steps, chunk):
        m = min(chunk, n_steps - t0)
        noise = np.zeros((m, B, nmax))
        if input_std > 0:
            for k, g in enumerate(rngs):
                noise[:, k, : sizes[k]] = g.standard_normal((m, sizes[k]))
        drive = input_mean + input_std * noise + const[None]
        drive[:, ~real] = 0.0
        for s in range(m):
            # reset the neurons that reached the peak at the end of the previous step
            v = np.where(fired, c, v)
            u = np.where(fired, u + d, u)
            I = drive[s] + np.einsum("bij,bj->bi", W, fired)
            for _ in range(2):  # two half-steps of 0.5 ms for numerical stability
                v = v + 0.5 * (eq.k2 * v * v + eq.k1 * v + eq.k0 - u + I)
                v = np.minimum(v, 1e3)  # guard: a divergent half-step cannot overflow
            u = u + a * (b * v - u)
            fired = v >= V_PEAK
            v = np.where(fired, V_PEAK, v)
            V[t0 + s], S[t0 + s] = v, fired
    voltages = [V[:, k, : sizes[k]].copy() for k in range(B)]
    spikes = [S[:, k, : sizes[k]].copy() for k in range(B)]
    return voltages, spikes


def zscore(v: np.ndarray, clip: float = V_PEAK) -> np.ndarray:
    """Clip voltage at ``clip`` mV and z-score each neuron (column) over time."""
    x = np.minimum(np.asarray(v, float), clip)
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


@dataclass
class Network:
    """One simulated network: its configuration, ground truth and activity."""

    n: int
    p: float
    rep: int
    seed: int
    weights: np.ndarray  # (target, source)
    excitatory: np.ndarray
    voltage: np.ndarray  # (time, neuron), mV, spikes at 30
    activity: np.ndarray  # (time, neuron), clipped and z-scored voltage
    spikes: np.ndarray  # (time, neuron) bool

    @property
    def adjacency(self) -> np.ndarray:
        return (self.weights != 0).astype(np.int8)


def network_seed(base_seed: int, n: int, p: float, rep: int) -> np.random.SeedSequence:
    """The seed sequence of network (``n``, ``p``, ``rep``): independent of the batch."""
    return np.random.SeedSequence([int(base_seed), int(n), int(round(p * 1000)), int(rep)])


def simulate_networks(
    sizes: list[int],
    probs: list[float],
    n_reps: int,
    *,
    n_steps: int,
    strength: float = 5.0,
    input_mean: float = 0.0,
    input_std: float = 5.0**0.5,
    frac_exc: float = 0.8,
    variant: str = "izhikevich2003",
    burn_in: int = 0,
    seed: int = 0,
) -> list[Network]:
    """Simulate every network of the grid ``sizes x probs x range(n_reps)`` in one batch.

    The first ``burn_in`` ms (the transient from the common initial state) are dropped
    before z-scoring.
    """
    configs = [(n, p, r) for n in sizes for p in probs for r in range(n_reps)]
    params, weights, rngs = [], [], []
    for n, p, r in configs:
        g_struct, g_noise = (np.random.default_rng(s) for s in network_seed(seed, n, p, r).spawn(2))
        pr = neuron_params(n, g_struct, variant, frac_exc)
        params.append(pr)
        weights.append(random_connectivity(n, p, strength, pr.excitatory, g_struct))
        rngs.append(g_noise)
    V, S = integrate(params, weights, n_steps + burn_in, rngs, input_mean=input_mean, input_std=input_std, variant=variant)
    nets = []
    for k, (n, p, r) in enumerate(configs):
        v, s = V[k][burn_in:], S[k][burn_in:]
        nets.append(Network(n, p, r, seed, weights[k], params[k].excitatory, v, zscore(v), s))
    return nets
