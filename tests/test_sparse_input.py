"""Sparse X (CSR/CSC) gives the same network as its dense copy."""

import numpy as np
import pytest
import scipy.sparse as sp

from sklearn_convexnn import ConvexCNNRegressor, ConvexPolyNetClassifier, ConvexPolyNetRegressor


def _data(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((40, 4)) * (rng.random((40, 4)) < 0.5)
    y = X[:, 0] ** 2 - X[:, 1] + 0.1 * rng.standard_normal(40)
    return X, y


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("make", [
    lambda: ConvexPolyNetRegressor(alpha=1e-2),
    lambda: ConvexPolyNetRegressor(alpha=1e-2, solver="lowrank"),
    lambda: ConvexCNNRegressor(image_shape=(2, 2), patch_shape=(2, 1), alpha=1e-2),
])
def test_sparse_regressor_equals_dense(make, fmt):
    X, y = _data()
    Xs = sp.csr_matrix(X).asformat(fmt)
    dense, sparse = make().fit(X, y), make().fit(Xs, y)
    assert sparse.objective_ == pytest.approx(dense.objective_, rel=1e-8)
    # The squared loss is 1/n-strongly convex in the training predictions, so
    # a fit within a certified gap g of the optimum predicts within
    # sqrt(2 n g) of it (in norm): the two fits, within the sum of those radii.
    # (Another floating-point path may land elsewhere inside that radius.)
    n = len(y)
    radius = np.sqrt(2 * n * sparse.dual_gap_) + np.sqrt(2 * n * dense.dual_gap_)
    assert np.linalg.norm(sparse.predict(Xs) - dense.predict(X)) <= radius + 1e-9
    assert sp.issparse(Xs)  # the caller's matrix is left as it was


def test_sparse_classifier_equals_dense():
    X, y = _data(1)
    labels = (y > np.median(y)).astype(int)
    dense = ConvexPolyNetClassifier(alpha=1e-2).fit(X, labels)
    sparse = ConvexPolyNetClassifier(alpha=1e-2).fit(sp.csr_array(X), labels)
    np.testing.assert_allclose(sparse.predict_proba(sp.csr_array(X)), dense.predict_proba(X),
                               rtol=1e-7, atol=1e-9)
