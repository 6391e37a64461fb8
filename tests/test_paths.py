"""alpha_max, regularization paths and the cross-validated estimators.

References used here: the lifted SDPs written directly in cvxpy (bisection on
the first alpha whose optimal output layer is non-zero), a lasso over every
sign-vector neuron for the quantized family, scipy's scalar minimizer for the
intercept-only fits, cold fits at the path's alphas, and a hand-written
k-fold loop for the CV estimators.
"""

import itertools
import warnings

import cvxpy as cp
import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_convexnn import (
    ConvexCNNClassifier,
    ConvexCNNRegressor,
    ConvexCNNRegressorCV,
    ConvexPolyNetClassifier,
    ConvexPolyNetClassifierCV,
    ConvexPolyNetRegressor,
    ConvexPolyNetRegressorCV,
    QuantizedSDPClassifier,
    QuantizedSDPRegressor,
    QuantizedSDPRegressorCV,
)
from sklearn_convexnn._solvers.shared.losses import get_loss
from sklearn_convexnn.paths import (
    alpha_grid,
    alpha_max,
    intercept_only_fit,
    polynet_path,
    regularization_path,
    resolve_alpha,
)
from sklearn_convexnn._solvers.lifted.screening import stable_alpha

ACT = (0.09, 0.5, 0.47)
#: Clarabel near its accuracy limit: the bisections below resolve 1e-4.
TIGHT = {"tol_gap_abs": 1e-12, "tol_gap_rel": 1e-12, "tol_feas": 1e-12,
         "tol_ktratio": 1e-10, "max_iter": 500}


