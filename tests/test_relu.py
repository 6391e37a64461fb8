"""Convex ReLU networks against independent references.

References: a cvxpy formulation of each convex program written here from
the issue's statement, using the fitted ``gates_`` (gated/exact, squared,
logistic, multinomial); hand-written forward passes of the recovered
networks on unscaled columns; duplicated rows for ``sample_weight``.
"""

import warnings

import cvxpy as cp
import numpy as np
import pytest
import scipy.sparse as sp
from scipy.special import expit
from sklearn.exceptions import ConvergenceWarning

from sklearn_convexnn import ConvexReLUClassifier, ConvexReLURegressor
from sklearn_convexnn.exceptions import ProblemTooLargeError
from sklearn_convexnn.relu import relu_alpha_max

SCALES = np.array([1.0, 30.0, 0.05])
#: Unequal but moderate column scales for the comparisons with cvxpy.
MILD = np.array([1.0, 3.0, 0.5])


def _data(n=40, seed=0, scales=SCALES):
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, scales.size))
    y = np.maximum(Z @ [1.0, -1.0, 0.5], 0) - np.maximum(Z @ [0.3, 0.8, -1.0], 0)
    y = y + 0.1 * rng.standard_normal(n)
    return Z * scales, y


def _cvxpy_value(X, Y, masks, alpha, variant, loss, fit_intercept=True):
    """The convex program of the issue, written directly."""
    n, d = X.shape
    p, k = masks.shape[1], Y.shape[1]
    b = cp.Variable(k) if fit_intercept else np.zeros(k)
    cons, pen, cols = [], 0, []
    for c in range(k):
        if variant == "gated":
            W = cp.Variable((d, p))
            pen = pen + cp.sum(cp.norm(W, 2, axis=0))
            cols.append(cp.sum(cp.multiply(masks, X @ W), axis=1))
        else:
            U, V = cp.Variable((d, p)), cp.Variable((d, p))
            pen = pen + cp.sum(cp.norm(U, 2, axis=0)) + cp.sum(cp.norm(V, 2, axis=0))
            cols.append(cp.sum(cp.multiply(masks, X @ (U - V)), axis=1))
            S = 2.0 * masks - 1.0
            cons += [cp.multiply(S, X @ U) >= 0, cp.multiply(S, X @ V) >= 0]
    Z = cp.vstack(cols).T + np.ones((n, 1)) @ cp.reshape(b, (1, k), order="C") \
        if fit_intercept else cp.vstack(cols).T
    if loss == "squared":
        data = cp.sum_squares(Z - Y) / (2 * n)
    elif loss == "logistic":
        data = cp.sum(cp.logistic(-cp.multiply(Y, Z))) / n
    else:
        data = (cp.sum(cp.log_sum_exp(Z, axis=1)) - cp.sum(cp.multiply(Y, Z))) / n
    prob = cp.Problem(cp.Minimize(data + alpha * pen), cons)
    prob.solve(solver="CLARABEL")
    assert prob.status == "optimal"
    return prob.value


def _masks(est, X):
    return (X @ est.gates_) >= 0


@pytest.mark.parametrize("variant, solver", [("gated", "apg"), ("gated", "newton"),
                                             ("exact", "augmented_lagrangian"),
                                             ("gated", "cvxpy"), ("exact", "cvxpy")])
@pytest.mark.parametrize("fit_intercept", [True, False])
def test_regressor_objective_matches_cvxpy(variant, solver, fit_intercept):
    X, y = _data(scales=MILD)
    tol = 1e-7 if variant == "gated" else 3e-5
    reg = ConvexReLURegressor(alpha=1e-2, n_gates=8, variant=variant, tol=tol, solver=solver,
                              max_iter=50000, fit_intercept=fit_intercept, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, y)
    ref = _cvxpy_value(X, y[:, None], _masks(reg, X), 1e-2, variant, "squared", fit_intercept)
    assert reg.objective_ == pytest.approx(ref, rel=1e-4)
    assert reg.lower_bound_ <= ref * (1 + 1e-7) + 1e-9
    if variant == "gated":
        assert reg.dual_gap_ <= 1e-6 * reg.objective_


