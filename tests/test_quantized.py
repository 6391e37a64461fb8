"""Quantized SDP estimators against independent references.

The true quantized optimum of a tiny problem is a lasso over every sign
neuron; it is computed here by enumeration with a cvxpy program of this
file's own (no code shared with the package's refit).
"""

import itertools
import pickle
import warnings

import cvxpy as cp
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_convexnn import (
    ConvexPolyNetRegressor,
    QuantizedSDPClassifier,
    QuantizedSDPRegressor,
)
from sklearn_convexnn._solvers.lifted import quantized_fit
from sklearn_convexnn._solvers.lifted.rounding import sign_neurons
from sklearn_convexnn.datasets import make_planted_quantized
from sklearn_convexnn.exceptions import SolverFailedError

RELU_APPROX = (0.09, 0.5, 0.47)


def activations(X, U, act):
    a, b, c = act
    T = X @ U.T
    return a * T**2 + b * T + c


def brute_force_optimum(X, Y, alpha, act=RELU_APPROX, loss="squared", levels=(-1.0, 1.0)):
    """min over all level-set neurons of loss(H w + b) + alpha |w|_1 (own cvxpy lasso)."""
    n, d = X.shape
    U = np.array(list(itertools.product(levels, repeat=d)))
    H = activations(X, U, act)
    Y = Y.reshape(n, -1)
    W = cp.Variable((H.shape[1], Y.shape[1]))
    b = cp.Variable((1, Y.shape[1]))
    out = H @ W + np.ones((n, 1)) @ b
    if loss == "squared":
        data = 0.5 * cp.sum_squares(out - Y) / n
    elif loss == "logistic":
        data = cp.sum(cp.logistic(-cp.multiply(Y, out))) / n
    prob = cp.Problem(cp.Minimize(data + alpha * cp.sum(cp.abs(W))))
    prob.solve(solver="CLARABEL")
    assert prob.status == "optimal", prob.status
    return prob.value


def network(model, X):
    """The fitted network evaluated by hand from its public weights."""
    act = RELU_APPROX if model.activation == "relu-approx" else model.activation
    # unit_neurons (the classifier's default): the levels act on x / sqrt(n_features).
    scale = np.sqrt(X.shape[1]) if getattr(model, "unit_neurons", False) else 1.0
    return activations(X / scale, model.hidden_weights_, act) @ model.output_weights_ \
        + model.intercept_


def post_training_quantization(X, y, alpha):
    """Continuous network, sign of its neurons, own lasso refit of the output layer."""
    cont = ConvexPolyNetRegressor(alpha=alpha).fit(X, y)
    U = np.unique(np.where(cont.hidden_weights_ >= 0, 1.0, -1.0), axis=0)
    H = activations(X, U, RELU_APPROX)
    w, b = cp.Variable(len(U)), cp.Variable()
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(H @ w + b - y) / len(y)
                                  + alpha * cp.norm1(w)))
    prob.solve(solver="CLARABEL")
    return U, w.value, b.value, prob.value


@pytest.fixture(scope="module")
def planted():
    return make_planted_quantized(120, 6, 3, noise=0.05, random_state=0)


# ------------------------------------------------------------------ rounding
def test_rounding_rank_one_returns_the_neuron():
    u = np.array([1.0, -1.0, -1.0, 1.0, 1.0])
    y = np.append(u, 1.0)
    for arcsine in (True, False):
        U = sign_neurons(3.0 * np.outer(y, y), 50, random_state=0, arcsine=arcsine)
        np.testing.assert_array_equal(U, u[None, :])


def test_rounding_second_moment_monte_carlo():
    """E[[u;1][u;1]^T] is Z/Z4 with the sin(pi/2 .) pre-transform, the arcsine law without."""
    A = np.random.default_rng(0).normal(size=(4, 2))
    Z = 2.0 * (A @ A.T + np.eye(4))
    C = Z / np.sqrt(np.outer(np.diag(Z), np.diag(Z)))
    assert np.linalg.eigvalsh(np.sin(np.pi / 2 * C))[0] >= 0  # the corrected path is taken
    draws = 40000  # Monte Carlo error of each entry about 1 / sqrt(draws) = 0.005
    for arcsine, expected in ((True, C), (False, 2 / np.pi * np.arcsin(C))):
        U = sign_neurons(Z, draws, random_state=0, arcsine=arcsine, distinct=False)
        assert U.shape == (draws, 3)
        L = np.column_stack([U, np.ones(draws)])
        np.testing.assert_allclose(L.T @ L / draws, expected, atol=0.025)
    assert np.abs(2 / np.pi * np.arcsin(C) - C).max() > 0.1  # the two laws differ here


# ------------------------------------------------- optimality against brute force
@pytest.mark.parametrize("d", [4, 6, 8])
def test_bound_and_objective_bracket_brute_force_optimum(d):
    X, y = make_planted_quantized(100, d, 3, noise=0.05, random_state=d)
    alpha = 1e-2
    model = QuantizedSDPRegressor(alpha=alpha, random_state=0).fit(X, y)
    opt = brute_force_optimum(X, y, alpha)
    assert model.lower_bound_ <= opt * (1 + 1e-6)
    assert opt <= model.objective_ * (1 + 1e-6)
    assert model.objective_ <= 1.02 * opt
    assert model.optimality_gap_ == pytest.approx(
        (model.objective_ - model.lower_bound_) / model.objective_)


