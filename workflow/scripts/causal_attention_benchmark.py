"""Benchmark of the causal_attention target (run by hand, not by the DAG):

    .venv/bin/python workflow/scripts/causal_attention_benchmark.py [--quick]

Times (1) simulating the paper's whole grid (N in {5,10,20,40} x p in {0.2,...,0.8} x 10
seeds, 5000 ms each, the released drive: mean 5, variance 5) in one vectorised batch, (2) the
Granger baseline (lag by AIC and BIC up to 10) on one N=40 network, (3) one training epoch of the
authors' Causalformer at their size (d_model 100, 10 heads x 8, d_ff 400, batch 16) on one N=40
network. Measured here on a shared 2-core CPU: ~200 s for (3), i.e. ~1.5 h per model at the
paper's ~30 epochs, x 10 initialisations x 160 networks: GPU work. The issue's
target for (1) is "seconds"; prints one TSV line per measurement.
"""
from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from neurorepro.causal_attention.granger import GrangerCausality  # noqa: E402
from neurorepro.causal_attention.model import AttentionCausality  # noqa: E402
from neurorepro.causal_attention.simulate import simulate_networks  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="only the simulation benchmark")
    args = ap.parse_args()
    print("what\tseconds\tmax_rss_mb")

    def report(what: str, t0: float) -> None:
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{what}\t{time.perf_counter() - t0:.1f}\t{rss:.0f}", flush=True)

    t0 = time.perf_counter()
    nets = simulate_networks([5, 10, 20, 40], [0.2, 0.4, 0.6, 0.8], 10, n_steps=5000, variant="lu2023",
                             input_mean=5.0, seed=2016)
    report(f"simulate {len(nets)} networks x 5000 ms", t0)
    if args.quick:
        return
    x = next(nt for nt in nets if nt.n == 40 and nt.p == 0.6).activity
    t0 = time.perf_counter()
    GrangerCausality(max_lag=10).fit(x)
    report("granger N=40 (AIC up to lag 10)", t0)
    t0 = time.perf_counter()
    AttentionCausality(arch="causalformer", d_model=100, n_heads=10, d_qk=8, d_ff=400, batch_size=16, lr=5e-4,
                       weight_decay=1e-3, max_epochs=1, device="auto").fit(x)
    report("Causalformer N=40, one epoch (the authors' size)", t0)


if __name__ == "__main__":
    main()