@pytest.mark.parametrize("variant, solver", [("gated", "apg"), ("gated", "newton"),
                                             ("exact", "augmented_lagrangian"),
                                             ("exact", "cvxpy")])
def test_binary_logistic_objective_matches_cvxpy(variant, solver):
    X, y = _data(seed=1, scales=MILD)
    labels = np.where(y > np.median(y), "b", "a")
    tol = 1e-7 if variant == "gated" else 3e-5
    clf = ConvexReLUClassifier(alpha=1e-2, n_gates=8, variant=variant, tol=tol, solver=solver,
                               max_iter=50000, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X, labels)
    Y = np.where(labels == "b", 1.0, -1.0)[:, None]
    ref = _cvxpy_value(X, Y, _masks(clf, X), 1e-2, variant, "logistic")
    assert clf.objective_ == pytest.approx(ref, rel=1e-4)
    assert clf.lower_bound_ <= ref * (1 + 1e-7)
    # The objective is the mean logistic loss of the network's own outputs.
    z = clf.decision_function(X)
    hand = np.mean(np.logaddexp(0, -Y[:, 0] * z)) + 1e-2 * np.sum(clf.output_weights_**2)
    assert clf.objective_ == pytest.approx(hand, rel=1e-10)
    assert np.allclose(clf.predict_proba(X)[:, 1], expit(z))


@pytest.mark.parametrize("solver", ["apg", "newton"])
@pytest.mark.parametrize("multi_class", ["multinomial", "ovr"])
def test_multiclass_objective_matches_cvxpy(multi_class, solver):
    X, y = _data(n=45, seed=2, scales=MILD)
    labels = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    clf = ConvexReLUClassifier(alpha=1e-2, n_gates=6, tol=1e-7, max_iter=50000, solver=solver,
                               multi_class=multi_class, random_state=0).fit(X, labels)
    onehot = np.eye(3)[labels]
    Y = onehot if multi_class == "multinomial" else 2 * onehot - 1
    loss = "multinomial" if multi_class == "multinomial" else "logistic"
    ref = _cvxpy_value(X, Y, _masks(clf, X), 1e-2, "gated", loss)
    assert clf.objective_ == pytest.approx(ref, rel=1e-4)
    proba = clf.predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1)
    assert np.array_equal(clf.predict(X), clf.classes_[np.argmax(proba, axis=1)])


@pytest.mark.parametrize("variant, solver", [("gated", "apg"), ("gated", "newton"),
                                             ("exact", "augmented_lagrangian"),
                                             ("gated", "cvxpy"), ("exact", "cvxpy")])
@pytest.mark.parametrize("task", ["squared", "logistic", "multinomial"])
def test_lower_bound_never_exceeds_objective(variant, solver, task):
    for seed in range(6):
        X, y = _data(n=30, seed=seed)
        # cvxpy has no iteration cap here: one fit per seed.
        for max_iter in (1, 2, 7, 60) if solver != "cvxpy" else (1,):
            kw = dict(alpha=10.0 ** -(1 + seed % 3), n_gates=6, variant=variant,
                      max_iter=max_iter, random_state=seed, solver=solver)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                if task == "squared":
                    est = ConvexReLURegressor(**kw).fit(X, y)
                else:
                    cuts = [0.5] if task == "logistic" else [1 / 3, 2 / 3]
                    labels = np.digitize(y, np.quantile(y, cuts))
                    est = ConvexReLUClassifier(**kw).fit(X, labels)
            assert np.isfinite(est.lower_bound_)
            assert est.lower_bound_ <= est.objective_


def test_gated_predict_is_the_hand_computed_network_on_unscaled_columns():
    X, y = _data(n=60)
    reg = ConvexReLURegressor(alpha=1e-3, n_gates=20, gate_sampling="data",
                              random_state=0).fit(X, y)
    Xt, _ = _data(n=25, seed=5)
    hand = np.full(Xt.shape[0], reg.intercept_)
    for h, a, j in zip(reg.hidden_weights_, reg.output_weights_, reg.neuron_gate_index_):
        hand += a * (Xt @ reg.gates_[:, j] >= 0) * (Xt @ h)
    assert np.allclose(reg.predict(Xt), hand, rtol=1e-12, atol=1e-12)
    # objective_ = training loss of this network + alpha * sum a^2 (= sum ||w||).
    r = reg.predict(X) - y
    assert reg.objective_ == pytest.approx(
        0.5 * np.mean(r**2) + 1e-3 * np.sum(reg.output_weights_**2), rel=1e-10)