def test_square_activation_u_and_minus_u_are_one_neuron():
    X, y = make_planted_quantized(80, 5, 2, activation="square", noise=0.05, random_state=3)
    model = QuantizedSDPRegressor(alpha=1e-2, activation="square", random_state=0).fit(X, y)
    U = model.hidden_weights_
    assert len({tuple(u) for u in U} & {tuple(-u) for u in U}) == 0
    opt = brute_force_optimum(X, y, 1e-2, act=(1.0, 0.0, 0.0))
    assert model.lower_bound_ <= opt * (1 + 1e-6) <= model.objective_ * (1 + 2e-6)
    assert model.objective_ <= 1.02 * opt


def test_ternary_levels_bracket_brute_force():
    X, y = make_planted_quantized(80, 4, 2, noise=0.05, random_state=4)
    X = X * np.array([1.0, 1.0, 0.05, 1.0])  # a feature a ternary net can drop
    model = QuantizedSDPRegressor(alpha=1e-2, levels="ternary", random_state=0).fit(X, y)
    assert set(model.hidden_weights_.ravel()) <= {-1.0, 0.0, 1.0}
    opt = brute_force_optimum(X, y, 1e-2, levels=(-1.0, 0.0, 1.0))
    assert model.lower_bound_ <= opt * (1 + 1e-6) <= model.objective_ * (1 + 2e-6)
    assert model.objective_ <= 1.05 * opt
    binary = QuantizedSDPRegressor(alpha=1e-2, random_state=0).fit(X, y)
    assert model.objective_ <= binary.objective_ * (1 + 1e-6)  # more levels, no worse


@pytest.mark.parametrize("unit_neurons", [False, True])
def test_logistic_classifier_brackets_brute_force(unit_neurons):
    X, y = make_planted_quantized(120, 5, 3, random_state=5)
    labels = (y > np.median(y)).astype(int)
    clf = QuantizedSDPClassifier(alpha=1e-2, random_state=0,
                                 unit_neurons=unit_neurons).fit(X, labels)
    # unit_neurons: the same problem over the neurons u / sqrt(d), i.e. on X / sqrt(d).
    Xn = X / np.sqrt(X.shape[1]) if unit_neurons else X
    opt = brute_force_optimum(Xn, 2.0 * labels - 1, 1e-2, loss="logistic")
    assert clf.lower_bound_ <= opt * (1 + 1e-6) <= clf.objective_ * (1 + 2e-6)
    assert clf.objective_ <= 1.05 * opt


# ------------------------------------------------------------ the network itself
def test_weights_quantized_and_predict_is_the_network(planted):
    X, y = planted
    model = QuantizedSDPRegressor(alpha=1e-2, random_state=0).fit(X, y)
    assert set(model.hidden_weights_.ravel()) == {-1.0, 1.0}
    assert model.hidden_weights_.shape == (model.n_neurons_, X.shape[1])
    assert np.all(model.output_weights_ != 0)
    np.testing.assert_allclose(model.predict(X), network(model, X), rtol=1e-12, atol=1e-12)
    data = 0.5 * np.mean((network(model, X) - y) ** 2)
    assert model.objective_ == pytest.approx(
        data + 1e-2 * np.abs(model.output_weights_).sum(), rel=1e-9)


def test_beats_post_training_quantization():
    X, y = make_planted_quantized(400, 10, 3, noise=0.05, random_state=10)
    Xtr, ytr, Xte, yte = X[:200], y[:200], X[200:], y[200:]
    alpha = 1e-2
    model = QuantizedSDPRegressor(alpha=alpha, random_state=0).fit(Xtr, ytr)
    U, w, b, ptq_objective = post_training_quantization(Xtr, ytr, alpha)
    ptq_test = np.mean((activations(Xte, U, RELU_APPROX) @ w + b - yte) ** 2)
    sdp_test = np.mean((model.predict(Xte) - yte) ** 2)
    assert model.objective_ < 0.7 * ptq_objective
    assert sdp_test < 0.7 * ptq_test


def test_same_random_state_same_network(planted):
    X, y = planted
    a = QuantizedSDPRegressor(alpha=1e-3, n_candidates=50, random_state=7).fit(X, y)
    b = clone(a).fit(X, y)
    np.testing.assert_array_equal(a.hidden_weights_, b.hidden_weights_)
    np.testing.assert_array_equal(a.output_weights_, b.output_weights_)
    restored = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(restored.predict(X), a.predict(X))


def test_clean_fit_emits_no_convergence_warning(planted):
    X, y = planted
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        QuantizedSDPRegressor(alpha=1e-2, random_state=0).fit(X, y)


