"""Rule causal_attention_simulate: simulate the grid of Izhikevich networks."""
import time

from neurorepro.causal_attention.data import networks_to_dataset
from neurorepro.causal_attention.simulate import simulate_networks
from neurorepro.io import write_netcdf
from neurorepro.runtime import get_logger

sm = snakemake  # noqa: F821
log = get_logger("causal_attention.simulate", sm.log[0])
sim, seed = dict(sm.params.sim), int(sm.params.seed)
t0 = time.time()
nets = simulate_networks(
    sim["sizes"], sim["probs"], sim["n_seeds"], n_steps=sim["n_steps"], strength=sim["strength"],
    input_mean=sim["input_mean"], input_std=sim["input_std"], frac_exc=sim["frac_excitatory"],
    variant=sim["variant"], burn_in=sim["burn_in"], seed=seed,
)
log.info("simulated %d networks x %d ms in %.1f s", len(nets), sim["n_steps"] + sim["burn_in"], time.time() - t0)
attrs = {**{k: v for k, v in sim.items() if k not in ("sizes", "probs")}, "seed": seed, "scale": sm.params.scale,
         "model": "Izhikevich networks, Lu et al. 2023", "steps_per_ms": "two 0.5 ms half-steps of v, one of u"}
ds = networks_to_dataset(nets, attrs)
for n in sim["sizes"]:
    sel = ds["n_neurons"] == n
    log.info("N=%d: mean rate %.1f Hz", n, float(ds["rate"].where(sel).mean()))
write_netcdf(ds, sm.output[0])
