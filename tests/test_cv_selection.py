"""How the CV estimators choose alpha: the mean held-out score, smoothed over
the neighbours within 1/6 decade on the log grid, then maximized.

References: cold fits of the tuned estimator in a hand-written k-fold loop,
and the window average written out as a plain loop.
"""

import numpy as np
import pytest
from sklearn.model_selection import KFold, StratifiedKFold

from sklearn_convexnn import (
    ConvexPolyNetClassifierCV,
    ConvexPolyNetRegressor,
    ConvexPolyNetRegressorCV,
)
from sklearn_convexnn._cv import SMOOTH_DECADES, smoothed_scores
from sklearn_convexnn.paths import alpha_max

ACT = (0.09, 0.5, 0.47)


def _window_mean(alphas, mean, decades):
    out = []
    for a in alphas:
        vals = [m for b, m in zip(alphas, mean)
                if abs(np.log10(a) - np.log10(b)) <= decades + 1e-12 and not np.isnan(m)]
        out.append(sum(vals) / len(vals) if vals else np.nan)
    return np.array(out)


def test_smoothed_scores_is_the_window_mean():
    rng = np.random.default_rng(0)
    alphas = np.geomspace(3.0, 3e-3, 19)      # a step of 1/6 decade
    mean = rng.uniform(size=19)
    mean[4] = np.nan                          # a failed fit is skipped
    for decades in (SMOOTH_DECADES, 0.4, 0.01):
        np.testing.assert_allclose(smoothed_scores(alphas, mean, decades),
                                   _window_mean(alphas, mean, decades), rtol=1e-12)
    # A window narrower than the grid step leaves the scores as they are.
    fine = mean.copy()
    np.testing.assert_array_equal(smoothed_scores(alphas, fine, 0.1)[~np.isnan(fine)],
                                  fine[~np.isnan(fine)])


def test_cv_picks_the_best_smoothed_score_of_a_hand_written_search():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(60, 3))
    y = 10 * ((X @ [1.0, 0.6, 0.2]) ** 2 - X[:, 2]) + 10 * rng.normal(size=60)
    top = alpha_max(ConvexPolyNetRegressor(activation=ACT), X, y)
    alphas = np.geomspace(top, 1e-2 * top, 13)           # 1/6 decade apart
    folds = list(KFold(3, shuffle=True, random_state=0).split(X))
    cv = ConvexPolyNetRegressorCV(alphas=alphas, cv=folds, activation=ACT).fit(X, y)
    scores = np.array([[ConvexPolyNetRegressor(alpha=a, activation=ACT, solver="cvxpy")
                        .fit(X[tr], y[tr]).score(X[te], y[te]) for a in alphas]
                       for tr, te in folds])
    mean = scores.mean(axis=0)
    # The path's proxgrad networks are certified to tol=1e-4, cvxpy's to 1e-8.
    np.testing.assert_allclose(cv.cv_results_["mean_test_score"], mean, atol=1e-3)
    smooth = _window_mean(alphas, mean, 1 / 6)
    np.testing.assert_allclose(cv.cv_results_["smoothed_test_score"], smooth, atol=1e-3)
    # The choice is the best smoothed score (ties: the larger alpha), with a
    # margin so that solver accuracy cannot flip it.
    order = np.sort(smooth)
    assert order[-1] - order[-2] > 2e-3
    assert cv.alpha_ == pytest.approx(alphas[int(np.argmax(smooth))])
    assert cv.cv_results_["rank_test_score"][cv.best_index_] == 1
    assert cv.best_score_ == pytest.approx(mean[cv.best_index_], abs=1e-3)


def test_polynet_classifier_cv_defaults_to_ten_stratified_folds():
    # The default splitter is the one an explicit StratifiedKFold(10) gives
    # (check_cv's stratified, unshuffled folds), and the regressor keeps 5.
    rng = np.random.default_rng(3)
    X = rng.normal(size=(80, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] ** 2 + 0.5 * rng.normal(size=80) > 0.5).astype(int)
    default = ConvexPolyNetClassifierCV(n_alphas=3, refit=False, activation=ACT).fit(X, y)
    explicit = ConvexPolyNetClassifierCV(n_alphas=3, refit=False, activation=ACT,
                                         cv=StratifiedKFold(10)).fit(X, y)
    assert default.n_splits_ == 10
    for i, (_, test) in enumerate(StratifiedKFold(10).split(X, y)):
        # Held-out accuracy of fold i is a multiple of 1 / len(test).
        scores = default.cv_results_[f"split{i}_test_score"] * len(test)
        np.testing.assert_allclose(scores, np.round(scores), atol=1e-9)
    np.testing.assert_allclose(default.cv_results_["mean_test_score"],
                               explicit.cv_results_["mean_test_score"], atol=1e-12)
    assert default.alpha_ == explicit.alpha_
    assert ConvexPolyNetRegressorCV().cv is None
