"""ConvexPolyNet estimators against independent references.

The reference SDP below is written from the paper's formulation with cvxpy
expressions of its own (no code shared with the package's builder).
"""

import pickle
import warnings

import cvxpy as cp
import numpy as np
import pytest
from gradient_training import train_by_gradient
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_convexnn import ConvexPolyNetClassifier, ConvexPolyNetRegressor
from sklearn_convexnn.datasets import make_planted_polynet

RELU_APPROX = (0.09, 0.5, 0.47)


def reference_sdp(X, Y, alpha, act=RELU_APPROX, loss="squared", intercept=True):
    """Optimal value of the Neural Spectrahedra SDP, one (Z, Z') pair per output."""
    n, d = X.shape
    a, b, c = act
    Y = Y.reshape(n, -1)
    cols, cons, pen = [], [], 0
    for _ in range(Y.shape[1]):
        Zp = cp.Variable((d + 1, d + 1), symmetric=True)
        Zm = cp.Variable((d + 1, d + 1), symmetric=True)
        cons += [Zp >> 0, Zm >> 0, cp.trace(Zp[:d, :d]) == Zp[d, d],
                 cp.trace(Zm[:d, :d]) == Zm[d, d]]
        D = Zp - Zm
        quad = cp.sum(cp.multiply(X @ D[:d, :d], X), axis=1)
        cols.append(a * quad + b * (X @ D[:d, d]) + c * D[d, d])
        pen += Zp[d, d] + Zm[d, d]
    yhat = cp.vstack(cols).T + (cp.Variable((1, Y.shape[1])) if intercept else 0)
    if loss == "squared":
        data = 0.5 * cp.sum_squares(yhat - Y) / n
    elif loss == "absolute":
        data = cp.sum(cp.abs(yhat - Y)) / n
    elif loss == "logistic":
        data = cp.sum(cp.logistic(-cp.multiply(Y, yhat))) / n
    elif loss == "multinomial":
        # Y one-hot: mean of log-sum-exp(yhat_i) - <Y_i, yhat_i>.
        data = (cp.sum(cp.log_sum_exp(yhat, axis=1)) - cp.sum(cp.multiply(Y, yhat))) / n
    prob = cp.Problem(cp.Minimize(data + alpha * pen), cons)
    prob.solve(solver="SCS", eps_abs=1e-9, eps_rel=1e-9, max_iters=200000)
    assert prob.status == "optimal", prob.status
    return prob.value


def network(model, X):
    """The fitted network evaluated by hand from its public weights."""
    a, b, c = RELU_APPROX if model.activation == "relu-approx" else model.activation
    T = X @ model.hidden_weights_.T
    return (a * T**2 + b * T + c) @ model.output_weights_ + model.intercept_


def own_objective(model, X, Y, loss="squared"):
    out = network(model, X).reshape(Y.shape)
    if loss == "squared":
        data = 0.5 * np.mean(np.sum((out - Y) ** 2, axis=-1) if Y.ndim > 1 else (out - Y) ** 2)
    elif loss == "absolute":
        data = np.mean(np.abs(out - Y))
    elif loss == "logistic":
        data = np.mean(np.logaddexp(0, -Y * out))
    return data + model.alpha * np.abs(model.output_weights_).sum()


@pytest.fixture(scope="module")
def planted():
    return make_planted_polynet(120, 4, 3, noise=0.05, random_state=0)


@pytest.fixture(scope="module")
def diabetes():
    X, y = load_diabetes(return_X_y=True)
    return StandardScaler().fit_transform(X), (y - y.mean()) / y.std()


@pytest.mark.parametrize("loss", ["squared", "absolute"])
def test_planted_objective_equals_reference_sdp(planted, loss):
    X, y = planted
    model = ConvexPolyNetRegressor(alpha=1e-2, loss=loss, solver="cvxpy").fit(X, y)
    ref = reference_sdp(X, y, 1e-2, loss=loss)
    obj = own_objective(model, X, y, loss)
    assert obj == pytest.approx(ref, rel=1e-4)
    assert model.objective_ == pytest.approx(obj, rel=1e-10)
    assert model.lower_bound_ <= ref * (1 + 1e-6)
    np.testing.assert_allclose(np.linalg.norm(model.hidden_weights_, axis=1), 1, atol=1e-8)
    np.testing.assert_allclose(model.predict(X), network(model, X), rtol=1e-12)


def test_diabetes_objective_equals_reference_sdp(diabetes):
    X, y = diabetes
    model = ConvexPolyNetRegressor(alpha=1e-2, solver="cvxpy").fit(X, y)
    ref = reference_sdp(X, y, 1e-2)
    assert own_objective(model, X, y) == pytest.approx(ref, rel=1e-4)
    assert model.lower_bound_ <= ref * (1 + 1e-6)
    assert model.dual_gap_ <= 1e-4 * model.objective_
    np.testing.assert_allclose(np.linalg.norm(model.hidden_weights_, axis=1), 1, atol=1e-8)
    assert model.n_neurons_ <= 2 * (X.shape[1] + 1)


