"""One source for each setting: the config (with its schema) holds the values, the package
objects take them strictly, and the estimator follows scikit-learn's conventions."""
from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from sklearn.base import clone

from neurorepro.connectivity.lbfgsb_reference import solve_lbfgsb
from neurorepro.connectivity.model import SplineConnectivity
from neurorepro.connectivity.objective import Problem, projected_gradient
from neurorepro.connectivity.pipeline import ModelParams
from neurorepro.connectivity.synthetic import make_1d_problem, make_blob_problem

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"

torch.set_num_threads(1)


def _model_block() -> dict:
    return copy.deepcopy(CONFIG["connectivity"]["model"])


# -- ModelParams: strict, no defaults of its own ---------------------------------------------
def test_model_params_take_the_whole_config_block():
    mp = ModelParams.from_dict(_model_block())
    block = _model_block()
    for f in ModelParams.__dataclass_fields__:
        assert getattr(mp, f) == block[f], f


def test_model_params_reject_an_unknown_key_naming_it_and_the_allowed_ones():
    block = dict(_model_block(), lowrank_maxiter=50)  # a typo of lowrank_max_iter
    with pytest.raises(ValueError, match=r"unknown keys \['lowrank_maxiter'\].*allowed:.*'lowrank_max_iter'"):
        ModelParams.from_dict(block)


def test_model_params_reject_a_missing_key_naming_it():
    block = _model_block()
    del block["pgtol"]
    with pytest.raises(ValueError, match=r"lacks keys \['pgtol'\]"):
        ModelParams.from_dict(block)


def test_schema_model_keys_are_the_fit_fields_and_the_other_steps():
    """Every key the schema allows under model: is read by someone: ModelParams or another step."""
    schema = yaml.safe_load((SCHEMA.parent / "connectivity.schema.yaml").read_text())
    allowed = set(schema["$defs"]["model"]["properties"])
    assert allowed == set(ModelParams.__dataclass_fields__) | set(ModelParams.OTHER_STEPS)
    assert set(_model_block()) == allowed  # and the config gives each a value


# -- the schema requires what the code no longer defaults -------------------------------------
def _validate(cfg: dict) -> None:
    from snakemake.utils import validate

    validate(cfg, schema=str(SCHEMA))


@pytest.mark.parametrize("path", [("max_iter",), ("lowrank_max_iter",), ("ftol",), ("solver",), ("map_area",),
                                  ("tolerances",), ("synthetic_1d", "ablation_max_iter"), ("synthetic_1d", "pgtol"),
                                  ("tolerances", "ablation_ratio")])
def test_the_schema_requires_each_model_key(path):
    _validate(copy.deepcopy(CONFIG))  # the shipped config is complete
    cfg = copy.deepcopy(CONFIG)
    d = cfg["connectivity"]["model"]
    for key in path[:-1]:
        d = d[key]
    del d[path[-1]]
    with pytest.raises(Exception, match=f"'{path[-1]}' is a required property"):
        _validate(cfg)


def test_a_scale_block_may_override_some_model_keys_only():
    cfg = copy.deepcopy(CONFIG)
    cfg["connectivity"]["paper"]["model"] = {"rank": 3, "synthetic_1d": {"n": 50}}
    _validate(cfg)


# -- SplineConnectivity: scikit-learn's estimator conventions --------------------------------
PARAMS = dict(lam=100, rank=3, solver="fista", dtype="float32", device="cpu", max_iter=7, ftol=1e-3, pgtol=1e-2,
              lowrank_init="random", seed=5, log_every=0, lowrank_max_iter=9, transform_dtype="bfloat16")


def test_init_stores_its_arguments_unchanged_and_clone_round_trips():
    est = SplineConnectivity(**PARAMS)
    got = est.get_params()
    assert got == PARAMS
    assert all(type(got[k]) is type(v) for k, v in PARAMS.items())  # no conversion (100 stays an int)
    twin = clone(est)
    assert twin is not est and twin.get_params() == PARAMS
    assert SplineConnectivity().get_params() == clone(SplineConnectivity()).get_params()
    assert est.set_params(lam=5.0, rank=None).get_params() == {**PARAMS, "lam": 5.0, "rank": None}


def test_invalid_parameters_are_stored_and_rejected_by_fit():
    P = make_1d_problem(n=30, n_inj=3, noise=0.1, seed=0)
    for bad, match in [({"solver": "bfgs"}, "solver"), ({"lam": -1.0}, "lam"), ({"max_iter": 0}, "max_iter"),
                       ({"lowrank_init": "svd"}, "lowrank_init"), ({"pgtol": -1.0}, "pgtol")]:
        est = SplineConnectivity(device="cpu", **bad)  # constructing never fails
        assert est.get_params()[next(iter(bad))] == next(iter(bad.values()))
        with pytest.raises(ValueError, match=match):
            est.fit(P.X, P.Y, P.Omega, Lx=P.Lx, Ly=P.Ly)