@pytest.mark.parametrize("seed, params", [
    (0, {"n_gates": 12, "tol": 1e-5}),
    (3, {"n_gates": 10, "solver": "admm", "max_iter": 200}),
])
def test_exact_predict_is_a_true_relu_network(seed, params):
    X, y = _data(n=60, seed=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = ConvexReLURegressor(alpha=1e-2, variant="exact", random_state=0,
                                  **params).fit(X, y)
    assert reg.n_neurons_ > 0
    Xt, _ = _data(n=25, seed=5)
    hand = reg.intercept_ + np.maximum(Xt @ reg.hidden_weights_.T, 0) @ reg.output_weights_
    assert np.allclose(reg.predict(Xt), hand, rtol=1e-12, atol=1e-12)
    # Each neuron lies in its gate's cone on the training data: the convex
    # model's D_j X u equals relu(X u), so the objective is the network's.
    G = reg.gates_[:, reg.neuron_gate_index_]
    pre = X @ reg.hidden_weights_.T
    assert np.all(np.where(X @ G >= 0, pre, -pre) >= -1e-9)
    r = reg.predict(X) - y
    assert reg.objective_ == pytest.approx(
        0.5 * np.mean(r**2) + 1e-2 * np.sum(reg.output_weights_**2), rel=1e-10)


def test_sample_weight_two_equals_duplicated_row():
    X, y = _data(n=30, scales=MILD)
    w = np.ones(30)
    w[[3, 7]] = 2.0
    w[11] = 0.0
    Xd = np.vstack([np.delete(X, 11, axis=0), X[[3, 7]]])
    yd = np.concatenate([np.delete(y, 11), y[[3, 7]]])
    kw = dict(alpha=1e-2, n_gates=10, tol=1e-9, max_iter=100000, random_state=3)
    a = ConvexReLURegressor(**kw).fit(X, y, sample_weight=w)
    b = ConvexReLURegressor(**kw).fit(Xd, yd)
    assert a.objective_ == pytest.approx(b.objective_, rel=1e-7)
    assert np.allclose(a.predict(X), b.predict(X), atol=1e-4)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_equals_dense(fmt):
    X, y = _data(n=50, scales=MILD)
    X[np.abs(X) < 0.3 * np.abs(X).mean(axis=0)] = 0.0
    kw = dict(alpha=1e-2, n_gates=10, tol=1e-9, max_iter=50000, random_state=0)
    dense = ConvexReLURegressor(**kw).fit(X, y)
    sparse = ConvexReLURegressor(**kw).fit(sp.csr_matrix(X).asformat(fmt), y)
    assert sparse.objective_ == pytest.approx(dense.objective_, rel=1e-7)
    assert np.allclose(sparse.predict(sp.csr_matrix(X)), dense.predict(X), atol=1e-5)


def test_alpha_max_gives_the_empty_network():
    X, y = _data(n=50)
    reg = ConvexReLURegressor(alpha=1e-2, n_gates=10, random_state=0).fit(X, y)
    amax = relu_alpha_max(X, y, reg.gates_)
    assert amax == pytest.approx(reg.alpha_max_, rel=1e-12)
    # Independent check: the dual norms of the intercept-only residual.
    r = (y.mean() - y) / y.size
    norms = [np.linalg.norm(X[m].T @ r[m]) for m in _masks(reg, X).T]
    assert amax == pytest.approx(max(norms), rel=1e-12)
    above = ConvexReLURegressor(alpha=1.0001 * amax, n_gates=10, random_state=0).fit(X, y)
    assert above.n_neurons_ == 0
    assert np.allclose(above.predict(X), y.mean())
    below = ConvexReLURegressor(alpha=0.9 * amax, n_gates=10, random_state=0).fit(X, y)
    assert below.n_neurons_ > 0


def test_three_layer_parallel_network():
    X, y = _data(n=50, scales=MILD)
    reg = ConvexReLURegressor(alpha=1e-2, n_gates=10, n_layers=3, tol=1e-8,
                              max_iter=50000, random_state=0).fit(X, y)
    assert reg.n_neurons_ > 0
    # Hand forward pass: first-layer gate, second-layer gate of the parallel
    # sub-network relu(x G) . q, linear unit.
    Xt, _ = _data(n=20, seed=4)
    hand = np.full(Xt.shape[0], reg.intercept_)
    for h, a, j in zip(reg.hidden_weights_, reg.output_weights_, reg.neuron_gate_index_):
        first = Xt @ reg.gates_[:, j] >= 0
        second = np.maximum(Xt @ reg.second_layer_gates_[j], 0) \
            @ reg.second_layer_directions_[j] >= 0
        hand += a * first * second * (Xt @ h)
    assert np.allclose(reg.predict(Xt), hand, rtol=1e-12, atol=1e-12)
    masks = _masks(reg, X) & (
        np.einsum("njw,jw->nj", np.maximum(np.einsum("nd,jdw->njw", X,
                                                     reg.second_layer_gates_), 0),
                  reg.second_layer_directions_) >= 0)
    ref = _cvxpy_value(X, y[:, None], masks, 1e-2, "gated", "squared")
    assert reg.objective_ == pytest.approx(ref, rel=1e-4)
    with pytest.raises(ValueError, match="n_layers=3"):
        ConvexReLURegressor(n_layers=3, variant="exact").fit(X, y)


def test_exact_defaults_reach_the_cvxpy_optimum():
    # The size at which the augmented Lagrangian alone stopped 19% above the
    # optimum at its iteration cap: solver="auto" (the interior-point method
    # since it exists; cvxpy before) now solves it exactly.
    rng = np.random.default_rng(3)
    X = rng.standard_normal((100, 5)) * [1.0, 2.0, 0.5, 1.0, 3.0]
    y = np.maximum(X @ rng.standard_normal(5), 0) - np.maximum(X @ rng.standard_normal(5), 0)
    y = y + 0.1 * rng.standard_normal(100)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = ConvexReLURegressor(n_gates=20, variant="exact", random_state=0).fit(X, y)
    assert reg.solver_ == "ipm"
    ref = _cvxpy_value(X, y[:, None], _masks(reg, X), reg.alpha_, "exact", "squared")
    assert reg.objective_ == pytest.approx(ref, rel=1e-4)
    assert reg.lower_bound_ <= reg.objective_
    assert reg.lower_bound_ <= ref * (1 + 1e-7) + 1e-12
    assert reg.dual_gap_ <= 1e-4 * reg.objective_
    # The network is a true ReLU network whose objective is objective_.
    hand = np.maximum(X @ reg.hidden_weights_.T, 0) @ reg.output_weights_ + reg.intercept_
    assert np.allclose(reg.predict(X), hand)
    pen = reg.alpha_ * np.sum(reg.output_weights_**2)
    assert reg.objective_ == pytest.approx(np.mean((hand - y) ** 2) / 2 + pen, rel=1e-10)


@pytest.mark.parametrize("task", ["squared", "logistic", "multinomial"])
def test_gated_cvxpy_equals_apg(task):
    X, y = _data(n=50, seed=4, scales=MILD)
    kw = dict(alpha=1e-2, n_gates=8, tol=1e-7, max_iter=50000, random_state=0)
    if task == "squared":
        fits = [ConvexReLURegressor(solver=s, **kw).fit(X, y) for s in ("apg", "cvxpy")]
    else:
        labels = np.digitize(y, np.quantile(y, [0.5] if task == "logistic" else [1 / 3, 2 / 3]))
        fits = [ConvexReLUClassifier(solver=s, **kw).fit(X, labels) for s in ("apg", "cvxpy")]
    apg, cvx = fits
    assert cvx.solver_ == "cvxpy"
    assert np.array_equal(apg.gates_, cvx.gates_)
    assert cvx.objective_ == pytest.approx(apg.objective_, rel=1e-4)
    assert cvx.lower_bound_ <= cvx.objective_
    assert cvx.lower_bound_ <= apg.objective_ * (1 + 1e-7)


def test_cvxpy_sample_weight_equals_duplicated_rows():
    X, y = _data(n=30, seed=5, scales=MILD)
    sw = np.ones(30)
    sw[:5] = 2.0
    kw = dict(alpha=1e-2, n_gates=6, variant="exact", solver="cvxpy", gate_sampling="gaussian")
    a = ConvexReLURegressor(random_state=0, **kw).fit(X, y, sample_weight=sw)
    Xd, yd = np.vstack([X, X[:5]]), np.concatenate([y, y[:5]])
    ref = _cvxpy_value(Xd, yd[:, None], _masks(a, Xd), 1e-2, "exact", "squared")
    assert a.objective_ == pytest.approx(ref, rel=1e-4)


def test_auto_routes_large_exact_problems_to_ipm_admm_then_the_augmented_lagrangian():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((1000, 40)), rng.standard_normal(1000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = ConvexReLURegressor(n_gates=100, variant="exact", max_iter=1,
                                  random_state=0).fit(X, y)
        assert reg.solver_ == "ipm"
        # The IPM's Woodbury factors (about 84 MB here) do not fit 61 MB; ADMM's do.
        reg.set_params(memory_limit=0.06).fit(X, y)
        assert reg.solver_ == "admm"
        # ADMM's n x n factor (about 43 MB here) does not fit 32 MB; the AL does.
        reg.set_params(memory_limit=0.03).fit(X, y)
    assert reg.solver_ == "augmented_lagrangian"
    with pytest.raises(ProblemTooLargeError, match="solver='cvxpy'"):
        ConvexReLURegressor(n_gates=100, variant="exact", solver="cvxpy",
                            memory_limit=0.5).fit(X, y)


def test_memory_limit_refuses_oversized_problems():
    X, y = _data(n=200)
    with pytest.raises(ProblemTooLargeError, match=r"GiB.*memory_limit"):
        ConvexReLURegressor(n_gates=50, variant="exact", memory_limit=1e-4).fit(X, y)


def test_bad_solver_variant_pair():
    X, y = _data()
    with pytest.raises(ValueError, match="does not solve"):
        ConvexReLURegressor(solver="apg", variant="exact").fit(X, y)


def test_regressor_learns_a_relu_target():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 4))
    y = np.maximum(X @ [1.0, -1.0, 0.5, 0.0], 0)
    reg = ConvexReLURegressor(alpha=1e-4, n_gates=60, random_state=0).fit(X[:200], y[:200])
    assert reg.score(X[200:], y[200:]) > 0.9


