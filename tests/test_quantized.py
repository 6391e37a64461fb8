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
    return activations(X, model.hidden_weights_, act) @ model.output_weights_ + model.intercept_


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


def test_logistic_classifier_brackets_brute_force():
    X, y = make_planted_quantized(120, 5, 3, random_state=5)
    labels = (y > np.median(y)).astype(int)
    clf = QuantizedSDPClassifier(alpha=1e-2, random_state=0).fit(X, labels)
    opt = brute_force_optimum(X, 2.0 * labels - 1, 1e-2, loss="logistic")
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


def test_solver_failure_surfaces_status(planted, monkeypatch):
    X, y = planted

    def broken(self, *args, **kwargs):
        raise cp.error.SolverError("simulated numerical breakdown")

    monkeypatch.setattr(cp.Problem, "solve", broken)
    with pytest.raises(SolverFailedError, match="CLARABEL: simulated numerical breakdown"):
        QuantizedSDPRegressor(solver="cvxpy").fit(X, y)


def test_iteration_limit_warns_and_bound_stays_valid(planted):
    X, y = planted
    with pytest.warns(ConvergenceWarning, match="status"):
        model = QuantizedSDPRegressor(alpha=1e-2, max_iter=2, random_state=0).fit(X, y)
    exact = QuantizedSDPRegressor(alpha=1e-2, random_state=0).fit(X, y)
    assert model.lower_bound_ <= exact.lower_bound_ * (1 + 1e-6)
    assert model.lower_bound_ <= model.objective_
