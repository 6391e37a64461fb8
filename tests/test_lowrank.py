"""The lowrank solver against independent references.

The reference optimum is a small cvxpy program written here from the paper's
formulation (one (Z, Z') pair per output, sphere constraint); the
trust-region maximizer is checked against brute force over many unit vectors.
"""

import warnings

import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from sklearn_convexnn import ConvexPolyNetClassifier, ConvexPolyNetRegressor
from sklearn_convexnn._base import ProblemSize
from sklearn_convexnn._solvers.lifted.certificate import sphere_lower_bound
from sklearn_convexnn._solvers.lifted.lifted import LiftedBlock
from sklearn_convexnn._solvers.lifted.lowrank import solve_lifted_lowrank
from sklearn_convexnn._solvers.lifted.trust_region import trust_region_max
from sklearn_convexnn._solvers.shared.losses import get_loss
from sklearn_convexnn.datasets import make_planted_polynet

ACT = (0.09, 0.5, 0.47)


def reference_value(X, Y, alpha, loss, intercept, act=ACT, pool=None):
    """Optimal value of the lifted SDP, built from scratch.

    ``pool``: None (one unpooled block), a pooling matrix, or a list of them
    (one block each, sharing the rows ``X``).
    """
    n, k = Y.shape
    d = X.shape[1]
    # Rows of unit RMS norm, activation rescaled to match: same problem, and
    # Clarabel's exponential cone is much happier with it.
    s = np.sqrt(np.mean(np.sum(X**2, axis=1)))
    X = X / s
    a, b, c = act[0] * s * s, act[1] * s, act[2]
    # One (Z, Z') pair per output and block, each block pooled by its own matrix.
    pools = pool if isinstance(pool, (list, tuple)) else [pool]
    cols, cons, pen = [], [], 0
    for _ in range(k):
        col = 0
        for block_pool in pools:
            W = np.eye(X.shape[0]) if block_pool is None else block_pool.toarray()
            Zp = cp.Variable((d + 1, d + 1), PSD=True)
            Zm = cp.Variable((d + 1, d + 1), PSD=True)
            cons += [cp.trace(Zp[:d, :d]) == Zp[d, d], cp.trace(Zm[:d, :d]) == Zm[d, d]]
            D = Zp - Zm
            rows = a * cp.sum(cp.multiply(X @ D[:d, :d], X), axis=1) + b * (X @ D[:d, d]) \
                + c * D[d, d]
            col = col + W @ rows
            pen += Zp[d, d] + Zm[d, d]
        cols.append(col)
    yhat = cp.vstack(cols).T + (cp.Variable((1, k)) if intercept else 0)
    if loss == "squared":
        data = 0.5 * cp.sum_squares(yhat - Y) / n
    elif loss == "logistic":
        data = cp.sum(cp.logistic(-cp.multiply(Y, yhat))) / n
    elif loss == "multinomial":
        data = (cp.sum(cp.log_sum_exp(yhat, axis=1)) - cp.sum(cp.multiply(Y, yhat))) / n
    prob = cp.Problem(cp.Minimize(data + alpha * pen), cons)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "Solution may be inaccurate"
        prob.solve(solver="CLARABEL")
        if prob.status != cp.OPTIMAL:
            # Clarabel's exponential cone often stops short; SCS at tight
            # tolerance is the fallback reference.
            prob.solve(solver="SCS", eps_abs=1e-9, eps_rel=1e-9, max_iters=200_000)
    assert prob.status == cp.OPTIMAL, prob.status
    return prob.value


def _problem(kind, rng):
    X = rng.normal(size=(80, 4))
    T = X @ np.array([[0.6, 0.8, 0, 0], [0, 0, 0.6, -0.8]]).T
    f = 0.5 * T[:, 0] ** 2 - 0.4 * T[:, 1] ** 2 + 0.3 * X[:, 3]
    if kind == "squared":
        return X, (f + 0.1 * rng.normal(size=80))[:, None], "squared", 1e-2
    if kind == "multi-output":
        return X, np.column_stack([f, T[:, 1] ** 2 - X[:, 0]]), "squared", 1e-2
    if kind == "logistic":
        return X, np.where(f > np.median(f), 1.0, -1.0)[:, None], "logistic", 1e-2
    labels = np.digitize(f, np.quantile(f, [1 / 3, 2 / 3]))
    return X, np.eye(3)[labels], "multinomial", 1e-2


