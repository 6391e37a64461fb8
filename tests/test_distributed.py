"""Tests of the debiased-averaging meta-estimators (sklearn_convexnn.distributed)."""

import warnings
from typing import ClassVar

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import BaseEstimator, clone
from sklearn.datasets import load_breast_cancer, load_iris, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Lasso, LogisticRegression, LogisticRegressionCV, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.preprocessing import StandardScaler

from sklearn_convexnn._solvers.sketch.newton_sketch import debiasing_factor
from sklearn_convexnn._solvers.sketch.problems import (
    DataProducts,
    LogisticProblem,
    RidgeProblem,
)
from sklearn_convexnn.distributed import (
    DebiasedAveragingClassifier,
    DebiasedAveragingRegressor,
)
from sklearn_convexnn.sketching import (
    GaussianSketch,
    SurrogateSketch,
    effective_dimension,
)


def _ridge_problem(n=400, d=6, alpha=40.0, seed=0):
    """Spread spectrum, so that d_lambda / m is sizable at m ~ 2 d_lambda."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.linspace(0.5, 3.0, d)
    y = X @ rng.standard_normal(d) + rng.standard_normal(n)
    exact = Ridge(alpha=alpha, fit_intercept=False).fit(X, y).coef_
    return X, y, exact


@pytest.fixture(scope="module")
def breast_cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _relative_error(coef, exact):
    return np.linalg.norm(coef - exact) / np.linalg.norm(exact)


@pytest.fixture(scope="module")
def ridge_errors():
    """Relative error by (debias, q), surrogate sketch of size m ~ 2 d_lambda.

    The error at q=64 is heavy-tailed (a mean of 64 inverses), so it is
    averaged over 6 seeds; at q=1024 one seed is stable.
    """
    X, y, exact = _ridge_problem()
    m = int(np.ceil(2 * effective_dimension(X, 40.0)))
    errors = {}
    for debias in (True, False):
        for q, seeds in ((64, range(6)), (1024, range(1))):
            errors[debias, q] = np.mean(
                [
                    _relative_error(
                        DebiasedAveragingRegressor(
                            Ridge(alpha=40.0, fit_intercept=False),
                            sketch=SurrogateSketch(m),
                            n_workers=q,
                            debias=debias,
                            max_iter=1,
                            tol=None,
                            random_state=seed,
                        )
                        .fit(X, y)
                        .coef_,
                        exact,
                    )
                    for seed in seeds
                ]
            )
    return errors


# -- the claim: debiased averaging keeps improving with q, plain stalls ------


def test_ridge_debiased_error_falls_like_inverse_sqrt_workers(ridge_errors):
    ratio = ridge_errors[True, 64] / ridge_errors[True, 1024]
    assert ratio >= 2.5, ridge_errors


def test_ridge_plain_averaging_stalls_at_its_bias(ridge_errors):
    ratio = ridge_errors[False, 64] / ridge_errors[False, 1024]
    assert ratio < 2.0, ridge_errors
    assert ridge_errors[False, 1024] > 3 * ridge_errors[True, 1024]


@pytest.mark.slow
def test_surrogate_debiased_average_inverse_is_unbiased():
    # (1 - d/m) E[((SA)^T SA + lam' I)^{-1}] = (A^T A + lam I)^{-1}
    X, _, _ = _ridge_problem(n=200, d=4, alpha=20.0)
    m = 12
    lam = 20.0
    d_lam = effective_dimension(X, lam)
    factor = debiasing_factor(d_lam, m)
    sketch = SurrogateSketch(m, alpha=lam)
    rng = np.random.default_rng(0)
    inverse = np.zeros((4, 4))
    draws = 2000
    for _ in range(draws):
        SA = sketch.sketch(X, random_state=rng)
        inverse += np.linalg.inv(SA.T @ SA + lam * factor * np.eye(4))
    inverse *= factor / draws
    target = np.linalg.inv(X.T @ X + lam * np.eye(4))
    assert np.linalg.norm(inverse - target) / np.linalg.norm(target) < 0.03


# -- exactness with enough iterations -----------------------------------------


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_ridge_iterations_reach_exact_solution(fit_intercept):
    X, y = make_regression(n_samples=300, n_features=8, noise=1.0, random_state=0)
    Y = np.column_stack([y, -2 * y + X[:, 0]])
    exact = Ridge(alpha=5.0, fit_intercept=fit_intercept).fit(X, Y)
    reg = DebiasedAveragingRegressor(
        Ridge(alpha=5.0, fit_intercept=fit_intercept),
        n_workers=16,
        max_iter=30,
        tol=1e-12,
        random_state=0,
    ).fit(X, Y)
    assert reg.coef_.shape == exact.coef_.shape == (2, 8)
    assert_allclose(reg.coef_, exact.coef_, rtol=1e-7, atol=1e-8)
    assert_allclose(reg.intercept_, exact.intercept_, atol=1e-7)
    assert reg.n_iter_ < 30
    reg1 = clone(reg).fit(X, y)
    assert reg1.coef_.shape == (8,) and isinstance(reg1.intercept_, float)


def test_logistic_reaches_logistic_regression_on_breast_cancer(breast_cancer):
    X, y = breast_cancer
    exact = LogisticRegression(C=0.5, tol=1e-10, max_iter=10000).fit(X, y)
    clf = DebiasedAveragingClassifier(
        LogisticRegression(C=0.5), n_workers=4, max_iter=200, tol=1e-14, random_state=0
    ).fit(X, y)
    assert clf.coef_.shape == exact.coef_.shape
    assert _relative_error(clf.coef_, exact.coef_) < 1e-4
    assert_allclose(clf.intercept_, exact.intercept_, rtol=1e-4)
    assert_allclose(clf.predict_proba(X), exact.predict_proba(X), atol=1e-5)
    assert_array_equal(clf.predict(X), exact.predict(X))
    assert clf.effective_dim_ < clf.sketch_size_
    assert clf.scaled_alpha_ < 1 / 0.5


def test_logistic_multinomial_matches_and_intercepts_sum_to_zero():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]
    exact = LogisticRegression(tol=1e-12, max_iter=10000).fit(X, labels)
    clf = DebiasedAveragingClassifier(max_iter=60, tol=1e-10, random_state=0).fit(
        X, labels
    )
    assert_array_equal(clf.classes_, exact.classes_)
    assert_allclose(clf.coef_, exact.coef_, rtol=1e-5, atol=1e-6)
    assert abs(clf.intercept_.sum()) < 1e-8
    assert_allclose(clf.predict_proba(X), exact.predict_proba(X), atol=1e-6)
    assert_allclose(clf.predict_log_proba(X), np.log(clf.predict_proba(X)))
    assert clf.decision_function(X).shape == (150, 3)


def test_logistic_intercept_elimination_is_exact():
    # The reduced system solved exactly gives the full Newton step.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 3))
    Y = (rng.random(50) < 0.4).astype(float)[:, None]
    params = np.array([[0.3, -0.2, 0.1, 0.4]])
    system = LogisticProblem(DataProducts(X), Y, 2.0, True).newton_system(params)
    dW = np.linalg.solve(system.A.T @ system.A + 2.0 * np.eye(3), system.rhs)
    step = system.finish(dW)
    p = 1 / (1 + np.exp(-(X @ params[0, :3] + params[0, 3])))
    Xb = np.column_stack([X, np.ones(50)])
    H = (Xb.T * (p * (1 - p))) @ Xb + np.diag([2.0, 2.0, 2.0, 0.0])
    assert_allclose(step[0], -np.linalg.solve(H, system.gradient[0]), rtol=1e-10)


# -- sketches, randomness, parallelism ---------------------------------------


class _RecordingSketch(BaseEstimator):
    """Gaussian sketch that records the alpha it was drawn with."""

    seen_alphas: ClassVar[list] = []

    def __init__(self, n_components=30, alpha=1.0):
        self.n_components = n_components
        self.alpha = alpha

    def sketch(self, A, random_state=None):
        type(self).seen_alphas.append(self.alpha)
        rng = np.random.default_rng(random_state)
        S = rng.standard_normal((self.n_components, A.shape[0]))
        return S @ A / np.sqrt(self.n_components)


def test_meta_estimator_owns_lambda():
    X, y, _ = _ridge_problem()
    _RecordingSketch.seen_alphas.clear()
    DebiasedAveragingRegressor(
        Ridge(alpha=7.0),
        sketch=_RecordingSketch(alpha=123.0),
        n_workers=3,
        max_iter=1,
        tol=None,
    ).fit(X, y)
    assert _RecordingSketch.seen_alphas == [7.0] * 3


@pytest.mark.parametrize(
    "sketch", [None, GaussianSketch(40), SurrogateSketch(40, base="leverage")]
)
def test_reproducible_and_seed_dependent(sketch):
    X, y, _ = _ridge_problem()
    reg = DebiasedAveragingRegressor(
        sketch=sketch, n_workers=8, max_iter=1, tol=None, random_state=3
    )
    a, b = clone(reg).fit(X, y).coef_, clone(reg).fit(X, y).coef_
    assert_array_equal(a, b)
    c = clone(reg).set_params(random_state=4).fit(X, y).coef_
    assert not np.allclose(a, c)
    rs = np.random.RandomState(0)
    clone(reg).set_params(random_state=rs).fit(X, y)


def test_result_does_not_depend_on_n_jobs_or_backend():
    X, y, _ = _ridge_problem()
    reg = DebiasedAveragingRegressor(
        n_workers=7, max_iter=2, tol=None, random_state=0
    )
    serial = clone(reg).fit(X, y).coef_
    with joblib.parallel_config(backend="threading"):
        threads = clone(reg).set_params(n_jobs=2).fit(X, y).coef_
    assert_array_equal(serial, threads)


@pytest.mark.slow
def test_result_does_not_depend_on_n_jobs_loky():
    X, y, _ = _ridge_problem()
    reg = DebiasedAveragingRegressor(
        n_workers=7, max_iter=2, tol=None, random_state=0
    )
    assert_array_equal(
        clone(reg).fit(X, y).coef_, clone(reg).set_params(n_jobs=2).fit(X, y).coef_
    )


def test_dask_backend_runs_on_cluster_and_matches():
    distributed = pytest.importorskip("distributed")
    X, y, _ = _ridge_problem()
    reg = DebiasedAveragingRegressor(
        n_workers=8, max_iter=2, tol=None, random_state=0
    )
    reference = clone(reg).fit(X, y).coef_
    with (
        distributed.LocalCluster(
            processes=False, n_workers=2, threads_per_worker=1, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        with (
            distributed.get_task_stream(client) as stream,
            joblib.parallel_config(backend="dask"),
        ):
            on_cluster = clone(reg).set_params(n_jobs=2).fit(X, y).coef_
        assert_array_equal(on_cluster, reference)
        assert len(stream.data) >= 2  # at least one task per iteration
        workers = {task["worker"] for task in stream.data}
        assert workers <= set(client.scheduler_info()["workers"])


# -- scikit-learn API ---------------------------------------------------------


def test_grid_search_over_wrapped_parameters(breast_cancer):
    X, y = breast_cancer
    X, y = X[:200, :8], y[:200]
    search = GridSearchCV(
        DebiasedAveragingClassifier(
            LogisticRegression(), n_workers=4, max_iter=5, random_state=0
        ),
        {"estimator__C": [0.01, 1.0]},
        cv=2,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # max_iter=5 on purpose
        search.fit(X, y)
    assert search.best_params_["estimator__C"] in (0.01, 1.0)
    Xr, yr, _ = _ridge_problem()
    search = GridSearchCV(
        DebiasedAveragingRegressor(Ridge(), random_state=0),
        {"estimator__alpha": [0.1, 100.0]},
        cv=2,
    ).fit(Xr, yr)
    assert search.best_estimator_.estimator.alpha in (0.1, 100.0)


def test_clone_keeps_wrapped_estimator_unfitted():
    X, y, _ = _ridge_problem()
    ridge = Ridge(alpha=3.0)
    reg = DebiasedAveragingRegressor(ridge, random_state=0).fit(X, y)
    assert not hasattr(ridge, "coef_")
    assert clone(reg).get_params()["estimator__alpha"] == 3.0


def test_verbose_prints_one_line_per_round(capsys):
    # verbose=1: a counter, the objective and the gradient norm per round;
    # the printed objective is the ridge objective at the printed round.
    X, y, _ = _ridge_problem()
    DebiasedAveragingRegressor(
        Ridge(alpha=40.0, fit_intercept=False),
        max_iter=3,
        tol=None,
        verbose=1,
        random_state=0,
    ).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[2] for line in lines] == ["1/3", "2/3", "3/3"]
    assert all("objective=" in line and "|gradient|=" in line for line in lines)
    exact = Ridge(alpha=40.0, fit_intercept=False).fit(X, y).coef_
    optimum = 0.5 * (np.sum((y - X @ exact) ** 2) + 40.0 * exact @ exact)
    printed = [float(line.split("objective=")[1].split()[0]) for line in lines]
    assert all(optimum * (1 - 1e-12) <= value for value in printed)
    assert printed[-1] <= optimum * 1.01
    DebiasedAveragingRegressor(max_iter=2, tol=None, verbose=2, random_state=0).fit(
        X, y
    )
    assert "d_alpha=" in capsys.readouterr().out


# -- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    "estimator, match",
    [
        (Ridge(positive=True), "positive=True"),
        (Ridge(alpha=np.array([1.0, 2.0])), "Per-target alpha"),
        (Ridge(alpha=0.0), "alpha must be > 0"),
        (Ridge(alpha=-1.0), "alpha must be > 0"),
        (Lasso(), "wraps sklearn.linear_model.Ridge"),
        (LogisticRegression(), "wraps sklearn.linear_model.Ridge"),
    ],
)
def test_regressor_refuses_unsupported_estimators(estimator, match):
    X, y, _ = _ridge_problem()
    with pytest.raises((ValueError, TypeError), match=match):
        DebiasedAveragingRegressor(estimator).fit(X, y)


@pytest.mark.parametrize(
    "estimator, match",
    [
        (LogisticRegression(l1_ratio=1.0, solver="saga"), "Only the l2 penalty"),
        (LogisticRegression(l1_ratio=0.5, solver="saga"), "elasticnet"),
        (LogisticRegression(C=np.inf), "Unpenalized"),
        (LogisticRegression(C=0.0), "C must be > 0"),
        (LogisticRegression(class_weight="balanced"), "class_weight"),
        (LogisticRegression(solver="liblinear"), "liblinear"),
        (LogisticRegressionCV(), "wraps sklearn.linear_model.LogisticRegression"),
        (Ridge(), "wraps sklearn.linear_model.LogisticRegression"),
    ],
)
def test_classifier_refuses_unsupported_estimators(estimator, match, breast_cancer):
    X, y = breast_cancer
    with pytest.raises((ValueError, TypeError), match=match):
        DebiasedAveragingClassifier(estimator).fit(X, y)


def test_bad_data_and_sketch_errors(breast_cancer):
    X, y = breast_cancer
    X_nan = X.copy()
    X_nan[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        DebiasedAveragingClassifier().fit(X_nan, y)
    clf = DebiasedAveragingClassifier(n_workers=2, max_iter=1, random_state=0)
    with pytest.warns(ConvergenceWarning, match="did not reach tol.*gradient norm"):
        clf.fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :5])
    with pytest.raises(ValueError, match="only one class"):
        DebiasedAveragingClassifier().fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="larger than the effective dimension"):
        DebiasedAveragingClassifier(sketch=GaussianSketch(3)).fit(X, y)
    # plain averaging accepts any size
    reg = DebiasedAveragingRegressor(
        sketch=GaussianSketch(3), debias=False, max_iter=1, tol=None
    )
    Xr, yr, _ = _ridge_problem()
    assert np.all(np.isfinite(reg.fit(Xr, yr).coef_))


def test_ridge_newton_system_is_the_ridge_gradient():
    X, y, exact = _ridge_problem(n=50, d=3, alpha=2.0)
    problem = RidgeProblem(DataProducts(X), y[:, None], 2.0)
    system = problem.newton_system(exact[:, None])
    assert np.linalg.norm(system.rhs) < 1e-8 * np.linalg.norm(X.T @ y)


# -- sample weights, sparse input ---------------------------------------------


def _weighted_and_repeated(seed=0, n=40, d=5, classes=None):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if classes is None:
        y = X @ rng.standard_normal(d) + 0.3 * rng.standard_normal(n)
    else:
        y = rng.integers(0, classes, n)
    w = rng.integers(0, 4, n).astype(float)  # zeros: removed samples
    return X, y, w, np.repeat(X, w.astype(int), axis=0), np.repeat(y, w.astype(int))


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_regressor_weight_equals_repetition(fit_intercept):
    # The iteration's fixed point is the weighted ridge optimum whatever the
    # sketches drawn, so run it to convergence: deterministic to 1e-10.
    X, y, w, X_rep, y_rep = _weighted_and_repeated()
    ridge = Ridge(alpha=3.0, fit_intercept=fit_intercept)
    reg = DebiasedAveragingRegressor(ridge, max_iter=100, tol=1e-13, random_state=0)
    weighted = clone(reg).fit(X, y, sample_weight=w)
    repeated = clone(reg).set_params(random_state=1).fit(X_rep, y_rep)
    assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-6, atol=1e-9)
    assert_allclose(weighted.intercept_, repeated.intercept_, atol=1e-8)
    assert_allclose(weighted.predict(X), repeated.predict(X), rtol=1e-6, atol=1e-9)
    exact = clone(ridge).fit(X, y, sample_weight=w)  # independent reference
    assert_allclose(weighted.coef_, exact.coef_, rtol=1e-7, atol=1e-10)


@pytest.mark.parametrize("classes", [2, 3])
def test_classifier_weight_equals_repetition(classes):
    X, y, w, X_rep, y_rep = _weighted_and_repeated(seed=1, classes=classes)
    clf = DebiasedAveragingClassifier(
        LogisticRegression(C=2.0), max_iter=100, tol=1e-12, random_state=0
    )
    weighted = clone(clf).fit(X, y, sample_weight=w)
    repeated = clone(clf).set_params(random_state=5).fit(X_rep, y_rep)
    assert_allclose(weighted.coef_, repeated.coef_, rtol=1e-6, atol=1e-9)
    assert_allclose(
        weighted.predict_proba(X), repeated.predict_proba(X), rtol=1e-6, atol=1e-9
    )
    exact = LogisticRegression(C=2.0, tol=1e-12, max_iter=10000).fit(
        X, y, sample_weight=w
    )
    assert_allclose(weighted.coef_, exact.coef_, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_sparse_input_gives_the_dense_solution(fmt):
    sparse = pytest.importorskip("scipy.sparse")
    rng = np.random.default_rng(0)
    X = sparse.random(300, 12, density=0.3, format=fmt, random_state=0)
    y_reg = X @ rng.standard_normal(12) + 0.1 * rng.standard_normal(300)
    y_clf = (y_reg > np.median(y_reg)).astype(int)
    for est, y in [
        (DebiasedAveragingRegressor(Ridge(alpha=0.5), random_state=0), y_reg),
        (
            DebiasedAveragingClassifier(
                LogisticRegression(C=10.0, fit_intercept=False), random_state=0
            ),
            y_clf,
        ),
    ]:
        on_sparse = clone(est).fit(X, y)
        on_dense = clone(est).fit(X.toarray(), y)
        assert_allclose(on_sparse.coef_, on_dense.coef_, rtol=1e-8, atol=1e-10)
        assert_allclose(on_sparse.predict(X), on_dense.predict(X.toarray()))


# -- faults ------------------------------------------------------------------


class _NaNSketch(BaseEstimator):
    """A custom sketch that goes wrong: NaN in its output."""

    def __init__(self, n_components=30):
        self.n_components = n_components

    def sketch(self, A, random_state=None):
        SA = np.asarray(A[: self.n_components], dtype=float).copy()
        SA[0, 0] = np.nan
        return SA


def test_nonfinite_sketch_is_a_clear_error_and_leaves_the_model(breast_cancer):
    X, y = breast_cancer
    clf = DebiasedAveragingClassifier(n_workers=4, random_state=0).fit(X, y)
    coef, classes = clf.coef_.copy(), clf.classes_.copy()
    with pytest.raises(FloatingPointError, match="_NaNSketch"):
        clf.set_params(sketch=_NaNSketch(40)).fit(X, np.where(y == 1, "a", "b"))
    assert_array_equal(clf.coef_, coef)  # the failed refit changed nothing
    assert_array_equal(clf.classes_, classes)
    Xr, yr, _ = _ridge_problem()
    with pytest.raises(FloatingPointError, match="_NaNSketch"):
        DebiasedAveragingRegressor(sketch=_NaNSketch(20)).fit(Xr, yr)


def test_regressor_warns_with_gradient_norm_when_tol_not_reached():
    X, y, _ = _ridge_problem()
    reg = DebiasedAveragingRegressor(
        Ridge(alpha=40.0, fit_intercept=False), max_iter=1, tol=1e-12, random_state=0
    )
    with pytest.warns(ConvergenceWarning, match="gradient norm") as record:
        reg.fit(X, y)
    # The reported norm is the true ridge gradient at the returned coef_.
    grad = X.T @ (X @ reg.coef_ - y) + 40.0 * reg.coef_
    assert_allclose(reg.gradient_norm_, np.linalg.norm(grad), rtol=1e-8)
    assert f"{reg.gradient_norm_:.3e}" in str(record[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg.set_params(tol=None).fit(X, y)  # no stopping test: no warning


def test_n_iter_is_a_deprecated_alias_of_max_iter():
    X, y, _ = _ridge_problem()
    new = DebiasedAveragingRegressor(max_iter=2, tol=None, random_state=0).fit(X, y)
    with pytest.warns(FutureWarning, match="max_iter"):
        old = DebiasedAveragingRegressor(n_iter=2, tol=None, random_state=0).fit(X, y)
    assert old.n_iter_ == 2
    assert_array_equal(old.coef_, new.coef_)


# -- the multinomial system, the parallel rule ---------------------------------


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_multinomial_gram_is_the_factor_gram(fit_intercept):
    # The Gram matrix formed from the d-wide data equals the Gram of the
    # (n K) x (K d) factor the workers sketch, intercept eliminated or not,
    # and the full Newton step from the reduced system is the exact one.
    rng = np.random.default_rng(0)
    n, d, k = 30, 4, 3
    X = rng.standard_normal((n, d))
    Y = np.eye(k)[rng.integers(0, k, n)]
    w = rng.random(n) + 0.5
    params = 0.3 * rng.standard_normal((k, d + fit_intercept))
    problem = LogisticProblem(DataProducts(X), Y, 0.7, fit_intercept, w)
    system = problem.newton_system(params)
    assert_allclose(system.gram, system.A.T @ system.A, atol=1e-12)
    step = system.finish(
        np.linalg.solve(system.gram + 0.7 * np.eye(k * d), system.rhs)
    )
    # Reference Hessian from its definition, sum_i w_i (diag p - p p^T) kron z z^T.
    Z = np.column_stack([X, np.ones(n)]) if fit_intercept else X
    P = np.exp(Z @ params.T)
    P /= P.sum(axis=1, keepdims=True)
    H = sum(
        w[i] * np.kron(np.diag(P[i]) - np.outer(P[i], P[i]), np.outer(Z[i], Z[i]))
        for i in range(n)
    )
    penalty = np.kron(np.eye(k), np.diag([0.7] * d + [0.0] * fit_intercept))
    grad = problem.gradient(params).ravel()
    expected = -np.linalg.lstsq(H + penalty, grad, rcond=None)[0]
    if fit_intercept:  # unique up to a common shift of the intercepts
        expected = expected.reshape(k, d + 1)
        expected[:, -1] -= expected[:, -1].mean()
        expected = expected.ravel()
    assert_allclose(step.ravel(), expected, rtol=1e-8, atol=1e-10)


def test_parallel_rule_keeps_small_work_in_one_task():
    from sklearn_convexnn._solvers.sketch.newton_sketch import (
        MIN_FLOPS_PER_TASK,
        n_parallel_tasks,
    )

    assert n_parallel_tasks(2, 16, MIN_FLOPS_PER_TASK / 100) == 1
    assert n_parallel_tasks(2, 16, MIN_FLOPS_PER_TASK) == 2
    assert n_parallel_tasks(-1, 3, 10 * MIN_FLOPS_PER_TASK) <= 3
    assert n_parallel_tasks(None, 16, 10 * MIN_FLOPS_PER_TASK) == 1


def test_negative_sample_weight_is_refused():
    X, y, _ = _ridge_problem()
    w = np.ones(len(y))
    w[3] = -1.0
    with pytest.raises(ValueError, match=r"[Nn]egative"):
        DebiasedAveragingRegressor().fit(X, y, sample_weight=w)


# -- the exact step, the decrement stopping rule, data scale -------------------


def test_auto_rule_takes_exact_step_only_when_sketches_hold_the_data():
    # iris (150 samples, 16 workers, m >= 10): 16 m >= 150, every round exact.
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = DebiasedAveragingClassifier(random_state=0).fit(X, y)
    assert clf.n_exact_rounds_ == clf.n_iter_ and clf.n_tasks_ == 0
    # 3000 samples, 4 workers, d_alpha <= 5: 4 m < 3000, every round sketched.
    rng = np.random.default_rng(0)
    Xl = rng.standard_normal((3000, 5))
    yl = (Xl @ rng.standard_normal(5) + rng.standard_normal(3000) > 0).astype(int)
    big = DebiasedAveragingClassifier(n_workers=4, tol=1e-12, random_state=0).fit(Xl, yl)
    assert big.n_exact_rounds_ == 0 and big.n_tasks_ >= 1
    assert big.sketch_size_ * 4 < 3000
    exact = LogisticRegression(tol=1e-12, max_iter=10000).fit(Xl, yl)
    assert_allclose(big.coef_, exact.coef_, rtol=1e-5, atol=1e-6)
    # A sketch the user passes is always drawn, even where auto would not.
    mine = DebiasedAveragingClassifier(
        sketch=GaussianSketch(60), max_iter=3, tol=None, random_state=0
    ).fit(X, y)
    assert mine.n_exact_rounds_ == 0


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_exact_step_is_newtons_step_from_the_definition(fit_intercept):
    # One unit round from zero with newton_step="exact" is -H^{-1} g, H and g
    # written out here from the multinomial log-loss (independent of the
    # block-structured Gram the solver forms); "sketched" is not.
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    n, d, k, alpha = 150, 4, 3, 0.5
    one_round = dict(max_iter=1, tol=None, step="unit", random_state=0)
    estimator = LogisticRegression(C=1 / alpha, fit_intercept=fit_intercept)
    clf = DebiasedAveragingClassifier(estimator, newton_step="exact", **one_round)
    clf.fit(X, y)
    Z = np.column_stack([X, np.ones(n)]) if fit_intercept else X
    P = np.full((n, k), 1.0 / k)  # softmax at zero
    H = sum(np.kron(np.diag(P[i]) - np.outer(P[i], P[i]), np.outer(Z[i], Z[i])) for i in range(n))
    H += np.kron(np.eye(k), np.diag([alpha] * d + [0.0] * fit_intercept))
    g = ((P - np.eye(k)[y]).T @ Z).ravel()
    step = -np.linalg.lstsq(H, g, rcond=None)[0].reshape(k, -1)
    if fit_intercept:  # unique up to a common shift of the intercepts
        step[:, -1] -= step[:, -1].mean()
    assert_allclose(clf.coef_, step[:, :d], rtol=1e-9, atol=1e-12)
    assert_allclose(clf.intercept_, step[:, d] if fit_intercept else 0.0, atol=1e-10)
    assert clf.n_exact_rounds_ == 1
    sketched = clone(clf).set_params(newton_step="sketched").fit(X, y)
    assert sketched.n_exact_rounds_ == 0
    assert not np.allclose(sketched.coef_, clf.coef_, rtol=1e-3)


def test_effective_dimension_from_cholesky_matches_eigenvalues():
    # effective_dim_ (from the Cholesky factor) against the eigenvalue
    # formula of sketching.effective_dimension; the lower bound that lets
    # the auto rule skip it is below it.
    from sklearn_convexnn._solvers.sketch.newton_sketch import (
        _effective_dimension_lower_bound,
    )

    X, y, _ = _ridge_problem(n=300, d=8, alpha=40.0)
    for newton_step in ("sketched", "exact"):
        reg = DebiasedAveragingRegressor(
            Ridge(alpha=40.0, fit_intercept=False),
            newton_step=newton_step,
            max_iter=1,
            tol=None,
            random_state=0,
        ).fit(X, y)
        assert_allclose(reg.effective_dim_, effective_dimension(X, 40.0), rtol=1e-10)
    rng = np.random.default_rng(1)
    for alpha in (1e-3, 1.0, 1e3):
        A = rng.standard_normal((50, 12)) * np.logspace(0, 3, 12)
        gram = A.T @ A
        assert _effective_dimension_lower_bound(gram, alpha) <= (
            effective_dimension(A, alpha) * (1 + 1e-12)
        )


@pytest.mark.parametrize("newton_step", ["exact", "sketched"])
def test_decrement_rule_stops_within_tol_of_the_optimal_objective(newton_step):
    # Stopping at lambda^2 / 2 <= tol |f| leaves the objective within about
    # tol |f| of the optimum of LogisticRegression (run to 1e-12).
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    tol = 1e-6
    clf = DebiasedAveragingClassifier(
        tol=tol, newton_step=newton_step, random_state=0
    ).fit(X, y)
    problem = LogisticProblem(DataProducts(X), np.eye(3)[y], 1.0, True)

    def objective(est):
        return problem.objective(np.column_stack([est.coef_, est.intercept_]))

    exact = LogisticRegression(tol=1e-12, max_iter=10000).fit(X, y)
    optimum = objective(exact)
    assert objective(clf) - optimum <= tol * abs(optimum)
    assert clf.n_iter_ < 100


@pytest.mark.parametrize("Estimator", [DebiasedAveragingClassifier, DebiasedAveragingRegressor])
def test_data_that_would_overflow_is_a_clear_error(Estimator):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 9))
    y = (X[:, 0] > 0).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings on the way
        with pytest.raises(ValueError, match="Rescale the data"):
            Estimator().fit(X * 1e150, y)
        Estimator(random_state=0).fit(X * 1e100, y)  # large but representable


@pytest.mark.parametrize("newton_step", ["auto", "sketched"])
def test_wide_data_uses_the_row_gram_and_reaches_the_solution(newton_step):
    # More features than samples: no p x p Gram matrix; both paths still
    # reach Ridge / LogisticRegression's optimum.
    rng = np.random.default_rng(2)
    X = rng.standard_normal((40, 120))
    y = X @ rng.standard_normal(120) + 0.1 * rng.standard_normal(40)
    reg = DebiasedAveragingRegressor(
        Ridge(alpha=100.0), newton_step=newton_step, tol=1e-14, random_state=0
    ).fit(X, y)
    exact = Ridge(alpha=100.0).fit(X, y)
    assert_allclose(reg.coef_, exact.coef_, rtol=1e-6, atol=1e-9)
    assert_allclose(reg.effective_dim_, effective_dimension(X - X.mean(0), 100.0))
    labels = (y > np.median(y)).astype(int)
    clf = DebiasedAveragingClassifier(
        LogisticRegression(C=0.5), newton_step=newton_step, tol=1e-14, random_state=0
    ).fit(X, labels)
    reference = LogisticRegression(C=0.5, tol=1e-12, max_iter=10000).fit(X, labels)
    assert_allclose(clf.coef_, reference.coef_, rtol=1e-5, atol=1e-7)
    assert (clf.n_exact_rounds_ > 0) == (newton_step == "auto")
