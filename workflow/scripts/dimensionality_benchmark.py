"""Benchmark (not a rule): time and memory of the dimension measures and of one training epoch.

Run from the repository root: ``.venv/bin/python workflow/scripts/dimensionality_benchmark.py [--paper]``.
Prints one TSV row per case, so demo- and paper-scale costs can be checked without the
timed assertions that do not belong in tests. ``--paper`` adds probe sizes of the paper
scale (2000 images, layers up to ``probe_max_features`` = 2048 units).
"""
from __future__ import annotations

import argparse
import resource
import sys
import time

import numpy as np


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(argv: list[str] | None = None) -> None:
    from neurorepro.measures import MEASURES
    from neurorepro.nets import SGDTrainer, build_model, load_dataset
    from neurorepro.runtime import seed_everything, set_threads

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--paper", action="store_true", help="add paper-scale probe sizes")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    set_threads(args.threads)
    rng = np.random.default_rng(0)
    cases = [(360, 128), (360, 512)] + ([(2000, 500), (2000, 2048)] if args.paper else [])
    print("case\tn_points\tn_features\tseconds\tmax_rss_mb")
    for n, p in cases:
        X = np.maximum(rng.normal(size=(n, 12)) @ rng.normal(size=(12, p)), 0)  # ReLU of a 12-d latent
        for name, fn in MEASURES.items():
            t0 = time.perf_counter()
            fn(X)
            print(f"measure:{name}\t{n}\t{p}\t{time.perf_counter() - t0:.3f}\t{_rss_mb():.0f}", flush=True)
    data = load_dataset("digits", seed=0)
    for kind, kw in (("deepnet", {"widths": [128] * 5}), ("resnet", {"widths": [8, 16]})):
        seed_everything(0)
        model = build_model(kind, data[0].shape[1:], 10, **kw)
        t0 = time.perf_counter()
        SGDTrainer(lr=0.05, batch_size=32, momentum=0.9, epochs=1, snapshot_epochs=[1]).fit(model, data[0], data[1])
        print(f"train_epoch:{kind}\t{len(data[0])}\t-\t{time.perf_counter() - t0:.3f}\t{_rss_mb():.0f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
