"""The certificate never claims more than the truth.

Every bound here is compared with the optimum of an independent cvxpy
formulation of the lifted problem written in this file, on early-stopped
fits (tiny ``max_iter``) of both solvers, where the solver's dual point is
far from feasible: the steps of the certificate (centre, into the
conjugate's domain, rescale into the dual-norm ball) are what keep the bound
below the optimum there.
"""

import warnings

import cvxpy as cp
import numpy as np
import pytest

from sklearn_convexnn import ConvexPolyNetClassifier, ConvexPolyNetRegressor
from sklearn_convexnn._solvers.lifted.certificate import certified_lower_bound
from sklearn_convexnn._solvers.lifted.cvxpy_backend import solve_lifted_cvxpy
from sklearn_convexnn._solvers.lifted.lifted import LiftedBlock
from sklearn_convexnn._solvers.lifted.lowrank import solve_lifted_lowrank
from sklearn_convexnn._solvers.lifted.neuron_sets import Signs, Sphere, constant_fit
from sklearn_convexnn._solvers.shared.losses import get_loss

ACT = (0.09, 0.5, 0.47)


def reference_optimum(X, Y, loss_name, alpha, activation=ACT, binary=False):
    """The lifted SDP written out directly (one output), solved tightly."""
    n, d = X.shape
    a, b, c = activation
    Y = np.asarray(Y, dtype=float).reshape(n)
    Zs = [cp.Variable((d + 1, d + 1), PSD=True) for _ in range(2)]
    cons = []
    preds = []
    for Z in Zs:
        if binary:
            cons.append(cp.diag(Z[:d, :d]) == Z[d, d])
        else:
            cons.append(cp.trace(Z[:d, :d]) == Z[d, d])
        preds.append(a * cp.sum(cp.multiply(X @ Z[:d, :d], X), axis=1)
                     + b * (X @ Z[:d, d]) + c * Z[d, d])
    b0 = cp.Variable()
    yhat = preds[0] - preds[1] + b0
    if loss_name == "squared":
        data = 0.5 * cp.sum_squares(yhat - Y) / n
    else:  # logistic on +-1 labels
        data = cp.sum(cp.logistic(-cp.multiply(Y, yhat))) / n
    prob = cp.Problem(cp.Minimize(data + alpha * (Zs[0][d, d] + Zs[1][d, d])), cons)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prob.solve(solver="CLARABEL")
    if prob.status != cp.OPTIMAL:  # Clarabel is often inexact on the exponential cone
        prob.solve(solver="SCS", eps_abs=1e-10, eps_rel=1e-10, max_iters=200_000)
    assert prob.status == cp.OPTIMAL
    return prob.value


def problem(seed, loss_name, n=40, d=4):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    u = rng.normal(size=d)
    u /= np.linalg.norm(u)
    t = (X @ u) ** 2 - X[:, 0] + 0.3 * rng.normal(size=n)
    y = t if loss_name == "squared" else np.where(t > np.median(t), 1.0, -1.0)
    return X, y


def below(bound, optimum):
    return bound <= optimum + 1e-7 * max(1.0, abs(optimum))


