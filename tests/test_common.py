"""scikit-learn's estimator checks over every public estimator.

Estimators are discovered from ``sklearn_convexnn.__all__``, so a new one is
covered the moment it is exported.
"""

import inspect

import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.utils.estimator_checks import estimator_checks_generator

import sklearn_convexnn

ESTIMATORS = [
    getattr(sklearn_convexnn, name)
    for name in sklearn_convexnn.__all__
    if inspect.isclass(getattr(sklearn_convexnn, name))
    and issubclass(getattr(sklearn_convexnn, name), BaseEstimator)
]

_WEIGHT_CHECKS = ("check_sample_weight_equivalence_on_dense_data",
                  "check_sample_weight_equivalence_on_sparse_data")

# Checks a user would accept failing, with the reason. Keyed by class name.
EXPECTED_FAILED_CHECKS = {
    "SurrogateSketch": {
        check: (
            "the check sets n_components=1, below the data's effective dimension (~2.8); "
            "a surrogate sketch exists only for n_components > d_alpha and says so with a "
            "ValueError"
        )
        for check in (
            "check_dont_overwrite_parameters",
            "check_fit2d_predict1d",
            "check_methods_subset_invariance",
            "check_methods_sample_order_invariance",
        )
    },
    "ReLURelaxationCNNRegressor": {
        check: (
            "a recovery method for data from a one-filter ReLU network, not a general "
            "regressor: on the checks' random data the anchor is unbounded over the feasible "
            "filters and fit raises RelaxationUnboundedError (tested on planted data in "
            "tests/test_cnn.py, its sample weights against repeated rows too)"
        )
        for check in (
            "check_dict_unchanged", "check_dont_overwrite_parameters", "check_dtype_object",
            "check_estimators_dtypes", "check_estimators_nan_inf",
            "check_f_contiguous_array_estimator", "check_fit2d_predict1d",
            "check_fit_check_is_fitted", "check_fit_idempotent", "check_fit_score_takes_y",
            "check_methods_sample_order_invariance", "check_methods_subset_invariance",
            "check_n_features_in", "check_non_transformer_estimators_n_iter",
            "check_positive_only_tag_during_fit", "check_regressors_train",
            "check_sample_weight_equivalence_on_dense_data", "check_sample_weights_list",
            "check_sample_weights_not_overwritten", "check_sample_weights_shape",
            "check_supervised_y_2d",
        )
    },
}


def _expected_failed_checks(estimator):
    name = type(estimator).__name__
    if name.endswith("CV"):
        # scikit-learn's check gives a CV estimator matching folds (weights in
        # one group only): ConvexPolyNetRegressorCV and ConvexCNNRegressorCV
        # pass it; the others miss it for their base estimator's reason.
        base = EXPECTED_FAILED_CHECKS.get(name[:-2], {})
        reasons = {check: f"as {name[:-2]}: {reason}" for check, reason in base.items()
                   if check.startswith("check_sample_weight_equivalence")}
        return {**reasons, **EXPECTED_FAILED_CHECKS.get(name, {})}
    return EXPECTED_FAILED_CHECKS.get(name, {})


def test_every_public_estimator_is_checked():
    assert len(ESTIMATORS) >= 2
    names = {cls.__name__ for cls in ESTIMATORS}
    assert {"ConvexPolyNetRegressor", "ConvexPolyNetClassifier"} <= names


# The CV estimators fit a whole path per fold: check them on a short grid
# that stops at alpha_max / 10 (eps=0.1). The API checks do not depend on the
# grid's range, and the default eps=1e-3 puts the grid's last alpha where the
# relaxations are ill-conditioned (5-10x the CPU time of a check, e.g.
# QuantizedSDPClassifierCV's check_supervised_y_2d 9.6 s -> 1.0 s, stopping
# at max_iter on the way). The heavy checks (slow, below) keep the default grid.
CHECK_PARAMS = {cls.__name__: {"n_alphas": 2, "cv": 2, "eps": 0.1}
                for cls in ESTIMATORS if cls.__name__.endswith("CV")}


