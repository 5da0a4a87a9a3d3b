"""Benchmark of the full-rank solvers on planted 3-D blob problems (not a timed test).

    python -m neurorepro.connectivity.bench --n 1000 3000 [--solvers newton admm] [--reference]
    python -m neurorepro.connectivity.bench --warm --n 1000 --lambdas 1e4 1e3 100 10 1 0.1 --n-inj 28 60

Problems: n_x = n_y = n voxels of an ellipsoid, 6-neighbour Laplacians, ``--n-inj`` Gaussian
injections (28), 10% noise, Omega = outside the injection sites, lambda (``--lam``, 1e4) with
the n_inj / n_x scaling (see :func:`.synthetic.make_blob_problem`). For each solver it reports
wall and CPU time (on a shared machine CPU seconds are the steadier number), peak resident
memory, iterations, final objective and ||W - W_true|| / ||W_true||, and writes a TSV (``--out``)
whose rows carry ``--machine``, the commit and the date, the form ``docs/performance/*.tsv``
takes (:mod:`.performance_doc` turns those into ``docs/performance.md``).

``--transform-dtype`` (default float32) is the dtype of newton's eigendecomposition, changes of
basis and CG steps; ``--target-f`` times the solvers to a given objective (one per n).
``--reference`` first runs scipy's L-BFGS-B (6 corrections, <= 600 iterations, W0 = 0: the
authors' algorithm and settings) and then times every solver *to that objective value*, the
comparison with the authors' solver.
``--warm`` runs :func:`run_warm` instead: newton at the pipeline's tolerances along the
``--lambdas`` path and across ``--folds`` CV folds, cold and warm-started, for each ``--n-inj``
(iteration counts: the machine-independent cost of the CV's fits, small lambda included).
``--solvers lowrank --rank R --sweeps S`` runs the low-rank path (P2) instead, on a planted
rank-10 problem that is never formed densely (:func:`.synthetic.make_lowrank_blob_problem`),
so ``--n`` can be whole-brain size (5e5); it reports seconds per sweep and peak memory.
``--device cuda`` runs the same problems on a GPU (the wall time waits for the GPU's queue;
``peak_gpu_gb`` is torch's peak allocation there).
"""
from __future__ import annotations

import argparse
import logging
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..runtime import resolve_device
from .lowrank import lowrank_rel_distance, solve_lowrank
from .objective import Problem
from .eigenbasis import Eigenbasis
from .first_order import solve_admm, solve_fista
from .lbfgsb_reference import solve_lbfgsb
from .newton import solve_newton
from .synthetic import make_blob_problem, make_lowrank_blob_problem


def peak_rss_gb() -> float:
    """Peak resident memory of this process so far (GB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _sync(dev: torch.device) -> None:
    """Wait for queued GPU work, so that wall times are the work's and not its launch."""
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def _gpu_stats(dev: torch.device) -> dict:
    """Torch's peak GPU allocation since the last reset and the GPU's name (empty on CPU)."""
    if dev.type != "cuda":
        return {}
    return {"peak_gpu_gb": torch.cuda.max_memory_allocated(dev) / 1e9, "gpu": torch.cuda.get_device_name(dev)}


def run_one(n: int, solver: str, lam: float, seed: int, dtype: str, target_f: float | None,
            max_iter: int | None = None, transform_dtype: str = "float32", device: str = "cpu",
            n_inj: int = 28) -> dict:
    P = make_blob_problem(n=n, n_inj=n_inj, noise=0.1, seed=seed)
    dt = torch.float32 if dtype == "float32" else torch.float64
    dev = resolve_device(device)
    prob = Problem.build(P.X, P.Y, P.Omega, P.Lx, P.Ly, lam, dtype=dt, device=dev)
    prob64 = Problem.build(P.X, P.Y, P.Omega, P.Lx, P.Ly, lam, dtype=torch.float64)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    _sync(dev)
    t0, c0 = time.perf_counter(), time.process_time()
    extra = {}
    if solver in ("newton", "admm"):
        te = time.perf_counter()
        tdt = getattr(torch, transform_dtype)
        eig = Eigenbasis.build(P.Lx, P.Ly, dt, dev, eig_dtype=tdt)
        _sync(dev)
        extra["eig_seconds"] = time.perf_counter() - te
        extra["transform_dtype"] = transform_dtype
        if solver == "newton":
            res = solve_newton(prob, eig, target_f=target_f, max_iter=max_iter or 200, ftol=1e-10, pgtol=1e-8,
                               precond_dtype=tdt)
            extra["cg_iterations"] = getattr(res, "n_cg", np.nan)
        else:
            res = solve_admm(prob, eig, target_f=target_f, max_iter=max_iter or 500, ftol=1e-10, pgtol=1e-8)
    elif solver == "fista":
        res = solve_fista(prob, target_f=target_f, max_iter=max_iter or 5000, ftol=1e-10, pgtol=1e-8)
    elif solver == "lbfgsb":
        res = solve_lbfgsb(prob, target_f=target_f, max_iter=max_iter or 600, ftol=1e-10, pgtol=1e-8, log_every=1)
    else:
        raise ValueError(f"unknown solver {solver!r}")
    _sync(dev)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    extra.update(_gpu_stats(dev))
    W = res.W.double().cpu()
    return {"n": n, "n_inj": n_inj, "lambda": lam, "solver": solver, "dtype": dtype, "device": str(dev), "wall_s": wall, "cpu_s": cpu,
            "peak_rss_gb": peak_rss_gb(),
            "iterations": res.n_iter, "objective": prob64.value(W), "target_f": target_f,
            "reached": (target_f is None) or prob64.value(W) <= target_f * (1 + 1e-9),
            "rel_error_W_true": float(np.linalg.norm(W.numpy() - P.W_true) / np.linalg.norm(P.W_true)),
            "frac_zero": float((W == 0).double().mean()), **extra}


