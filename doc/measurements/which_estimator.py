"""Measurements quoted on the "Which estimator when" page.

5-fold cross-validation on scikit-learn's bundled data sets, every model in
``Pipeline(StandardScaler(), model)`` with default settings (regressors also
standardize the target through ``TransformedTargetRegressor``, since the
network estimators' ``alpha`` is scaled for a unit-variance target). Prints
the mean score and the mean fit time per fold. Run from the repository
root::

    PYTHONPATH=$PWD python doc/measurements/which_estimator.py [--skip-slow]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.compose import TransformedTargetRegressor
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris, load_wine
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_convexnn import (
    ConvexPolyNetClassifier,
    ConvexPolyNetRegressor,
    QuantizedSDPClassifier,
)


def regressors():
    return {
        "RidgeCV": RidgeCV(),
        "MLPRegressor": MLPRegressor(max_iter=2000, random_state=0),
        "HistGradientBoosting": HistGradientBoostingRegressor(random_state=0),
        "ConvexPolyNetRegressor": ConvexPolyNetRegressor(),
    }


def classifiers(slow):
    models = {
        "LogisticRegression": LogisticRegression(max_iter=5000),
        "MLPClassifier": MLPClassifier(max_iter=2000, random_state=0),
        "HistGradientBoosting": HistGradientBoostingClassifier(random_state=0),
        "ConvexPolyNetClassifier": ConvexPolyNetClassifier(),
    }
    if slow:
        models["QuantizedSDPClassifier"] = QuantizedSDPClassifier(random_state=0)
    return models


def run(name, X, y, models, cv, scoring):
    for label, model in models.items():
        if "Regressor" in type(model).__name__ or "Ridge" in type(model).__name__:
            model = TransformedTargetRegressor(model, transformer=StandardScaler())
        pipe = make_pipeline(StandardScaler(), model)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            start = time.perf_counter()
            res = cross_validate(pipe, X, y, cv=cv, scoring=scoring)
            total = time.perf_counter() - start
        scores = res["test_score"]
        print(f"{name:14s} {label:26s} {scoring:9s} {scores.mean():.3f} +- {scores.std():.3f}"
              f"   fit {np.mean(res['fit_time']):7.2f} s/fold   (total {total:.1f} s)",
              flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-slow", action="store_true",
                        help="leave out QuantizedSDPClassifier and digits")
    args = parser.parse_args()
    slow = not args.skip_slow
    reg_cv = KFold(5, shuffle=True, random_state=0)
    clf_cv = StratifiedKFold(5, shuffle=True, random_state=0)
    run("diabetes", *load_diabetes(return_X_y=True), regressors(), reg_cv, "r2")
    for name, loader in [("iris", load_iris), ("wine", load_wine),
                         ("breast_cancer", load_breast_cancer)]:
        run(name, *loader(return_X_y=True), classifiers(slow), clf_cv, "accuracy")
    if slow:
        X, y = load_digits(return_X_y=True)
        models = classifiers(False)
        run("digits", X, y, models, clf_cv, "accuracy")


if __name__ == "__main__":
    main()
