"""Benchmark of the causal_attention target (run by hand, not by the DAG):

    .venv/bin/python workflow/scripts/causal_attention_benchmark.py [--quick]

Times (1) simulating the paper's whole grid (N in {5,10,20,40} x p in {0.2,...,0.8} x 10
seeds, 5000 ms each) in one vectorised batch, (2) the Granger baseline on one N=40 network,
(3) one training epoch of the paper-size transformer on one N=40 network. The issue's
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
                             input_mean=10.0, seed=2016)
    report(f"simulate {len(nets)} networks x 5000 ms", t0)
    if args.quick:
        return
    x = next(nt for nt in nets if nt.n == 40 and nt.p == 0.6).activity
    t0 = time.perf_counter()
    GrangerCausality(max_lag=10).fit(x)
    report("granger N=40 (AIC up to lag 10)", t0)
    t0 = time.perf_counter()
    AttentionCausality(d_model=96, n_heads=8, d_ff=192, max_epochs=1, device="auto").fit(x)
    report("transformer N=40, one epoch (paper size)", t0)


if __name__ == "__main__":
    main()