def _data(n=40, d=3, seed=0, scale=10.0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = scale * ((X @ np.linspace(1, 0.2, d)) ** 2 - X[:, -1]) + rng.normal(size=n)
    return X, y


def _labels(X):
    return (X[:, 0] > 0.2).astype(int) + (X[:, 1] > 0.0)


# --------------------------------------------------- an independent alpha_max
def _lifted_sdp(X, y, alpha, loss="squared", constraint="sphere", **solve_options):
    """The lifted SDP written here, solved: ``(optimal value, Z)``."""
    n, d = X.shape
    a, b, c = ACT
    Z = [cp.Variable((d + 1, d + 1), PSD=True) for _ in range(2)]
    b0 = cp.Variable()
    yhat = b0
    for sign, Zs in zip((1.0, -1.0), Z):
        quad = cp.sum(cp.multiply(X @ Zs[:d, :d], X), axis=1)
        yhat = yhat + sign * (a * quad + b * (X @ Zs[:d, d]) + c * Zs[d, d])
    if loss == "squared":
        data = cp.sum_squares(yhat - y) / (2 * n)
    else:
        data = cp.sum(cp.logistic(-cp.multiply(y, yhat))) / n
    if constraint == "sphere":
        cons = [cp.trace(Zs[:d, :d]) == Zs[d, d] for Zs in Z]
    else:
        cons = [cp.diag(Zs[:d, :d]) == Zs[d, d] for Zs in Z]
    problem = cp.Problem(cp.Minimize(data + alpha * (Z[0][d, d] + Z[1][d, d])), cons)
    problem.solve(solver="CLARABEL", **solve_options)
    return problem.value, Z


def _lifted_sdp_output_norm(X, y, alpha, loss, constraint):
    """l1 norm of the optimal output layer, from the lifted SDP written here."""
    d = X.shape[1]
    _, Z = _lifted_sdp(X, y, alpha, loss, constraint, **TIGHT)
    return float(Z[0].value[d, d] + Z[1].value[d, d])


def _lifted_sdp_value(X, y, alpha):
    """Optimal value of the lifted sphere SDP (squared loss), written here."""
    # Clarabel's default accuracy (~1e-8) is ample for the 1e-4 comparisons.
    return _lifted_sdp(X, y, alpha)[0]


def _sign_lasso_output_norm(X, y, alpha):
    """l1 norm of the optimal output layer over all sign-vector neurons (squared loss)."""
    n, d = X.shape
    a, b, c = ACT
    U = np.array(list(itertools.product((-1.0, 1.0), repeat=d)))
    T = X @ U.T
    H = a * T**2 + b * T + c
    w, b0 = cp.Variable(H.shape[1]), cp.Variable()
    cp.Problem(cp.Minimize(cp.sum_squares(H @ w + b0 - y) / (2 * n)
                           + alpha * cp.norm1(w))).solve(solver="CLARABEL", **TIGHT)
    return float(np.abs(w.value).sum())


def _first_nonzero_alpha(output_norm, scale, rtol=1e-5):
    """Bisection on the largest alpha with a non-zero optimal output layer."""
    grid = np.geomspace(1e-3, 1e3, 13) * scale
    nonzero = [output_norm(a) > 1e-5 * scale for a in grid]
    k = max(i for i, nz in enumerate(nonzero) if nz)
    lo, hi = grid[k], grid[k + 1]
    while hi - lo > rtol * hi:
        mid = 0.5 * (lo + hi)
        if output_norm(mid) > 1e-5 * scale:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_alpha_max_matches_bisection_on_the_lifted_sdp(loss):
    X, y = _data(n=14, d=2, seed=1, scale=1.0)
    if loss == "logistic":
        y = np.where(y > np.median(y), 1.0, -1.0)
        est = ConvexPolyNetClassifier(loss="logistic", activation=ACT)
    else:
        est = ConvexPolyNetRegressor(activation=ACT)
    top = alpha_max(est, X, y)
    ref = _first_nonzero_alpha(lambda a: _lifted_sdp_output_norm(X, y, a, loss, "sphere"),
                               top)
    assert top == pytest.approx(ref, rel=1e-4)


def test_quantized_alpha_max_matches_sign_lasso_and_relaxation():
    X, y = _data(n=14, d=3, seed=2, scale=1.0)
    est = QuantizedSDPRegressor(activation=ACT)
    top = alpha_max(est, X, y)  # d=3: exact over the 8 sign vectors
    ref = _first_nonzero_alpha(lambda a: _sign_lasso_output_norm(X, y, a), top)
    assert top == pytest.approx(ref, rel=1e-4)

    from sklearn_convexnn._solvers.lifted.lifted import LiftedBlock
    from sklearn_convexnn.paths import binary_alpha_max, intercept_only_dual

    theta = intercept_only_dual(y[:, None], get_loss("squared"))
    relaxed = binary_alpha_max([LiftedBlock(X)], theta, ACT, exact=False)
    ref_relaxed = _first_nonzero_alpha(
        lambda a: _lifted_sdp_output_norm(X, y, a, "squared", "binary"), relaxed)
    assert relaxed == pytest.approx(ref_relaxed, rel=1e-4)
    assert relaxed >= top * (1 - 1e-9)


# ------------------------------------------------- empty network at the top
FAMILIES = [
    ("reg", lambda: ConvexPolyNetRegressor(activation=ACT)),
    ("reg-lowrank", lambda: ConvexPolyNetRegressor(activation=ACT, solver="lowrank")),
    ("reg-huber", lambda: ConvexPolyNetRegressor(activation=ACT, loss="huber",
                                                 huber_delta=5.0)),
    ("clf-multinomial", lambda: ConvexPolyNetClassifier(activation=ACT)),
    ("clf-binary", lambda: ConvexPolyNetClassifier(activation=ACT, loss="squared")),
    ("quantized", lambda: QuantizedSDPRegressor(activation=ACT, random_state=0)),
    ("quantized-ternary", lambda: QuantizedSDPRegressor(activation=ACT, levels="ternary",
                                                        random_state=0)),
    ("quantized-clf", lambda: QuantizedSDPClassifier(activation=ACT, random_state=0)),
    ("cnn", lambda: ConvexCNNRegressor(image_shape=(2, 2), patch_shape=(1, 2),
                                       activation=ACT)),
    ("cnn-clf", lambda: ConvexCNNClassifier(image_shape=(2, 2), patch_shape=(1, 2),
                                            activation=ACT)),
]


@pytest.mark.parametrize("name,make", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_no_neuron_at_alpha_max_and_some_below(name, make):
    X, y = _data(n=40, d=4 if "cnn" in name else 3, seed=3)
    if "clf" in name:
        y = _labels(X) if "binary" not in name else (X[:, 0] > 0)
    top = alpha_max(make(), X, y)
    assert top > 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for factor in (1.0, 1.5):
            est = make().set_params(alpha=factor * top).fit(X, y)
            assert est.n_neurons_ == 0
            # ... and it is optimal: the certified bound meets its objective.
            assert est.lower_bound_ == pytest.approx(est.objective_, rel=1e-9)
        below = make().set_params(alpha=0.9 * top).fit(X, y)
    assert below.n_neurons_ >= 1
    empty = make().set_params(alpha=top).fit(X, y)
    assert below.objective_ < empty.objective_


def test_no_neuron_without_screening_either():
    """The cvxpy optimum above alpha_max has a negligible output layer."""
    X, y = _data(n=20, d=2, seed=4, scale=1.0)
    top = alpha_max(ConvexPolyNetRegressor(activation=ACT), X, y)
    assert _lifted_sdp_output_norm(X, y, 1.01 * top, "squared", "sphere") < 1e-7
    assert _lifted_sdp_output_norm(X, y, 0.99 * top, "squared", "sphere") > 1e-4


@pytest.mark.parametrize("loss", ["squared", "huber", "absolute", "logistic", "hinge",
                                  "multinomial"])
def test_intercept_only_fit_is_the_best_constant(loss):
    rng = np.random.default_rng(5)
    n = 31
    if loss == "multinomial":
        Y = np.eye(3)[rng.integers(0, 3, n)]
    elif loss in ("logistic", "hinge"):
        Y = np.where(rng.random((n, 1)) < 0.3, 1.0, -1.0)
    else:
        Y = rng.standard_t(2, size=(n, 1)) * 3
    L = get_loss(loss, 1.0)
    b, theta = intercept_only_fit(Y, L)
    if loss == "multinomial":
        value = L.value(np.broadcast_to(b, Y.shape), Y)
        for shift in np.eye(3) * 1e-3:
            assert value <= L.value(np.broadcast_to(b + shift, Y.shape), Y) + 1e-12
            assert value <= L.value(np.broadcast_to(b - shift, Y.shape), Y) + 1e-12
    else:
        ref = minimize_scalar(lambda t: L.value(np.full_like(Y, t), Y),
                              bounds=(Y.min() - 1, Y.max() + 1), method="bounded",
                              options={"xatol": 1e-10})
        assert L.value(np.full_like(Y, b[0]), Y) <= ref.fun + 1e-9
    # theta is a (sub)gradient of the loss at the constant fit, with zero-sum
    # columns: the optimality condition of the free intercept.
    np.testing.assert_allclose(theta.sum(axis=0), 0.0, atol=1e-12)
    Yhat = np.broadcast_to(b, Y.shape)
    for _ in range(20):
        D = rng.normal(size=Y.shape)
        assert L.value(Yhat + D, Y) >= L.value(Yhat, Y) + np.sum(theta * D) - 1e-10


def test_alpha_max_scales_with_the_target():
    X, y = _data()
    est = ConvexPolyNetRegressor()
    assert alpha_max(est, X, 1000 * y) == pytest.approx(1000 * alpha_max(est, X, y),
                                                        rel=1e-9)
    assert alpha_max(est, X, np.full(len(y), 3.0)) <= 1e-12  # rounding of the mean only
    assert resolve_alpha("auto", est, X, y) == pytest.approx(5e-2 * alpha_max(est, X, y))
    # The estimator resolves "auto" the same way inside fit, on its own blocks.
    fitted = ConvexPolyNetRegressor(alpha="auto").fit(X, 1000 * y)
    assert fitted.alpha_ == pytest.approx(5e-2 * alpha_max(est, X, 1000 * y), rel=1e-9)
    assert resolve_alpha(0.3, est, X, y) == 0.3
    with pytest.raises(ValueError, match="auto"):
        resolve_alpha("big", est, X, y)


def test_alpha_max_rejects_relu_relaxation_and_bad_shapes():
    X, y = _data(n=20, d=4)
    with pytest.raises(ValueError, match="formulation"):
        alpha_max(ConvexCNNRegressor(formulation="relu-relaxation"), X, y)
    with pytest.raises(ValueError, match="samples"):
        alpha_max(ConvexPolyNetRegressor(), X, y[:-1])


# ------------------------------------------------------------------- paths
def test_path_matches_cold_fits():
    X, y = _data(n=150, d=4, seed=6, scale=1.0)
    alphas = alpha_grid(ConvexPolyNetRegressor(), X, y, n_alphas=8, eps=1e-2)
    path = polynet_path(X, y, alphas=alphas, solver="lowrank", tol=1e-8)
    assert path.n_neurons[0] == 0
    assert np.all(path.n_neurons[1:] >= 1)
    assert np.all(path.relative_gap <= 1e-4)
    for a, obj in zip(path.alphas, path.objective):
        cold = ConvexPolyNetRegressor(alpha=a, solver="cvxpy").fit(X, y)
        assert obj == pytest.approx(cold.objective_, rel=1e-4)
    # The optimal value grows with alpha.
    assert np.all(np.diff(path.objective) < 0)


def test_path_warm_starts_the_lowrank_solver():
    X, y = _data(n=150, d=4, seed=6, scale=1.0)
    alphas = alpha_grid(ConvexPolyNetRegressor(), X, y, n_alphas=6, eps=1e-2)
    warm = polynet_path(X, y, alphas=alphas, solver="lowrank")
    cold = polynet_path(X, y, alphas=alphas, solver="lowrank", warm_start=False)
    np.testing.assert_allclose(warm.objective, cold.objective, rtol=1e-4)
    # Warm starts need fewer rounds in total (the previous network is close).
    assert warm.n_iter.sum() < cold.n_iter.sum()


def test_default_path_warm_starts_proxgrad_where_auto_picks_cvxpy():
    # A small problem: solver="auto" fits it cold by cvxpy, which cannot
    # warm-start; the path runs the warm-startable proxgrad instead.
    X, y = _data(n=150, d=4, seed=6, scale=1.0)
    assert ConvexPolyNetRegressor(activation=ACT, alpha=0.01).fit(X, y).solver_.startswith(
        "cvxpy")
    alphas = alpha_grid(ConvexPolyNetRegressor(activation=ACT), X, y, n_alphas=6, eps=1e-2)
    path = polynet_path(X, y, alphas=alphas, activation=ACT)
    assert [e.solver_ for e in path.estimators] == ["screening"] + ["proxgrad"] * 5
    assert np.all(path.relative_gap <= 1e-4)
    for a, obj in zip(path.alphas, path.objective):
        assert obj == pytest.approx(_lifted_sdp_value(X, y, a), rel=1e-4)
    # Warm starts do less work than cold proxgrad fits at the same alphas.
    cold = polynet_path(X, y, alphas=alphas, activation=ACT, solver="proxgrad",
                        warm_start=False)
    np.testing.assert_allclose(path.objective, cold.objective, rtol=1e-4)
    assert path.n_iter.sum() < cold.n_iter.sum()
    # An explicit solver is the user's choice: kept.
    kept = polynet_path(X, y, alphas=alphas[:3], activation=ACT, solver="cvxpy")
    assert all(e.solver_.startswith("cvxpy") for e in kept.estimators[1:])


def test_path_returns_independent_networks_and_sorted_alphas():
    X, y = _data(n=40, d=3)
    path = regularization_path(ConvexPolyNetRegressor(), X, y, alphas=[0.1, 10.0, 1.0])
    np.testing.assert_array_equal(path.alphas, [10.0, 1.0, 0.1])
    assert [e.alpha for e in path.estimators] == [10.0, 1.0, 0.1]
    for est, obj in zip(path.estimators, path.objective):
        assert est.objective_ == obj
        pred = est.predict(X)
        assert np.all(np.isfinite(pred))
    with pytest.raises(ValueError, match="non-negative"):
        regularization_path(ConvexPolyNetRegressor(), X, y, alphas=[-1.0])


# ------------------------------------------------------------ CV estimators
def test_cv_regressor_matches_a_hand_written_search():
    X, y = _data(n=60, d=3, seed=7)
    folds = list(KFold(3, shuffle=True, random_state=0).split(X))
    # tol=1e-6: the scores of networks certified to the default 1e-4 (relative
    # objective) may differ from the exact optimum's by more than the 1e-4
    # compared below (the path's proxgrad stops anywhere inside that gap;
    # measured 5.8e-4 on one fold); cvxpy's cold fits solve to 1e-7.
    cv = ConvexPolyNetRegressorCV(n_alphas=5, cv=folds, activation=ACT, tol=1e-6).fit(X, y)
    top = alpha_max(ConvexPolyNetRegressor(), X, y)
    np.testing.assert_allclose(cv.alphas_, np.geomspace(top, 1e-3 * top, 5))
    scores = np.array([[ConvexPolyNetRegressor(alpha=a, activation=ACT)
                        .fit(X[tr], y[tr]).score(X[te], y[te]) for a in cv.alphas_]
                       for tr, te in folds])
    np.testing.assert_allclose(cv.cv_results_["mean_test_score"], scores.mean(axis=0),
                               atol=1e-4)
    np.testing.assert_allclose(cv.cv_results_["std_test_score"], scores.std(axis=0),
                               atol=1e-4)
    assert cv.alpha_ == cv.alphas_[np.argmax(scores.mean(axis=0))]
    ref = ConvexPolyNetRegressor(alpha=cv.alpha_, activation=ACT).fit(X, y)
    assert cv.objective_ == pytest.approx(ref.objective_, rel=1e-6)
    np.testing.assert_allclose(cv.predict(X), ref.predict(X), rtol=1e-4, atol=1e-4)
    assert cv.n_splits_ == 3 and cv.cv_results_["rank_test_score"][cv.best_index_] == 1


def test_cv_classifier_in_pipeline_and_cross_val_score():
    X, _ = _data(n=90, d=3, seed=8)
    y = np.array(["a", "b", "c"])[_labels(X)]
    model = make_pipeline(StandardScaler(), ConvexPolyNetClassifierCV(n_alphas=4, cv=3))
    scores = cross_val_score(model, X, y, cv=StratifiedKFold(3))
    assert scores.mean() > 0.8
    clf = model.fit(X, y)[-1]
    assert set(clf.classes_) == {"a", "b", "c"}
    assert clf.predict_proba(X[:3]).shape == (3, 3)
    assert clf.alpha_ in clf.alphas_


def test_cv_scoring_refit_and_given_alphas():
    X, y = _data(n=45, d=3, seed=9)
    cv = ConvexPolyNetRegressorCV(alphas=[5.0, 0.05, 0.5], cv=3, refit=False,
                                  scoring="neg_mean_absolute_error").fit(X, y)
    np.testing.assert_array_equal(cv.alphas_, [5.0, 0.5, 0.05])
    assert np.all(cv.cv_results_["mean_test_score"] <= 0)
    assert not hasattr(cv, "hidden_weights_")
    with pytest.raises(ValueError, match="alphas"):
        ConvexPolyNetRegressorCV(alphas=[-1.0]).fit(X, y)
    assert "alpha" not in cv.get_params() and "warm_start" not in cv.get_params()
    with pytest.raises(TypeError, match="alpha"):
        ConvexPolyNetRegressorCV(alpha=1.0)


def test_cv_for_quantized_and_cnn():
    X, y = _data(n=40, d=4, seed=10)
    q = QuantizedSDPRegressorCV(n_alphas=3, cv=2, random_state=0).fit(X, y)
    assert q.cv_results_["mean_test_score"].shape == (3,)
    assert set(np.unique(q.hidden_weights_)) <= {-1.0, 1.0}
    c = ConvexCNNRegressorCV(image_shape=(2, 2), patch_shape=(1, 2), n_alphas=3,
                             cv=2).fit(X, y)
    assert c.filters_.shape[1] == 2 and c.alpha_ in c.alphas_
    with pytest.raises(ValueError, match="formulation"):
        ConvexCNNRegressorCV(formulation="relu-relaxation").fit(X, np.abs(y))


def test_sample_weight_equals_repetition():
    X, y = _data(n=30, d=3, seed=11)
    w = np.random.default_rng(0).integers(0, 3, size=len(y)).astype(float)
    Xr, yr = np.repeat(X, w.astype(int), axis=0), np.repeat(y, w.astype(int))
    est = ConvexPolyNetRegressor(activation=ACT)
    assert alpha_max(est, X, y, sample_weight=w) == pytest.approx(alpha_max(est, Xr, yr),
                                                                  rel=1e-9)
    for loss in ("huber", "absolute"):
        est = ConvexPolyNetRegressor(activation=ACT, loss=loss, huber_delta=5.0)
        assert alpha_max(est, X, y, sample_weight=w) == pytest.approx(
            alpha_max(est, Xr, yr), rel=1e-6)
    cv = ConvexPolyNetRegressorCV(n_alphas=3, cv=2, activation=ACT)
    cv.fit(X, y, sample_weight=w)
    top = alpha_max(ConvexPolyNetRegressor(), X, y, sample_weight=w)
    assert cv.alphas_[0] == pytest.approx(top)


@pytest.mark.parametrize("make", [QuantizedSDPRegressor, ConvexCNNClassifier],
                         ids=["quantized-reg", "cnn-clf"])
def test_grid_is_the_same_for_weights_and_repeated_rows(make):
    """scikit-learn's weight check data: alpha_max differs in its last bits, the grid not.

    Reference: the grid and "auto" alpha of the repeated rows, bit for bit;
    alpha_max itself to 1e-12 (the grid's top is at or above it, within
    2e-11).
    """
    rng = np.random.RandomState(42)
    X = rng.rand(15, 30)
    y = rng.randint(0, 3, size=15)
    w = rng.randint(0, 5, size=15)
    Xr, yr = X.repeat(w, axis=0), y.repeat(w)
    if make is QuantizedSDPRegressor:
        y, yr = y.astype(float), yr.astype(float)
    top = alpha_max(make(), X, y, sample_weight=w)
    assert top == pytest.approx(alpha_max(make(), Xr, yr), rel=1e-12)
    grid = alpha_grid(make(), X, y, n_alphas=4, sample_weight=w)
    np.testing.assert_array_equal(grid, alpha_grid(make(), Xr, yr, n_alphas=4))
    assert top <= grid[0] <= top * (1 + 2e-11)
    est = QuantizedSDPRegressor()
    auto = resolve_alpha("auto", est, X, y.astype(float))
    assert auto == pytest.approx(0.05 * alpha_max(est, X, y.astype(float)), rel=1e-11)


def test_stable_alpha_rounds_ulp_noise_away():
    """Reference: values a few ulps apart (away from a rounding boundary) and the input."""
    rng = np.random.default_rng(0)
    for top in 10.0 ** rng.uniform(-8, 8, size=200):
        digits = top / 10.0 ** (np.floor(np.log10(top)) - 11)  # 12 digits before the point
        if abs(digits % 1.0 - 0.5) < 1e-2:
            continue  # at a rounding boundary the noise may flip the 12th digit
        noisy = np.nextafter(np.nextafter(top, np.inf), np.inf)
        assert stable_alpha(noisy) == stable_alpha(top)
        assert stable_alpha(noisy, 0.05) == stable_alpha(top, 0.05)
        assert top <= stable_alpha(top) <= top * (1 + 2e-11)
        assert stable_alpha(top, 0.05) == pytest.approx(0.05 * top, rel=1e-11)


# --- the path's speed-ups are exact: references for each shortcut --------------


def test_sphere_bound_newton_is_tight_upper_bound():
    """The trust-region dual (Newton on its secular function) bounds the exact
    sphere maximum from above and meets it: reference the exact global
    maximizer (trust_region_max) and random points of the sphere."""
    from sklearn_convexnn._solvers.lifted.sphere_dual import sphere_ranges
    from sklearn_convexnn._solvers.lifted.trust_region import trust_region_max

    rng = np.random.default_rng(0)
    for trial in range(40):
        q = int(rng.integers(2, 8))
        G = rng.normal(size=(1, q, q)) * 10.0 ** rng.uniform(-3, 3)
        if trial % 4 == 0:
            G[0, :-1, -1] = G[0, -1, :-1] = 0.0   # no linear term
        up_plus, up_minus = sphere_ranges(G)
        A = (G[0, :-1, :-1] + G[0, :-1, :-1].T) / 2
        g = G[0, :-1, -1] + G[0, -1, :-1]
        exact_plus = trust_region_max(A, g)[0] + G[0, -1, -1]
        exact_minus = trust_region_max(-A, -g)[0] - G[0, -1, -1]
        scale = np.abs(G).max()
        assert up_plus[0] >= exact_plus - 1e-9 * scale
        assert up_minus[0] >= exact_minus - 1e-9 * scale
        assert up_plus[0] <= exact_plus + 1e-7 * scale
        assert up_minus[0] <= exact_minus + 1e-7 * scale
        U = rng.normal(size=(2000, q - 1))
        U /= np.linalg.norm(U, axis=1, keepdims=True)
        L = np.hstack([U, np.ones((2000, 1))])
        vals = np.einsum("ia,ab,ib->i", L, G[0], L)
        assert vals.max() <= up_plus[0] + 1e-9 * scale
        assert -vals.min() <= up_minus[0] + 1e-9 * scale


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_polish_rows_pass_equals_lifted_features(fit_intercept):
    """The polish's row-wise predictions and gradient products equal those of
    the explicit lifted features (reference: ExplicitOperator.forward and
    backward on the neurons' matrices)."""
    from sklearn_convexnn._solvers.lifted.lifted import LiftedBlock
    from sklearn_convexnn._solvers.lifted.lifted_operators import ExplicitOperator
    from sklearn_convexnn._solvers.lifted.proxgrad_polish import _rows_apply, _rows_forward

    rng = np.random.default_rng(1)
    n, p, k, m = 60, 4, 2, 5
    P = rng.normal(size=(n, p))
    op = ExplicitOperator([LiftedBlock(P)], (0.3, 0.7, -0.2), fit_intercept)
    lv = rng.normal(size=(m, p + 1))
    t = lv[:, -1]
    o_j = rng.integers(0, k, size=m)
    s_j = rng.choice([-1.0, 1.0], size=m)
    D = np.zeros((k, 1, p + 1, p + 1))
    for j in range(m):
        D[o_j[j], 0] += s_j[j] * np.outer(lv[j], lv[j])
    Yhat, Zr, centre, V = _rows_forward(op, P, lv, t, o_j, s_j, k)
    np.testing.assert_allclose(Yhat, op.forward(D), rtol=1e-10, atol=1e-10)
    # Each neuron's own output (before its sign): the features on its matrix.
    for j in range(m):
        Dj = np.zeros((1, 1, p + 1, p + 1))
        Dj[0, 0] = np.outer(lv[j], lv[j])
        np.testing.assert_allclose(V[:, j], op.forward(Dj)[:, 0], rtol=1e-10, atol=1e-10)
    theta = rng.normal(size=(n, k))
    G = op.backward(theta)
    ref = np.einsum("jab,jb->ja", G[o_j, 0], lv)
    np.testing.assert_allclose(_rows_apply(op, P, theta, Zr, lv, t, o_j, centre), ref,
                               rtol=1e-10, atol=1e-10)


def test_path_operator_cache_matches_uncached_path():
    """A path that builds proxgrad's operator once (operator_cache) gives the
    networks of fits that build it every time (reference: the same warm fits
    outside the cache), and the cache is keyed on the data."""
    from sklearn_convexnn._solvers.lifted import proxgrad

    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 3))
    y = (X @ [0.6, 0.8, 0.0]) ** 2 + 0.3 * X[:, 2] + 0.05 * rng.normal(size=300)
    alphas = alpha_grid(ConvexPolyNetRegressor(), X, y, n_alphas=6, eps=1e-2)
    path = polynet_path(X, y, alphas=alphas, solver="proxgrad")
    est = ConvexPolyNetRegressor(solver="proxgrad", warm_start=True)
    for a, obj in zip(alphas, path.objective):
        est.set_params(alpha=a).fit(X, y)
        assert abs(est.objective_ - obj) <= 1e-4 * abs(obj)
    with proxgrad.operator_cache():
        ConvexPolyNetRegressor(solver="proxgrad", alpha=alphas[-1]).fit(X, y)
        other = ConvexPolyNetRegressor(solver="proxgrad", alpha=alphas[-1]).fit(2 * X, y)
        assert len(proxgrad._CACHE.store) == 1
    cold = ConvexPolyNetRegressor(solver="proxgrad", alpha=alphas[-1]).fit(2 * X, y)
    assert abs(other.objective_ - cold.objective_) <= 1e-4 * abs(cold.objective_)
    assert proxgrad._CACHE.store is None
