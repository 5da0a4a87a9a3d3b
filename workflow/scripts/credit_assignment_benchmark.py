"""Benchmark (not a rule): seconds per update and peak trace memory of each learning rule.

Run by hand: ``.venv/bin/python workflow/scripts/credit_assignment_benchmark.py [--device cuda]``.
Prints one TSV row per (size, rule). Sizes: the demo (digits 8x8, 64 units, batch 32) and
the paper (MNIST 28x28, 128 units, batch 256, the authors' sizes). e-prop, RFLO and MDGL
compute their eligibility-trace updates exactly without storing the (batch, N, N) traces
(the leak is constant, so the sum over loss steps regroups by entry step), so their memory,
like BPTT's, grows as T x batch x N.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # workflow/ for neurorepro when not installed

from neurorepro.credit_assignment.rnn import LeakyReLURNN, last_step_weights  # noqa: E402
from neurorepro.credit_assignment.rules import RULES, make_rule  # noqa: E402
from neurorepro.runtime import resolve_device, set_threads  # noqa: E402

SIZES = {"demo": dict(T=8, n_in=8, N=32, B=32, O=10), "paper": dict(T=28, n_in=28, N=128, B=256, O=10)}


def bench(size: str, rule_name: str, device: torch.device, repeats: int) -> dict:
    s = SIZES[size]
    g = torch.Generator().manual_seed(0)
    net = LeakyReLURNN(s["n_in"], s["N"], s["O"], alpha=0.2, generator=g).to(device)
    x = torch.rand(s["B"], s["T"], s["n_in"], generator=g).to(device)
    y = torch.randint(0, s["O"], (s["B"],), generator=g).to(device)
    w = last_step_weights(s["T"], device=device)
    rule = make_rule(rule_name, n_hidden=s["N"], n_out=s["O"], truncation=2, n_types=2, generator=g)
    if getattr(rule, "feedback", None) is not None:
        rule.feedback = rule.feedback.to(device)
    rule(net, x, y, w)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(repeats):
        rule(net, x, y, w)
    if device.type == "cuda":
        torch.cuda.synchronize()
    sec = (time.perf_counter() - t0) / repeats
    trace_mb = 0.0  # no (B, N, N) trace is stored (see the module docstring)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else float("nan")
    return {"size": size, "rule": rule_name, "ms_per_update": 1000 * sec, "trace_mb": trace_mb, "cuda_peak_mb": peak}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    set_threads(args.threads)
    device = resolve_device(args.device)
    print("size\trule\tms_per_update\ttrace_mb\tcuda_peak_mb\tdevice")
    for size in SIZES:
        for rule in RULES:
            r = bench(size, rule, device, args.repeats)
            print(f"{r['size']}\t{r['rule']}\t{r['ms_per_update']:.2f}\t{r['trace_mb']:.2f}\t{r['cuda_peak_mb']:.1f}\t{device}")


if __name__ == "__main__":
    main()
