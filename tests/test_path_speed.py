"""The shortcuts that make a regularization path cheap, against what they replace.

References: cvxpy for the polish's scale refit, the package's one
certificate routine (exact trust region per output) for the proxgrad dual
point the estimators no longer re-certify, a fresh dual-norm computation
for the cached alpha_max, the definition (and exact power-of-two scaling)
for the feature scale, and loops for the pre-activation range.
"""

import cvxpy as cp
import numpy as np
import pytest

from sklearn_convexnn import ConvexPolyNetRegressor
from sklearn_convexnn._solvers.lifted import neuron_sets, proxgrad_newton, screening
from sklearn_convexnn._solvers.lifted.certificate import certified_lower_bound
from sklearn_convexnn._solvers.lifted.lifted import (
    LiftedBlock,
    precondition_scale,
    preactivation_range,
)
from sklearn_convexnn._solvers.lifted.proxgrad import solve_lifted_proxgrad
from sklearn_convexnn._solvers.lifted.proxgrad_newton import refit_scales
from sklearn_convexnn._solvers.shared.losses import get_loss
from sklearn_convexnn.paths import alpha_grid, polynet_path

ACT = (0.09, 0.5, 0.47)


@pytest.mark.parametrize("loss_name", ["squared", "logistic"])
def test_refit_scales_matches_cvxpy(loss_name, monkeypatch):
    """The scales and intercept minimize loss(b + V S w) + pen t^2 . w (cvxpy)."""
    rng = np.random.default_rng(3)
    n, m = 300, 3
    V = rng.normal(size=(n, m)) ** 2 - 1.0
    o_j, s_j = np.zeros(m, dtype=int), np.array([1.0, -1.0, 1.0])
    t, pen = rng.uniform(0.5, 1.5, size=m), 1e-3
    f = V @ (s_j * np.array([1.3, 0.7, 1.1])) + 0.2
    if loss_name == "squared":
        Y = (f + 0.1 * rng.normal(size=n))[:, None]
    else:
        Y = np.where(f + 0.5 * rng.normal(size=n) > 0, 1.0, -1.0)[:, None]
    loss = get_loss(loss_name)
    wv, bv = cp.Variable(m), cp.Variable()
    pred = V @ cp.multiply(s_j, wv) + bv
    data = (0.5 * cp.sum_squares(pred - Y[:, 0]) if loss_name == "squared"
            else cp.sum(cp.logistic(-cp.multiply(Y[:, 0], pred))))
    cp.Problem(cp.Minimize(data / n + pen * (t * t) @ wv), [wv >= 0]).solve(solver="CLARABEL")
    assert np.all(wv.value > 0.1)  # an interior optimum

    def objective(w, b):
        return loss.value((V @ (s_j * w) + b)[:, None], Y) + pen * (t * t) @ w

    args = (loss, Y, loss.sample_coef(Y), V, o_j, s_j, t, pen, np.zeros(1), True)
    # With enough steps, the optimum (the optimum is 1.3 to 6 times the start).
    monkeypatch.setattr(proxgrad_newton, "REFIT_STEPS", 30)
    w, b = refit_scales(*args)
    np.testing.assert_allclose(w, wv.value, rtol=1e-5)
    np.testing.assert_allclose(b, [bv.value], atol=1e-5)
    # The default few steps (a predictor) only ever decrease the objective.
    monkeypatch.undo()
    w, b = refit_scales(*args)
    assert objective(wv.value, bv.value) <= objective(w, b[0]) + 1e-9 < objective(np.ones(m), 0.0)


def test_refit_scales_keeps_a_useless_neuron_small_but_positive():
    """A neuron with no signal shrinks (never below zero: scales are squares)."""
    rng = np.random.default_rng(4)
    n = 200
    V = rng.normal(size=(n, 2))
    Y = (2.0 * V[:, :1] + 0.01 * rng.normal(size=(n, 1)))
    loss = get_loss("squared")
    args = (loss, Y, loss.sample_coef(Y), V, np.zeros(2, dtype=int), np.array([1.0, -1.0]),
            np.ones(2), 1e-2)
    w, b = refit_scales(*args, np.zeros(1), True)
    assert w[0] == pytest.approx(2.0 - 1e-2, rel=1e-2) and 0 < w[1] < 0.05

    def value(w, b):
        pred = V @ (w * np.array([1.0, -1.0])) + b
        return loss.value(pred[:, None], Y) + 1e-2 * w.sum()
    assert value(w, b[0]) < value(np.ones(2), 0.0)