#: Parameters for single checks, as scikit-learn's own PER_ESTIMATOR_CHECK_PARAMS:
#: the sample-weight checks compare weighted with repeated fits to rtol 1e-7,
#: which needs optima certified far below the default tol (a gap of g fixes
#: predictions to about sqrt(g)). Only these checks pay for it. The CNN
#: classifiers refine their networks by Newton below tol=1e-6
#: (_solvers/lifted/refine.py): weighted and repeated fits 5e-11 apart on
#: the check's data (proxgrad alone stopped 9e-6 apart on a flat objective).
PER_CHECK_PARAMS = {
    **{name: {check: {"tol": 1e-12} for check in _WEIGHT_CHECKS}
       for name in ("ConvexPolyNetClassifier", "QuantizedSDPClassifier",
                    "QuantizedSDPRegressor", "ConvexCNNClassifier")},
    # Every relaxation of the path solved (max_iter=2000 stops the lowrank
    # relaxation at gaps of 5e-4 to 1.2e-2 at the grid's smallest alpha).
    **{name: {check: {"tol": 1e-12, "max_iter": 20000} for check in _WEIGHT_CHECKS}
       for name in ("QuantizedSDPClassifierCV", "QuantizedSDPRegressorCV")},
    # The refit at the grid's smallest alpha (1.9e-4, 45 rows of 30 features,
    # nearly separable) is not solved to the check's accuracy by cvxpy
    # (Clarabel fails on the repeated rows, stops 'optimal_inaccurate' at gap
    # 4.3e-4 on the weighted ones); proxgrad honours tol=1e-12: decision
    # functions 1e-7 apart after 300 iterations (its certificate stalls at 2e-8
    # on the weighted rows, hence max_iter=300: 9 s a check).
    "ConvexPolyNetClassifierCV": {check: {"tol": 1e-12, "solver": "proxgrad", "max_iter": 300}
                                  for check in _WEIGHT_CHECKS},
    "ConvexCNNClassifierCV": {check: {"tol": 1e-12} for check in _WEIGHT_CHECKS},
    # The refit at the grid's smallest alpha stops at max_iter=1000 with a
    # relative gap of 0.16 on the check's data (45 rows, 30 features).
    "ConvexReLURegressorCV": {check: {"tol": 1e-10, "max_iter": 20000}
                              for check in _WEIGHT_CHECKS},
}


def _check_params(name, check):
    return PER_CHECK_PARAMS.get(name, {}).get(check, {})


#: Checks that refit a CV estimator's whole grid many times over (sparse
#: containers, memmaps, object dtypes, weights): run under ``-m slow``; the
#: default run still gives every CV estimator every other check.
HEAVY_CV_CHECKS = ("sparse", "sample_weight", "dtype_object", "memmap")

#: Single heavy (estimator, check) pairs run under ``-m slow`` only, each with
#: the cheaper default-run case that covers the same code path:
#: - ConvexReLUClassifier's sparse checks (9-20 s each): ConvexReLURegressor's
#:   sparse checks (2 s) run the same gated design on sparse X (only the loss
#:   differs), as does tests/test_relu.py::test_sparse_equals_dense;
#: - the tight-tol sparse weight checks (6 s each for ConvexPolyNetClassifier):
#:   the dense weight checks compare weighted with repeated fits to the same
#:   rtol, and the sparse-input checks cover sparse X;
#: - ConvexPolyNetClassifier's dense weight check at tol=1e-12 (7-16 s): the
#:   lifted family keeps ConvexPolyNetRegressor's and the quantized estimators'
#:   weight checks (and the logistic weights in tests/test_losses.py).
SLOW_CHECKS = {
    ("ConvexReLUClassifier", "check_estimator_sparse_array"),
    ("ConvexReLUClassifier", "check_estimator_sparse_matrix"),
    ("ConvexPolyNetClassifier", "check_sample_weight_equivalence_on_dense_data"),
    *((name, "check_sample_weight_equivalence_on_sparse_data")
      for name in ("ConvexPolyNetClassifier", "QuantizedSDPClassifier",
                   "QuantizedSDPRegressor")),
}


def _is_slow(cls_name, check_name):
    if (cls_name, check_name) in SLOW_CHECKS:
        return True
    return cls_name.endswith("CV") and any(word in check_name for word in HEAVY_CV_CHECKS)


def _check_cases():
    """(estimator, check) cases: expected failures skipped, heavy CV checks slow.

    An expected failure is listed with its reason above; running it would only
    spend minutes confirming it (the CV estimators' weighted-vs-repeated checks
    refit the grid on every fold).
    """
    for cls in ESTIMATORS:
        estimator = cls(**CHECK_PARAMS.get(cls.__name__, {}))
        for est, check in estimator_checks_generator(
            estimator, expected_failed_checks=_expected_failed_checks(estimator), mark="skip",
        ):
            name = getattr(check, "func", check).__name__
            slow = _is_slow(cls.__name__, name)
            params = _check_params(cls.__name__, name)
            if slow and "eps" in CHECK_PARAMS.get(cls.__name__, {}):
                # The slow run checks the CV estimators on the default grid.
                params = {"eps": cls().get_params()["eps"], **params}
            if params:
                est = clone(est).set_params(**params)
            marks = [pytest.mark.slow] if slow else []
            yield pytest.param(est, check, marks=marks, id=f"{cls.__name__}-{name}")


# Expected warnings of the checks' own making, tested where they matter:
# scikit-learn's checks set random_state on every estimator that has it (the
# deterministic ones deprecate it: tests/test_reliability.py), and give the
# sketches 2-4 features against their default 100 components
# (tests/test_sketching.py checks that warning against scikit-learn's own).
@pytest.mark.filterwarnings("ignore:random_state has no effect:FutureWarning")
@pytest.mark.filterwarnings(
    "ignore:.*more output components than input features"
    ":sklearn.exceptions.DataDimensionalityWarning")
@pytest.mark.parametrize("estimator, check", list(_check_cases()))
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_docstring_has_example(cls):
    assert "Examples" in (cls.__doc__ or ""), f"{cls.__name__} lacks an Examples section"