@pytest.mark.parametrize("loss_name", ["squared", "logistic"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_early_stopped_fits_never_certify_above_the_optimum(seed, loss_name):
    X, y = problem(seed, loss_name)
    alpha = 1e-3
    opt = reference_optimum(X, y, loss_name, alpha)
    Est = ConvexPolyNetRegressor if loss_name == "squared" else ConvexPolyNetClassifier
    for solver, max_iter in [("cvxpy", 1), ("cvxpy", 3), ("lowrank", 1), ("lowrank", 2)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = Est(loss=loss_name, alpha=alpha, solver=solver, max_iter=max_iter,
                      random_state=seed).fit(X, y)
        assert below(est.lower_bound_, opt), (solver, max_iter, est.lower_bound_, opt)
        assert est.objective_ >= opt - 1e-7 * max(1.0, abs(opt))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_zero_weight_rows_never_lift_the_bound_above_the_optimum(seed):
    """Weights 0..4 against the repeated rows' optimum, early stops, every solver.

    A dual point centred by the plain mean keeps non-zero values on rows of
    zero weight, outside the conjugate's domain: its "bound" exceeded the
    optimum (scikit-learn's sample-weight check data, proxgrad).
    """
    rng = np.random.RandomState(42 + seed)
    X = rng.rand(15, 6)
    y = rng.randint(0, 3, size=15).astype(float)
    sw = rng.randint(0, 5, size=15)
    sw[:2] = 0
    alpha = 1e-2
    opt = reference_optimum(X.repeat(sw, axis=0), y.repeat(sw), "squared", alpha)
    for solver, max_iter in [("proxgrad", 3), ("proxgrad", 10), ("proxgrad", 300),
                             ("lowrank", 1), ("lowrank", 3), ("cvxpy", 3)]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            est = ConvexPolyNetRegressor(activation=ACT, alpha=alpha, solver=solver,
                                         max_iter=max_iter).fit(X, y, sample_weight=sw)
        assert below(est.lower_bound_, opt), (solver, max_iter, est.lower_bound_, opt)
        assert est.objective_ >= opt - 1e-7 * max(1.0, abs(opt))


@pytest.mark.parametrize("seed", [0, 3])
def test_raw_solver_dual_points_certify_below_the_optimum(seed):
    """The solvers' own dual points, early-stopped, through the one routine."""
    X, y = problem(seed, "squared")
    Y = y[:, None]
    loss = get_loss("squared")
    alpha = 1e-3
    opt = reference_optimum(X, y, "squared", alpha)
    blocks = [LiftedBlock(X)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sol = solve_lifted_cvxpy(blocks, Y, loss, ACT, alpha, max_iter=2)
        res = solve_lifted_lowrank(blocks, Y, loss, ACT, alpha, max_iter=1)
    assert below(res.lower_bound, opt)
    # The intercept-only gradient: unscaled, -loss*(theta) is the intercept-only
    # objective, far above the optimum at this small alpha.
    intercept_only = np.tile(constant_fit(Y, loss), (len(y), 1))
    for theta in (sol.theta, res.theta, loss.gradient(intercept_only, Y)):
        assert below(certified_lower_bound(blocks, Y, loss, ACT, alpha, theta, Sphere()), opt)
    bound = certified_lower_bound(blocks, Y, loss, ACT, alpha, loss.gradient(intercept_only, Y))
    assert loss.value(intercept_only, Y) > opt + 0.05 * abs(opt)  # the test can fail
    assert bound < opt


def test_signs_bound_below_the_binary_relaxation():
    X, y = problem(5, "squared", n=30, d=3)
    Y = y[:, None]
    loss = get_loss("squared")
    alpha = 1e-2
    opt = reference_optimum(X, y, "squared", alpha, binary=True)
    rng = np.random.default_rng(0)
    blocks = [LiftedBlock(X)]
    thetas = [loss.gradient(np.tile(constant_fit(Y, loss), (30, 1)), Y)] + [
        rng.normal(size=(30, 1)) / 30 for _ in range(3)]
    for theta in thetas:
        assert below(certified_lower_bound(blocks, Y, loss, ACT, alpha, theta, Signs()), opt)
    # The relaxation's own dual point certifies its optimum to solver accuracy.
    sol = solve_lifted_cvxpy(blocks, Y, loss, ACT, alpha, constraint=Signs(), tol=1e-9)
    bound = certified_lower_bound(blocks, Y, loss, ACT, alpha, sol.theta, Signs())
    assert below(bound, opt) and bound > opt - 1e-5 * abs(opt)


@pytest.mark.parametrize("neuron_set", [Sphere(), Signs()])
def test_alpha_max_is_where_the_empty_network_becomes_optimal(neuron_set):
    """Above alpha_max the intercept-only fit is optimal; below it is not."""
    X, y = problem(4, "squared", n=30, d=3)
    Y = y[:, None]
    loss = get_loss("squared")
    blocks = [LiftedBlock(X)]
    amax = neuron_set.alpha_max(blocks, Y, loss, ACT)
    empty = loss.value(np.tile(Y.mean(axis=0), (30, 1)), Y)
    binary = isinstance(neuron_set, Signs)
    assert reference_optimum(X, y, "squared", 1.01 * amax, binary=binary) \
        == pytest.approx(empty, rel=1e-6)
    if not binary:  # the elliptope bound is an upper bound on the relaxation's alpha_max
        assert reference_optimum(X, y, "squared", 0.9 * amax) < empty * (1 - 1e-4)


def test_sphere_trust_region_dual_bound_against_scalar_minimisation():
    """``_tr_dual_upper`` against a bounded scalar minimisation, and at zero data.

    ``min_{t > lam_max} t + sum h_k^2 / (4 (t - lam_k))`` by scipy's bounded
    scalar search is the reference: the Newton iterate is an upper bound
    within 1e-6 of it. All-zero data (a zero dual, e.g. labels of one class)
    gives 0 (up to a subnormal step) with no floating-point warning (it was 0/0 once).
    """
    from scipy.optimize import minimize_scalar

    from sklearn_convexnn._solvers.lifted.sphere_dual import _tr_dual_upper

    rng = np.random.default_rng(3)
    for _ in range(5):
        lam = np.sort(rng.standard_normal(6))
        h = rng.standard_normal(6) * rng.choice([1e-3, 1.0, 10.0])
        got = _tr_dual_upper(lam[None], h[None])[0]

        def f(t, lam=lam, h=h):
            return t + np.sum(h * h / (4 * (t - lam)))

        hi = lam[-1] + np.sqrt(np.sum(h * h / 4)) + 1.0
        ref = minimize_scalar(f, bounds=(lam[-1] + 1e-12, hi), method="bounded",
                              options={"xatol": 1e-13}).fun
        assert got >= ref - 1e-9 * max(1.0, abs(ref))
        assert got <= ref + 1e-6 * max(1.0, abs(ref))
    with np.errstate(divide="raise", invalid="raise", over="raise"):
        zero = _tr_dual_upper(np.zeros((2, 4)), np.zeros((2, 4)))
    assert np.all((zero >= 0.0) & (zero <= 1e-300))


def test_relative_gap_of_two_round_off_zeros_is_zero():
    """(objective - bound) / |objective| by hand; two values at round-off are a closed gap."""
    from sklearn_convexnn._solvers.lifted.certificate import ROUNDOFF_ZERO, relative_gap

    assert relative_gap(1.1e-16, -0.0) == 0.0           # one-label logistic: 0/0 before
    assert relative_gap(ROUNDOFF_ZERO, 0.0) == 0.0
    assert relative_gap(0.5, 0.25) == 0.5
    assert relative_gap(1e-13, 0.5e-13) == pytest.approx(0.5, rel=1e-12)   # no 1e-12 floor
    assert relative_gap(1e-13, 0.5e-13, floor=1e-12) == pytest.approx(0.05, rel=1e-12)
    assert relative_gap(0.3, 0.4) == 0.0                 # a bound above the objective
