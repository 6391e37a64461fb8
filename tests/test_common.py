"""scikit-learn's estimator checks over every public estimator.

Estimators are discovered from ``sklearn_convexnn.__all__``, so a new one is
covered the moment it is exported.
"""

import inspect

import pytest
from sklearn.base import BaseEstimator
from sklearn.utils.estimator_checks import estimator_checks_generator

import sklearn_convexnn

ESTIMATORS = [
    getattr(sklearn_convexnn, name)
    for name in sklearn_convexnn.__all__
    if inspect.isclass(getattr(sklearn_convexnn, name))
    and issubclass(getattr(sklearn_convexnn, name), BaseEstimator)
]

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
    **{
        name: {
            check: (
                "weights equal repetition at the optimum's objective (to 1e-6, "
                "tests/test_reliability.py), but predict_proba is fixed only to about the "
                "square root of the certified gap: measured 1e-6 relative at tol=1e-10 "
                "(cvxpy) and 1e-7 at tol=1e-12 (lowrank), against the check's rtol 1e-7 "
                "(scikit-learn lists LogisticRegression and MLPClassifier for the same check)"
            )
            for check in ("check_sample_weight_equivalence_on_dense_data",
                          "check_sample_weight_equivalence_on_sparse_data")
        }
        for name in ("ConvexPolyNetClassifier", "ConvexCNNClassifier")
    },
    "ReLURelaxationCNNRegressor": {
        check: (
            "a recovery method for data from a one-filter ReLU network, not a general "
            "regressor: on the checks' random data the anchor is unbounded over the feasible "
            "filters and fit raises RelaxationUnboundedError (tested on planted data in "
            "tests/test_cnn.py)"
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
    "QuantizedSDPClassifier": {
        check: (
            "weighted and repeated rows give the same neurons (the regressor passes this "
            "check), but the multinomial refit's predict_proba agrees to its certified "
            "tolerance (~1e-5 relative at tol=1e-8), not the check's 1e-7"
        )
        for check in ("check_sample_weight_equivalence_on_dense_data",
                      "check_sample_weight_equivalence_on_sparse_data")
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
        if name == "QuantizedSDPRegressorCV":
            reason = ("on the check's 30-feature data the binary relaxation stops at max_iter "
                      "with a gap ~1e-3 on some folds, so the rounding draws other neurons "
                      "(QuantizedSDPRegressor alone passes)")
            reasons = {check: reason for check in (
                "check_sample_weight_equivalence_on_dense_data",
                "check_sample_weight_equivalence_on_sparse_data")}
        return reasons
    return EXPECTED_FAILED_CHECKS.get(name, {})


def test_every_public_estimator_is_checked():
    assert len(ESTIMATORS) >= 2
    names = {cls.__name__ for cls in ESTIMATORS}
    assert {"ConvexPolyNetRegressor", "ConvexPolyNetClassifier"} <= names


# The CV estimators fit a whole path per fold: check them on a short grid.
CHECK_PARAMS = {cls.__name__: {"n_alphas": 2, "cv": 2}
                for cls in ESTIMATORS if cls.__name__.endswith("CV")}


#: Checks that refit a CV estimator's whole grid many times over (sparse
#: containers, memmaps, object dtypes, weights): run under ``-m slow``; the
#: default run still gives every CV estimator every other check.
HEAVY_CV_CHECKS = ("sparse", "sample_weight", "dtype_object", "memmap")


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
            marks = [pytest.mark.slow] if cls.__name__.endswith("CV") and any(
                word in name for word in HEAVY_CV_CHECKS) else []
            yield pytest.param(est, check, marks=marks, id=f"{cls.__name__}-{name}")


@pytest.mark.parametrize("estimator, check", list(_check_cases()))
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("cls", ESTIMATORS, ids=lambda c: c.__name__)
def test_docstring_has_example(cls):
    assert "Examples" in (cls.__doc__ or ""), f"{cls.__name__} lacks an Examples section"