def test_fitted_attributes_appear_in_fit_only_and_clone_is_unfitted():
    P = make_1d_problem(n=30, n_inj=3, noise=0.1, seed=0)
    est = SplineConnectivity(lam=10.0, device="cpu", log_every=0)
    before = set(vars(est))
    assert before == set(est.get_params())  # construction sets the parameters and nothing else
    with pytest.raises(Exception, match="not fitted"):
        est.predict(P.X)
    est.fit(P.X, P.Y, P.Omega, Lx=P.Lx, Ly=P.Ly)
    added = set(vars(est)) - before
    assert added and all(k.endswith("_") for k in added), added
    assert est.predict(P.X).shape == P.Y.shape
    assert not any(k.endswith("_") for k in vars(clone(est)))


# -- lambda = 0: an explicit choice of solver ----------------------------------------------------
@pytest.mark.parametrize("solver", ["newton", "admm"])
def test_lambda_zero_with_an_eigenbasis_solver_raises_naming_the_alternatives(solver):
    P = make_1d_problem(n=30, n_inj=3, noise=0.1, seed=0)
    with pytest.raises(ValueError, match=r"needs lam > 0.*'fista' or 'lbfgsb'"):
        SplineConnectivity(lam=0.0, solver=solver, device="cpu").fit(P.X, P.Y, P.Omega, Lx=P.Lx, Ly=P.Ly)
    with pytest.raises(ValueError, match=r"connectivity.model.lambdas .* holds 0"):
        ModelParams.from_dict({**_model_block(), "solver": solver, "lambdas": [0, 10]})


def test_lambda_zero_fits_with_fista_and_lbfgsb_to_the_same_minimiser():
    """At lam = 0 the two solvers that accept it reach the same objective (a convex problem)."""
    P = make_1d_problem(n=30, n_inj=3, noise=0.1, seed=0)
    kw = dict(lam=0.0, device="cpu", ftol=1e-12, pgtol=1e-8, max_iter=20000, log_every=0)
    f = SplineConnectivity(solver="fista", **kw).fit(P.X, P.Y, P.Omega, Lx=P.Lx, Ly=P.Ly)
    b = SplineConnectivity(solver="lbfgsb", **kw).fit(P.X, P.Y, P.Omega, Lx=P.Lx, Ly=P.Ly)
    assert f.lam_scaled_ == 0.0 and b.lam_scaled_ == 0.0
    assert b.objective_ == pytest.approx(f.objective_, rel=1e-5, abs=1e-8)
    ModelParams.from_dict({**_model_block(), "solver": "fista", "lambdas": [0, 10]})  # allowed there


# -- lbfgsb honours ftol / pgtol as every solver does --------------------------------------------
def test_lbfgsb_honours_pgtol_and_ftol():
    P = make_blob_problem(n=120, n_inj=6, seed=3)
    prob = Problem.build(P.X, P.Y, P.Omega, P.Lx, P.Ly, 10.0)
    runs = {tol: solve_lbfgsb(prob, max_iter=3000, ftol=tol, pgtol=tol, log_every=0) for tol in (1e-2, 1e-4, 1e-7)}
    its = [runs[t].n_iter for t in (1e-2, 1e-4, 1e-7)]
    assert its[0] < its[1] < its[2], its  # a looser tolerance stops earlier
    assert all(r.converged for r in runs.values())
    for tol, r in runs.items():  # and stops where the rule holds: |pg| / |pg at the start| < pgtol
        W0 = torch.zeros(prob.shape, dtype=prob.X.dtype)
        _, g0 = prob.value_grad(W0)
        pg0 = float(projected_gradient(W0, g0).norm())
        assert r.pg_norm / pg0 < tol, (tol, r.pg_norm / pg0)
        f_prev = r.history[-2][2]
        assert abs(f_prev - r.f) / abs(r.f) < tol
    assert runs[1e-2].f > runs[1e-7].f
    # through scipy.optimize.minimize: the same rule, the same iterates
    via = solve_lbfgsb(prob, max_iter=3000, ftol=1e-4, pgtol=1e-4, log_every=0, driver="minimize")
    assert via.n_iter == runs[1e-4].n_iter and via.converged
    np.testing.assert_allclose(via.W.numpy(), runs[1e-4].W.numpy())


def test_the_estimator_passes_ftol_and_pgtol_to_lbfgsb():
    P = make_blob_problem(n=120, n_inj=6, seed=3)
    kw = dict(lam=10.0, solver="lbfgsb", device="cpu", max_iter=3000, log_every=0)
    loose = SplineConnectivity(ftol=1e-2, pgtol=1e-2, **kw).fit(P.X, P.Y, P.Omega, Lx=P.Lx, Ly=P.Ly)
    tight = SplineConnectivity(ftol=1e-7, pgtol=1e-7, **kw).fit(P.X, P.Y, P.Omega, Lx=P.Lx, Ly=P.Ly)
    assert loose.converged_ and tight.converged_ and loose.n_iter_ < tight.n_iter_


