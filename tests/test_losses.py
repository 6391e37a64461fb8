"""Weighted losses against independent references: repetition, removal,
finite differences, Fenchel-Young equality, cvxpy's own evaluation."""

import cvxpy as cp
import numpy as np
import pytest

from sklearn_convexnn._solvers.shared.losses import LOSSES, get_loss


def _problem(name, n=7, k=3, seed=0):
    rng = np.random.default_rng(seed)
    Yhat = rng.standard_normal((n, k))
    if name == "multinomial":
        Y = np.eye(k)[rng.integers(0, k, n)]
    elif name in ("logistic", "hinge"):
        Y = rng.choice([-1.0, 1.0], size=(n, k))
    else:
        Y = rng.standard_normal((n, k))
    w = rng.integers(0, 4, n).astype(float)
    w[0] = 2.0
    return Yhat, Y, w


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_weights_equal_repetition(name):
    Yhat, Y, w = _problem(name)
    reps = w.astype(int)
    weighted = get_loss(name, sample_weight=w)
    repeated = get_loss(name)
    Yr, Yhr = np.repeat(Y, reps, axis=0), np.repeat(Yhat, reps, axis=0)
    assert weighted.value(Yhat, Y) == pytest.approx(repeated.value(Yhr, Yr), rel=1e-12)
    # The gradient of the repeated problem, summed back over the copies.
    g_rep = repeated.gradient(Yhr, Yr)
    back = np.zeros_like(Yhat)
    np.add.at(back, np.repeat(np.arange(len(w)), reps), g_rep)
    np.testing.assert_allclose(weighted.gradient(Yhat, Y), back, atol=1e-14)


@pytest.mark.parametrize("name", ["squared", "huber", "logistic", "multinomial"])
def test_weighted_gradient_finite_differences(name):
    Yhat, Y, w = _problem(name, seed=1)
    loss = get_loss(name, sample_weight=w)
    G = loss.gradient(Yhat, Y)
    rng = np.random.default_rng(2)
    D = rng.standard_normal(Yhat.shape)
    eps = 1e-6
    fd = (loss.value(Yhat + eps * D, Y) - loss.value(Yhat - eps * D, Y)) / (2 * eps)
    assert fd == pytest.approx(float(np.sum(G * D)), rel=1e-6, abs=1e-10)


@pytest.mark.parametrize("name", ["squared", "huber", "logistic", "multinomial"])
def test_weighted_fenchel_young_equality(name):
    # For smooth losses, theta = gradient attains loss + loss* = <theta, z>.
    Yhat, Y, w = _problem(name, seed=3)
    loss = get_loss(name, sample_weight=w)
    theta = loss.gradient(Yhat, Y)
    assert loss.in_domain(theta, Y, tol=1e-12)
    lhs = loss.value(Yhat, Y) + loss.conjugate(theta, Y)
    assert lhs == pytest.approx(float(np.sum(theta * Yhat)), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_weighted_interior_dual_is_centred_and_feasible(name):
    _, Y, w = _problem(name, seed=4)
    loss = get_loss(name, sample_weight=w)
    T = loss.interior_dual(Y)
    assert loss.in_domain(T, Y, tol=1e-12)
    np.testing.assert_allclose(T.sum(axis=0), 0.0, atol=1e-14)
    # Any dual point gives a bound: -loss*(T) <= loss(Yhat) when T is centred
    # and Yhat is constant per output (weak duality with zero network).
    const = np.tile(np.random.default_rng(5).standard_normal(Y.shape[1]), (Y.shape[0], 1))
    assert -loss.conjugate(T, Y) <= loss.value(const, Y) + 1e-12


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_weighted_cvxpy_expression_matches_numpy(name):
    Yhat, Y, w = _problem(name, seed=6)
    loss = get_loss(name, sample_weight=w)
    expr = loss.cvxpy(cp.Constant(Yhat), Y)
    assert float(expr.value) == pytest.approx(loss.value(Yhat, Y), rel=1e-10)


def test_zero_weight_equals_removal():
    Yhat, Y, w = _problem("logistic", seed=7)
    w[3] = 0.0
    keep = np.arange(len(w)) != 3
    a = get_loss("logistic", sample_weight=w).value(Yhat, Y)
    b = get_loss("logistic", sample_weight=w[keep]).value(Yhat[keep], Y[keep])
    assert a == pytest.approx(b, rel=1e-12)


@pytest.mark.parametrize("bad", [[1.0, -1.0], [np.nan, 1.0], [0.0, 0.0]])
def test_bad_weights_refused(bad):
    with pytest.raises(ValueError, match="sample_weight"):
        get_loss("squared", sample_weight=np.array(bad))


@pytest.mark.parametrize("name", ["logistic", "hinge", "huber", "absolute"])
@pytest.mark.parametrize("seed", range(3))
def test_box_mixing_weight_is_the_bisection_limit(name, seed, monkeypatch):
    # dual.mix_weight takes a box domain's weight directly; the reference is
    # the bisection it replaces, run to 1e-12 with the box turned off. Rows of
    # positive weight only (zero-weight rows need theta = 0 there, which no
    # mixing of two non-zero points gives: both routes then fall back).
    from sklearn_convexnn._solvers.shared import dual
    from sklearn_convexnn._solvers.shared.losses import Loss

    _, Y, w = _problem(name, n=30, seed=seed)
    w = np.maximum(w, 0.5)
    loss = get_loss(name, sample_weight=w)
    inner = loss.interior_dual(Y)
    rng = np.random.default_rng(seed + 10)
    theta = 3.0 * rng.standard_normal(Y.shape) * loss.sample_coef(Y)
    assert not loss.in_domain(theta, Y)
    direct = dual.mix_weight(theta, inner, Y, loss)
    monkeypatch.setattr(type(loss), "domain_box", Loss.domain_box)
    bisected = dual.mix_weight(theta, inner, Y, loss, steps=200, atol=1e-12)
    assert loss.in_domain((1 - direct) * theta + direct * inner, Y)
    assert 0 < direct < 1
    assert direct == pytest.approx(bisected, rel=1e-7)


@pytest.mark.parametrize("name", ["squared", "huber", "logistic", "multinomial"])
def test_gauss_newton_is_the_hessian_of_linear_predictions(name):
    # Reference: central differences of the weighted gradient J^T g(J x) for
    # predictions Yhat = J x linear in x (then the form is the exact Hessian).
    Yhat0, Y, w = _problem(name, n=9, k=3, seed=7)
    loss = get_loss(name, sample_weight=w)
    rng = np.random.default_rng(8)
    J = rng.standard_normal((9, 3, 5))
    x = rng.standard_normal(5)

    def grad(x):
        return np.einsum("iop,io->p", J, loss.gradient(J @ x, Y))

    h = 1e-6
    fd = np.column_stack([(grad(x + h * e) - grad(x - h * e)) / (2 * h) for e in np.eye(5)])
    np.testing.assert_allclose(loss.gauss_newton(J, J @ x, Y), fd, rtol=1e-5, atol=1e-8)
