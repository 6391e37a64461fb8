"""The recipe of doc/developers.rst "Adding a neuron set", followed end to end.

A set registered in ``NEURON_SETS`` and named by an estimator's
``_constraint`` must reach alpha_max / ``alpha="auto"`` (screening), the
certificate and the cvxpy back end with no other edit. The new set here
is the sphere under another name, so the references are independent closed
forms and the stock sphere estimator.
"""

import numpy as np
import pytest

from sklearn_convexnn import ConvexPolyNetRegressor
from sklearn_convexnn._solvers.lifted import neuron_sets
from sklearn_convexnn._solvers.lifted.lifted import LiftedBlock
from sklearn_convexnn._solvers.lifted.screening import lifted_alpha_max
from sklearn_convexnn._solvers.shared.losses import get_loss


class _RenamedSphere(neuron_sets.Sphere):
    name = "renamed-sphere"


class _RenamedSphereRegressor(ConvexPolyNetRegressor):
    _constraint = "renamed-sphere"

    def _neuron_set(self):
        return _RenamedSphere()


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(neuron_sets.NEURON_SETS, "renamed-sphere", _RenamedSphere)


def _data():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 3))
    return X, (X @ [1.0, 0.5, 0.0]) ** 2 + 0.1 * rng.normal(size=40)


def test_alpha_max_of_a_registered_set(registered):
    # Square activation, squared loss: the dual point at the intercept-only
    # fit is (mean(y) - y) / n and alpha_max is the largest |eigenvalue| of
    # X^T diag(theta) X (the maximum of |u^T X^T diag(theta) X u| on the sphere).
    X, y = _data()
    theta = (y.mean() - y) / len(y)
    expected = np.abs(np.linalg.eigvalsh(X.T @ (theta[:, None] * X))).max()
    got = lifted_alpha_max([LiftedBlock(X)], y[:, None], get_loss("squared"),
                           (1.0, 0.0, 0.0), neuron_set="renamed-sphere")
    assert got == pytest.approx(expected, rel=1e-8)


def test_estimator_with_a_registered_set_fits_like_the_sphere(registered):
    X, y = _data()
    ref = ConvexPolyNetRegressor(solver="cvxpy").fit(X, y)
    new = _RenamedSphereRegressor(solver="auto").fit(X, y)   # alpha="auto": screening
    assert new.objective_ == pytest.approx(ref.objective_, rel=1e-5)
    assert new.lower_bound_ <= new.objective_ + 1e-9
    assert new.lower_bound_ == pytest.approx(ref.lower_bound_, rel=1e-5)