def test_multi_output_and_no_intercept(planted):
    X, y = planted
    Y = np.column_stack([y, np.sin(X[:, 0])])
    model = ConvexPolyNetRegressor(alpha=2e-2, fit_intercept=False, solver="cvxpy").fit(X, Y)
    assert model.predict(X).shape == (X.shape[0], 2)
    assert model.output_weights_.shape == (model.n_neurons_, 2)
    ref = reference_sdp(X, Y, 2e-2, intercept=False)
    assert own_objective(model, X, Y) == pytest.approx(ref, rel=1e-4)


def test_square_activation_tuple_matches_name(planted):
    X, y = planted
    by_name = ConvexPolyNetRegressor(alpha=1e-2, activation="square", solver="cvxpy").fit(X, y)
    by_tuple = ConvexPolyNetRegressor(alpha=1e-2, activation=(1.0, 0.0, 0.0),
                                      solver="cvxpy").fit(X, y)
    assert by_name.objective_ == pytest.approx(by_tuple.objective_, rel=1e-8)
    ref = reference_sdp(X, y, 1e-2, act=(1.0, 0.0, 0.0))
    assert by_name.objective_ == pytest.approx(ref, rel=1e-4)


def test_no_gradient_trained_network_beats_the_fit(planted):
    X, y = planted
    alpha = 1e-2
    model = ConvexPolyNetRegressor(alpha=alpha, solver="cvxpy").fit(X, y)
    best = min(
        train_by_gradient(X, y, width, alpha, RELU_APPROX, random_state=seed)[0]
        for width in (2, 3, 6, 12) for seed in range(3)
    )
    assert best >= model.objective_ * (1 - 1e-6)
    assert model.lower_bound_ <= best


def test_classifier_breast_cancer_and_wine():
    for loader in (load_breast_cancer, load_wine):
        X, y = loader(return_X_y=True)
        pipe = make_pipeline(StandardScaler(), ConvexPolyNetClassifier(alpha=1e-2))
        ours = cross_val_score(pipe, X, y, cv=3).mean()
        base = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression()),
                               X, y, cv=3).mean()
        assert ours >= base - 0.04, (loader.__name__, ours, base)
        pipe.fit(X, y)
        proba = pipe.predict_proba(X)
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-12)
        assert proba.shape == (X.shape[0], np.unique(y).size)
        np.testing.assert_array_equal(pipe.classes_[np.argmax(proba, axis=1)], pipe.predict(X))


def test_binary_logistic_matches_reference():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X[:150, :6])
    y = y[:150]
    clf = ConvexPolyNetClassifier(alpha=2e-2, solver="cvxpy").fit(X, y)
    ypm = np.where(y == clf.classes_[1], 1.0, -1.0)
    ref = reference_sdp(X, ypm, 2e-2, loss="logistic")
    assert own_objective(clf, X, ypm, "logistic") == pytest.approx(ref, rel=1e-4)
    assert clf.lower_bound_ <= ref * (1 + 1e-6)


