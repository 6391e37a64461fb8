"""The active-set Newton method of the gated program against cvxpy.

Started from zero weights (every group must enter by its dual norm) and
from a few APG iterations (groups must also leave), it has to reach a
certified relative gap of 1e-8 on the squared and logistic losses (the
multinomial loss stays with APG), with and without intercept, with sample
weights; the optimum is an independent cvxpy solve of the program written
here, and the certified bound must never exceed it.
"""

import cvxpy as cp
import numpy as np
import pytest

from sklearn_convexnn._solvers.relu.certificate import DualCertifier
from sklearn_convexnn._solvers.relu.design import MaskedDesign
from sklearn_convexnn._solvers.relu.gated import solve_gated
from sklearn_convexnn._solvers.relu.newton import newton_polish
from sklearn_convexnn._solvers.relu.weighted_losses import get_weighted_loss


def _problem(loss_name, seed, n=60, d=4, p=10):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * [1.0, 2.0, 0.5, 1.0]
    t = np.maximum(X @ [1.0, -1.0, 0.5, 0.0], 0) - np.maximum(X @ [0.3, 0.8, -1.0, 1.0], 0)
    t = t + 0.3 * rng.standard_normal(n)
    if loss_name == "squared":
        Y = t[:, None]
    elif loss_name == "logistic":
        Y = np.where(t > np.median(t), 1.0, -1.0)[:, None]
    else:
        Y = np.eye(3)[np.digitize(t, np.quantile(t, [1 / 3, 2 / 3]))]
    masks = X @ rng.standard_normal((d, p)) >= 0
    keep = masks.any(axis=0)
    masks = masks[:, keep]
    w = rng.uniform(0.5, 2.0, n)  # sample weights
    return X, Y, masks, w / w.sum()


def _cvxpy_optimum(X, Y, masks, pi, alpha, loss_name, fit_intercept):
    n, d = X.shape
    p, k = masks.shape[1], Y.shape[1]
    cols, pen = [], 0
    for _ in range(k):
        W = cp.Variable((d, p))
        pen = pen + cp.sum(cp.norm(W, 2, axis=0))
        cols.append(cp.sum(cp.multiply(masks.astype(float), X @ W), axis=1))
    Z = cp.vstack(cols).T
    if fit_intercept:
        b = cp.Variable(k)
        Z = Z + np.ones((n, 1)) @ cp.reshape(b, (1, k), order="C")
    if loss_name == "squared":
        data = 0.5 * cp.sum(cp.multiply(np.broadcast_to(pi[:, None], Y.shape),
                                        cp.square(Z - Y)))
    elif loss_name == "logistic":
        data = cp.sum(cp.multiply(np.broadcast_to(pi[:, None], Y.shape),
                                  cp.logistic(-cp.multiply(Y, Z))))
    else:
        data = pi @ (cp.log_sum_exp(Z, axis=1) - cp.sum(cp.multiply(Y, Z), axis=1))
    prob = cp.Problem(cp.Minimize(data + alpha * pen))
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    assert prob.status in ("optimal", "optimal_inaccurate")
    return prob.value