def run_warm(n: int, lambdas: list[float], seed: int, n_inj: int = 28, folds: int = 5,
             transform_dtype: str = "float32", pgtol: float = 1e-5, ftol: float = 1e-8,
             max_iter: int = 2000, device: str = "cpu") -> list[dict]:
    """Newton along a lambda path and across CV folds, warm vs cold, at the pipeline's tolerances.

    On one planted problem (``n`` voxels, ``n_inj`` injections) and one eigenbasis: for each
    lambda (large to small) a cold fit and a fit warm-started from the previous lambda's
    solution (``start`` = ``cold`` / ``warm_lambda``); then, at each lambda, the ``folds``
    training sets of a K-fold split over injections, each fitted cold and warm-started from the
    previous fold's solution (``warm_fold``; a fold's training set differs from its
    neighbour's by two test folds' injections). Each row: outer and CG iterations, seconds,
    objective, and the warm solution's relative distance from the cold one
    (``rel_diff_cold``): the iteration counts are machine-independent, the seconds are not.
    """
    from .cv import kfold_injections

    P = make_blob_problem(n=n, n_inj=n_inj, noise=0.1, seed=seed)
    dev = resolve_device(device)
    tdt = getattr(torch, transform_dtype)
    eig = Eigenbasis.build(P.Lx, P.Ly, torch.float64, dev, eig_dtype=tdt)
    rows: list[dict] = []

    def fit(cols: np.ndarray, lam: float, W0):
        prob = Problem.build(P.X[:, cols], P.Y[:, cols], P.Omega[:, cols], P.Lx, P.Ly, lam, dtype=torch.float64,
                             device=dev)
        _sync(dev)
        t0 = time.perf_counter()
        res = solve_newton(prob, eig, W0, max_iter=max_iter, ftol=ftol, pgtol=pgtol, log_every=0,
                           precond_dtype=tdt)
        _sync(dev)
        return res, time.perf_counter() - t0

    def row(lam, start, fold, res, sec, cold_W=None) -> dict:
        rd = np.nan if cold_W is None else float((res.W - cold_W).norm() / max(float(cold_W.norm()), 1e-300))
        return {"n": n, "n_inj": n_inj, "lambda": lam, "start": start, "fold": fold, "outer": res.n_iter,
                "cg": getattr(res, "n_cg", np.nan), "seconds": sec, "objective": res.f,
                "converged": res.converged, "rel_diff_cold": rd, "transform_dtype": transform_dtype,
                "device": str(dev)}

    all_cols = np.arange(n_inj)
    lams = sorted(lambdas, reverse=True)
    W_prev = None
    for lam in lams:
        cold, sc = fit(all_cols, lam, None)
        rows.append(row(lam, "cold", -1, cold, sc))
        if W_prev is not None:
            warm, sw = fit(all_cols, lam, W_prev)
            rows.append(row(lam, "warm_lambda", -1, warm, sw, cold.W))
        W_prev = cold.W
        print(rows[-1], flush=True)
    if folds >= 2:
        splits = kfold_injections(n_inj, folds, seed)
        for lam in lams:
            W_prev = None
            for k, (train, _) in enumerate(splits):
                cold, sc = fit(train, lam, None)
                rows.append(row(lam, "cold", k, cold, sc))
                if W_prev is not None:
                    warm, sw = fit(train, lam, W_prev)
                    rows.append(row(lam, "warm_fold", k, warm, sw, cold.W))
                W_prev = cold.W
                print(rows[-1], flush=True)
    return rows


