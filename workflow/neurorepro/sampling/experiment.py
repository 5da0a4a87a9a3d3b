"""The paper's experiments: fit RSN and sampler-only networks, sample, measure.

Each function returns labelled xarray Datasets / pandas tables; the rule scripts write them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import xarray as xr

from neurorepro.measures.correlation import spearman

from .estimator import ScoreSampler
from .langevin import langevin_sample, skew_matrix
from .metrics import (
    energy_distance,
    excess_kurtosis,
    marginal_wasserstein,
    steps_to_reach,
)
from .targets import (
    GaussianMixture1D,
    LaplaceCopulaMixture2D,
    LaplaceMixture2D,
    PCAImages,
    load_images,
)
from .theory import learned_floors, relative_fisher

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
    weight_decay: float = 0.0
    amsgrad: bool = False
    lr_schedule: str = "cosine"
    restart_per_stage: bool = False
    loss_weighting: str = "sigma2"
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
            weight_decay=self.weight_decay,
            amsgrad=self.amsgrad,
            lr_schedule=self.lr_schedule,
            restart_per_stage=self.restart_per_stage,
            loss_weighting=self.loss_weighting,
        )


def make_target(task: str, params: dict):
    """The synthetic target of ``task`` (``bimodal`` or ``laplace``) from config values."""
    if task == "bimodal":
        return GaussianMixture1D(params["bimodal_means"], params["bimodal_stds"], params.get("bimodal_weights"))
    if task == "laplace":
        kind = params.get("laplace_kind") or "linear"
        if kind not in ("copula", "linear"):
            raise ValueError(f"sampling.laplace_kind must be 'copula' or 'linear', got {kind!r}")
        cls = LaplaceCopulaMixture2D if kind == "copula" else LaplaceMixture2D
        return cls(
            params["laplace_rhos"], params.get("laplace_means"), params.get("laplace_scale", 1.0), params.get("laplace_weights")
        )
    raise ValueError(f"unknown synthetic task {task!r} (bimodal | laplace)")


def _w_curve(traj: np.ndarray, reference: np.ndarray) -> np.ndarray:
    return np.array([marginal_wasserstein(x, reference) for x in traj])


def far_fraction(x: np.ndarray, reference: np.ndarray) -> float:
    """Fraction of chains beyond twice the largest ``|coordinate|`` of the reference sample (escaped chains).

    A ReLU network's drift grows linearly away from the data, so nothing confines its chains
    there: chains that wander out can run off. The energy distance weighs a small escaped
    mass ``eps`` only as ``eps^2``, so this count is reported beside it.
    """
    lim = 2 * np.max(np.abs(reference))
    x = np.asarray(x, dtype=float)
    return float(np.mean(~np.all(np.abs(x) <= lim, axis=1)))


def _energy(x: np.ndarray, reference: np.ndarray, n_max: int) -> float:
    """Energy distance between at most ``n_max`` rows of each sample (the first rows; chains are i.i.d.)."""
    return energy_distance(x[:n_max], reference[:n_max])


def run_density_task(
    task: str, target, settings: TrainSettings, n_hidden: int, n_train: int, n_reference: int, seed: int,
    skew: float = 0.0, accel_init: list[float] | None = None, accel_init_std: float = 0.1, n_seeds: int = 1,
    n_energy: int = 2000, log=None,
) -> tuple[xr.Dataset, pd.DataFrame]:
    """Fit the three networks to samples of ``target``, run their Langevin dynamics, compare to the target.

    Repeated over ``n_seeds`` independent seeds (each: fresh training and reference samples,
    network initialisations, minibatches and chains). Returns a Dataset (the first seed's
    samples, reference samples, distance over sampling time, and for 1-D targets the scores on a
    grid with the sampler-only classes' best scores) and a table with one row per seed and
    network: marginal Wasserstein-1 (the authors' measure), energy distance (a distance between
    joint distributions), held-out DSM loss, marginal kurtosis, and for 1-D targets the relative
    Fisher divergence of the learned score and the sampler-only floors
    (:mod:`neurorepro.sampling.theory`). ``energy_floor`` is the energy distance between two
    independent target samples of the same size (what a perfect sampler would score). With
    ``skew > 0`` the RSN is also run from ``N(accel_init, accel_init_std^2 I)`` with reversible and
    with accelerated dynamics (two more rows per seed, and ``wasserstein_time_accel``).
    """
    d = target.dim
    rows, accel_curves = [], []
    theory = learned_floors(target, settings.sigma_min, settings.activation) if d == 1 else None
    ds = None
    for rep in range(n_seeds):
        s = seed + 100 * rep
        rng = np.random.default_rng(s)
        X = target.sample(n_train, rng)
        reference = target.sample(n_reference, rng)
        floor = _energy(target.sample(min(n_energy, n_reference), rng), reference, n_energy)
        samples, curves, kurt, fitted = [], [], [], {}
        for i, kind in enumerate(NETWORKS):
            t0 = time.perf_counter()
            est = settings.estimator(kind, n_hidden, s + 10 * (i + 1)).fit(X)
            t_fit = time.perf_counter() - t0
            x, traj, steps = est.sample(
                settings.n_chains, settings.n_steps, settings.dt, init_std=settings.init_std,
                record_every=settings.record_every if rep == 0 else 0, seed=s + 7,
            )
            fitted[kind] = est
            samples.append(x)
            if rep == 0:
                curves.append(_w_curve(traj, reference))
            kurt.append(excess_kurtosis(x))
            row = {
                "task": task, "seed": s, "network": kind, "sampler": "langevin", "n_hidden": n_hidden if kind == "rsn" else d,
                "wasserstein": marginal_wasserstein(x, reference), "energy_distance": _energy(x, reference, n_energy),
                "energy_floor": floor, "far_fraction": far_fraction(x, reference), "heldout_dsm_loss": est.dsm_loss(reference, seed=s),
                **{f"kurtosis_{j}": float(kurt[-1][j]) for j in range(d)},
            }
            if theory is not None:
                row["fisher_rel"] = relative_fisher(est.predict_score(theory["grid"][:, None])[:, 0], theory["score"],
                                                    theory["weights"])
                row["fisher_floor_synaptic"] = theory["floor_synaptic"]
                row["fisher_floor_rate"] = theory["floor_rate"]
            rows.append(row)
            if log:
                log.info("%s seed %d %s: W1=%.4f energy=%.4f (floor %.4f) (fit %.1fs)", task, s, kind, row["wasserstein"],
                         row["energy_distance"], floor, t_fit)
        if skew > 0:
            # convergence speed: RSN chains started away from the target at accel_init,
            # reversible vs accelerated dynamics with the same noise draws
            est = fitted["rsn"]
            rsn_loss = rows[-len(NETWORKS)]["heldout_dsm_loss"]  # the seed's RSN row (NETWORKS[0])
            comp = []
            for sk in (0.0, skew):
                x, traj, _ = est.sample(
                    settings.n_chains, settings.n_steps, settings.dt, skew=sk, init_std=accel_init_std,
                    init_mean=accel_init, record_every=settings.record_every, seed=s + 8,
                )
                comp.append(_w_curve(traj, reference))
                kx = excess_kurtosis(x)
                rows.append({
                    "task": task, "seed": s, "network": "rsn", "sampler": "accelerated" if sk else "langevin_from_accel_init",
                    "n_hidden": n_hidden, "wasserstein": marginal_wasserstein(x, reference),
                    "energy_distance": _energy(x, reference, n_energy), "energy_floor": floor,
                    "far_fraction": far_fraction(x, reference), "heldout_dsm_loss": rsn_loss,
                    **{f"kurtosis_{j}": float(kx[j]) for j in range(d)},
                })
            # the same comparison with the target's exact score (a true gradient field: the premise
            # of the Langevin theorem that a skew-symmetric term never slows convergence)
            exact = []
            for sk in (0.0, skew):
                gen = torch.Generator().manual_seed(s + 8)
                x0 = accel_init_std * torch.randn(settings.n_chains, d, generator=gen, dtype=torch.float64)
                if accel_init is not None:
                    x0 = x0 + torch.as_tensor(np.asarray(accel_init, dtype=float))
                _, traj, _ = langevin_sample(
                    lambda v: torch.as_tensor(target.score(v.numpy())), x0, settings.n_steps, settings.dt,
                    skew_matrix(d, sk) if sk else None, settings.record_every, gen,
                )
                exact.append(_w_curve(traj.numpy(), reference))
            accel_curves.append(np.stack([np.stack(comp), np.stack(exact)]))
        if rep == 0:
            ds = _density_dataset(task, target, settings, samples, curves, kurt, reference, steps, fitted, theory)
    if skew > 0:
        ds = ds.assign_coords(sampler=["langevin", "accelerated"], seed=seed + 100 * np.arange(n_seeds))
        curves_all = np.stack(accel_curves)  # (seed, score, sampler, step)
        attrs = {"accel_init": list(map(float, np.ravel(accel_init))) if accel_init is not None else "origin",
                 "accel_init_std": accel_init_std, "skew": skew}
        ds["wasserstein_time_accel"] = (("seed", "sampler", "step"), curves_all[:, 0])
        ds["wasserstein_time_accel"].attrs = {
            "description": "RSN chains started at accel_init: reversible Langevin vs accelerated (skew-symmetric) dynamics",
            **attrs}
        ds["wasserstein_time_accel_exact"] = (("seed", "sampler", "step"), curves_all[:, 1])
        ds["wasserstein_time_accel_exact"].attrs = {
            "description": "the same with the target's exact score instead of the RSN's", **attrs}
    ds.attrs.update({
        "task": task, "seed": seed, "n_seeds": n_seeds, "n_hidden": n_hidden, "n_train": n_train, "skew": skew,
        "sigma_min": settings.sigma_min, "sigma_max": settings.sigma_max, "n_stages": settings.n_stages,
        "n_iter": settings.n_iter, "activation": settings.activation, "dt": settings.dt,
        "paper": "Chen, Jiang, Rao, Shea-Brown 2023, Expressive probabilistic sampling in recurrent neural networks",
    })
    return ds, pd.DataFrame(rows)


def _density_dataset(task, target, settings, samples, curves, kurt, reference, steps, fitted, theory) -> xr.Dataset:
    """The first seed's samples, curves and (1-D) scores as a labelled Dataset."""
    d = target.dim
    ds = xr.Dataset(
        {
            "samples": (("network", "chain", "dim"), np.stack(samples)),
            "reference": (("ref_sample", "dim"), reference),
            "wasserstein_time": (("network", "step"), np.stack(curves)),
            "kurtosis": (("network", "dim"), np.stack(kurt)),
            "kurtosis_true": (("dim",), excess_kurtosis(reference)),
        },
        coords={"network": list(NETWORKS), "dim": np.arange(d), "step": steps},
    )
    ds["wasserstein_time"].attrs = {"description": "mean marginal Wasserstein-1 distance of the chains to reference samples",
                                    "units": "sample units"}
    ds["step"].attrs = {"description": "Euler-Maruyama step", "dt": settings.dt}
    if theory is not None:
        grid = theory["grid"]
        ds = ds.assign_coords(grid=grid)
        ds["density_true"] = (("grid",), np.exp(target.log_prob(grid)))
        ds["score_true"] = (("grid",), target.score(grid))
        ds["density_smoothed"] = (("grid",), theory["density"])
        ds["score_smoothed"] = (("grid",), theory["score"])
        ds["score_learned"] = (("network", "grid"), np.stack([fitted[k].predict_score(grid[:, None])[:, 0] for k in NETWORKS]))
        ds["score_best_synaptic"] = (("grid",), theory["best_synaptic"])
        ds["score_best_rate"] = (("grid",), theory["best_rate"])
        ds["score_smoothed"].attrs = {"description": "target score convolved with N(0, sigma_min^2): what DSM estimates"}
        ds["score_best_synaptic"].attrs = {"description": "best score of any synaptic-current sampler-only network",
                                           "relative_fisher": theory["floor_synaptic"]}
        ds["score_best_rate"].attrs = {"description": "best score of a firing-rate sampler-only network ((w, b) grid)",
                                       "relative_fisher": theory["floor_rate"]}
    return ds


def acceleration_summary(ds: xr.Dataset, threshold_frac: float, var: str = "wasserstein_time_accel") -> dict:
    """Steps the RSN needs to come within ``threshold`` of the target, Langevin vs accelerated, per seed.

    ``threshold = floor + threshold_frac * (start - floor)`` with ``start`` and ``floor`` the
    first and mean-of-last-fifth distances of that seed's reversible Langevin chains.
    Returns per-seed lists and the mean ratio ``steps_accelerated / steps_langevin``.
    """
    acc_all = ds[var]
    if "seed" not in acc_all.dims:
        acc_all = acc_all.expand_dims(seed=[0])
    steps = ds["step"].values
    out = {"threshold": [], "floor": [], "steps_langevin": [], "steps_accelerated": [], "ratio": []}
    for k in range(acc_all.sizes["seed"]):
        lang = acc_all.isel(seed=k).sel(sampler="langevin").values
        acc = acc_all.isel(seed=k).sel(sampler="accelerated").values
        floor = float(np.mean(lang[-max(1, len(lang) // 5):]))
        threshold = floor + threshold_frac * (float(lang[0]) - floor)
        s_l, s_a = steps_to_reach(lang, steps, threshold), steps_to_reach(acc, steps, threshold)
        for key, v in zip(out, (threshold, floor, s_l, s_a, s_a / s_l if s_l > 0 else float("nan"))):
            out[key].append(float(v))
    out["mean_ratio"] = float(np.nanmean(out["ratio"])) if np.any(np.isfinite(out["ratio"])) else float("nan")
    return out


def run_digits(
    settings: TrainSettings, dataset: str, pca_dim: int, n_hidden: int, seed: int, root: str = "resources",
    n_images_max: int | None = None, n_show: int = 16, n_seeds: int = 1, heldout_frac: float = 0.2,
    whiten: bool = True, n_energy: int = 2000, log=None,
) -> tuple[xr.Dataset, pd.DataFrame]:
    """Fit the three networks to digit images in (whitened) PCA space; compare samples with held-out images.

    Per seed the images are split at random into training and held-out parts
    (``heldout_frac``); PCA is fit on the training part, the networks on its PCA coordinates.
    Each network's samples are compared with the held-out images' PCA coordinates by the energy
    distance (``energy_floor``: the training coordinates' own distance to the held-out ones, what
    a sampler that reproduced the training set would score) and the marginal Wasserstein-1; and,
    decoded to pixels (clipped to [0, 1]), with the held-out images themselves
    (``energy_distance_pixels``, ``energy_floor_pixels``), where the high-variance components
    weigh more than in the whitened coordinates.
    The first seed's samples are decoded to images.
    """
    images, side = load_images(dataset, root, n_images_max)
    rows, ds = [], None
    for rep in range(n_seeds):
        s = seed + 100 * rep
        perm = np.random.default_rng(s).permutation(len(images))
        n_held = max(2, round(heldout_frac * len(images)))
        held, train = images[perm[:n_held]], images[perm[n_held:]]
        pca = PCAImages(pca_dim, s, whiten=whiten).fit(train)
        Z, Zh = pca.transform(train), pca.transform(held)
        floor = energy_distance(Z[:n_energy], Zh[:n_energy])
        floor_pix = energy_distance(train[:n_energy], held[:n_energy])
        decoded = []
        for i, kind in enumerate(NETWORKS):
            t0 = time.perf_counter()
            est = settings.estimator(kind, n_hidden, s + 10 * (i + 1)).fit(Z)
            t_fit = time.perf_counter() - t0
            z, _, _ = est.sample(settings.n_chains, settings.n_steps, settings.dt, init_std=settings.init_std, seed=s + 7)
            ok = np.all(np.isfinite(z), axis=1)
            decoded.append(pca.inverse_transform(np.nan_to_num(z[:n_show])))
            pix = pca.inverse_transform(np.nan_to_num(z[ok][:n_energy])) if ok.sum() > 1 else None
            rows.append({"task": "digits", "seed": s, "network": kind, "sampler": "langevin",
                         "n_hidden": n_hidden if kind == "rsn" else pca_dim,
                         "wasserstein": marginal_wasserstein(z[ok], Zh) if ok.any() else float("nan"),
                         "energy_distance": energy_distance(z[ok][:n_energy], Zh[:n_energy]) if ok.sum() > 1 else float("nan"),
                         "energy_floor": floor, "finite_fraction": float(ok.mean()), "far_fraction": far_fraction(z, Zh),
                         "energy_distance_pixels": energy_distance(pix, held[:n_energy]) if pix is not None else float("nan"),
                         "energy_floor_pixels": floor_pix,
                         "heldout_dsm_loss": est.dsm_loss(Zh, seed=s)})
            if log:
                log.info("digits seed %d %s: W1=%.4f energy=%.4f (floor %.4f) (fit %.1fs)", s, kind, rows[-1]["wasserstein"],
                         rows[-1]["energy_distance"], floor, t_fit)
        if rep == 0:
            real = held[np.random.default_rng(s).choice(len(held), min(n_show, len(held)), replace=False)]
            n_img = min(n_show, len(real), len(decoded[0]))
            ds = xr.Dataset(
                {
                    "images": (("network", "image", "row", "col"),
                               np.stack([dd[:n_img] for dd in decoded]).reshape(len(NETWORKS), n_img, side, side)),
                    "real_images": (("image", "row", "col"), real[:n_img].reshape(n_img, side, side)),
                    "explained_variance_ratio": (("component",), pca.pca_.explained_variance_ratio_),
                },
                coords={"network": list(NETWORKS), "image": np.arange(n_img)},
                attrs={"task": "digits", "dataset": dataset, "pca_dim": pca_dim, "whiten": int(whiten), "n_hidden": n_hidden,
                       "seed": seed, "n_seeds": n_seeds, "units": "pixel intensity in [0, 1]",
                       "real_images": "held-out images of the first seed"},
            )
    return ds, pd.DataFrame(rows)


def run_size_sweep(
    task: str, target, settings: TrainSettings, sizes: list[int], n_seeds: int, n_train: int, n_reference: int,
    seed: int, n_energy: int = 2000, log=None,
) -> pd.DataFrame:
    """RSN sampling error (energy distance and marginal Wasserstein-1) for each reservoir size and seed."""
    rows = []
    for rep in range(n_seeds):
        rng = np.random.default_rng(seed + rep)
        X = target.sample(n_train, rng)
        reference = target.sample(n_reference, rng)
        for n in sizes:
            est = settings.estimator("rsn", int(n), seed + 100 * rep + 1).fit(X)
            x, _, _ = est.sample(settings.n_chains, settings.n_steps, settings.dt, init_std=settings.init_std, seed=seed + rep + 7)
            rows.append({"task": task, "n_hidden": int(n), "seed": seed + rep, "wasserstein": marginal_wasserstein(x, reference),
                         "energy_distance": _energy(x, reference, n_energy), "far_fraction": far_fraction(x, reference),
                         "heldout_dsm_loss": est.dsm_loss(reference, seed=seed)})
            if log:
                log.info("sweep %s N=%d seed=%d: W1=%.4f energy=%.4f", task, n, seed + rep, rows[-1]["wasserstein"],
                         rows[-1]["energy_distance"])
    return pd.DataFrame(rows)


def size_slopes(sweep: pd.DataFrame, measure: str = "energy_distance") -> pd.Series:
    """Per seed, the least-squares slope of ``measure`` on ``log2(reservoir size)`` (error change per doubling)."""
    def slope(g: pd.DataFrame) -> float:
        x = np.log2(g["n_hidden"].to_numpy(float))
        return float(np.polyfit(x, g[measure].to_numpy(float), 1)[0]) if np.unique(x).size > 1 else float("nan")

    return sweep.groupby("seed")[["n_hidden", measure]].apply(slope)


def size_trend(sweep: pd.DataFrame, measure: str = "energy_distance") -> dict:
    """Mean error per size, its Spearman correlation with size, and the per-seed slopes on log2(size)."""
    mean = sweep.groupby("n_hidden")[measure].mean()
    return {"spearman_rho": spearman(mean.index.values.astype(float), mean.values),
            "sizes": mean.index.tolist(), f"mean_{measure}": [float(v) for v in mean.values],
            "slopes": [float(v) for v in size_slopes(sweep, measure).values]}