def test_alpha_auto_is_a_fraction_of_alpha_max_and_none_is_deprecated():
    X, y = _data(n=40, scales=MILD)
    reg = ConvexReLURegressor(n_gates=8, random_state=0).fit(X, y)
    # Independent alpha_max from the fitted gates: max_j ||(D_j X)^T (y - mean y)|| / n.
    masks = _masks(reg, X)
    r = y - y.mean()
    amax = max(np.linalg.norm(X[m].T @ r[m]) for m in masks.T) / X.shape[0]
    assert reg.alpha_ == pytest.approx(ConvexReLURegressor._alpha_ratio * amax, rel=1e-10)
    with pytest.warns(FutureWarning, match="alpha='auto'"):
        old = ConvexReLURegressor(alpha=None, n_gates=8, random_state=0).fit(X, y)
    assert old.alpha_ == pytest.approx(reg.alpha_, rel=1e-12)
    with pytest.raises(TypeError):
        ConvexReLURegressor(1e-2)  # keyword-only


@pytest.mark.parametrize("factor", [1e150, 1e-150])
def test_extreme_feature_scale_is_refused_with_a_message(factor):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 4))
    y = X[:, 0] + 0.1 * rng.standard_normal(30)
    with pytest.raises(ValueError, match="Scale X"):
        ConvexReLURegressor(random_state=0).fit(X * factor, y)


