"""extrapolation="clip": unchanged on the training data, bounded far from it."""

import numpy as np
import pytest
from sklearn.datasets import load_linnerud

from sklearn_convexnn import ConvexCNNRegressor, ConvexPolyNetRegressor, QuantizedSDPRegressor


def _activation_bound(est):
    """Closed-form bound on |f(x)| when each pre-activation stays in its range."""
    a, b, c = (0.09, 0.5, 0.47)
    assert est.preactivation_range_.shape == (est.n_neurons_, 2)
    lo, hi = est.preactivation_range_.T
    t = np.stack([lo, hi, np.clip(-b / (2 * a), lo, hi)])
    top = np.abs(a * t**2 + b * t + c).max(axis=0)
    W = np.abs(est.output_weights_.reshape(est.n_neurons_, -1))
    return np.abs(np.atleast_1d(est.intercept_)) + top @ W


@pytest.mark.parametrize("make", [
    lambda: ConvexPolyNetRegressor(alpha=1e-2),
    lambda: ConvexCNNRegressor(image_shape=(3, 1), patch_shape=(2, 1), alpha=1e-2),
    lambda: QuantizedSDPRegressor(alpha=1e-2, random_state=0),
])
def test_clip_keeps_training_fit_and_bounds_far_points(make):
    X, Y = load_linnerud(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    Y = (Y - Y.mean(0)) / Y.std(0)
    clip = make().fit(X, Y)
    free = make().set_params(extrapolation="none").fit(X, Y)
    np.testing.assert_allclose(clip.predict(X), free.predict(X), rtol=1e-10, atol=1e-10)
    assert clip.objective_ == pytest.approx(free.objective_, rel=1e-12)
    # Within the training range every pre-activation is unchanged.
    T = X @ clip.hidden_weights_.T if clip.hidden_weights_.shape[1] == X.shape[1] else None
    if T is not None:
        assert np.all(T >= clip.preactivation_range_[:, 0] - 1e-12)
        assert np.all(T <= clip.preactivation_range_[:, 1] + 1e-12)
    far = 50 * X[:5]
    bound = _activation_bound(clip)
    assert np.all(np.abs(clip.predict(far)) <= bound + 1e-9)
    # Without clipping, the quadratic runs away on the same points.
    assert np.abs(free.predict(far)).max() > bound.max()