@pytest.mark.parametrize("kind", ["squared", "multi-output", "logistic", "multinomial"])
@pytest.mark.parametrize("intercept", [True, False])
def test_objective_matches_reference_sdp(kind, intercept):
    X, Y, loss_name, alpha = _problem(kind, np.random.default_rng(0))
    loss = get_loss(loss_name)
    blocks = [LiftedBlock(X)]
    res = solve_lifted_lowrank(blocks, Y, loss, ACT, alpha, fit_intercept=intercept, tol=1e-7)
    ref = reference_value(X, Y, alpha, loss_name, intercept)
    assert res.status == "optimal"
    assert abs(res.objective - ref) <= 1e-4 * abs(ref)
    # The certificate is a true lower bound (up to the reference's own accuracy).
    assert res.lower_bound <= ref + 1e-7 * abs(ref)
    bound = sphere_lower_bound(blocks, Y, loss, ACT, alpha, res.theta, intercept)
    assert bound <= ref + 1e-7 * abs(ref)
    assert (res.objective - bound) <= 1e-6 * abs(res.objective)


def test_pooled_blocks_match_reference_sdp():
    # Convolution-like problem: 3 patches of 3 pixels per sample, pooled by
    # fixed weights, two pooling blocks sharing the patches.
    rng = np.random.default_rng(1)
    n, patches, p = 40, 3, 3
    P = rng.normal(size=(n * patches, p))
    rows = np.repeat(np.arange(n), patches)
    left = sp.csr_matrix((np.tile([1.0, 0.5, 0.0], n), (rows, np.arange(n * patches))),
                         shape=(n, n * patches))
    right = sp.csr_matrix((np.tile([0.0, 0.5, 1.0], n), (rows, np.arange(n * patches))),
                          shape=(n, n * patches))
    blocks = [LiftedBlock(P, left), LiftedBlock(P, right)]
    u = np.array([0.6, 0.0, 0.8])
    y = left @ (P @ u) ** 2 - 0.5 * right @ (P @ u[::-1]) + 0.05 * rng.normal(size=n)
    Y = y[:, None]
    res = solve_lifted_lowrank(blocks, Y, get_loss("squared"), ACT, 1e-2, tol=1e-7)

    reference = reference_value(P, Y, 1e-2, "squared", True, pool=[left, right])
    assert abs(res.objective - reference) <= 1e-4 * reference
    assert res.lower_bound <= reference * (1 + 1e-7)


def _sphere_points(d, count, rng):
    if d == 2:
        t = np.linspace(0, 2 * np.pi, count, endpoint=False)
        return np.column_stack([np.cos(t), np.sin(t)])
    U = rng.normal(size=(count, d))
    return U / np.linalg.norm(U, axis=1, keepdims=True)


def _brute_max(A, g, U):
    vals = np.einsum("ij,jk,ik->i", U, A, U) + U @ g
    return vals.max()


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("seed", range(4))
def test_trust_region_matches_brute_force(d, seed):
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(d, d))
    A, g = (M + M.T) / 2, rng.normal(size=d) * [0.1, 1.0, 3.0, 0.0][seed]
    U = _sphere_points(d, 200_000, rng)
    brute = _brute_max(A, g, U)
    value, u, upper = trust_region_max(A, g)
    assert abs(np.linalg.norm(u) - 1) < 1e-12
    assert value <= upper + 1e-12
    assert brute <= upper + 1e-9
    assert value >= brute - (1e-8 if d == 2 else 1e-3)


@pytest.mark.parametrize("g", [[0.0, 0.5, 0.2], [0.0, 0.0, 0.0], [0.0, 2.5, 0.0]])
def test_trust_region_hard_case(g):
    # g has no weight on the top eigenvector of A: the hard case when the
    # stationary point of the other directions lies inside the ball.
    A = np.diag([3.0, 1.0, 0.0])
    g = np.asarray(g)
    U = _sphere_points(3, 400_000, np.random.default_rng(0))
    brute = _brute_max(A, g, U)
    value, u, upper = trust_region_max(A, g)
    assert brute <= upper + 1e-9
    assert value >= brute - 1e-3
    assert abs(value - (u @ A @ u + g @ u)) <= 1e-12
    assert abs(value - upper) <= 1e-8 * max(1.0, abs(upper))


def test_warm_start_reproduces_and_follows_path():
    X, y = make_planted_polynet(150, 5, 3, noise=0.1, random_state=0)
    reg = ConvexPolyNetRegressor(alpha=1e-2, solver="lowrank", warm_start=True).fit(X, y)
    first = reg.objective_
    reg.fit(X, y)
    assert abs(reg.objective_ - first) <= 1e-6 * first
    assert reg.dual_gap_ <= 1e-4 * reg.objective_
    # Along a path: warm fit at a smaller alpha equals a cold fit there.
    reg.set_params(alpha=3e-3).fit(X, y)
    cold = ConvexPolyNetRegressor(alpha=3e-3, solver="lowrank").fit(X, y)
    assert abs(reg.objective_ - cold.objective_) <= 1e-4 * cold.objective_
    assert reg.lower_bound_ <= cold.objective_ * (1 + 1e-9)


