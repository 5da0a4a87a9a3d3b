"""The paper's experiments: fit RSN and sampler-only networks, sample, measure.

Each function returns labelled xarray Datasets / pandas tables; the rule scripts write them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import xarray as xr

from .estimator import ScoreSampler
from .metrics import energy_distance, excess_kurtosis, marginal_wasserstein, spearman_rho, steps_to_reach
from .targets import GaussianMixture1D, LaplaceMixture2D, PCAImages, load_images

NETWORKS = ("rsn", "synaptic", "rate")
NETWORK_LABELS = {"rsn": "reservoir-sampler (RSN)", "synaptic": "sampler-only, synaptic current", "rate": "sampler-only, firing rate"}
TASK_SEED_OFFSET = {"bimodal": 0, "laplace": 1000, "digits": 2000, "sweep": 3000}


@dataclass
class TrainSettings:
    """DSM and Langevin settings shared by the networks of one experiment."""

    activation: str = "tanh"
    sigma_max: float = 1.0
    sigma_min: float = 0.05
    n_stages: int = 5
    n_iter: int = 2000
    batch_size: int = 256
    lr: float = 1e-2
    n_chains: int = 2000
    n_steps: int = 2000
    dt: float = 0.01
    record_every: int = 20
    init_std: float = 1.0
    device: str = "auto"

    def estimator(self, kind: str, n_hidden: int, seed: int, n_iter: int | None = None) -> ScoreSampler:
        return ScoreSampler(
            kind=kind,
            n_hidden=n_hidden,
            activation=self.activation,
            sigma_max=self.sigma_max,
            sigma_min=self.sigma_min,
            n_stages=self.n_stages,
            n_iter=self.n_iter if n_iter is None else n_iter,
            batch_size=self.batch_size,
            lr=self.lr,
            seed=seed,
            device=self.device,
        )


def make_target(task: str, params: dict):
    """The synthetic target of ``task`` (``bimodal`` or ``laplace``) from config values."""
    if task == "bimodal":
        return GaussianMixture1D(params["bimodal_means"], params["bimodal_stds"], params.get("bimodal_weights"))
    if task == "laplace":
        return LaplaceMixture2D(
            params["laplace_rhos"], params.get("laplace_means"), params.get("laplace_scale", 1.0), params.get("laplace_weights")
        )
    raise ValueError(f"unknown synthetic task {task!r} (bimodal | laplace)")


def _w_curve(traj: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return np.array([marginal_wasserstein(x, reference) for x in traj])


def run_density_task(
    task: str, target, settings: TrainSettings, n_hidden: int, n_train: int, n_reference: int, seed: int,
    skew: float = 0.0, accel_init: list[float] | None = None, accel_init_std: float = 0.1, log=None,
) -> tuple[xr.Dataset, pd.DataFrame]:
    """Fit the three networks to samples of ``target``, run their Langevin dynamics, compare to the target.

    Returns a Dataset (samples, reference samples, distance over sampling time, scores on a
    grid for 1-D targets, marginal kurtosis) and a table with one row per network. With
    ``skew > 0`` the RSN is also run from ``N(accel_init, accel_init_std^2 I)`` with reversible
    and with accelerated dynamics (two more rows, and ``wasserstein_time_accel``).
    """
    rng = np.random.default_rng(seed)
    X = target.sample(n_train, rng)
    reference = target.sample(n_reference, rng)
    d = target.dim
    rows, samples, curves, kurt = [], [], [], []
    fitted = {}
    for i, kind in enumerate(NETWORKS):
        t0 = time.perf_counter()
        est = settings.estimator(kind, n_hidden, seed + 10 * (i + 1)).fit(X)
        t_fit = time.perf_counter() - t0
        x, traj, steps = est.sample(
            settings.n_chains, settings.n_steps, settings.dt, init_std=settings.init_std,
            record_every=settings.record_every, seed=seed + 7,
        )
        fitted[kind] = est
        samples.append(x)
        curves.append(_w_curve(traj, reference))
        kurt.append(excess_kurtosis(x))
        rows.append({
            "task": task, "network": kind, "sampler": "langevin", "n_hidden": n_hidden if kind == "rsn" else d,
            "wasserstein": marginal_wasserstein(x, reference), "heldout_dsm_loss": est.dsm_loss(reference, seed=seed),
            **{f"kurtosis_{j}": float(kurt[-1][j]) for j in range(d)},
        })
        if log:
            log.info("%s %s: W1=%.4f (fit %.1fs)", task, kind, rows[-1]["wasserstein"], t_fit)
    coords = {"network": list(NETWORKS), "dim": np.arange(d), "step": steps}
    ds = xr.Dataset(
        {
            "samples": (("network", "chain", "dim"), np.stack(samples)),
            "reference": (("ref_sample", "dim"), reference),
            "wasserstein_time": (("network", "step"), np.stack(curves)),
            "kurtosis": (("network", "dim"), np.stack(kurt)),
            "kurtosis_true": (("dim",), excess_kurtosis(reference)),
        },
        coords=coords,
    )
    ds["wasserstein_time"].attrs = {"description": "mean marginal Wasserstein-1 distance of the chains to reference samples", "units": "sample units"}
    ds["step"].attrs = {"description": "Euler-Maruyama step", "dt": settings.dt}
    if skew > 0:
        # convergence speed: RSN chains started away from the target at accel_init,
        # reversible vs accelerated dynamics with the same noise draws
        est = fitted["rsn"]
        comp = []
        for sk in (0.0, skew):
            x, traj, _ = est.sample(
                settings.n_chains, settings.n_steps, settings.dt, skew=sk, init_std=accel_init_std,
                init_mean=accel_init, record_every=settings.record_every, seed=seed + 8,
            )
            comp.append(_w_curve(traj, reference))
            kx = excess_kurtosis(x)
            rows.append({
                "task": task, "network": "rsn", "sampler": "accelerated" if sk else "langevin_from_accel_init",
                "n_hidden": n_hidden, "wasserstein": marginal_wasserstein(x, reference),
                "heldout_dsm_loss": rows[0]["heldout_dsm_loss"],
                **{f"kurtosis_{j}": float(kx[j]) for j in range(d)},
            })
        ds = ds.assign_coords(sampler=["langevin", "accelerated"])
        ds["wasserstein_time_accel"] = (("sampler", "step"), np.stack(comp))
        ds["wasserstein_time_accel"].attrs = {
            "description": "RSN chains started at accel_init: reversible Langevin vs accelerated (skew-symmetric) dynamics",
            "accel_init": list(map(float, np.ravel(accel_init))) if accel_init is not None else "origin",
            "accel_init_std": accel_init_std, "skew": skew,
        }
    if d == 1:
        lo, hi = np.quantile(reference, [0.001, 0.999])
        pad = 0.25 * (hi - lo)
        grid = np.linspace(lo - pad, hi + pad, 201)
        ds = ds.assign_coords(grid=grid)
        ds["density_true"] = (("grid",), np.exp(target.log_prob(grid)))
        ds["score_true"] = (("grid",), target.score(grid))
        ds["score_learned"] = (("network", "grid"), np.stack([fitted[k].predict_score(grid[:, None])[:, 0] for k in NETWORKS]))
    ds.attrs.update({
        "task": task, "seed": seed, "n_hidden": n_hidden, "n_train": n_train, "skew": skew,
        "sigma_min": settings.sigma_min, "sigma_max": settings.sigma_max, "n_stages": settings.n_stages,
        "n_iter": settings.n_iter, "activation": settings.activation, "dt": settings.dt,
        "paper": "Chen, Jiang, Rao, Shea-Brown 2023, Expressive probabilistic sampling in recurrent neural networks",
    })
    return ds, pd.DataFrame(rows)


def acceleration_summary(ds: xr.Dataset, threshold_frac: float) -> dict[str, float]:
    """Steps the RSN needs to come within ``threshold`` of the target, Langevin vs accelerated.

    ``threshold = floor + threshold_frac * (start - floor)`` with ``start`` and ``floor`` the
    first and mean-of-last-fifth distances of the reversible Langevin chains.
    """
    lang = ds["wasserstein_time_accel"].sel(sampler="langevin").values
    acc = ds["wasserstein_time_accel"].sel(sampler="accelerated").values
    steps = ds["step"].values
    floor = float(np.mean(lang[-max(1, len(lang) // 5):]))
    threshold = floor + threshold_frac * (float(lang[0]) - floor)
    s_l, s_a = steps_to_reach(lang, steps, threshold), steps_to_reach(acc, steps, threshold)
    return {"threshold": threshold, "floor": floor, "steps_langevin": s_l, "steps_accelerated": s_a,
            "ratio": s_a / s_l if s_l > 0 else float("nan")}


def run_digits(
    settings: TrainSettings, dataset: str, pca_dim: int, n_hidden: int, seed: int, root: str = "resources",
    n_images_max: int | None = None, n_show: int = 16, log=None,
) -> tuple[xr.Dataset, pd.DataFrame]:
    """Fit the three networks to digit images in whitened PCA space; decode samples to images."""
    images, side = load_images(dataset, root, n_images_max)
    pca = PCAImages(pca_dim, seed).fit(images)
    Z = pca.transform(images)
    rows, decoded = [], []
    for i, kind in enumerate(NETWORKS):
        t0 = time.perf_counter()
        est = settings.estimator(kind, n_hidden, seed + 10 * (i + 1)).fit(Z)
        t_fit = time.perf_counter() - t0
        z, _, _ = est.sample(settings.n_chains, settings.n_steps, settings.dt, init_std=settings.init_std, seed=seed + 7)
        decoded.append(pca.inverse_transform(z[:n_show]))
        sub = np.random.default_rng(seed + 11).permutation(len(Z))[:2000]
        rows.append({"task": "digits", "network": kind, "sampler": "langevin", "n_hidden": n_hidden if kind == "rsn" else pca_dim,
                     "wasserstein": marginal_wasserstein(z, Z), "energy_distance": energy_distance(z[:2000], Z[sub]),
                     "train_dsm_loss": est.dsm_loss(Z, seed=seed)})
        if log:
            log.info("digits %s: W1=%.4f energy=%.4f (fit %.1fs)", kind, rows[-1]["wasserstein"],
                     rows[-1]["energy_distance"], t_fit)
    rng = np.random.default_rng(seed)
    real = images[rng.choice(len(images), n_show, replace=False)]
    ds = xr.Dataset(
        {
            "images": (("network", "image", "row", "col"), np.stack(decoded).reshape(len(NETWORKS), n_show, side, side)),
            "real_images": (("image", "row", "col"), real.reshape(n_show, side, side)),
            "explained_variance_ratio": (("component",), pca.pca_.explained_variance_ratio_),
        },
        coords={"network": list(NETWORKS), "image": np.arange(n_show)},
        attrs={"task": "digits", "dataset": dataset, "pca_dim": pca_dim, "n_hidden": n_hidden, "seed": seed,
               "units": "pixel intensity in [0, 1]"},
    )
    return ds, pd.DataFrame(rows)


def run_size_sweep(
    task: str, target, settings: TrainSettings, sizes: list[int], n_seeds: int, n_train: int, n_reference: int,
    seed: int, log=None,
) -> pd.DataFrame:
    """RSN sampling error (marginal Wasserstein-1) for each reservoir size and seed."""
    rows = []
    for rep in range(n_seeds):
        rng = np.random.default_rng(seed + rep)
        X = target.sample(n_train, rng)
        reference = target.sample(n_reference, rng)
        for n in sizes:
            est = settings.estimator("rsn", int(n), seed + 100 * rep + 1).fit(X)
            x, _, _ = est.sample(settings.n_chains, settings.n_steps, settings.dt, init_std=settings.init_std, seed=seed + rep + 7)
            rows.append({"task": task, "n_hidden": int(n), "seed": seed + rep, "wasserstein": marginal_wasserstein(x, reference),
                         "heldout_dsm_loss": est.dsm_loss(reference, seed=seed)})
            if log:
                log.info("sweep %s N=%d seed=%d: W1=%.4f", task, n, seed + rep, rows[-1]["wasserstein"])
    return pd.DataFrame(rows)


def size_trend(sweep: pd.DataFrame) -> dict[str, float]:
    """Spearman correlation of reservoir size with the mean error over seeds (negative: error falls with size)."""
    mean = sweep.groupby("n_hidden")["wasserstein"].mean()
    return {"spearman_rho": spearman_rho(mean.index.values.astype(float), mean.values),
            "sizes": mean.index.tolist(), "mean_wasserstein": [float(v) for v in mean.values]}