@pytest.mark.parametrize("loss_name", ["squared", "logistic"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("start", ["zero", "apg"])
def test_newton_reaches_the_cvxpy_optimum_with_a_valid_bound(loss_name, fit_intercept, start):
    for seed in range(3):
        X, Y, masks, pi = _problem(loss_name, seed)
        loss = get_weighted_loss(loss_name, Y, pi)
        design = MaskedDesign(X, masks, Y.shape[1])
        alpha = 0.02 * (1 + seed)
        certifier = DualCertifier(loss, design, alpha, fit_intercept, np.ones(design.q))
        if start == "zero":
            W = np.zeros((design.d, design.q))
            b = loss.best_constant() if fit_intercept else np.zeros(design.k)
        else:
            sol = solve_gated(design, loss, alpha, fit_intercept=fit_intercept, tol=1e-12,
                              max_iter=4)
            W, b = sol.W, sol.b
        W, b, n_steps, status = newton_polish(
            design, loss, alpha, W, b, certifier, fit_intercept=fit_intercept, tol=1e-8,
            max_steps=60, lipschitz=10.0)
        ref = _cvxpy_optimum(X, Y, masks, pi, alpha, loss_name, fit_intercept)
        Z = design.forward(W) + (b if fit_intercept else 0.0)
        objective = loss.value(Z) + alpha * np.sum(np.linalg.norm(W, axis=0))
        assert status == "optimal", (seed, n_steps, certifier.best, objective)
        assert objective == pytest.approx(ref, rel=1e-6)
        assert certifier.best <= ref + 1e-7 * abs(ref)
        assert certifier.best >= objective - 1e-8 * abs(objective)


def _smooth_gradient(design, loss, alpha, W, b):
    """Gradient of ``L(sum_j D_j X w_j + b) + alpha sum_j ||w_j||`` at nonzero groups."""
    Z = design.forward(W) + b
    theta = loss.gradient(Z)
    GW = design.backward(theta) + alpha * W / np.linalg.norm(W, axis=0)
    return GW, theta.sum(axis=0)


def _smooth_point(loss_name, problem_seed, seed):
    """A one-output gated problem, its loss and design, and a random point W."""
    X, Y, masks, pi = _problem(loss_name, problem_seed)
    loss = get_weighted_loss(loss_name, Y, pi)
    design = MaskedDesign(X, masks, 1)
    rng = np.random.default_rng(seed)
    alpha = 0.05
    W = rng.standard_normal((design.d, design.q)) * rng.uniform(0.1, 2.0, design.q)
    return X, masks, loss, design, rng, alpha, W


@pytest.mark.parametrize("loss_name", ["squared", "logistic"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_direction_inverts_the_finite_difference_hessian(loss_name, fit_intercept):
    # The Woodbury factors of _direction applied to H v must give back -v,
    # H v taken by central differences of the gradient (no Hessian formula).
    from sklearn_convexnn._solvers.relu.newton import _direction, loss_curvature

    X, masks, loss, design, rng, alpha, W = _smooth_point(loss_name, 1, 0)
    b = np.array([0.3])
    V, beta = rng.standard_normal(W.shape), (np.array([0.7]) if fit_intercept else np.zeros(1))
    h = 1e-5
    gp = _smooth_gradient(design, loss, alpha, W + h * V, b + h * beta)
    gm = _smooth_gradient(design, loss, alpha, W - h * V, b - h * beta)
    HV, Hb = (gp[0] - gm[0]) / (2 * h), (gp[1] - gm[1]) / (2 * h)
    Z = design.forward(W) + b
    norms = np.linalg.norm(W, axis=0)
    img = (X @ W) * masks
    solve = _direction(X, X @ X.T, masks, norms, W / norms, img, loss_curvature(loss, Z)[:, 0],
                       alpha, fit_intercept, np.float64)
    v, bc = solve(HV, float(Hb[0]))
    assert np.allclose(v, -V, rtol=0, atol=1e-5 * np.abs(V).max())
    if fit_intercept:
        assert bc == pytest.approx(-beta[0], abs=1e-5)


@pytest.mark.parametrize("loss_name", ["squared", "logistic"])
def test_single_precision_directions_reach_the_cvxpy_optimum(loss_name, monkeypatch):
    # Below SINGLE_MIN_SAMPLES the directions are double precision; forced
    # to single precision (the route of n >= 500) the polish, accepting
    # steps on the double-precision objective, must reach the same optimum.
    import sklearn_convexnn._solvers.relu.newton as newton

    monkeypatch.setattr(newton, "SINGLE_MIN_SAMPLES", 0)
    X, Y, masks, pi = _problem(loss_name, 0)
    loss = get_weighted_loss(loss_name, Y, pi)
    design = MaskedDesign(X, masks, 1)
    alpha = 0.02
    certifier = DualCertifier(loss, design, alpha, True, np.ones(design.q))
    sol = solve_gated(design, loss, alpha, fit_intercept=True, tol=1e-12, max_iter=4)
    W, b, n_steps, status = newton_polish(design, loss, alpha, sol.W, sol.b, certifier,
                                          fit_intercept=True, tol=1e-7, max_steps=60,
                                          lipschitz=10.0)
    ref = _cvxpy_optimum(X, Y, masks, pi, alpha, loss_name, True)
    objective = loss.value(design.forward(W) + b) + alpha * np.sum(np.linalg.norm(W, axis=0))
    assert status == "optimal"
    assert objective == pytest.approx(ref, rel=1e-6)
    assert certifier.best <= ref + 1e-7 * abs(ref)


@pytest.mark.parametrize("tol", [1e-4, 1e-6])
def test_small_alpha_squared_fit_switches_to_newton_and_reaches_the_cvxpy_optimum(tol):
    # At alpha = 1e-3 on diabetes almost every gate is active and APG alone
    # crawls (before the switch on a settled active set: a 7% gap after the
    # default 1000 iterations; a switch at any gap, on the set of the first
    # iterations, stalled at tol 1e-6); the default route must converge
    # within them, to cvxpy's optimum of the same program.
    import warnings

    from sklearn.datasets import load_diabetes
    from sklearn.exceptions import ConvergenceWarning

    from sklearn_convexnn import ConvexReLURegressor

    X, y = load_diabetes(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    y = (y - y.mean()) / y.std()
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = ConvexReLURegressor(alpha=1e-3, tol=tol, random_state=0).fit(X, y)
    assert reg.solver_ == "newton"
    assert reg.n_iter_ < 1000
    masks = X @ reg.gates_ >= 0
    pi = np.full(X.shape[0], 1.0 / X.shape[0])
    ref = _cvxpy_optimum(X, y[:, None], masks, pi, 1e-3, "squared", True)
    assert reg.objective_ == pytest.approx(ref, rel=2 * tol)
    assert reg.lower_bound_ <= ref + 1e-7 * abs(ref)


@pytest.mark.parametrize("rank", [5, 2])
def test_entry_weight_minimizes_the_groups_own_model(rank):
    # A late-entering group starts at the minimizer of
    # g^T w + w^T B w / 2 + alpha ||w|| (newton_entry._entry_weight); the reference
    # is cvxpy on that program, B positive definite or singular (then g in
    # its range, as for g = (D_j X)^T theta: the model is bounded below).
    from sklearn_convexnn._solvers.relu.newton_entry import _entry_weight

    rng = np.random.default_rng(rank)
    d, alpha = 5, 0.3
    F = rng.standard_normal((d, rank))
    B = F @ F.T
    g = F @ rng.standard_normal(rank)
    g *= 2 * alpha / np.linalg.norm(g)  # dual norm above alpha: the group enters
    w = _entry_weight(B, g, alpha)
    v = cp.Variable(d)
    prob = cp.Problem(cp.Minimize(g @ v + 0.5 * cp.sum_squares(F.T @ v) + alpha * cp.norm(v, 2)))
    prob.solve(solver="CLARABEL")
    value = g @ w + 0.5 * w @ B @ w + alpha * np.linalg.norm(w)
    assert value == pytest.approx(prob.value, rel=1e-6, abs=1e-9)
    assert value < 0  # strictly better than staying at zero


def test_entry_weight_declines_an_unbounded_model():
    # More than alpha of g in B's null space: g^T w + ... is unbounded below
    # (cvxpy reports it so); no entry weight is proposed.
    from sklearn_convexnn._solvers.relu.newton_entry import _entry_weight

    rng = np.random.default_rng(0)
    d, alpha = 5, 0.3
    F = rng.standard_normal((d, 2))
    g = rng.standard_normal(d)
    g *= 2 * alpha / np.linalg.norm(g)
    null = g - F @ np.linalg.lstsq(F, g, rcond=None)[0]
    assert np.linalg.norm(null) > alpha
    v = cp.Variable(d)
    prob = cp.Problem(cp.Minimize(g @ v + 0.5 * cp.sum_squares(F.T @ v) + alpha * cp.norm(v, 2)))
    prob.solve(solver="CLARABEL")
    assert prob.status == "unbounded"
    assert _entry_weight(F @ F.T, g, alpha) is None


@pytest.mark.parametrize("loss_name", ["squared", "logistic"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_cg_on_an_earlier_factor_solves_the_finite_difference_newton_system(loss_name,
                                                                           fit_intercept):
    # The Hessian (groups and intercept) is assembled column by column from
    # central differences of the gradient (no Hessian formula); CG on the
    # current system, preconditioned by the factor of a perturbed earlier
    # point (norms off by up to 30%, other directions), must return its
    # Newton direction -H^-1 g (np.linalg.solve), and hessian_product must
    # match every column.
    from sklearn_convexnn._solvers.relu.newton import _direction, loss_curvature
    from sklearn_convexnn._solvers.relu.newton_cg import hessian_product, pcg_direction

    X, masks, loss, design, rng, alpha, W = _smooth_point(loss_name, 2, 1)
    b = np.array([0.3]) if fit_intercept else np.zeros(1)
    fm = masks.astype(float)

    def grad(Wv, bv):
        GW, gb = _smooth_gradient(design, loss, alpha, Wv, bv)
        return np.concatenate([GW.ravel(order="F"), gb if fit_intercept else []])

    size = W.size + (1 if fit_intercept else 0)
    h = 1e-5
    H = np.empty((size, size))
    for i in range(size):
        dW = np.zeros(W.size)
        db = np.zeros(1)
        if i < W.size:
            dW[i] = 1.0
        else:
            db[0] = 1.0
        dW = dW.reshape(W.shape, order="F")
        H[:, i] = (grad(W + h * dW, b + h * db) - grad(W - h * dW, b - h * db)) / (2 * h)
    H = (H + H.T) / 2
    g = grad(W, b)
    exact = -np.linalg.solve(H, g)

    Z = design.forward(W) + b
    hz = loss_curvature(loss, Z)[:, 0]
    norms = np.linalg.norm(W, axis=0)
    U = W / norms
    apply = hessian_product(X, fm, norms, U, hz, alpha, fit_intercept)
    for i in range(size):
        e = np.zeros(size)
        e[i] = 1.0
        HV, Hb = apply(e[:W.size].reshape(W.shape, order="F"), e[-1] if fit_intercept else 0.0)
        col = np.concatenate([HV.ravel(order="F"), [Hb] if fit_intercept else []])
        assert np.allclose(col, H[:, i], rtol=0, atol=1e-5 * np.abs(H).max())

    # The earlier point: other norms and directions, its own images and curvature.
    W0 = W * rng.uniform(0.7, 1.3, design.q) + 0.1 * rng.standard_normal(W.shape) * norms
    Z0 = design.forward(W0) + b
    n0 = np.linalg.norm(W0, axis=0)
    old = _direction(X, X @ X.T, fm, n0, W0 / n0, (X @ W0) * fm,
                     loss_curvature(loss, Z0)[:, 0], alpha, fit_intercept, np.float64)
    GW = g[:W.size].reshape(W.shape, order="F")
    gb = g[-1] if fit_intercept else 0.0
    v, beta, iterations = pcg_direction(apply, old, GW, gb, 1e-10, 200)
    assert v is not None
    assert 1 < iterations < size  # a real CG run, shorter than the dimension
    got = np.concatenate([v.ravel(order="F"), [beta] if fit_intercept else []])
    assert np.allclose(got, exact, rtol=0, atol=1e-5 * np.abs(exact).max())
    # Too few iterations for a tight tolerance: declined, not a wrong answer.
    assert pcg_direction(apply, old, GW, gb, 1e-12, 1) == (None, None, 1)


@pytest.mark.parametrize("seed", [0, 1])
def test_early_newton_switch_at_small_alpha_reaches_the_cvxpy_optimum(seed, monkeypatch):
    # Below 0.01 alpha_max (squared loss) Newton steps start once APG's active
    # set has settled for a few iterations, at any gap (gated.TRIAL_MAX_ALPHA);
    # from there (entries only after clean full steps, CG on earlier factors)
    # the fit must certify its tolerance at cvxpy's optimum of the program.
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from sklearn_convexnn import ConvexReLURegressor
    from sklearn_convexnn._solvers.relu import gated

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((300, 6))
    y = np.maximum(X @ rng.standard_normal((6, 3)), 0) @ [1.0, -1.0, 0.5]
    y = y + 0.1 * rng.standard_normal(300)
    gaps = []  # the certified relative gap at each switch to Newton

    def spy(*args, history, **kwargs):
        _, obj, lb = history[-1]
        gaps.append((obj - lb) / obj)
        return polish(*args, history=history, **kwargs)

    polish = gated.newton_polish
    monkeypatch.setattr(gated, "newton_polish", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = ConvexReLURegressor(alpha=1e-4, n_gates=30, tol=1e-6, random_state=0).fit(X, y)
    assert reg.alpha_ < 0.01 * reg.alpha_max_
    assert reg.solver_ == "newton"
    # The switch was the early one: above the gaps of the regular rules.
    assert gaps and gaps[0] > max(gated.NEWTON_SWITCH_GAP, gated.STABLE_SWITCH_GAP)
    masks = X @ reg.gates_ >= 0
    pi = np.full(X.shape[0], 1.0 / X.shape[0])
    ref = _cvxpy_optimum(X, y[:, None], masks, pi, 1e-4, "squared", True)
    assert reg.objective_ == pytest.approx(ref, rel=2e-6)
    assert reg.lower_bound_ <= ref + 1e-7 * abs(ref)


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_updated_factor_inverts_the_dense_sample_system(fit_intercept):
    # newton_update.SampleSolve: an earlier factor of C = I + Pi s K s Pi on
    # some groups, updated by entering groups, must invert the system of the
    # union as formed densely here (np.linalg.solve) in its three pieces.
    from sklearn_convexnn._solvers.relu.newton_direction import _factor
    from sklearn_convexnn._solvers.relu.newton_update import SampleSolve, updated_solve

    X, _, masks, _ = _problem("squared", 3, n=80, d=4, p=12)
    rng = np.random.default_rng(0)
    fm = masks.astype(float)
    m = fm.shape[1]
    e = rng.uniform(0.1, 2.0, m)  # group sizes over alpha
    hz = rng.uniform(0.5, 1.5, X.shape[0])
    sq, sigma = np.sqrt(hz), float(hz.sum())
    old = np.arange(m - 3)  # the earlier factor's groups; the last three enter

    def dense(cols):
        K = sum(e[j] * np.outer(fm[:, j] * sq, fm[:, j] * sq) * (X @ X.T) for j in cols)
        if fit_intercept:
            P = np.eye(X.shape[0]) - np.outer(sq, sq) / sigma
            K = P @ K @ P
        return np.eye(X.shape[0]) + K

    L = _factor(X @ X.T, fm[:, old], e[old], sq, sigma, fit_intercept, np.float64)
    C0 = SampleSolve(L)
    C = updated_solve(X, (old, C0, hz), np.arange(m), e * 0.7, fm, 0.7, fit_intercept)
    assert C is not C0 and C.Yb.shape[1] == 3 * X.shape[1]
    r = rng.standard_normal(X.shape[0])
    for Cs, cols in ((C0, old), (C, np.arange(m))):
        got = Cs.upper(Cs.mid(Cs.lower(r)))
        assert np.allclose(got, np.linalg.solve(dense(cols), r), rtol=0, atol=1e-10)
    # No group entering: the earlier factor itself; too many: none.
    assert updated_solve(X, (old, C0, hz), old, e[old], fm, 1.0, fit_intercept) is C0
    many = np.concatenate([old, np.arange(m, m + 30)])
    wide = np.hstack([fm, fm, fm, fm])[:, :m + 30]
    assert updated_solve(X, (old, C0, hz), many, np.ones(m + 30), wide, 1.0,
                         fit_intercept) is None


@pytest.mark.parametrize("loss_name", ["squared", "logistic"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("sizes", [(0.97, 1.03), (0.5, 0.5)])
def test_cg_through_an_earlier_factor_of_another_active_set_solves_the_newton_system(
        loss_name, fit_intercept, sizes, monkeypatch):
    # The preconditioner of a changed active set (newton._preconditioner):
    # the earlier factor saw two groups since dropped and not the two that
    # entered, at other sizes, directions and curvature; CG through it must
    # reach the Newton direction -H^-1 g of the current groups, H assembled
    # from central differences of the gradient (no Hessian formula). Where
    # every group has doubled since the factor (sizes 0.5), the preconditioner
    # is not positive definite: CG may decline, never return a wrong direction.
    from types import SimpleNamespace

    from sklearn_convexnn._solvers.relu import newton_direction
    from sklearn_convexnn._solvers.relu.newton_cg import (
        hessian_product,
        loss_curvature,
        pcg_direction,
    )
    from sklearn_convexnn._solvers.relu.newton_direction import direction as _direction
    from sklearn_convexnn._solvers.relu.newton_direction import preconditioner as _preconditioner

    X, masks, loss, design, rng, alpha, W = _smooth_point(loss_name, 2, 3)
    b = np.array([0.3]) if fit_intercept else np.zeros(1)
    fm = masks.astype(float)
    q = design.q
    h = 1e-5

    def grad(Wv, bv):
        GW, gb = _smooth_gradient(design, loss, alpha, Wv, bv)
        return np.concatenate([GW.ravel(order="F"), gb if fit_intercept else []])

    size = W.size + (1 if fit_intercept else 0)
    H = np.empty((size, size))
    for i in range(size):
        dW = np.zeros(W.size)
        db = np.zeros(1)
        if i < W.size:
            dW[i] = 1.0
        else:
            db[0] = 1.0
        dW = dW.reshape(W.shape, order="F")
        H[:, i] = (grad(W + h * dW, b + h * db) - grad(W - h * dW, b - h * db)) / (2 * h)
    H = (H + H.T) / 2
    g = grad(W, b)
    exact = -np.linalg.solve(H, g)

    # The earlier point: groups 0..q-3 and two extra copies of patterns (dropped
    # since), other sizes and directions, its own curvature; groups q-2, q-1 enter.
    cols = np.arange(q)
    old_masks = np.hstack([fm[:, :q - 2], fm[:, :2]])
    W0 = np.hstack([W[:, :q - 2], W[:, :2]])
    W0 = W0 + 0.03 * rng.standard_normal(W0.shape) * np.linalg.norm(W0, axis=0)
    W0 *= rng.uniform(*sizes, q) * np.linalg.norm(W0, axis=0) / np.linalg.norm(W0, axis=0)
    Z0 = design.forward(np.hstack([W0[:, :q - 2], np.zeros((design.d, 2))])) + b
    n0 = np.linalg.norm(W0, axis=0)
    hz0 = loss_curvature(loss, Z0)[:, 0]
    old = _direction(X, X @ X.T, old_masks, n0, W0 / n0, (X @ W0) * old_masks, hz0, alpha,
                     fit_intercept, np.float64)
    base = (np.array([*range(q - 2), q + 5, q + 6]), old.base, hz0, old)

    Z = design.forward(W) + b
    hz = loss_curvature(loss, Z)[:, 0]
    norms = np.linalg.norm(W, axis=0)
    st = SimpleNamespace(design=design, alpha=alpha)
    monkeypatch.setattr(newton_direction, "UPDATE_MIN_SAMPLES", 0)  # a small problem here
    pre = _preconditioner(st, base, cols, norms, W / norms, (X @ W) * fm, fm, fit_intercept)
    assert pre is not None and pre.base.Yb.shape[1] == 2 * design.d
    apply = hessian_product(X, fm, norms, W / norms, hz, alpha, fit_intercept)
    GW = g[:W.size].reshape(W.shape, order="F")
    gb = g[-1] if fit_intercept else 0.0
    v, beta, iterations = pcg_direction(apply, pre, GW, gb, 1e-10, 200, euclid=1e-3)
    if v is None and sizes[0] < 0.9:
        return
    assert v is not None
    got = np.concatenate([v.ravel(order="F"), [beta] if fit_intercept else []])
    assert 1 < iterations < size
    assert np.allclose(got, exact, rtol=0, atol=1e-5 * np.abs(exact).max())


@pytest.mark.parametrize("loss_name", ["squared", "logistic"])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_newton_with_updated_factors_reaches_the_cvxpy_optimum(loss_name, fit_intercept,
                                                              monkeypatch):
    # The preconditioners of changed active sets (newton_update.py, from
    # UPDATE_MIN_SAMPLES samples; here on small problems) in whole Newton
    # runs from zero (groups enter) and from a few APG iterations (groups
    # also leave): the certified optimum of cvxpy, a bound never above it.
    from sklearn_convexnn._solvers.relu import newton_direction

    monkeypatch.setattr(newton_direction, "UPDATE_MIN_SAMPLES", 0)
    updated = []
    update = newton_direction.updated_solve

    def spy(X, base, cols, *args):
        C = update(X, base, cols, *args)
        updated.append(C is not None and C is not base[1])
        return C

    monkeypatch.setattr(newton_direction, "updated_solve", spy)
    for seed in range(3):
        X, Y, masks, pi = _problem(loss_name, seed)
        loss = get_weighted_loss(loss_name, Y, pi)
        design = MaskedDesign(X, masks, Y.shape[1])
        alpha = 0.02 * (1 + seed)
        ref = _cvxpy_optimum(X, Y, masks, pi, alpha, loss_name, fit_intercept)
        for start in ("zero", "apg"):
            certifier = DualCertifier(loss, design, alpha, fit_intercept, np.ones(design.q))
            if start == "zero":
                W = np.zeros((design.d, design.q))
                b = loss.best_constant() if fit_intercept else np.zeros(design.k)
            else:
                sol = solve_gated(design, loss, alpha, fit_intercept=fit_intercept,
                                  tol=1e-12, max_iter=4)
                W, b = sol.W, sol.b
            W, b, n_steps, status = newton_polish(
                design, loss, alpha, W, b, certifier, fit_intercept=fit_intercept, tol=1e-8,
                max_steps=60, lipschitz=10.0)
            Z = design.forward(W) + (b if fit_intercept else 0.0)
            objective = loss.value(Z) + alpha * np.sum(np.linalg.norm(W, axis=0))
            assert status == "optimal", (seed, start, n_steps)
            assert objective == pytest.approx(ref, rel=1e-6)
            assert certifier.best <= ref + 1e-7 * abs(ref)
    assert any(updated)  # some step's preconditioner was an updated factor
