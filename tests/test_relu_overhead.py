"""The per-fit overheads cut for small fits, against what they replace: the
plain-input shortcuts of the fit-time checks (``_fast_validation``) against
sklearn's own validation, the BLAS thread limit against threadpoolctl's
report."""

import numpy as np
import pytest
from sklearn.utils.validation import check_X_y

from sklearn_convexnn import ConvexReLUClassifier, ConvexReLURegressor
from sklearn_convexnn._fast_validation import plain_X_y, validate_params_once


def _cases():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 3))
    y = rng.standard_normal(6)
    bad_X = X.copy()
    bad_X[2, 1] = np.nan
    inf_y = y.copy()
    inf_y[0] = np.inf
    return [
        (X, y), (X, y.astype(int)), (np.asfortranarray(X), y), (X[:, ::2], y[::-1]),
        (X.astype(np.float32), y), (X.tolist(), y), (X, y.tolist()), (X[:1], y[:1]),
        (X[:, :0], y), (X, y[:5]), (bad_X, y), (X, inf_y), (X, y[:, None]),
        (X, np.array(["a", "b"] * 3)), (np.full((6, 3), 1e308), y), (X[None], y),
    ]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.DataConversionWarning")
@pytest.mark.parametrize("case", range(len(_cases())))
def test_plain_X_y_returns_what_check_X_y_returns_unchanged(case):
    X, y = _cases()[case]
    plain = plain_X_y(X, y)
    try:
        Xs, ys = check_X_y(X, y, ensure_min_samples=2, dtype=float, y_numeric=True)
    except ValueError:
        assert plain is None  # sklearn's error is raised by the full path
        return
    if plain is not None:
        # Taken only where sklearn returns the very same arrays.
        assert plain[0] is X and plain[1] is y
        assert Xs is X and np.array_equal(ys, y)


@pytest.mark.parametrize("Est", [ConvexReLURegressor, ConvexReLUClassifier])
def test_fit_attributes_and_errors_as_sklearn(Est):
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 3))
    y = (X[:, 0] > 0).astype(int) if Est is ConvexReLUClassifier else X[:, 0] ** 2
    kw = dict(alpha=1e-2, n_gates=8, variant="exact", random_state=0)
    plain = Est(**kw).fit(X, y)
    listed = Est(**kw).fit(X.tolist(), y.tolist())  # through sklearn's validate_data
    assert plain.n_features_in_ == listed.n_features_in_ == 3
    assert plain.objective_ == listed.objective_
    bad = X.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        Est(**kw).fit(bad, y)
    with pytest.raises(ValueError, match="minimum of 2"):
        Est(**kw).fit(X[:1], y[:1])


def test_plain_refit_drops_feature_names():
    pd = pytest.importorskip("pandas")
    rng = np.random.default_rng(2)
    X = rng.standard_normal((30, 3))
    est = ConvexReLURegressor(alpha=1e-2, n_gates=5, random_state=0)
    est.fit(pd.DataFrame(X, columns=list("abc")), X[:, 0])
    assert list(est.feature_names_in_) == list("abc")
    est.fit(X, X[:, 0])
    assert not hasattr(est, "feature_names_in_")


def test_validate_params_once_checks_each_new_set():
    calls = []
    est = ConvexReLURegressor(alpha=0.5, n_gates=7)
    validate_params_once(est, lambda: calls.append(1))
    validate_params_once(est, lambda: calls.append(1))
    assert len(calls) == 1  # the same plain values: validated once
    est.set_params(n_gates=True)  # equal to 1 but a bool: another set
    validate_params_once(est, lambda: calls.append(1))
    est.set_params(n_gates=7, random_state=np.random.RandomState(0))  # not plain: always
    validate_params_once(est, lambda: calls.append(1))
    validate_params_once(est, lambda: calls.append(1))
    assert len(calls) == 4
    # Invalid values still raise on every fit (a failed set is never remembered).
    bad = ConvexReLURegressor(n_gates=0)
    for _ in range(2):
        with pytest.raises(ValueError, match="n_gates"):
            bad.fit(np.ones((4, 2)), np.arange(4.0))


def test_single_blas_thread_limits_and_restores():
    from threadpoolctl import threadpool_info, threadpool_limits

    from sklearn_convexnn._solvers.shared import l1_refit

    def counts():
        return {lib["filepath"]: lib["num_threads"] for lib in threadpool_info()
                if lib["user_api"] == "blas"}

    with l1_refit.single_blas_thread():
        pass
    ours = [lib.filepath for lib in l1_refit._CONTROLLER[0]]  # the libraries it limits
    assert ours
    with threadpool_limits(limits=2, user_api="blas"):
        outside = counts()
        assert any(outside[path] == 2 for path in ours)
        with l1_refit.single_blas_thread():
            assert all(counts()[path] == 1 for path in ours)
            with l1_refit.single_blas_thread():  # nested: the outer one restores
                assert all(counts()[path] == 1 for path in ours)
            assert all(counts()[path] == 1 for path in ours)
        assert counts() == outside
        with pytest.raises(RuntimeError), l1_refit.single_blas_thread():
            raise RuntimeError  # restored on an exception too
        assert counts() == outside
