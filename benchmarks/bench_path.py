"""Regularization paths and the cross-validated polynomial networks.

Prints, in one run:
  1. path cost: a 30-alpha warm-started path (``polynet_path``, alpha_max down
     to 1e-3 alpha_max) against ONE cold fit at the path's smallest alpha, on
     diabetes (standardized X, raw y) and on a planted problem with
     n=20 000; best of k alternating runs, ratio with the goal (<= 3x);
  2. nested 5-fold cross-validation on raw targets, side by side with the
     scikit-learn CV estimator of the same family on the same outer folds:
     diabetes R^2 of Pipeline(StandardScaler, ConvexPolyNetRegressorCV())
     against RidgeCV (goal >=), breast_cancer and wine accuracy of
     ConvexPolyNetClassifierCV against LogisticRegressionCV (goal >= minus
     0.005).

Single-threaded BLAS, so the timing ratios do not depend on the other
processes of the machine. Usage:

    python benchmarks/bench_path.py [--quick] [--skip-cv] [--skip-path]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegressionCV, RidgeCV
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from sklearn_convexnn import (
    ConvexPolyNetClassifierCV,
    ConvexPolyNetRegressor,
    ConvexPolyNetRegressorCV,
)
from sklearn_convexnn.datasets import make_planted_polynet
from sklearn_convexnn.paths import alpha_grid, polynet_path


def path_cost(name, X, y, n_alphas, repeats, solver_cold):
    alphas = alpha_grid(ConvexPolyNetRegressor(), X, y, n_alphas=n_alphas, eps=1e-3)
    t_path, t_cold, cold = np.inf, {s: np.inf for s in solver_cold}, {}
    for _ in range(repeats):
        t = time.perf_counter()
        path = polynet_path(X, y, alphas=alphas)
        t_path = min(t_path, time.perf_counter() - t)
        for s in solver_cold:
            t = time.perf_counter()
            cold[s] = ConvexPolyNetRegressor(alpha=alphas[-1], solver=s).fit(X, y)
            t_cold[s] = min(t_cold[s], time.perf_counter() - t)
    print(f"{name}: n={X.shape[0]}, d={X.shape[1]}, {n_alphas} alphas from "
          f"{alphas[0]:.4g} to {alphas[-1]:.4g}; widths {path.n_neurons[0]} .. "
          f"{path.n_neurons[-1]}, largest relative certified gap "
          f"{path.relative_gap.max():.1e}")
    print(f"  path {t_path:.2f} s (solvers {sorted({e.solver_ for e in path.estimators})}); "
          f"smallest-alpha objective {path.objective[-1]:.8g}, relative gap "
          f"{path.relative_gap[-1]:.1e}")
    for s, tc in t_cold.items():
        c = cold[s]
        print(f"  path / one cold fit ({s} -> {c.solver_}) = {t_path / tc:.1f}x  (goal <= 3x; "
              f"cold {tc:.2f} s, objective {c.objective_:.8g}, relative gap "
              f"{c.dual_gap_ / c.objective_:.1e})")


def nested(name, X, y, ours, theirs, outer, metric, slack):
    t = time.perf_counter()
    a = cross_val_score(make_pipeline(StandardScaler(), ours), X, y, cv=outer)
    t_ours = time.perf_counter() - t
    t = time.perf_counter()
    b = cross_val_score(make_pipeline(StandardScaler(), theirs), X, y, cv=outer)
    t_theirs = time.perf_counter() - t
    goal = f">= {type(theirs).__name__}" + (f" - {slack}" if slack else "")
    ok = "met" if a.mean() >= b.mean() - slack - 1e-12 else "NOT met"
    print(f"{name}: {metric} {type(ours).__name__} {a.mean():.4f} (+- {a.std():.4f}, "
          f"{t_ours:.0f} s) | {type(theirs).__name__} {b.mean():.4f} (+- {b.std():.4f}, "
          f"{t_theirs:.1f} s)  goal {goal}: {ok}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    parser.add_argument("--skip-cv", action="store_true")
    parser.add_argument("--skip-path", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)  # LogisticRegressionCV's notices

    if not args.skip_path:
        print("== 1. path cost: 30-alpha warm-started path vs one cold fit at its "
              "smallest alpha")
        X, y = load_diabetes(return_X_y=True)
        X = StandardScaler().fit_transform(X)
        path_cost("diabetes", X, y, 30, 1 if args.quick else 3, ("auto", "lowrank"))
        n = 2000 if args.quick else 20_000
        X, y = make_planted_polynet(n, 10, 3, noise=0.1, random_state=0)
        path_cost("planted", X, y, 30, 1 if args.quick else 2, ("auto",))

    if not args.skip_cv:
        print("== 2. nested 5-fold CV on raw targets (outer folds shared)")
        X, y = load_diabetes(return_X_y=True)
        outer = KFold(5, shuffle=True, random_state=0)
        nested("diabetes", X, y, ConvexPolyNetRegressorCV(), RidgeCV(), outer, "R^2", 0.0)
        for name, loader in (("breast_cancer", load_breast_cancer), ("wine", load_wine)):
            X, y = loader(return_X_y=True)
            outer = StratifiedKFold(5, shuffle=True, random_state=0)
            nested(name, X, y, ConvexPolyNetClassifierCV(), LogisticRegressionCV(),
                   outer, "accuracy", 0.005)


if __name__ == "__main__":
    with threadpool_limits(1):
        main()