@pytest.mark.parametrize("linear_gate", [True, False])
def test_linear_gate_contains_the_linear_model(linear_gate):
    # linear_gate=True: gates_[:, 0] is zero, its pattern all ones, and the
    # gated optimum is at most the group-lasso linear fit's (cvxpy), on a
    # target that is linear. Without it (two random gates whose patterns
    # are not complementary) the linear model is out of reach and the fit
    # is worse: the reference can tell the two apart.
    rng = np.random.default_rng(3)
    X = rng.standard_normal((80, 3))
    y = X @ [1.0, -2.0, 0.5] + 0.05 * rng.standard_normal(80)
    alpha = 1e-2
    reg = ConvexReLURegressor(alpha=alpha, n_gates=2, linear_gate=linear_gate, tol=1e-8,
                              max_iter=20000, random_state=0).fit(X, y)
    w, b = cp.Variable(3), cp.Variable()
    linear = cp.Problem(cp.Minimize(cp.sum_squares(X @ w + b - y) / 160 + alpha * cp.norm(w)))
    linear.solve(solver="CLARABEL")
    assert reg.lower_bound_ <= reg.objective_
    if linear_gate:
        assert np.all(reg.gates_[:, 0] == 0)
        assert 0 in reg.neuron_gate_index_  # the linear neuron carries the fit
        assert reg.objective_ <= linear.value * (1 + 1e-6)
    else:
        assert np.all(np.any(reg.gates_ != 0, axis=0))
        assert reg.objective_ > linear.value * 1.05