@pytest.mark.parametrize("loss", ["hinge", "squared"])
def test_classifier_other_losses(loss):
    X, y = load_wine(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = ConvexPolyNetClassifier(loss=loss, alpha=1e-2).fit(X, y)
    assert clf.score(X, y) > 0.95
    assert clf.decision_function(X).shape == (X.shape[0], 3)
    assert not hasattr(clf, "predict_proba")


@pytest.mark.parametrize(
    "X, message",
    [
        (np.array([[np.nan, 1.0], [1.0, 2.0], [0.0, 1.0]]), "NaN"),
        (np.array([[np.inf, 1.0], [1.0, 2.0], [0.0, 1.0]]), "infinity"),
    ],
)
def test_rejects_non_finite(X, message):
    with pytest.raises(ValueError, match=message):
        ConvexPolyNetRegressor().fit(X, np.arange(3.0))


def test_rejects_bad_input_and_parameters(planted):
    X, y = planted
    with pytest.raises(ValueError, match="minimum of 2"):
        ConvexPolyNetRegressor().fit(X[:1], y[:1])
    fitted = ConvexPolyNetRegressor().fit(X[:30], y[:30])
    with pytest.raises(ValueError, match="features"):
        fitted.predict(X[:, :2])
    with pytest.raises(ValueError, match="activation"):
        ConvexPolyNetRegressor(activation="tanh").fit(X, y)
    with pytest.raises(ValueError, match="activation"):
        ConvexPolyNetRegressor(activation=(1.0, 2.0)).fit(X, y)
    with pytest.raises(ValueError, match="solver"):
        ConvexPolyNetRegressor(solver="adam").fit(X, y)
    with pytest.raises(ValueError, match="not installed"):
        ConvexPolyNetRegressor(solver="cvxpy", cvxpy_solver="NOSUCHSOLVER").fit(X, y)
    with pytest.raises(ValueError, match="single class"):
        ConvexPolyNetClassifier().fit(X, np.zeros(len(X)))


def test_refuses_problem_over_memory_budget():
    # Non-degenerate data: an all-zero problem is answered by screening
    # (alpha >= alpha_max = 0: the empty network) without building anything.
    X = np.random.default_rng(0).normal(size=(5000, 60))
    with pytest.raises(MemoryError, match=r"GiB.*budget"):
        ConvexPolyNetRegressor(solver="cvxpy", memory_limit=0.1).fit(X, X[:, 0] ** 2)


def test_iteration_limit_warns_with_status(planted):
    X, y = planted
    with pytest.warns(ConvergenceWarning, match="status"):
        ConvexPolyNetRegressor(solver="cvxpy", max_iter=1).fit(X, y)


def test_pipeline_gridsearch_clone_pickle_reproducible(planted):
    X, y = planted
    pipe = make_pipeline(StandardScaler(), ConvexPolyNetRegressor())
    search = GridSearchCV(pipe, {"convexpolynetregressor__alpha": [1e-3, 1e-1]}, cv=2)
    search.fit(X, y)
    assert search.best_params_["convexpolynetregressor__alpha"] in (1e-3, 1e-1)
    model = ConvexPolyNetRegressor(alpha=1e-2).fit(X, y)
    again = clone(model).fit(X, y)
    np.testing.assert_array_equal(model.predict(X), again.predict(X))
    restored = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(restored.predict(X), model.predict(X))


def test_does_not_modify_input(planted):
    X, y = planted
    X0, y0 = X.copy(), y.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ConvexPolyNetRegressor().fit(X, y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_multiclass_weights_equal_repetition_with_a_centred_intercept():
    # The softmax ignores a shift shared by all classes, so the intercept is
    # reported with zero mean; then weights 0/1/2 and removed/duplicated rows
    # give the same decision function (they differed by a constant before),
    # at the optimum of an independent cvxpy SDP on the repeated rows.
    rng = np.random.default_rng(2)
    X = rng.standard_normal((30, 3))
    y = np.argmax(X @ rng.standard_normal((3, 3)) + 0.5 * rng.standard_normal((30, 3)), axis=1)
    w = rng.integers(0, 3, size=30)
    Xr, yr = np.repeat(X, w, axis=0), np.repeat(y, w)
    kw = dict(alpha=2e-2, tol=1e-10)
    weighted = ConvexPolyNetClassifier(**kw).fit(X, y, sample_weight=w)
    repeated = ConvexPolyNetClassifier(**kw).fit(Xr, yr)
    assert weighted.intercept_.shape == (3,)
    assert abs(weighted.intercept_.sum()) <= 1e-12 * np.abs(weighted.intercept_).max()
    np.testing.assert_allclose(weighted.decision_function(X), repeated.decision_function(X),
                               atol=1e-3)
    Y = (yr[:, None] == np.arange(3)).astype(float)
    out = network(weighted, Xr)
    own = (np.mean(np.log(np.exp(out).sum(axis=1)) - (Y * out).sum(axis=1))
           + kw["alpha"] * np.abs(weighted.output_weights_).sum())
    assert own == pytest.approx(reference_sdp(Xr, Y, kw["alpha"], loss="multinomial"),
                                rel=1e-5)


def test_proxgrad_below_its_certificate_floor_weights_equal_repetition():
    """tol below proxgrad's certificate resolution is honoured, not raised to 1e-6.

    scikit-learn's weight-check data (15 images of 30 pixels, nearly separable,
    weights 0..4; stacked as in its CV variant): the fit on the repeated rows
    is certified to a relative gap of 1e-10 (independent of the weighted
    run); the weighted fit, whose certificate stalls near 2e-8, must give the
    same decision function to 1e-6 relative (3e-5 apart with the old 1e-6
    floor) and the same objective to 1e-12.
    """
    rng = np.random.RandomState(42)
    X = rng.rand(15, 30)
    y = rng.randint(0, 3, size=15)
    w = rng.randint(0, 5, size=15)
    Xw, yw, ww = np.vstack([X, X, X]), np.tile(y, 3), np.hstack([w, np.ones(30, int)])
    Xr, yr = np.repeat(Xw, ww, axis=0), np.repeat(yw, ww)
    kw = dict(alpha=1.885e-4, solver="proxgrad", tol=1e-12, max_iter=300)
    repeated = ConvexPolyNetClassifier(**kw).fit(Xr, yr)
    assert repeated.objective_ - repeated.lower_bound_ <= 1e-10 * repeated.objective_
    weighted = ConvexPolyNetClassifier(**kw).fit(Xw, yw, sample_weight=ww)
    assert weighted.objective_ == pytest.approx(repeated.objective_, rel=1e-12)
    np.testing.assert_allclose(weighted.decision_function(X), repeated.decision_function(X),
                               rtol=1e-6)
    np.testing.assert_allclose(weighted.predict_proba(X), repeated.predict_proba(X),
                               rtol=1e-6, atol=1e-9)