def run_lowrank(n: int, rank: int, lam: float, seed: int, dtype: str, sweeps: int, device: str = "cpu",
                true_rank: int = 10) -> dict:
    """The low-rank path (P2) on a planted rank-``true_rank`` problem of ``n`` voxels a side, from a
    random start, for ``sweeps`` alternating sweeps: nothing n x n is formed (whole-brain sizes)."""
    P = make_lowrank_blob_problem(n=n, rank=true_rank, n_inj=28, noise=0.1, seed=seed)
    dt = torch.float32 if dtype == "float32" else torch.float64
    dev = resolve_device(device)
    prob = Problem.build(P.X, P.Y, P.Omega, P.Lx, P.Ly, lam, dtype=dt, device=dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    _sync(dev)
    t0, c0 = time.perf_counter(), time.process_time()
    U, V, res = solve_lowrank(prob, rank, seed=seed, max_iter=sweeps, ftol=0.0, log_every=1)
    _sync(dev)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    extra = _gpu_stats(dev)
    err = lowrank_rel_distance(U.cpu(), V.cpu(), torch.as_tensor(P.U_true), torch.as_tensor(P.V_true))
    return {"n": n, "solver": "lowrank", "rank": rank, "dtype": dtype, "device": str(dev), "wall_s": wall,
            "cpu_s": cpu, "peak_rss_gb": peak_rss_gb(), "iterations": res.n_iter, "objective": res.f,
            "objective_start": res.history[0][2], "init_s": wall - res.seconds,
            "s_per_sweep": res.seconds / max(res.n_iter, 1),
            "rel_error_W_true": err, **extra}


def provenance(machine: str) -> dict:
    """The machine, commit (short hash of HEAD, ``+dirty`` with uncommitted changes) and date of a row."""
    import datetime
    import subprocess

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    if git("status", "--porcelain", "--untracked-files=no", "--", "workflow/neurorepro/connectivity"):
        commit += "+dirty"
    return {"machine": machine, "commit": commit, "date": datetime.date.today().isoformat()}


def main(argv: list[str] | None = None) -> pd.DataFrame:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[1000, 3000])
    ap.add_argument("--solvers", nargs="+", default=["newton"])
    ap.add_argument("--reference", action="store_true", help="run scipy L-BFGS-B first and time solvers to its objective")
    ap.add_argument("--target-f", type=float, nargs="*", default=None, help="objective to reach, one per n")
    ap.add_argument("--lam", type=float, default=1e4)
    ap.add_argument("--warm", action="store_true", help="warm vs cold newton along --lambdas and across --folds")
    ap.add_argument("--lambdas", type=float, nargs="+", default=[1e4, 1e3, 100, 10, 1, 0.1],
                    help="lambda path of --warm (small lambda included)")
    ap.add_argument("--folds", type=int, default=5, help="CV folds of --warm (0: the lambda path only)")
    ap.add_argument("--n-inj", type=int, nargs="+", default=[28], help="injections of the planted problems")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dtype", default="float64", choices=["float32", "float64"])
    ap.add_argument("--transform-dtype", default="float32", choices=["bfloat16", "float32", "float64"],
                    help="dtype of the eigendecomposition and of newton's changes of basis")
    ap.add_argument("--rank", type=int, default=100, help="rank of the lowrank solver")
    ap.add_argument("--sweeps", type=int, default=5, help="alternating U/V sweeps of the lowrank solver")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu", help="cpu (default), cuda[:N] or auto")
    ap.add_argument("--machine", default="unnamed machine", help="what ran it (cores, CPU/GPU model), put in every row")
    ap.add_argument("--out", default="benchmarks/connectivity/solver_bench.tsv")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    torch.set_num_threads(a.threads)
    rows = []
    for i, n in enumerate(a.n):
        if a.warm:
            for k in a.n_inj:
                rows += run_warm(n, a.lambdas, a.seed, n_inj=k, folds=a.folds, transform_dtype=a.transform_dtype,
                                 device=a.device)
            continue
        target = a.target_f[i] if a.target_f else None
        if a.reference:
            ref = run_one(n, "lbfgsb", a.lam, a.seed, "float64", None, n_inj=a.n_inj[0])
            rows.append(ref)
            print(ref, flush=True)
            target = ref["objective"]
        for s in a.solvers:
            if s == "lowrank":
                r = run_lowrank(n, a.rank, a.lam, a.seed, a.dtype, a.sweeps, device=a.device)
            else:
                r = run_one(n, s, a.lam, a.seed, a.dtype, target, transform_dtype=a.transform_dtype, device=a.device,
                            n_inj=a.n_inj[0])
            rows.append(r)
            print(r, flush=True)
    df = pd.DataFrame(rows).assign(**provenance(a.machine))
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(a.out, sep="\t", index=False)
    print(df.to_string(index=False))
    return df


if __name__ == "__main__":
    main()
