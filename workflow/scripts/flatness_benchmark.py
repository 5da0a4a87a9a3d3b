"""Benchmark (not a rule): cost of the flatness measures for the paper-size MLP.

    python workflow/scripts/flatness_benchmark.py [--threads 2] [--n-probe 1000] [--out bench.json]

Builds the paper's 784-500-500-500-10 tanh MLP, trains it briefly with plain SGD on MSE
(scikit-learn's digits upsampled to 28x28, offline), then measures on ``n_probe`` points:
the time of one Hessian-vector product; power iteration and Lanczos to 1e-3 relative
change (time, HVPs, and the relative error against a tight Lanczos reference), and the
HVPs power iteration needs until its estimate stays within 1e-3 of that reference; and the
input-Jacobians batched with torch.func.vmap against a per-sample loop. Wall and CPU
seconds are both reported (a shared machine inflates wall time).
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from neurorepro.flatness.measure import mse_loss
from neurorepro.measures.hessian import HessianVectorProduct, top_eigen
from neurorepro.measures.jacobian import input_jacobian
from neurorepro.nets import DeepNet, SGDTrainer, load_dataset
from neurorepro.runtime import seed_everything, set_threads


def _timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-probe", type=int, default=1000)
    ap.add_argument("--train-epochs", type=int, default=3)
    ap.add_argument("--tol", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-power-iter", type=int, default=100)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    set_threads(a.threads)
    seed_everything(a.seed)
    Xtr, ytr, _, _ = load_dataset("digits", seed=a.seed)
    X = torch.nn.functional.interpolate(Xtr, size=(28, 28), mode="bilinear", align_corners=False)
    net = DeepNet(784, [500, 500, 500], 10, activation="tanh")
    SGDTrainer(lr=0.05, batch_size=32, epochs=a.train_epochs, seed=a.seed, snapshot_epochs=[a.train_epochs],
               loss="mse", device="cpu").fit(net, X, ytr)
    net.eval()
    x, y = X[: a.n_probe], ytr[: a.n_probe]
    params = list(net.parameters())
    loss_fn = lambda: mse_loss(net(x), y)  # noqa: E731
    res: dict = {"threads": a.threads, "n_probe": len(x), "n_params": sum(p.numel() for p in params), "tol": a.tol}

    op, w, c = _timed(lambda: HessianVectorProduct(loss_fn, params))
    res["gradient_graph_s"] = w
    v = [torch.randn_like(p) for p in params]
    _, w, c = _timed(lambda: [op(v) for _ in range(5)])
    res["hvp_wall_s"], res["hvp_cpu_s"] = w / 5, c / 5

    ref, w, _ = _timed(lambda: top_eigen(loss_fn, params, n_iter=300, tol=1e-9, seed=a.seed + 1, method="lanczos"))
    res["reference_eigenvalue"], res["reference_n_hvp"], res["reference_wall_s"] = ref.eigenvalue, ref.n_hvp, w
    for method in ("power", "lanczos"):
        r, w, c = _timed(lambda: top_eigen(loss_fn, params, n_iter=1000, tol=a.tol, seed=a.seed, method=method))
        res[method] = {
            "eigenvalue": r.eigenvalue, "n_hvp": r.n_hvp, "converged": r.converged, "wall_s": w, "cpu_s": c,
            "relative_error": abs(r.eigenvalue - ref.eigenvalue) / abs(ref.eigenvalue),
        }

    # HVPs until the estimate is within `tol` of the reference (not just changing by less than `tol`)
    long, w, _ = _timed(lambda: top_eigen(loss_fn, params, n_iter=a.max_power_iter, tol=1e-12, seed=a.seed, method="power"))
    errs = [abs(h - ref.eigenvalue) / abs(ref.eigenvalue) for h in long.history]
    hit = next((i + 1 for i, e in enumerate(errs) if all(e2 <= a.tol for e2 in errs[i:])), None)
    res["power_hvps_to_relative_error_tol"] = hit
    res["power_relative_error_by_hvp"] = errs[:: max(1, len(errs) // 20)]

    xs = x[:64]
    Jv, w, c = _timed(lambda: input_jacobian(net, xs, chunk_size=64).detach())
    res["jacobian_vmap_64_wall_s"], res["jacobian_vmap_64_cpu_s"] = w, c

    def loop():
        return torch.stack([torch.autograd.functional.jacobian(lambda z: net(z[None])[0], xi) for xi in xs]).reshape(64, 10, -1)

    Jl, w, c = _timed(loop)
    res["jacobian_loop_64_wall_s"], res["jacobian_loop_64_cpu_s"] = w, c
    res["jacobian_max_abs_diff"] = float((Jv - Jl).abs().max())
    text = json.dumps(res, indent=2)
    print(text)
    if a.out:
        with open(a.out, "w") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