def test_convergence_warning_on_max_iter():
    X, y = make_planted_polynet(100, 4, 3, noise=0.1, random_state=0)
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        reg = ConvexPolyNetRegressor(alpha=1e-3, solver="lowrank", max_iter=1).fit(X, y)
    assert reg.dual_gap_ > 0


def test_estimator_matches_cvxpy_path():
    X, y = make_planted_polynet(120, 4, 3, noise=0.1, random_state=1)
    fast = ConvexPolyNetRegressor(alpha=5e-3, solver="lowrank").fit(X, y)
    exact = ConvexPolyNetRegressor(alpha=5e-3, solver="cvxpy").fit(X, y)
    assert fast.solver_ == "lowrank"
    assert abs(fast.objective_ - exact.objective_) <= 1e-4 * exact.objective_
    assert fast.lower_bound_ <= exact.objective_ * (1 + 1e-7)
    np.testing.assert_allclose(fast.predict(X), exact.predict(X), atol=1e-2)


def test_nonsmooth_loss_refused_and_auto_falls_back():
    X, y = make_planted_polynet(60, 3, 2, random_state=0)
    with pytest.raises(ValueError, match="differentiable loss"):
        ConvexPolyNetRegressor(loss="absolute", solver="lowrank").fit(X, y)
    est = ConvexPolyNetClassifier(loss="hinge")
    size = ProblemSize(120_000, 120_000, (3,), 1)  # past the crossover
    assert est._choose_solver(size, get_loss("hinge")) == "cvxpy"
    # Smooth: proxgrad when n >= 4 (d + 1)^2 (here), lowrank below that.
    assert est._choose_solver(size, get_loss("logistic")) == "proxgrad"
    wide = ProblemSize(120_000, 120_000, (200,), 1)
    assert est._choose_solver(wide, get_loss("logistic")) == "lowrank"


def test_auto_uses_lowrank_past_crossover_and_certifies():
    # n < 4 (d + 1)^2: the sparse regime, where lowrank beats proxgrad.
    X, y = make_planted_polynet(2500, 25, 3, noise=0.1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = ConvexPolyNetRegressor(alpha=1e-2).fit(X, y)
    assert reg.solver_ == "lowrank"
    assert reg.dual_gap_ <= 1e-4 * reg.objective_


def _reference_ranks(X, y, alpha, act=ACT, rtol=1e-6):
    """Ranks of the optimal (Z, Z') of the lifted SDP (squared loss, intercept), by cvxpy."""
    n, d = X.shape
    a, b, c = act
    Zp = cp.Variable((d + 1, d + 1), PSD=True)
    Zm = cp.Variable((d + 1, d + 1), PSD=True)
    D = Zp - Zm
    yhat = a * cp.sum(cp.multiply(X @ D[:d, :d], X), axis=1) + b * (X @ D[:d, d]) \
        + c * D[d, d] + cp.Variable()
    prob = cp.Problem(
        cp.Minimize(0.5 * cp.sum_squares(yhat - y) / n + alpha * (Zp[d, d] + Zm[d, d])),
        [cp.trace(Zp[:d, :d]) == Zp[d, d], cp.trace(Zm[:d, :d]) == Zm[d, d]])
    prob.solve(solver="CLARABEL")
    assert prob.status == cp.OPTIMAL, prob.status
    lams = [np.linalg.eigvalsh(Z.value) for Z in (Zp, Zm)]
    top = max(float(lam.max()) for lam in lams)
    return prob.value, sum(int(np.sum(lam > rtol * top)) for lam in lams)


@pytest.mark.parametrize("seed", range(3))
def test_network_as_sparse_as_the_optimum(seed):
    # A rank-r optimum decomposes into r neurons: the solver must not spread
    # it over redundant ones (it used to return 13-16 neurons here).
    X, y = make_planted_polynet(300, 8, 3, noise=0.1, random_state=seed)
    res = solve_lifted_lowrank([LiftedBlock(X)], y[:, None], get_loss("squared"), ACT, 1e-2,
                               tol=1e-6)
    value, rank = _reference_ranks(X, y, 1e-2)
    assert res.status == "optimal"
    assert abs(res.objective - value) <= 1e-5 * abs(value)
    assert res.neurons.shape[0] <= rank