def test_regional_model_stores_its_labels_and_validates_in_fit():
    from neurorepro.connectivity.regional import RegionalConnectivity

    src, tgt = ["A", "A", "B"], ["A", "B"]
    reg = RegionalConnectivity(src, tgt)
    assert reg.source_areas is src and reg.target_areas is tgt and set(vars(reg)) == {"source_areas", "target_areas"}
    bad = RegionalConnectivity([["A"]], tgt)  # constructing never fails
    with pytest.raises(ValueError, match="1-D label arrays"):
        bad.fit(np.ones((1, 2)), np.ones((2, 2)), np.ones((2, 2)))
    reg.fit(np.eye(3), np.ones((2, 3)), np.ones((2, 3)))
    assert reg.W_.shape == (2, 3) and reg.source_names_ == ["A", "B"]


# -- other papers: keys the rules read without a default of their own are required ---------------
@pytest.mark.parametrize("path", [("resources_dir",), ("memory_limit_gb",), ("allen_api", "base_uri"),
                                  ("download", "attempts"), ("dimensionality", "sgd_sweep", "min_train_acc"),
                                  ("causal_attention", "granger", "statistic")])
def test_the_schema_requires_the_keys_the_rules_read(path):
    cfg = copy.deepcopy(CONFIG)
    d = cfg
    for key in path[:-1]:
        d = d[key]
    del d[path[-1]]
    with pytest.raises(Exception, match=f"'{path[-1]}' is a required property"):
        _validate(cfg)


@pytest.mark.parametrize("key", ["source_areas", "min_data_coverage", "cre", "cache_manifest", "embedded"])
def test_the_schema_requires_the_connectivity_selection(key):
    cfg = copy.deepcopy(CONFIG)
    del cfg["connectivity"][key]
    with pytest.raises(Exception, match=f"'{key}' is a required property"):
        _validate(cfg)


def test_a_task_setting_it_does_not_take_raises_naming_it():
    from neurorepro.credit_assignment.tasks import make_task

    with pytest.raises(ValueError, match=r"task 'evidence': unknown settings \['n_stimuli'\].*'n_cues'"):
        make_task("evidence", n_train=4, n_test=4, seed=0, n_stimuli=3)
    task = make_task("delayed_match", n_train=4, n_test=4, seed=0, n_stimuli=3, delay=1, noise=0.1, response=1)
    assert task.attrs["n_stimuli"] == 3


def test_granger_stores_its_arguments_and_validates_in_fit():
    from neurorepro.causal_attention.granger import GrangerCausality

    g = GrangerCausality(max_lag=0, criterion="aicc", statistic="t")  # constructing never fails
    assert vars(g) == {"max_lag": 0, "criterion": "aicc", "lag": None, "statistic": "t"}
    x = np.random.default_rng(0).standard_normal((200, 3))
    for bad, match in [({"max_lag": 0}, "max_lag"), ({"criterion": "aicc"}, "criterion"), ({"lag": 0}, "lag"),
                       ({"statistic": "t"}, "statistic")]:
        with pytest.raises(ValueError, match=match):
            GrangerCausality(**bad).fit(x)
    fitted = GrangerCausality(max_lag=3, criterion="bic").fit(x)
    assert 1 <= fitted.lag_ <= 3 and fitted.F_.shape == (3, 3)
    assert all(k.endswith("_") for k in set(vars(fitted)) - {"max_lag", "criterion", "lag", "statistic"})


def test_rnn_trainer_stores_its_arguments_and_validates_in_fit():
    from neurorepro.rich_lazy.model import RNNTrainer
    from neurorepro.rich_lazy.tasks import Task

    task, W0 = Task("2AF"), np.zeros((4, 4))
    for bad, match in [({"n_iter": 0}, "n_iter"), ({"batch_size": 2.5}, "batch_size"),
                       ({"learning_rate": 0.0}, "learning_rate"), ({"momentum": 1.0}, "momentum")]:
        tr = RNNTrainer(task, n_hidden=4, **bad)  # constructing never fails
        assert all(getattr(tr, k) == v for k, v in bad.items())
        with pytest.raises(ValueError, match=match):
            tr.fit(W0)
        with pytest.raises(ValueError, match=match):
            tr.initial_io()
    tr = RNNTrainer(task, n_hidden=4, n_iter=2, batch_size=2, log_every=1, device="cpu")
    params = set(vars(tr))
    tr.fit(W0)
    assert tr.device == "cpu" and all(k.endswith("_") for k in set(vars(tr)) - params)


def test_pca_images_stores_its_arguments_and_validates_in_fit():
    from neurorepro.sampling.targets import PCAImages

    bad = PCAImages(n_components=0)  # constructing never fails
    assert vars(bad) == {"n_components": 0, "seed": 0, "whiten": True}
    images = np.random.default_rng(0).standard_normal((20, 6))
    with pytest.raises(ValueError, match="digits_pca_dim must be >= 1"):
        bad.fit(images)
    assert PCAImages(n_components=3).fit(images).transform(images).shape == (20, 3)
