"""Property-based checks over the network estimators (hypothesis).

For random small problems (shapes, scales, duplicated and rank-deficient
columns) every network estimator either fits or refuses with a clear error,
and a fit obeys what the certificate promises:

* predictions are finite;
* ``lower_bound_ <= objective_`` (weak duality);
* ``objective_`` is no worse than the intercept-only network (which is
  feasible for every family) by more than the certified gap allows;
* refitting with the same ``random_state`` gives the same network;
* the input arrays are not modified.

The default run draws a few examples per estimator; ``-m slow`` runs a longer
profile.
"""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.exceptions import ConvergenceWarning

import sklearn_convexnn as scn
from sklearn_convexnn._solvers.shared.losses import get_loss

QUICK = settings(max_examples=6, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow])
LONG = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


def _factories():
    """(label, factory, task, n_features rule) for each network estimator present."""
    # random_state only where the solver draws (quantized rounding, ReLU
    # gates): the deterministic estimators deprecate it with a FutureWarning.
    rows = [
        ("polynet-reg", lambda: scn.ConvexPolyNetRegressor(alpha=1e-2), "reg"),
        ("polynet-reg-lowrank",
         lambda: scn.ConvexPolyNetRegressor(alpha=1e-2, solver="lowrank"), "reg"),
        ("polynet-clf", lambda: scn.ConvexPolyNetClassifier(alpha=1e-2), "clf"),
        ("quantized-reg", lambda: scn.QuantizedSDPRegressor(alpha=1e-2, random_state=0), "reg"),
        ("cnn-reg", lambda: scn.ConvexCNNRegressor(image_shape=(3, 3), patch_shape=(2, 2),
                                                   alpha=1e-2), "cnn"),
    ]
    if hasattr(scn, "ConvexReLURegressor"):
        rows.append(("relu-reg", lambda: scn.ConvexReLURegressor(random_state=0), "reg"))
    if hasattr(scn, "ConvexReLUClassifier"):
        rows.append(("relu-clf", lambda: scn.ConvexReLUClassifier(random_state=0), "clf"))
    return rows


FACTORIES = _factories()


@st.composite
def problems(draw, task):
    n = draw(st.integers(6, 24))
    d = 9 if task == "cnn" else draw(st.integers(1, 5))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    if d > 1 and draw(st.booleans()):
        X[:, -1] = X[:, 0]  # duplicated (rank-deficient) column
    if draw(st.booleans()):
        X[n // 2:] = X[: n - n // 2]  # duplicated rows
    X = X * 10.0 ** draw(st.integers(-3, 3))
    if task == "clf":
        y = np.where(X[:, 0] + 0.3 * rng.standard_normal(n) > 0, 1, 0)
        y[:2] = [0, 1]
    else:
        y = (np.tanh(X[:, 0] / (np.abs(X).max() + 1e-300)) + 0.1 * rng.standard_normal(n))
        y = y * 10.0 ** draw(st.integers(-3, 3))
    return X, y


def _intercept_only_objective(est, y):
    if hasattr(est, "classes_"):
        Y = (y == est.classes_[1]).astype(float)[:, None] * 2 - 1
        p = np.clip((Y > 0).mean(), 1e-12, 1 - 1e-12)
        loss = get_loss("logistic")
        return loss.value(np.full_like(Y, np.log(p / (1 - p))), Y)
    loss = get_loss("squared")
    return loss.value(np.full((len(y), 1), y.mean()), y[:, None])


def _check_fit(factory, X, y):
    X0, y0 = X.copy(), y.copy()
    est = factory()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            est.fit(X, y)
        except (ValueError, MemoryError) as exc:
            # A refusal must say what is wrong; it is never a crash from inside.
            assert str(exc), "refused without a message"
            return
        again = factory().fit(X, y)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)
    pred = est.predict(X)
    raw = est.decision_function(X) if hasattr(est, "classes_") else pred
    assert np.all(np.isfinite(np.asarray(raw, dtype=float)))
    assert est.lower_bound_ <= est.objective_ + 1e-12 * max(1.0, abs(est.objective_))
    if getattr(est, "loss", "squared") in ("squared", "logistic") and \
            getattr(est, "fit_intercept", True):
        base = _intercept_only_objective(est, y)
        slack = max(est.objective_ - est.lower_bound_, 0.0) + 1e-9 * max(1.0, abs(base))
        assert est.objective_ <= base + slack
    np.testing.assert_allclose(again.predict(X), pred, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("label,factory,task", FACTORIES, ids=[r[0] for r in FACTORIES])
def test_properties_quick(label, factory, task):
    @QUICK
    @given(problems(task))
    def run(problem):
        _check_fit(factory, *problem)

    run()


@pytest.mark.slow
@pytest.mark.parametrize("label,factory,task", FACTORIES, ids=[r[0] for r in FACTORIES])
def test_properties_long(label, factory, task):
    @LONG
    @given(problems(task))
    def run(problem):
        _check_fit(factory, *problem)

    run()