@pytest.mark.parametrize("task", ["squared", "logistic"])
def test_single_precision_gradients_keep_the_optimum_and_a_valid_bound(task, monkeypatch):
    # Large problems take APG's gradients in float32 (every 4th, the certified
    # one, in float64) and the line search's forward products as float32
    # increments from the iterate; forced on here at a size cvxpy solves.
    from sklearn_convexnn._solvers.relu import gated

    monkeypatch.setattr(gated, "FAST_MIN_PRODUCT", 0)
    X, y = _data(seed=2, scales=MILD)
    kw = dict(alpha=1e-2, n_gates=8, solver="apg", tol=1e-7, max_iter=50000, random_state=0)
    if task == "squared":
        est, Y, loss = ConvexReLURegressor(**kw).fit(X, y), y[:, None], "squared"
    else:
        labels = y > np.median(y)
        est, Y, loss = ConvexReLUClassifier(**kw).fit(X, labels), \
            np.where(labels, 1.0, -1.0)[:, None], "logistic"
    ref = _cvxpy_value(X, Y, _masks(est, X), 1e-2, "gated", loss)
    assert est.objective_ == pytest.approx(ref, rel=1e-4)
    assert est.lower_bound_ <= ref * (1 + 1e-7) + 1e-9
    assert est.dual_gap_ <= 1e-6 * est.objective_


def test_single_precision_forward_increments_match_the_exact_images():
    # GatedProblem.forward_near: img(W_ref) + (D X)(W - W_ref), the increment
    # in float32; against the images computed directly with numpy in float64
    # (sum_j 1[X g_j >= 0] * (X w_j)). Its rounding is relative to the
    # increment, not to the images; every REFRESH_EVERY-th call is exact.
    from sklearn_convexnn._solvers.relu import gated
    from sklearn_convexnn._solvers.relu.design import MaskedDesign

    rng = np.random.default_rng(5)
    X = rng.standard_normal((300, 7)) * np.array([1.0, 1e2, 1e-2, 1.0, 5.0, 1.0, 1.0])
    masks = X @ rng.standard_normal((7, 9)) >= 0
    problem = gated.GatedProblem(MaskedDesign(X, masks, 1), None, None, fast=True)
    assert problem.fast

    def direct(W):
        return np.sum(masks * (X @ W), axis=1)[:, None]  # (n, 1): one output

    W_ref = rng.standard_normal((7, 9))
    W_ref[:, 3] = 0.0
    img_ref = (direct(W_ref),)
    for call in range(1, gated.REFRESH_EVERY + 1):
        W = W_ref + 1e-3 * rng.standard_normal((7, 9))
        got = problem.forward_near(W, W_ref, img_ref)[0]
        err = np.linalg.norm(got - direct(W))
        if call == gated.REFRESH_EVERY:
            assert err <= 1e-12 * np.linalg.norm(direct(W))
        else:
            assert err <= 1e-5 * np.linalg.norm(direct(W - W_ref))
            assert err > 0  # single precision did run
