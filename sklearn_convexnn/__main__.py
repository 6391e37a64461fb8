"""Showcase: ``python -m sklearn_convexnn``.

Fits each estimator of the package on scikit-learn's bundled data sets next
to the usual baselines, every model in a ``StandardScaler`` pipeline, and
prints a table: cross-validated score, mean fit time, number of neurons and
the certified relative gap (how far the fitted network can be from the best
network of its kind, by weak duality).

Options: ``--quick`` (fewer folds), ``--only SUBSTRING`` (rows whose data
set or model name contains it).
"""

import argparse
import time
import warnings

import numpy as np
from sklearn import datasets
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import KFold, StratifiedKFold, cross_validate
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklearn_convexnn as scn


def _standardized_target(loader):
    def load():
        X, y = loader(return_X_y=True)
        return X, (y - y.mean()) / y.std()

    return load


def _load(loader):
    return lambda: loader(return_X_y=True)


def _ours(name, **params):
    """Factory for one of our estimators (None if not exported in this build)."""
    cls = getattr(scn, name, None)
    return None if cls is None else (lambda: cls(**params))


def _mlp_regressor():
    return MLPRegressor(hidden_layer_sizes=(64,), max_iter=2000, random_state=0)


def _mlp_classifier():
    return MLPClassifier(hidden_layer_sizes=(64,), max_iter=2000, random_state=0)


# (data set, loader, task, model label, estimator factory[, folds])
ROWS = [
    ("diabetes", _standardized_target(datasets.load_diabetes), "regression",
     "ConvexPolyNetRegressor", _ours("ConvexPolyNetRegressor", alpha=1e-2)),
    ("diabetes", _standardized_target(datasets.load_diabetes), "regression",
     "Ridge", lambda: Ridge(alpha=1.0)),
    ("diabetes", _standardized_target(datasets.load_diabetes), "regression",
     "MLPRegressor", _mlp_regressor),
    ("diabetes", _standardized_target(datasets.load_diabetes), "regression",
     "DebiasedAveragingRegressor (32 workers)",
     _ours("DebiasedAveragingRegressor", estimator=Ridge(alpha=1.0), n_workers=32, max_iter=3,
           tol=None, random_state=0)),
    ("breast_cancer", _load(datasets.load_breast_cancer), "classification",
     "ConvexPolyNetClassifier", _ours("ConvexPolyNetClassifier", alpha=1e-2)),
    ("breast_cancer", _load(datasets.load_breast_cancer), "classification",
     "ConvexReLUClassifier (gated, 100 gates)",
     _ours("ConvexReLUClassifier", random_state=0)),
    ("breast_cancer", _load(datasets.load_breast_cancer), "classification",
     "LogisticRegression", lambda: LogisticRegression(max_iter=1000)),
    ("breast_cancer", _load(datasets.load_breast_cancer), "classification",
     "MLPClassifier", _mlp_classifier),
    ("breast_cancer", _load(datasets.load_breast_cancer), "classification",
     "DebiasedAveragingClassifier (16 workers)",
     _ours("DebiasedAveragingClassifier", estimator=LogisticRegression(), n_workers=16,
           random_state=0)),
    ("wine", _load(datasets.load_wine), "classification",
     "ConvexPolyNetClassifier", _ours("ConvexPolyNetClassifier", alpha=1e-2)),
    ("wine", _load(datasets.load_wine), "classification",
     "QuantizedSDPClassifier (+-1 weights)",
     _ours("QuantizedSDPClassifier", random_state=0)),
    ("wine", _load(datasets.load_wine), "classification",
     "LogisticRegression", lambda: LogisticRegression(max_iter=1000)),
    ("wine", _load(datasets.load_wine), "classification",
     "MLPClassifier", _mlp_classifier),
    # 8x8 images with the defaults: 3x3 filters pooled over a 2x2 grid of
    # regions, multinomial loss, solved by the full-matrix proximal gradient.
    ("digits", _load(datasets.load_digits), "classification",
     "ConvexCNNClassifier (3x3 filters, 2x2 pools)",
     _ours("ConvexCNNClassifier", image_shape=(8, 8)), 3),
    ("digits", _load(datasets.load_digits), "classification",
     "MLPClassifier", _mlp_classifier, 3),
]


def run_row(loader, task, factory, n_splits):
    X, y = loader()
    cv = (StratifiedKFold if task == "classification" else KFold)(
        n_splits, shuffle=True, random_state=0)
    model = make_pipeline(StandardScaler(), factory())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = cross_validate(model, X, y, cv=cv, return_estimator=True, n_jobs=2)
    last = [est[-1] for est in res["estimator"]]
    neurons = [getattr(m, "n_neurons_", None) for m in last]
    gaps = [
        (m.objective_ - m.lower_bound_) / max(abs(m.objective_), 1e-12)
        for m in last if hasattr(m, "lower_bound_") and np.isfinite(m.lower_bound_)
    ]
    return {
        "score": float(np.mean(res["test_score"])),
        "fit_time": float(np.mean(res["fit_time"])),
        "neurons": "-" if neurons[0] is None else f"{np.mean(neurons):.0f}",
        "gap": "-" if not gaps else f"{max(gaps):.1e}",
    }


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m sklearn_convexnn", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 folds instead of 5")
    parser.add_argument("--only", default="", help="only rows matching this substring")
    args = parser.parse_args(argv)
    n_splits = 3 if args.quick else 5

    print(f"sklearn-convexnn {scn.__version__} showcase: {n_splits}-fold cross-validation "
          "(3 for digits), StandardScaler pipelines, two folds fitted at a time.")
    print("score: R^2 (regression) or accuracy (classification); gap: largest certified "
          "relative optimality gap over the folds.\n")
    header = f"{'data set':<14} {'model':<46} {'score':>7} {'fit s':>8} {'neurons':>8} {'gap':>9}"
    print(header)
    print("-" * len(header))
    start = time.perf_counter()
    for data, loader, task, label, factory, *folds in ROWS:
        if args.only and args.only.lower() not in f"{data} {label}".lower():
            continue
        if factory is None:
            print(f"{data:<14} {label:<46} {'(not available in this build)':>34}")
            continue
        # The label goes out before the folds run, so a slow row shows what it is doing.
        print(f"{data:<14} {label:<46} ", end="", flush=True)
        r = run_row(loader, task, factory, min([n_splits, *folds]))
        print(f"{r['score']:>7.3f} {r['fit_time']:>8.2f} {r['neurons']:>8} {r['gap']:>9}",
              flush=True)
    if not args.only or args.only.lower() in "coded polar":
        _coded_rows()
    print(f"\ntotal time {time.perf_counter() - start:.1f} s")


def _coded_rows():
    """Coded matrix-vector product with stragglers: when is A @ x known?"""
    if not hasattr(scn, "coded_matmul"):
        return
    rng = np.random.default_rng(0)
    A, x = rng.standard_normal((4096, 64)), rng.standard_normal(64)
    print("\ncoded A @ x on 64 simulated workers (shifted-exponential stragglers, mean over "
          "20 draws): completion time and decode error")
    for code in ("uncoded", "replication", "mds", "polar"):
        times, errors = [], []
        for seed in range(20):
            res = scn.coded_matmul(A, x, n_workers=64, code=code, random_state=seed)
            times.append(res.completion_time)
            errors.append(np.linalg.norm(res.product - A @ x) / np.linalg.norm(A @ x))
        print(f"{'coded A @ x':<14} {code:<46} {'time':>7} {np.mean(times):>8.4f} "
              f"{'error':>8} {max(errors):>9.1e}", flush=True)


if __name__ == "__main__":
    main()
