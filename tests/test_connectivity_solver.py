"""Unit tests of the connectivity paper's numerics against hand-built and brute-force answers."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import nnls

from neurorepro.connectivity.cv import kfold_injections, nested_cv, rel_mse
from neurorepro.connectivity.laplacian import grid_laplacian, path_laplacian
from neurorepro.connectivity.lowrank import (
    BlockQuadratic,
    lowrank_rel_distance,
    lowrank_value,
    smooth_random_factor,
    solve_lowrank,
)
from neurorepro.connectivity.model import SplineConnectivity
from neurorepro.connectivity.objective import Problem, dense_objective, projected_gradient
from neurorepro.connectivity.regional import RegionalConnectivity
from neurorepro.connectivity.eigenbasis import Eigenbasis
from neurorepro.connectivity.first_order import solve_admm, solve_fista
from neurorepro.connectivity.lbfgsb_reference import solve_lbfgsb
from neurorepro.connectivity.newton import solve_newton
from neurorepro.connectivity.preconditioner import EigPreconditioner
from neurorepro.connectivity.synthetic import make_1d_problem, make_blob_problem, make_lowrank_blob_problem

torch.set_num_threads(1)


def tiny_problem(seed: int = 0, n_inj: int = 3, lam: float = 2.0, signed: bool = False):
    """A problem small enough for dense Kronecker matrices: 6 source, 5 target voxels."""
    rng = np.random.default_rng(seed)
    cx = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0], [1, 1, 0], [1, 1, 1]])
    cy = np.array([[0, 0, 0], [0, 1, 0], [0, 2, 0], [1, 2, 0], [1, 2, 1]])
    Lx, Ly = grid_laplacian(cx), grid_laplacian(cy)
    X = rng.uniform(0, 1, (6, n_inj)) * (rng.uniform(size=(6, n_inj)) < 0.6)
    W_true = rng.uniform(-1 if signed else 0, 1, (5, 6))  # signed: the bound W >= 0 becomes active
    Y = W_true @ X + 0.3 * rng.standard_normal((5, n_inj))
    Om = (rng.uniform(size=(5, n_inj)) < 0.75).astype(np.int8)
    return X, Y, Om, Lx, Ly, lam


def brute_force_solution(X, Y, Om, Lx, Ly, lam_s):
    """Exact minimiser of (P1) as one NNLS problem on vec(W) with explicit Kronecker matrices."""
    n_y, n_x = Y.shape[0], X.shape[0]
    D = np.kron(X.T, np.eye(n_y))
    m = Om.reshape(-1, order="F").astype(float)
    A = np.kron(np.eye(n_x), Ly.toarray()) + np.kron(Lx.toarray().T, np.eye(n_y))
    big = np.vstack([m[:, None] * D, np.sqrt(lam_s) * A])
    rhs = np.concatenate([m * Y.reshape(-1, order="F"), np.zeros(A.shape[0])])
    w, _ = nnls(big, rhs, maxiter=50 * big.shape[1])
    return w.reshape((n_y, n_x), order="F")


def test_laplacian_matches_hand_built_grid():
    # an L-shaped set of 4 voxels: 0-1, 1-2 neighbours along AP, 0-3 along DV; 2 and 3 not
    coords = np.array([[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0]])
    expected = np.array([[-2, 1, 0, 1], [1, -2, 1, 0], [0, 1, -1, 0], [1, 0, 0, -1]], float)
    np.testing.assert_array_equal(grid_laplacian(coords).toarray(), expected)
    # the same voxels in shuffled order give the permuted matrix
    perm = np.array([2, 0, 3, 1])
    np.testing.assert_array_equal(grid_laplacian(coords[perm]).toarray(), expected[np.ix_(perm, perm)])
    # cutting the border between areas a | b removes the 1-2 edge
    cut = grid_laplacian(coords, np.array(["a", "a", "b", "a"]), cut_borders=True).toarray()
    assert cut[1, 2] == 0 and cut[2, 2] == 0 and cut[1, 1] == -1
    # a 2x2x2 cube: every voxel has 3 neighbours; path graph on 3 points
    cube = np.array([[i, j, k] for i in range(2) for j in range(2) for k in range(2)])
    assert np.all(np.diag(grid_laplacian(cube).toarray()) == -3)
    np.testing.assert_array_equal(path_laplacian(3).toarray(), [[-1, 1, 0], [1, -2, 1], [0, 1, -1]])


def test_objective_and_gradient_match_brute_force_and_finite_differences():
    X, Y, Om, Lx, Ly, lam = tiny_problem()
    prob = Problem.build(X, Y, Om, Lx, Ly, lam, scale_lambda=False)
    rng = np.random.default_rng(1)
    W = rng.uniform(0, 1, (5, 6))
    f, G = prob.value_grad(torch.as_tensor(W))
    f_ref, G_ref = dense_objective(W, X, Y, Om, Lx.toarray(), Ly.toarray(), lam)
    assert f == pytest.approx(f_ref, rel=1e-12)
    np.testing.assert_allclose(G.numpy(), G_ref, rtol=1e-10, atol=1e-10)
    # central finite differences along random directions
    for _ in range(3):
        D = rng.standard_normal(W.shape)
        h = 1e-5
        fd = (prob.value(torch.as_tensor(W + h * D)) - prob.value(torch.as_tensor(W - h * D))) / (2 * h)
        assert fd == pytest.approx(float((G.numpy() * D).sum()), rel=1e-6)
    # Hessian-vector product is the gradient's directional derivative (f is quadratic)
    D = torch.as_tensor(rng.standard_normal(W.shape))
    _, G2 = prob.value_grad(torch.as_tensor(W) + D)
    np.testing.assert_allclose((G2 - G).numpy(), prob.hess_vec(D).numpy(), rtol=1e-9, atol=1e-9)
    # the n_inj / n_x scaling of lambda
    assert Problem.build(X, Y, Om, Lx, Ly, lam).lam_s == pytest.approx(lam * 3 / 6)


@pytest.mark.parametrize("n_inj, full_column", [(3, None), (4, 1)])
def test_eigenbasis_preconditioner_is_the_exact_hessian_inverse(n_inj, full_column):
    X, Y, Om, Lx, Ly, lam = tiny_problem(seed=3, n_inj=n_inj)
    if full_column is not None:  # an injection without excluded entries (an empty block of sites)
        Om[:, full_column] = 1
    prob = Problem.build(X, Y, Om, Lx, Ly, lam)
    eig = Eigenbasis.build(Lx, Ly, torch.float64, torch.device("cpu"))
    P = EigPreconditioner(prob, eig)
    assert P.m == int((Om == 0).sum()) and P.kcap is not None
    assert sum(len(s) > 0 for s in P.sites) >= 2  # off-diagonal blocks of the capacitance matrix
    R = torch.as_tensor(np.random.default_rng(0).standard_normal((5, 6)))
    np.testing.assert_allclose(prob.hess_vec(P(R)).numpy(), R.numpy(), rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("tdt, tol", [(torch.float32, 1e-2), (torch.bfloat16, 5e-2)])
def test_reduced_precision_transforms_reach_the_float64_minimiser(tdt, tol):
    """newton with its O(n^3) work in float32 (eigenbases, changes of basis, CG) -- or with the
    change of basis into the eigenbases in bfloat16 -- converges to the same minimiser as the
    all-float64 solve, on a planted 3-D problem with active bounds."""
    P = make_blob_problem(n=300, n_inj=8, seed=1)
    prob = Problem.build(P.X, P.Y, P.Omega, P.Lx, P.Ly, 10.0)  # 2% of W at the bound
    kw = dict(ftol=1e-12, pgtol=1e-6, max_iter=300)
    eig64 = Eigenbasis.build(P.Lx, P.Ly, torch.float64, torch.device("cpu"))
    ref = solve_newton(prob, eig64, **kw)
    eig32 = Eigenbasis.build(P.Lx, P.Ly, torch.float64, torch.device("cpu"), eig_dtype=tdt)
    # the reduced-precision preconditioner is an approximate inverse only: H P(R) ~ R
    P32 = EigPreconditioner(prob, eig32, tdt)
    R = torch.as_tensor(np.random.default_rng(0).standard_normal(prob.shape))
    err = float((prob.hess_vec(P32(R)) - R).norm() / R.norm())
    assert 1e-9 < err < tol  # (not exact: the reduced precision is really used)
    res = solve_newton(prob, eig32, precond_dtype=tdt, **kw)
    assert ref.converged and res.converged
    assert (ref.W == 0).any(), "the test problem should have active bounds"
    assert res.W.dtype == torch.float64 and (res.W >= 0).all()
    assert res.f == pytest.approx(ref.f, rel=1e-9)
    np.testing.assert_allclose(res.W.numpy(), ref.W.numpy(), atol=1e-4 * float(ref.W.abs().max()))


def test_every_solver_path_gives_the_cpu_float64_answer_on_each_device(device):
    """The full-rank fits (float64; float32 and bfloat16 changes of basis), ADMM, FISTA and
    the low-rank fit reach the CPU float64 minimiser on every device torch offers (the CUDA
    case runs only where a GPU is present), and hand back CPU arrays."""
    P = make_blob_problem(n=300, n_inj=8, seed=1)
    data = dict(Lx=P.Lx, Ly=P.Ly)
    kw = dict(lam=10.0, ftol=1e-12, pgtol=1e-6, max_iter=300)
    ref = SplineConnectivity(device="cpu", **kw).fit(P.X, P.Y, P.Omega, **data)
    assert ref.converged_ and (ref.W_ == 0).any(), "the test problem should have active bounds"
    scale = np.abs(ref.W_).max()
    for extra in ({}, {"transform_dtype": "float32"}, {"transform_dtype": "bfloat16"},
                  {"solver": "admm", "max_iter": 3000}, {"solver": "fista", "max_iter": 20000}):
        est = SplineConnectivity(device=device, **{**kw, **extra}).fit(P.X, P.Y, P.Omega, **data)
        assert isinstance(est.W_, np.ndarray) and (est.W_ >= 0).all(), extra
        assert est.objective_ == pytest.approx(ref.objective_, rel=1e-6), extra
        np.testing.assert_allclose(est.W_, ref.W_, atol=2e-3 * scale, err_msg=str(extra))
    low_kw = dict(kw, rank=4, lowrank_init="random", seed=3, lowrank_max_iter=200)
    low_ref = SplineConnectivity(device="cpu", **low_kw).fit(P.X, P.Y, P.Omega, **data)
    low = SplineConnectivity(device=device, **low_kw).fit(P.X, P.Y, P.Omega, **data)
    assert low.U_.shape == (P.Y.shape[0], 4) and low.V_.shape == (P.X.shape[0], 4)
    assert low.objective_ >= ref.objective_ * (1 - 1e-9)  # rank 4 cannot beat full rank
    assert low.objective_ == pytest.approx(low_ref.objective_, rel=1e-3)


def test_bfloat16_change_back_keeps_the_soft_block_in_float32():
    """The change of basis back from the eigenbases: with every mode in the float32 block it is
    the float32 one; with 5% of the modes there (the default) the bfloat16 rest costs little in
    the H-norm that CG works in; with one mode only it costs far more (what the block is for)."""
    P = make_blob_problem(n=400, n_inj=8, seed=2)
    prob = Problem.build(P.X, P.Y, P.Omega, P.Lx, P.Ly, 1e4)
    eig = Eigenbasis.build(P.Lx, P.Ly, torch.float64, torch.device("cpu"), eig_dtype=torch.bfloat16)
    R = torch.as_tensor(np.random.default_rng(0).standard_normal(prob.shape), dtype=torch.float32)
    exact = EigPreconditioner(prob, eig, torch.float32)(R, precise=True).double()
    inner = prob.to(torch.float64)

    def h_err(soft_frac: float) -> float:
        Pm = EigPreconditioner(prob, eig, torch.bfloat16, soft_frac=soft_frac)
        assert len(Pm.soft[0]) == max(1, int(np.ceil(soft_frac * 400)))
        E = Pm(R).double() - exact
        return (_hdot(inner, E) / _hdot(inner, exact)) ** 0.5

    # the softest modes are those with the smallest |eigenvalue| (L <= 0: the last ones of eigh)
    Pm = EigPreconditioner(prob, eig, torch.bfloat16)
    assert torch.equal(Pm.soft[1], torch.argsort(eig.a.abs())[:20].sort().values)
    assert Pm.m > 0 and Pm.kinv is not None and Pm.kcap is None  # capacitance as a product with K^-1
    # all modes soft: the bfloat16 part is zero, so only the forward change of basis is reduced
    Pall = EigPreconditioner(prob, eig, torch.bfloat16, soft_frac=1.0)
    Zh = torch.as_tensor(np.random.default_rng(1).standard_normal(prob.shape))
    ref = eig.Qy @ Zh @ eig.Qx.T
    np.testing.assert_allclose(Pall._back_mixed(Zh).double().numpy(), ref.numpy(), atol=1e-4 * float(ref.abs().max()))
    e5, e1 = h_err(0.05), h_err(1 / 400)
    assert 1e-6 < e5 < 0.02 and e1 > 2 * e5, (e5, e1)


def _hdot(prob: Problem, E: torch.Tensor) -> float:
    return float((E * prob.hess_vec(E)).sum())


def test_transform_dtype_is_validated_and_used():
    P = make_blob_problem(n=200, n_inj=6, seed=2)
    with pytest.raises(ValueError, match="transform_dtype"):  # fit validates (scikit-learn's convention)
        SplineConnectivity(transform_dtype="float16").fit(P.X, P.Y, P.Omega, Lx=P.Lx, Ly=P.Ly)
    with pytest.raises(ValueError, match="dtype"):  # bfloat16 is for the change of basis only
        SplineConnectivity(dtype="bfloat16").fit(P.X, P.Y, P.Omega, Lx=P.Lx, Ly=P.Ly)
    kw = dict(lam=10.0, device="cpu", ftol=1e-12, pgtol=1e-6)
    a = SplineConnectivity(**kw).fit(P.X, P.Y, P.Omega, Lx=P.Lx, Ly=P.Ly)
    b = SplineConnectivity(transform_dtype="float32", **kw).fit(P.X, P.Y, P.Omega, Lx=P.Lx, Ly=P.Ly)
    assert b.objective_ == pytest.approx(a.objective_, rel=1e-8)
    assert not np.array_equal(a.W_, b.W_)  # a different path to the same minimiser


@pytest.mark.parametrize("solver", ["newton", "admm", "fista"])
def test_solvers_reach_brute_force_minimiser_and_kkt(solver):
    X, Y, Om, Lx, Ly, lam = tiny_problem(seed=5, lam=0.5, signed=True)
    prob = Problem.build(X, Y, Om, Lx, Ly, lam)
    W_ref = brute_force_solution(X, Y, Om, Lx, Ly, prob.lam_s)
    eig = Eigenbasis.build(Lx, Ly, torch.float64, torch.device("cpu"))
    kw = dict(ftol=1e-14, pgtol=1e-10)
    if solver == "newton":
        res = solve_newton(prob, eig, max_iter=200, **kw)
    elif solver == "admm":
        res = solve_admm(prob, eig, max_iter=20000, check_every=20, **kw)
    else:
        res = solve_fista(prob, max_iter=200000, check_every=50, **kw)
    W = res.W.numpy()
    assert (W >= 0).all()
    assert (W_ref == 0).any(), "the test problem should have active bounds"
    assert prob.value(res.W) == pytest.approx(prob.value(torch.as_tensor(W_ref)), rel=1e-7)
    np.testing.assert_allclose(W, W_ref, atol=1e-4)
    # KKT: gradient >= 0 on the bound, ~0 on free entries, complementary slackness
    _, G = prob.value_grad(res.W)
    G = G.numpy()
    scale = np.abs(G).max() + 1
    assert np.all(G[W == 0] >= -1e-5 * scale)
    assert np.abs(G[W > 1e-8]).max() < 1e-5 * scale
    assert float(projected_gradient(res.W, torch.as_tensor(G)).norm()) < 1e-4 * scale


def test_lowrank_objective_equals_full_objective_and_descends():
    X, Y, Om, Lx, Ly, lam = tiny_problem(seed=7)
    prob = Problem.build(X, Y, Om, Lx, Ly, lam)
    rng = np.random.default_rng(0)
    U, V = torch.as_tensor(rng.uniform(size=(5, 2))), torch.as_tensor(rng.uniform(size=(6, 2)))
    assert float(lowrank_value(prob, U, V)) == pytest.approx(prob.value(U @ V.T), rel=1e-12)
    U2, V2, res = solve_lowrank(prob, 2, U, V, max_iter=300, ftol=1e-12)
    assert (U2 >= 0).all() and (V2 >= 0).all()
    assert res.f < float(lowrank_value(prob, U, V))
    assert res.f == pytest.approx(prob.value(U2 @ V2.T), rel=1e-10)
    # rank-r optimum cannot beat the full-rank optimum
    W_full = brute_force_solution(X, Y, Om, Lx, Ly, prob.lam_s)
    assert res.f >= prob.value(torch.as_tensor(W_full)) * (1 - 1e-9)


@pytest.mark.parametrize("which", ["U", "V"])
def test_lowrank_block_value_and_gradient_match_the_full_objective(which):
    """The written-out block objective of the low-rank solver equals f(U V^T) and its gradient
    the chain rule through the full-rank gradient: dF/dU = G V, dF/dV = G^T U."""
    X, Y, Om, Lx, Ly, lam = tiny_problem(seed=11)
    prob = Problem.build(X, Y, Om, Lx, Ly, lam)
    rng = np.random.default_rng(1)
    U, V = torch.as_tensor(rng.uniform(size=(5, 3))), torch.as_tensor(rng.uniform(size=(6, 3)))
    f_full, G = prob.value_grad(U @ V.T)
    q = BlockQuadratic(prob, which, V if which == "U" else U)
    f, g = q.value_grad(U if which == "U" else V)
    assert f == pytest.approx(f_full, rel=1e-12) and q.value(U if which == "U" else V) == pytest.approx(f, rel=1e-14)
    np.testing.assert_allclose(g.numpy(), (G @ V if which == "U" else G.T @ U).numpy(), rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="which"):
        BlockQuadratic(prob, "W", V)


def test_smooth_random_start_is_gaussian_in_hop_distance():
    """On a path of 101 points (diameter 100) each column is exp(-(i - s)^2 / (2 * 10^2)) around
    its random seed s, cut beyond 3 widths; the same from a torch CSR Laplacian; far smoother
    (bending energy per unit norm) than uniform noise."""
    L = path_laplacian(101)
    F = smooth_random_factor(L, 5, np.random.default_rng(0))
    i = np.arange(101)
    for j in range(5):
        s = int(np.argmax(F[:, j]))
        want = np.where(np.abs(i - s) <= 30, np.exp(-((i - s) ** 2) / 200.0), 0.0)
        np.testing.assert_allclose(F[:, j], want, atol=1e-12)
    assert len({int(np.argmax(F[:, j])) for j in range(5)}) == 5
    Lt = Problem.build(np.ones((101, 1)), np.ones((101, 1)), np.ones((101, 1)), L, L, 1.0).Lx
    np.testing.assert_array_equal(smooth_random_factor(Lt, 5, np.random.default_rng(0)), F)
    Rn = np.random.default_rng(1).uniform(size=F.shape)
    rough = lambda M: np.linalg.norm(L @ M) / np.linalg.norm(M)  # noqa: E731
    assert rough(F) < 0.05 * rough(Rn)


def test_lowrank_planted_problem_and_factor_distance():
    """The whole-brain-size planted problem is what it says (Y = U V^T X + 10% noise, W_true >= 0,
    never formed), and the factor-only distance equals the dense one."""
    P = make_lowrank_blob_problem(n=400, rank=6, n_inj=9, seed=4)
    U, V = P.U_true, P.V_true
    assert U.shape == (len(P.coords), 6) and V.shape == U.shape and (U >= 0).all() and (V >= 0).all()
    WX = U @ (V.T @ P.X)
    assert np.sqrt(np.mean(WX**2)) == pytest.approx(1.0, rel=1e-12)
    assert np.std(P.Y - WX) == pytest.approx(0.1, rel=0.1)
    assert P.Omega.dtype == np.int8 and ((P.Omega == 0) == (P.X > 0)).all()
    assert P.Lx.shape == (len(P.coords),) * 2 and P.Lx.nnz <= 7 * len(P.coords)
    rng = np.random.default_rng(0)
    A, B = rng.uniform(size=U.shape), rng.uniform(size=V.shape)
    dense = np.linalg.norm(A @ B.T - U @ V.T) / np.linalg.norm(U @ V.T)
    t = torch.as_tensor
    assert lowrank_rel_distance(t(A), t(B), t(U), t(V)) == pytest.approx(dense, rel=1e-10)
    assert lowrank_rel_distance(t(U), t(V), t(U), t(V)) < 1e-6
    with pytest.raises(ValueError, match="rank"):
        make_lowrank_blob_problem(n=100, rank=0)


def test_synthetic_1d_kernel_recovered():
    P = make_1d_problem(n=100, n_inj=5, noise=0.1, seed=2016)
    est = SplineConnectivity(lam=100, device="cpu", ftol=1e-10, pgtol=1e-7).fit(P.X, P.Y, P.Omega, Lx=P.Lx, Ly=P.Ly)
    err = np.linalg.norm(est.W_ - P.W_true) / np.linalg.norm(P.W_true)
    assert est.converged_ and (est.W_ >= 0).all()
    assert err < 0.25, err
    # without smoothing the same data recover far less
    est0 = SplineConnectivity(lam=0, solver="fista", device="cpu", max_iter=300).fit(P.X, P.Y, P.Omega, Lx=P.Lx, Ly=P.Ly)
    assert np.linalg.norm(est0.W_ - P.W_true) / np.linalg.norm(P.W_true) > 2 * err


def test_regional_nnls_matches_brute_force():
    rng = np.random.default_rng(4)
    src = np.array(["A"] * 4 + ["B"] * 3 + ["C"] * 2)
    tgt = np.array(["A"] * 3 + ["B"] * 4 + ["C"] * 2)
    X = rng.uniform(0, 1, (9, 6))
    Y = rng.uniform(0, 1, (9, 6))
    Om = (rng.uniform(size=(9, 6)) < 0.8).astype(np.int8)
    reg = RegionalConnectivity(src, tgt).fit(X, Y, Om)
    # brute force: one NNLS over all 9 block values with one row per counted (voxel, injection)
    sa, ta = sorted(set(src)), sorted(set(tgt))
    rows, rhs = [], []
    for i in range(9):
        for j in range(6):
            if Om[i, j]:
                r = np.zeros((len(ta), len(sa)))
                for x in range(9):
                    r[ta.index(tgt[i]), sa.index(src[x])] += X[x, j]
                rows.append(r.ravel())
                rhs.append(Y[i, j])
    w, _ = nnls(np.array(rows), np.array(rhs))
    np.testing.assert_allclose(reg.w_, w.reshape(len(ta), len(sa)), atol=1e-8)
    assert (reg.W_ >= 0).all() and reg.W_.shape == (9, 9)


def test_rel_mse_known_values():
    Y = np.arange(1.0, 7.0).reshape(3, 2)
    Om = np.ones_like(Y)
    assert rel_mse(Y, Y, Om) == 0
    assert rel_mse(np.zeros_like(Y), Y, Om) == pytest.approx(2.0)
    assert rel_mse(-Y, Y, Om) == pytest.approx(4.0)
    assert rel_mse(2 * Y, Y, Om) == pytest.approx(2 / 5)
    Om2 = Om.copy()
    Om2[0, 0] = 0
    Yh = Y.copy()
    Yh[0, 0] = 100.0  # an excluded entry does not count
    assert rel_mse(Yh, Y, Om2) == 0


def test_cv_splits_never_leak_test_injections():
    for n, k in [(10, 3), (7, 7), (28, 5)]:
        folds = kfold_injections(n, k, seed=1)
        tests = np.concatenate([te for _, te in folds])
        assert sorted(tests) == list(range(n))
        for tr, te in folds:
            assert not set(tr) & set(te) and len(tr) + len(te) == n
    with pytest.raises(ValueError, match="folds"):
        kfold_injections(3, 5, seed=0)
    # nested CV: record every training set the model sees
    rng = np.random.default_rng(0)
    n_inj = 9
    Y = rng.uniform(size=(4, n_inj))
    Om = np.ones_like(Y)
    seen: list[np.ndarray] = []

    def fit_predict(train, lam, W0):
        seen.append(np.array(train))
        # a "model" that predicts each voxel's mean over the training injections
        return None, np.repeat(Y[:, train].mean(1, keepdims=True), n_inj, axis=1) * (1 + 0 * lam)

    res = nested_cv(fit_predict, n_inj, [1.0, 10.0], Y, Om, np.array(["a", "a", "b", "b"]), 3, 2, seed=3)
    outer = kfold_injections(n_inj, 3, seed=3)
    per_outer = len(seen) // 3
    for o, (_, te) in enumerate(outer):
        for train in seen[o * per_outer:(o + 1) * per_outer]:
            assert not set(train) & set(te)
    assert len(res.test_voxel) == 3


def test_memory_guard_stops_a_full_rank_fit_too_big_for_the_limit():
    from neurorepro.connectivity.data import ConnectivityData
    from neurorepro.connectivity.pipeline import check_fit_memory, full_rank_fit_bytes
    from neurorepro.runtime import MemoryBudgetError

    # the paper's 7,497 voxels: 8 copies of W plus two eigenbases in float64 is about 5 GiB
    assert full_rank_fit_bytes(7497, 7497) / 2**30 == pytest.approx(8 * 7497**2 * 8 / 2**30 + 4 * 7497**2 * 8 / 2**30)
    n = 50
    data = ConnectivityData(X=np.zeros((n, 2)), Y=np.zeros((n, 2)), Omega=np.ones((n, 2)),
                            source_coord=np.zeros((n, 3)), target_coord=np.zeros((n, 3)),
                            source_area=np.array(["VISp"] * n), target_area=np.array(["VISp"] * n),
                            experiment_id=np.arange(2), W_true=None, attrs={})
    assert check_fit_memory(data, "float64", 1.0) < 1.0
    with pytest.raises(MemoryBudgetError, match=r"full-rank connectivity fit \(50 target x 50 source.*memory_limit_gb=1e-06"):
        check_fit_memory(data, "float64", 1e-6)


def test_lbfgsb_reference_reaches_the_minimiser_and_records_each_iteration():
    """scipy's L-BFGS-B (the benchmark's reference) reaches the brute-force minimiser, and its
    history has one row per iteration (iteration 0 = first evaluation), times increasing, f
    non-increasing (its line search only accepts decrease)."""
    X, Y, Om, Lx, Ly, lam = tiny_problem(seed=5, lam=0.5, signed=True)
    prob = Problem.build(X, Y, Om, Lx, Ly, lam)
    W_ref = brute_force_solution(X, Y, Om, Lx, Ly, prob.lam_s)
    res = solve_lbfgsb(prob, max_iter=5000, ftol=1e-15, pgtol=1e-12, log_every=0)
    assert (res.W.numpy() >= 0).all()
    assert prob.value(res.W) == pytest.approx(prob.value(torch.as_tensor(W_ref)), rel=1e-7)
    its, ts, fs = map(np.array, zip(*res.history))
    np.testing.assert_array_equal(its, np.arange(len(its)))
    assert its[-1] == res.n_iter and np.all(np.diff(ts) >= 0) and np.all(np.diff(fs) <= 1e-12 * abs(fs[0]))
    # the direct Fortran driver makes the same calls as scipy.optimize.minimize
    via_minimize = solve_lbfgsb(prob, max_iter=5000, ftol=1e-15, pgtol=1e-12, log_every=0, driver="minimize")
    np.testing.assert_array_equal([h[2] for h in via_minimize.history], fs)
    stopped = solve_lbfgsb(prob, target_f=float(fs[len(fs) // 2]), max_iter=600, ftol=1e-15, pgtol=1e-12, log_every=0)
    assert stopped.converged and stopped.f <= fs[len(fs) // 2] and stopped.n_iter <= len(fs) // 2 + 1