# ------------------------------------------------------------------ classifier
@pytest.mark.parametrize("loss", ["logistic", "hinge", "squared"])
def test_classifier_multiclass(loss):
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = QuantizedSDPClassifier(loss=loss, alpha=1e-2, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9
    assert clf.output_weights_.shape == (clf.n_neurons_, 3)
    assert set(clf.hidden_weights_.ravel()) <= {-1.0, 1.0}
    assert clf.lower_bound_ <= clf.objective_
    np.testing.assert_allclose(clf.decision_function(X), network(clf, X), atol=1e-10)
    if loss == "logistic":
        P = clf.predict_proba(X)
        np.testing.assert_allclose(P.sum(axis=1), 1.0)
        np.testing.assert_array_equal(clf.classes_[P.argmax(axis=1)], clf.predict(X))
    else:
        assert not hasattr(clf, "predict_proba")


def test_pipeline_binary_classification():
    X, y = make_planted_quantized(150, 6, 3, random_state=6)
    labels = np.where(y > np.median(y), "hi", "lo")
    pipe = make_pipeline(StandardScaler(), QuantizedSDPClassifier(random_state=0))
    pipe.fit(X, labels)
    assert pipe.score(X, labels) > 0.85
    assert pipe.predict_proba(X).shape == (150, 2)


# ------------------------------------------------------------------ bad input
def test_bad_input(planted):
    X, y = planted
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        QuantizedSDPRegressor().fit(X_nan, y)
    model = QuantizedSDPRegressor(n_candidates=20, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        model.predict(X[:, :3])
    with pytest.raises(ValueError, match="levels"):
        QuantizedSDPRegressor(levels="quaternary").fit(X, y)
    with pytest.raises(ValueError, match="n_candidates"):
        QuantizedSDPRegressor(n_candidates=0).fit(X, y)
    with pytest.raises(ValueError, match="single class"):
        QuantizedSDPClassifier().fit(X, np.zeros(len(X)))


def test_does_not_modify_input(planted):
    X, y = planted
    X0, y0 = X.copy(), y.copy()
    QuantizedSDPRegressor(n_candidates=20, random_state=0).fit(X, y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_iteration_limit_warns_and_bound_stays_valid(planted):
    X, y = planted
    with pytest.warns(ConvergenceWarning, match="status"):
        model = QuantizedSDPRegressor(alpha=1e-2, max_iter=2, random_state=0).fit(X, y)
    assert model.lower_bound_ <= brute_force_optimum(X, y, 1e-2) * (1 + 1e-6)
    assert model.lower_bound_ <= model.objective_


# ------------------------------------------- the fast path against cvxpy and brute force
def cvxpy_binary_sdp(X, Y, act, alpha, loss="squared"):
    """The binary relaxation written here: per output a PSD pair with diag(Z) = Z4."""
    n, d = X.shape
    k = Y.shape[1]
    # Same problem on X / s with activation (a s^2, b s, c): tamer numbers for Clarabel.
    s = np.sqrt(np.mean(np.sum(X**2, axis=1)))
    X = X / s
    a, b, c = act[0] * s * s, act[1] * s, act[2]
    Q = np.einsum("ni,nj->nij", X, X).reshape(n, -1)
    cols, cons, pen = [], [], 0
    for _ in range(k):
        pair = [cp.Variable((d + 1, d + 1), PSD=True) for _ in range(2)]
        for Z in pair:
            cons.append(cp.diag(Z) == Z[d, d])
            pen = pen + Z[d, d]
        D = pair[0] - pair[1]
        cols.append(a * (Q @ cp.vec(D[:d, :d], order="C")) + b * (X @ D[:d, d])
                    + c * D[d, d] * np.ones(n))
    b0 = cp.Variable(k)
    out = cp.vstack(cols).T + np.ones((n, 1)) @ cp.reshape(b0, (1, k), order="C")
    if loss == "squared":
        data = 0.5 * cp.sum_squares(out - Y) / n
    elif loss == "logistic":
        data = cp.sum(cp.logistic(-cp.multiply(Y, out))) / n
    else:  # multinomial
        data = (cp.sum(cp.log_sum_exp(out, axis=1)) - cp.sum(cp.multiply(Y, out))) / n
    prob = cp.Problem(cp.Minimize(data + alpha * pen), cons)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # exponential cones: Clarabel stops at ~1e-7
        prob.solve(solver="CLARABEL")
    assert prob.status in ("optimal", "optimal_inaccurate"), prob.status
    return prob.value


@pytest.mark.parametrize("d, loss, k, seed", [
    (4, "squared", 1, 0), (6, "squared", 1, 1), (5, "logistic", 1, 2),
    (4, "multinomial", 3, 3), (5, "squared", 2, 4),
])
def test_lowrank_relaxation_bound_equals_cvxpy_sdp(d, loss, k, seed):
    from sklearn_convexnn._solvers.lifted.binary_relaxation import solve_binary_relaxation
    from sklearn_convexnn._solvers.lifted.lifted import LiftedBlock
    from sklearn_convexnn._solvers.shared.losses import get_loss

    X, y = make_planted_quantized(80, d, 3, noise=0.05, random_state=seed)
    rng = np.random.default_rng(seed)
    if loss == "squared":
        Y = np.column_stack([y] + [y * rng.uniform(-1, 1) + 0.1 * rng.normal(size=len(y))
                                   for _ in range(k - 1)])
    elif loss == "logistic":
        Y = np.where(y > np.median(y), 1.0, -1.0)[:, None]
    else:
        Y = np.eye(k)[np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))]
    alpha = 1e-2
    opt = cvxpy_binary_sdp(X, Y, RELU_APPROX, alpha, loss)
    rel = solve_binary_relaxation(LiftedBlock(X), Y, get_loss(loss), RELU_APPROX, alpha,
                                  tol=1e-6, max_iter=5000, random_state=0)
    assert rel.lower_bound <= opt * (1 + 1e-6)
    assert rel.lower_bound == pytest.approx(opt, rel=1e-4)
    assert rel.value == pytest.approx(opt, rel=1e-4)
    # The factors are a feasible point of the relaxation: unit rows, t >= 0.
    np.testing.assert_allclose(np.linalg.norm(rel.factors, axis=-1), 1.0)
    assert np.all(rel.scales >= 0)


@pytest.mark.parametrize("loss, seed", [("squared", 0), ("logistic", 1)])
def test_lowrank_relaxation_with_fewer_columns_than_rows_equals_cvxpy(loss, seed):
    # d = 12: the factors have ceil(sqrt(26)) + 2 = 8 < 13 columns (the
    # default rank); tight solve equals the cvxpy SDP, and a loose one, stopped
    # by the certificate checked inside the L-BFGS-B run, still certifies.
    from sklearn_convexnn._solvers.lifted.binary_relaxation import solve_binary_relaxation
    from sklearn_convexnn._solvers.lifted.lifted import LiftedBlock
    from sklearn_convexnn._solvers.shared.losses import get_loss

    X, y = make_planted_quantized(80, 12, 3, noise=0.05, random_state=seed)
    Y = (y[:, None] if loss == "squared"
         else np.where(y > np.median(y), 1.0, -1.0)[:, None])
    alpha = 1e-2
    opt = cvxpy_binary_sdp(X, Y, RELU_APPROX, alpha, loss)
    rel = solve_binary_relaxation(LiftedBlock(X), Y, get_loss(loss), RELU_APPROX, alpha,
                                  tol=1e-6, max_iter=5000, random_state=seed)
    assert rel.factors.shape[-1] == 8
    assert rel.lower_bound <= opt * (1 + 1e-6)
    assert rel.lower_bound == pytest.approx(opt, rel=1e-4)
    assert rel.value == pytest.approx(opt, rel=1e-4)
    loose = solve_binary_relaxation(LiftedBlock(X), Y, get_loss(loss), RELU_APPROX, alpha,
                                    tol=1e-2, random_state=seed)
    assert loose.status == "optimal"
    assert loose.lower_bound <= opt * (1 + 1e-6) <= loose.value * (1 + 2e-6)
    assert loose.value - loose.lower_bound <= 1e-2 * loose.value
    assert loose.n_iter < rel.n_iter


def test_elliptope_max_is_a_bound_and_tight():
    from sklearn_convexnn._solvers.lifted.elliptope import elliptope_max

    rng = np.random.default_rng(0)
    for q in (3, 6, 9):
        A = rng.normal(size=(q, q))
        M = A + A.T
        C = cp.Variable((q, q), PSD=True)
        prob = cp.Problem(cp.Maximize(cp.trace(M @ C)), [cp.diag(C) == 1])
        prob.solve(solver="CLARABEL")
        signs = np.array(list(itertools.product((-1.0, 1.0), repeat=q)))
        cut = np.max(np.einsum("ij,jk,ik->i", signs, M, signs))
        bound, _ = elliptope_max(M, random_state=0)
        assert cut <= prob.value * (1 + 1e-7) <= bound * (1 + 1e-7)
        assert bound == pytest.approx(prob.value, rel=1e-5)
        # Any factor gives a valid bound, even a poor one.
        poor, _ = elliptope_max(M, V=rng.normal(size=(q, 2)), max_sweeps=0)
        assert poor >= prob.value * (1 - 1e-9)


@pytest.mark.parametrize("loss, k", [("squared", 1), ("logistic", 1), ("squared", 2),
                                     ("multinomial", 3)])
def test_l1_refit_equals_cvxpy(loss, k):
    from sklearn_convexnn._solvers.shared.l1_refit import l1_refit
    from sklearn_convexnn._solvers.shared.losses import get_loss

    rng = np.random.default_rng(k)
    n, m = 120, 40
    H = rng.normal(size=(n, m)) + 0.3
    H[:, 1] = H[:, 0] + 0.05 * rng.normal(size=n)  # correlated columns
    if loss == "squared":
        Y = H[:, :k] * 0.7 + rng.normal(size=(n, k))
    elif loss == "logistic":
        Y = np.sign(H[:, :1] - H[:, 2:3] + 0.5 * rng.normal(size=(n, 1)))
    else:
        Y = np.eye(k)[np.argmax(H[:, :k] + rng.normal(size=(n, k)), axis=1)]
    alpha = 0.02
    W = cp.Variable((m, k))
    b = cp.Variable((1, k))
    out = H @ W + np.ones((n, 1)) @ b
    if loss == "squared":
        data = 0.5 * cp.sum_squares(out - Y) / n
    elif loss == "logistic":
        data = cp.sum(cp.logistic(-cp.multiply(Y, out))) / n
    else:
        data = (cp.sum(cp.log_sum_exp(out, axis=1)) - cp.sum(cp.multiply(Y, out))) / n
    prob = cp.Problem(cp.Minimize(data + alpha * cp.sum(cp.abs(W))))
    prob.solve(solver="CLARABEL")
    fit = l1_refit(H, Y, get_loss(loss), alpha, tol=1e-9)
    assert fit.value == pytest.approx(prob.value, rel=1e-5)
    assert fit.lower_bound <= prob.value * (1 + 1e-7)
    np.testing.assert_allclose(fit.weights, W.value, atol=1e-3)
    # warm start from the solution: stays there
    again = l1_refit(H, Y, get_loss(loss), alpha, warm_start=(fit.weights, fit.intercept),
                     tol=1e-9)
    assert again.value == pytest.approx(fit.value, rel=1e-7)


@pytest.mark.parametrize("enumerate_signs", [True, False])
@pytest.mark.parametrize("seed", range(8))
def test_bound_never_exceeds_brute_force_many_seeds(seed, enumerate_signs, monkeypatch):
    # With and without the exact check by enumeration (tiny d enumerates by
    # default; 0 forces the elliptope certificate alone).
    if not enumerate_signs:
        monkeypatch.setattr(quantized_fit, "_ENUMERATE_MAX_DIM", 0)
    rng = np.random.default_rng(seed)
    d = int(rng.integers(3, 6))
    X, y = make_planted_quantized(60, d, 2, noise=0.1, random_state=seed)
    alpha = float(rng.choice([3e-3, 1e-2, 3e-2]))
    model = QuantizedSDPRegressor(alpha=alpha, max_iter=int(rng.choice([5, 2000])),
                                  random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # early-stopped fits included
        model.fit(X, y)
    opt = brute_force_optimum(X, y, alpha)
    assert model.lower_bound_ <= opt * (1 + 1e-6)
    assert opt <= model.objective_ * (1 + 1e-6)


@pytest.mark.parametrize("p", [1, 2, 5, 8])
def test_enumerated_extremes_match_a_loop_over_all_sign_vectors(p):
    from sklearn_convexnn._solvers.lifted.binary_certificate import enumerated_extremes

    rng = np.random.default_rng(p)
    A = rng.normal(size=(p, p))
    A = A + A.T
    g = rng.normal(size=p)
    values = {u: np.array(u) @ A @ np.array(u) + g @ np.array(u) + 0.3
              for u in itertools.product((-1.0, 1.0), repeat=p)}
    order = sorted(values, key=values.get)
    high, low, U_high, U_low = enumerated_extremes(A, g, 0.3, top=3)
    assert high == pytest.approx(values[order[-1]], abs=1e-10)
    assert low == pytest.approx(values[order[0]], abs=1e-10)
    expect_high = sorted(values.values())[::-1][:3]
    got_high = [values[tuple(u)] for u in U_high]
    np.testing.assert_allclose(got_high, expect_high[:len(got_high)], atol=1e-10)
    got_low = [values[tuple(u)] for u in U_low]
    np.testing.assert_allclose(got_low, sorted(values.values())[:len(got_low)], atol=1e-10)
    assert len(U_high) == min(3, 2**p)


@pytest.mark.parametrize("d", [9, 10])
@pytest.mark.parametrize("seed", range(3))
def test_exact_pricing_closes_the_gap_at_small_d(d, seed):
    # d <= 22 is enumerated: column generation with exact pricing, certified by
    # the quantized problem's own dual check; default settings (at d = 10 the
    # relaxation's factors have fewer columns than rows). Reference: the lasso
    # over all 2^d sign neurons (cvxpy).
    X, y = make_planted_quantized(80, d, 3, noise=0.05, random_state=seed)
    model = QuantizedSDPRegressor(alpha=1e-2, random_state=seed).fit(X, y)
    opt = brute_force_optimum(X, y, 1e-2)
    assert model.lower_bound_ <= opt * (1 + 1e-6)
    assert opt <= model.objective_ * (1 + 1e-6)
    assert model.optimality_gap_ <= 1e-2
    assert model.objective_ <= opt * (1 + 1e-2)


def test_flip_search_reaches_a_one_flip_local_optimum():
    from sklearn_convexnn._solvers.lifted.rounding import flip_search

    rng = np.random.default_rng(0)
    p = 7
    A = rng.normal(size=(p, p))
    A = A + A.T
    g = rng.normal(size=p)
    U0 = np.where(rng.normal(size=(20, p)) > 0, 1.0, -1.0)

    def f(U):
        return np.einsum("ij,jk,ik->i", U, A, U) + U @ g

    for sign in (1.0, -1.0):
        U = flip_search(U0, A, g, sign)
        assert set(U.ravel()) <= {-1.0, 1.0}
        assert np.all(sign * f(U) >= sign * f(U0) - 1e-12)
        for j in range(p):
            flipped = U.copy()
            flipped[:, j] *= -1
            assert np.all(sign * f(flipped) <= sign * f(U) + 1e-9)


def test_lifted_candidates_rank_one_and_one_product():
    from sklearn_convexnn._solvers.lifted.rounding import lifted_candidates

    u = np.array([1.0, -1.0, 1.0, 1.0])
    v = np.append(u, 1.0)
    Zs = [2.0 * np.outer(v, v), np.zeros((5, 5))]
    U = lifted_candidates(Zs, 40, random_state=0, negations=False)
    np.testing.assert_array_equal(U, u[None, :])
    U = lifted_candidates(Zs, 40, random_state=0, negations=True)
    assert {tuple(r) for r in U} == {tuple(u), tuple(-u)}


# ------------------------------------------------------------------- the surface
def test_n_samples_is_deprecated_for_n_candidates(planted):
    X, y = planted
    with pytest.warns(FutureWarning, match="n_candidates"):
        old = QuantizedSDPRegressor(n_samples=30, random_state=0).fit(X, y)
    new = QuantizedSDPRegressor(n_candidates=30, random_state=0).fit(X, y)
    np.testing.assert_array_equal(old.hidden_weights_, new.hidden_weights_)
    assert old.objective_ == new.objective_


def test_solver_parameter_chooses_the_relaxation(planted):
    X, y = planted
    X, y = X[:60, :5], y[:60]
    opt = brute_force_optimum(X, y, 1e-2)
    for solver in ("lowrank", "cvxpy"):
        model = QuantizedSDPRegressor(alpha=1e-2, solver=solver, random_state=0).fit(X, y)
        assert model.solver_.startswith("lowrank" if solver == "lowrank" else "cvxpy/")
        assert model.lower_bound_ <= opt * (1 + 1e-6)
        assert opt <= model.objective_ * (1 + 1e-6)
    auto = QuantizedSDPRegressor(loss="absolute", random_state=0).fit(X, y)
    assert auto.solver_.startswith("cvxpy/")
    with pytest.raises(ValueError, match="differentiable"):
        QuantizedSDPRegressor(loss="absolute", solver="lowrank").fit(X, y)


def test_gap_warning_follows_the_documented_threshold(planted, monkeypatch):
    from sklearn_convexnn import quantized

    X, y = planted
    gap = QuantizedSDPRegressor(random_state=0).fit(X, y).optimality_gap_
    assert gap > 0
    monkeypatch.setattr(quantized, "GAP_WARNING", gap / 2)
    with pytest.warns(ConvergenceWarning, match="relative gap"):
        QuantizedSDPRegressor(random_state=0).fit(X, y)
    monkeypatch.setattr(quantized, "GAP_WARNING", gap * 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        QuantizedSDPRegressor(random_state=0).fit(X, y)


def test_failed_refit_leaves_the_previous_model(planted, monkeypatch):
    from sklearn_convexnn import quantized

    X, y = planted
    model = QuantizedSDPClassifier(random_state=0).fit(X, (y > 0).astype(int))
    before = {k: v for k, v in vars(model).items() if k.endswith("_")}

    def broken(*args, **kwargs):
        raise SolverFailedError("simulated")

    monkeypatch.setattr(quantized, "fit_quantized_network", broken)
    with pytest.raises(SolverFailedError):
        model.fit(X[:, :4], np.where(y > 0, "a", "b"))
    after = {k: v for k, v in vars(model).items() if k.endswith("_")}
    assert before.keys() == after.keys()
    for key in before:
        np.testing.assert_array_equal(np.asarray(before[key]), np.asarray(after[key]))
    assert model.predict(X).shape == (len(X),)


def test_sample_weight_is_repetition(planted):
    X, y = planted
    X, y = X[:50], y[:50]
    w = np.random.default_rng(0).integers(0, 3, len(y))
    rep = np.repeat(np.arange(len(y)), w)
    a = QuantizedSDPRegressor(random_state=0).fit(X, y, sample_weight=w)
    b = QuantizedSDPRegressor(random_state=0).fit(X[rep], y[rep])
    # Same problem, so the certified brackets overlap.
    assert a.lower_bound_ <= b.objective_ * (1 + 1e-6)
    assert b.lower_bound_ <= a.objective_ * (1 + 1e-6)


def test_clip_holds_features_then_preactivations_in_their_training_range(planted):
    X, y = planted
    model = QuantizedSDPRegressor(alpha=1e-2, random_state=0).fit(X, y)
    lo, hi = X.min(axis=0), X.max(axis=0)
    np.testing.assert_array_equal(model.feature_range_, np.vstack([lo, hi]))
    far = X[:5].copy()
    far[:, 0] = hi[0] + 10.0  # one feature far outside its range
    far[1, 2] = lo[2] - 7.0
    # By hand: features into the training box, then pre-activations into theirs.
    T = np.clip(far, lo, hi) @ model.hidden_weights_.T
    T = np.clip(T, model.preactivation_range_[:, 0], model.preactivation_range_[:, 1])
    a, b, c = RELU_APPROX
    expected = (a * T**2 + b * T + c) @ model.output_weights_ + model.intercept_
    np.testing.assert_allclose(model.predict(far), expected, rtol=1e-12, atol=1e-12)
    # Inside the box nothing changes, and "none" evaluates the polynomial as is.
    np.testing.assert_allclose(model.predict(X), network(model, X), rtol=1e-10, atol=1e-10)
    free = clone(model).set_params(extrapolation="none").fit(X, y)
    np.testing.assert_allclose(free.predict(far), network(free, far), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("seed", range(4))
def test_zero_and_integer_weights_keep_the_bound_valid(seed):
    """The weighted certificate against the brute-force optimum of the repeated rows."""
    rng = np.random.default_rng(seed)
    X, y = make_planted_quantized(40, 5, 2, noise=0.1, random_state=seed)
    w = rng.integers(0, 4, len(y))
    rep = np.repeat(np.arange(len(y)), w)
    model = QuantizedSDPRegressor(alpha=1e-2, random_state=seed).fit(X, y, sample_weight=w)
    opt = brute_force_optimum(X[rep], y[rep], 1e-2)
    assert model.lower_bound_ <= opt * (1 + 1e-6)
    assert opt <= model.objective_ * (1 + 1e-6)


def test_weight_two_equals_a_duplicated_row(planted):
    X, y = planted
    w = np.ones(len(y))
    w[::3] = 2.0
    rep = np.repeat(np.arange(len(y)), w.astype(int))
    # A tight tol: the two fits stop at different points of their tol-ball
    # otherwise (the refit stops as soon as its certified gap is below tol).
    a = QuantizedSDPRegressor(alpha=1e-2, tol=1e-8, random_state=0).fit(X, y, sample_weight=w)
    b = QuantizedSDPRegressor(alpha=1e-2, tol=1e-8, random_state=0).fit(X[rep], y[rep])
    assert a.objective_ == pytest.approx(b.objective_, rel=1e-6)
    np.testing.assert_allclose(a.predict(X), b.predict(X), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_weighted_relaxation_and_refit_bounds_against_cvxpy_on_repeated_rows(seed):
    """Zero and integer weights: certified bounds below (and at) the repeated rows' optima."""
    from sklearn_convexnn._solvers.lifted.binary_relaxation import solve_binary_relaxation
    from sklearn_convexnn._solvers.lifted.lifted import LiftedBlock
    from sklearn_convexnn._solvers.shared.l1_refit import l1_refit
    from sklearn_convexnn._solvers.shared.losses import get_loss

    rng = np.random.default_rng(seed)
    X, y = make_planted_quantized(30, 4, 2, noise=0.1, random_state=seed)
    w = rng.integers(0, 4, len(y)).astype(float)
    w[:3] = 0.0
    rep = np.repeat(np.arange(len(y)), w.astype(int))
    loss = get_loss("squared", sample_weight=w)
    opt = cvxpy_binary_sdp(X[rep], y[rep][:, None], RELU_APPROX, 1e-2, "squared")
    for max_iter in (5, 20, 60, 5000):  # early stops leave the dual point uncentred
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            rel = solve_binary_relaxation(LiftedBlock(X), y[:, None], loss, RELU_APPROX, 1e-2,
                                          tol=1e-6, max_iter=max_iter, random_state=seed)
        assert rel.lower_bound <= opt * (1 + 1e-6)
    assert rel.lower_bound == pytest.approx(opt, rel=1e-4)
    H = activations(X, np.where(rng.normal(size=(12, 4)) > 0, 1.0, -1.0), RELU_APPROX)
    u, b = cp.Variable(12), cp.Variable()
    ref = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(H[rep] @ u + b - y[rep]) / len(rep)
                                 + 1e-2 * cp.norm1(u)))
    ref.solve(solver="CLARABEL")
    for max_iter in (1, 3, 20000):
        fit = l1_refit(H, y[:, None], loss, 1e-2, tol=1e-9, max_iter=max_iter)
        assert fit.lower_bound <= ref.value * (1 + 1e-7)
    assert fit.value == pytest.approx(ref.value, rel=1e-6)


def test_weighted_bound_below_the_repeated_relaxation_optimum():
    """scikit-learn's weight-equivalence data (15 rows, 30 features, zero weights included)."""
    rng = np.random.RandomState(42)
    X = rng.rand(15, 30)
    y = rng.randint(0, 3, size=15).astype(float)
    w = rng.randint(0, 5, size=15)
    rep = np.repeat(np.arange(15), w)
    # A tight tol, so both refits land on their optimum (not anywhere in the tol-ball).
    weighted = QuantizedSDPRegressor(tol=1e-8, random_state=0).fit(X, y, sample_weight=w)
    repeated = QuantizedSDPRegressor(tol=1e-8, random_state=0).fit(X[rep], y[rep])
    assert weighted.alpha_ == pytest.approx(repeated.alpha_, rel=1e-10)
    opt = cvxpy_binary_sdp(X[rep], y[rep][:, None], RELU_APPROX, weighted.alpha_)
    assert weighted.lower_bound_ <= opt * (1 + 1e-6)
    assert weighted.relaxation_value_ == pytest.approx(repeated.relaxation_value_, rel=1e-6)
    # The search's refits stop at a 1e-2 gap, so which neurons it adds may
    # differ between the two (equivalent) problems: the objectives agree to
    # the search's resolution, not to the refit's tol.
    assert weighted.objective_ == pytest.approx(repeated.objective_, rel=1e-3)


@pytest.mark.parametrize("loss_name", ["squared", "logistic"])
def test_newton_polish_reaches_the_support_optimum(loss_name):
    """The polish against an independent optimum of the output layer.

    Squared loss: on the support with the signs fixed the problem is a
    quadratic, solved here by its normal equations. Logistic loss: cvxpy's
    l1-logistic optimum (to its accuracy), and a gradient at round-off on
    the support (the optimality condition, which the objective alone cannot
    fix below ~1e-8).
    """
    from sklearn_convexnn._solvers.shared.l1_refit import l1_refit
    from sklearn_convexnn._solvers.shared.losses import get_loss
    from sklearn_convexnn._solvers.shared.support_newton import newton_polish

    rng = np.random.default_rng(0)
    n, m, alpha = 60, 8, 2e-2
    H = activations(rng.standard_normal((n, 5)),
                    np.where(rng.normal(size=(m, 5)) > 0, 1.0, -1.0), RELU_APPROX)
    w = rng.integers(0, 3, n).astype(float)
    t = H @ rng.standard_normal(m) / 3
    Y = (t - t.mean())[:, None] if loss_name == "squared" else np.where(t > np.median(t), 1.0,
                                                                          -1.0)[:, None]
    loss = get_loss(loss_name, sample_weight=w)
    fit = l1_refit(H, Y, loss, alpha, tol=1e-6)
    W, b = newton_polish(H, Y, loss, alpha, fit.weights, fit.intercept)
    S = np.flatnonzero(W[:, 0])
    assert 0 < len(S) < m and np.array_equal(S, np.flatnonzero(fit.weights[:, 0]))
    c = w / w.sum()
    if loss_name == "squared":
        # min sum c (H_S u + b - y)^2 / 2 + alpha s.u: normal equations with the intercept.
        A = np.column_stack([H[:, S], np.ones(n)])
        rhs = A.T @ (c * Y[:, 0]) - alpha * np.append(np.sign(W[S, 0]), 0.0)
        ref = np.linalg.solve(A.T @ (c[:, None] * A), rhs)
        np.testing.assert_allclose(np.append(W[S, 0], b[0]), ref, rtol=1e-10, atol=1e-12)
    else:
        G = loss.gradient(H @ W + b, Y)[:, 0]
        assert np.abs(H[:, S].T @ G + alpha * np.sign(W[S, 0])).max() <= 1e-13
        assert abs(G.sum()) <= 1e-13
        u, b0 = cp.Variable(m), cp.Variable()
        prob = cp.Problem(cp.Minimize(c @ cp.logistic(-cp.multiply(Y[:, 0], H @ u + b0))
                                      + alpha * cp.norm1(u)))
        prob.solve(solver="CLARABEL")
        value = loss.value(H @ W + b, Y) + alpha * np.abs(W).sum()
        assert value == pytest.approx(prob.value, rel=1e-7)
        assert value <= prob.value * (1 + 1e-12)
    # The polished objective is no worse than the refit's.
    value = loss.value(H @ W + b, Y) + alpha * np.abs(W).sum()
    assert value <= fit.value * (1 + 1e-15)


@pytest.mark.parametrize("cls", [QuantizedSDPRegressor, QuantizedSDPClassifier])
def test_tight_tol_weights_equal_repetition_to_round_off(cls):
    # With tol=1e-12 every refit of the search and the last one are solved
    # tightly and the output layer is polished on its support, so integer
    # weights and repeated rows give the same network, not merely the same
    # objective (scikit-learn's check_sample_weight_equivalence). The
    # reference is the repeated data itself; its output layer is also the
    # cvxpy l1 fit of the repeated rows over the chosen neurons.
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(20, 6))
    y = X @ rng.standard_normal(6)
    y = (y > np.median(y)).astype(int) if cls is QuantizedSDPClassifier else y
    w = rng.integers(0, 4, 20)
    rep = np.repeat(np.arange(20), w)
    a = cls(tol=1e-12, random_state=0).fit(X, y, sample_weight=w)
    b = cls(tol=1e-12, random_state=0).fit(X[rep], y[rep])
    out = a.predict if cls is QuantizedSDPRegressor else a.decision_function
    ref = b.predict if cls is QuantizedSDPRegressor else b.decision_function
    np.testing.assert_allclose(out(X), ref(X), rtol=1e-9, atol=1e-10)
    # unit_neurons (the classifier's default): the neurons act on x / sqrt(d).
    scale = np.sqrt(X.shape[1]) if getattr(a, "unit_neurons", False) else 1.0
    H = activations(X[rep] / scale, a.hidden_weights_, RELU_APPROX)
    u, b0 = cp.Variable(H.shape[1]), cp.Variable()
    z = H @ u + b0
    data = (0.5 * cp.sum_squares(z - y[rep]) if cls is QuantizedSDPRegressor
            else cp.sum(cp.logistic(-cp.multiply(2.0 * y[rep] - 1, z))))
    prob = cp.Problem(cp.Minimize(data / len(rep) + a.alpha_ * cp.norm1(u)))
    prob.solve(solver="CLARABEL")
    zn = H @ np.ravel(a.output_weights_) + np.ravel(a.intercept_)[0]
    own = (0.5 * np.mean((zn - y[rep]) ** 2) if cls is QuantizedSDPRegressor
           else np.mean(np.logaddexp(0, -(2.0 * y[rep] - 1) * zn)))
    own += a.alpha_ * np.abs(a.output_weights_).sum()
    assert own == pytest.approx(prob.value, rel=1e-7)
    assert own <= prob.value * (1 + 1e-12)


def test_rounding_draws_are_a_function_of_the_matrix():
    # The same lifted matrix reached another way (here: its features
    # permuted and permuted back, as when weighted and repeated rows solve
    # one relaxation) must give the same candidates from one seed: eigh may
    # orient an eigenvector either way, so the rounding factor's columns are
    # oriented by the matrix (largest entry positive) and ordered by
    # decreasing eigenvalue. Reference: the draws of the unpermuted matrix.
    from sklearn_convexnn._solvers.lifted.rounding import _rounding_factor, lifted_candidates

    rng = np.random.default_rng(3)
    p = 20
    Q = np.linalg.qr(rng.standard_normal((p + 1, p + 1)))[0]
    Z = (Q[:, -4:] * [0.25, 0.5, 1.0, 2.0]) @ Q[:, -4:].T
    base = lifted_candidates([Z], 100, random_state=0, arcsine=False)
    assert len(base) > 20
    flips = 0
    for seed in range(10):
        perm = np.r_[np.random.default_rng(seed).permutation(p), p]  # lifted entry last
        inv = np.argsort(perm)
        Zp = Z[np.ix_(perm, perm)]
        F = _rounding_factor(Zp, arcsine=False)
        assert np.all(F[np.abs(F).argmax(axis=0), np.arange(F.shape[1])] > 0)
        Fb = _rounding_factor(Z, arcsine=False)
        flips += int(np.any(np.sign(np.linalg.eigh(Zp)[1][inv][:, -1]) !=
                            np.sign(np.linalg.eigh(Z)[1][:, -1])))
        np.testing.assert_allclose(F[inv], Fb, atol=1e-12)
        again = lifted_candidates([Zp], 100, random_state=0, arcsine=False)
        # Back to the original feature order (the lifted entry stays last).
        again = again[:, np.argsort(perm[:-1])]
        assert {tuple(u) for u in again} == {tuple(u) for u in base}
    assert flips > 0  # eigh did orient some eigenvector the other way
