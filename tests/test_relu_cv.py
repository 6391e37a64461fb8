"""Convex ReLU networks on the path / CV machinery (issue 16, item 4).

References: cvxpy solves of the gated group lasso written here (the zero
threshold of alpha and the objective per alpha), and scikit-learn's
GridSearchCV on the same folds and gates (the CV scores).
"""

import cvxpy as cp
import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold

from sklearn_convexnn import (
    ConvexReLUClassifier,
    ConvexReLUClassifierCV,
    ConvexReLURegressor,
    ConvexReLURegressorCV,
)
from sklearn_convexnn.paths import alpha_max, fixed_draws, relu_path


def _data(n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, 3))
    y = np.maximum(X @ [1.0, -1.0, 0.5], 0) + 0.1 * rng.standard_normal(n)
    return X, y


def _gated_cvxpy(X, y, masks, alpha):
    """Gated program with intercept, squared loss: (value, largest group norm)."""
    n, d = X.shape
    W, b = cp.Variable((d, masks.shape[1])), cp.Variable()
    fit = cp.sum(cp.multiply(masks, X @ W), axis=1) + b
    prob = cp.Problem(cp.Minimize(cp.sum_squares(fit - y) / (2 * n)
                                  + alpha * cp.sum(cp.norm(W, 2, axis=0))))
    prob.solve(solver="CLARABEL")
    assert prob.status == "optimal"
    return prob.value, float(np.max(np.linalg.norm(W.value, axis=0)))


def test_alpha_max_is_the_cvxpy_zero_threshold():
    X, y = _data()
    est = ConvexReLURegressor(n_gates=8, random_state=0)
    top = alpha_max(est, X, y)
    masks = (X @ est.fit(X, y).gates_) >= 0
    assert top == pytest.approx(est.alpha_max_, rel=1e-12)
    # Interior-point weights vanish only to the solver's accuracy (~1e-6).
    assert _gated_cvxpy(X, y, masks, 1.01 * top)[1] < 1e-5
    assert _gated_cvxpy(X, y, masks, 0.95 * top)[1] > 1e-3


def test_relu_path_shares_its_gates_and_matches_cvxpy():
    X, y = _data(seed=1)
    path = relu_path(X, y, n_alphas=4, eps=1e-2, n_gates=8, tol=1e-7)  # random_state=None
    gates = path.estimators[0].gates_
    assert all(np.array_equal(e.gates_, gates) for e in path.estimators)
    assert path.n_neurons[0] == 0 and path.n_neurons[-1] > 0
    assert np.all(path.lower_bound <= path.objective + 1e-12)
    masks = (X @ gates) >= 0
    for a, obj in zip(path.alphas, path.objective):
        assert obj == pytest.approx(_gated_cvxpy(X, y, masks, a)[0], rel=1e-4)


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_cv_scores_equal_grid_search_on_the_same_folds(task):
    X, y = _data(n=60, seed=2)
    if task == "regression":
        cv, est = KFold(3, shuffle=True, random_state=0), ConvexReLURegressor
        search = ConvexReLURegressorCV(n_gates=10, n_alphas=4, cv=cv, random_state=0)
    else:
        y = y > np.median(y)
        cv, est = StratifiedKFold(3, shuffle=True, random_state=0), ConvexReLUClassifier
        search = ConvexReLUClassifierCV(n_gates=10, n_alphas=4, cv=cv, random_state=0)
    search.fit(X, y)
    seed = fixed_draws(est(random_state=0)).random_state
    grid = GridSearchCV(est(n_gates=10, random_state=seed), {"alpha": search.alphas_},
                        cv=cv).fit(X, y)
    np.testing.assert_allclose(search.cv_results_["mean_test_score"],
                               grid.cv_results_["mean_test_score"], rtol=1e-6, atol=1e-9)
    assert search.alphas_[0] == pytest.approx(alpha_max(est(n_gates=10, random_state=0), X, y))
    refit = est(n_gates=10, random_state=seed, alpha=search.alpha_).fit(X, y)
    np.testing.assert_allclose(search.predict(X) if task == "regression" else
                               search.decision_function(X),
                               refit.predict(X) if task == "regression" else
                               refit.decision_function(X), rtol=1e-8, atol=1e-10)


def test_cv_with_random_state_none_fits_one_draw_of_gates():
    X, y = _data(n=50, seed=3)
    reg = ConvexReLURegressorCV(n_gates=6, n_alphas=3, cv=2).fit(X, y)
    assert reg.gates_.shape[0] == X.shape[1]
    assert reg.alphas_.shape == (3,) and np.all(np.diff(reg.alphas_) < 0)


@pytest.mark.parametrize("variant", ["gated", "exact"])
def test_screening_at_alpha_max_is_the_cvxpy_optimum(variant):
    X, y = _data(n=30, seed=4)
    top = alpha_max(ConvexReLURegressor(n_gates=6, random_state=0), X, y)
    reg = ConvexReLURegressor(alpha=top, n_gates=6, variant=variant, random_state=0).fit(X, y)
    assert reg.solver_ == "screening" and reg.n_neurons_ == 0
    masks = (X @ reg.gates_) >= 0
    assert reg.objective_ == pytest.approx(_gated_cvxpy(X, y, masks, top)[0], rel=1e-6)
    assert reg.lower_bound_ == reg.objective_