@pytest.mark.parametrize("loss_name", ["squared", "logistic"])
def test_proxgrad_dual_point_certifies_exactly_its_own_bound(loss_name):
    """Re-certifying proxgrad's dual point with the exact per-output trust
    region gives its bound back: the estimators skip that second certificate."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(150, 4))
    f = (X @ [0.6, 0.8, 0.0, 0.0]) ** 2 - 0.5 * X[:, 2]
    Y = (f[:, None] if loss_name == "squared"
         else np.where(f > np.median(f), 1.0, -1.0)[:, None])
    blocks, loss = [LiftedBlock(X)], get_loss(loss_name)
    for alpha, tol in ((1e-2, 1e-6), (1e-3, 1e-3)):  # certified, and stopped early
        res = solve_lifted_proxgrad(blocks, Y, loss, ACT, alpha, tol=tol, max_iter=300)
        again = certified_lower_bound(blocks, Y, loss, ACT, alpha, res.theta)
        assert again <= res.lower_bound + 1e-12 * abs(res.lower_bound)
        assert again == pytest.approx(res.lower_bound, rel=1e-9)


def test_alpha_max_cache_reuses_only_the_same_problem(monkeypatch):
    """Inside ``alpha_max_cache`` the screen's alpha_max is computed once per
    problem and recomputed (never stale) for other rows, targets or weights."""
    calls = []
    original = neuron_sets.Sphere.dual_norm

    def counting(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(neuron_sets.Sphere, "dual_norm", counting)
    rng = np.random.default_rng(6)
    X, Y = rng.normal(size=(60, 3)), rng.normal(size=(60, 1))
    loss = get_loss("squared")

    def fresh(X, Y, loss):
        with monkeypatch.context() as mp:
            mp.setattr(neuron_sets.Sphere, "dual_norm", original)
            return screening.lifted_alpha_max([LiftedBlock(X)], Y, loss, ACT)

    with screening.alpha_max_cache():
        top = screening.auto_alpha([LiftedBlock(X)], Y, loss, ACT)
        assert screening.empty_network([LiftedBlock(X)], Y.copy(), loss, ACT, 1e9) is not None
        assert len(calls) == 1  # new block objects over the same rows, equal targets
        cases = [(X.copy(), Y, loss), (X, 2 * Y, loss),
                 (X, Y, get_loss("squared", sample_weight=rng.uniform(0.5, 2, size=60)))]
        for Xc, Yc, lc in cases:
            value = screening.auto_alpha([LiftedBlock(Xc)], Yc, lc, ACT)
            assert value == pytest.approx(screening.AUTO_ALPHA_FRACTION * fresh(Xc, Yc, lc),
                                          rel=1e-12)
        assert len(calls) == 4
    assert top == pytest.approx(screening.AUTO_ALPHA_FRACTION * fresh(X, Y, loss), rel=1e-12)
    screening.auto_alpha([LiftedBlock(X)], Y, loss, ACT)
    assert len(calls) == 5 and screening._CACHE.store is None  # closed: computed every time

    # A path on given alphas screens with one alpha_max for all its fits.
    y = (X @ [0.6, 0.8, 0.0]) ** 2
    alphas = alpha_grid(ConvexPolyNetRegressor(), X, y, n_alphas=5, eps=1e-2)
    del calls[:]
    polynet_path(X, y, alphas=alphas)
    # Once for the screen, then one certificate per fit (the estimators'
    # certify_network); without the cache every fit would screen again.
    assert len(calls) <= 1 + len(alphas)


def test_precondition_scale_matches_its_definition_at_any_magnitude():
    """The RMS row norm, and exact under scaling by powers of two (no overflow)."""
    rng = np.random.default_rng(7)
    P = rng.normal(size=(50, 4))
    s = precondition_scale([LiftedBlock(P)])
    assert s == pytest.approx(np.sqrt(np.mean(np.sum(P**2, axis=1))), rel=1e-14)
    for k in (-700, -330, 330, 700):
        assert precondition_scale([LiftedBlock(np.ldexp(P, k))]) == \
            pytest.approx(np.ldexp(s, k), rel=1e-14)
    assert precondition_scale([LiftedBlock(np.zeros((5, 3)))]) == 1.0


def test_preactivation_range_equals_loops():
    rng = np.random.default_rng(8)
    P, U = rng.normal(size=(30, 3)), rng.normal(size=(4, 3))
    out = preactivation_range([LiftedBlock(P)], U, np.zeros(4, dtype=int))
    for j, u in enumerate(U):
        vals = [float(row @ u) for row in P]
        assert out[j, 0] == min(vals) and out[j, 1] == max(vals)
