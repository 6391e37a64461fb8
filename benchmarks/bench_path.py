"""Regularization paths and the cross-validated polynomial networks.

Prints, in one run:
  1. path cost: a 30-alpha warm-started path (``polynet_path`` with its
     defaults, alpha_max down to 1e-3 alpha_max) against ONE cold fit at the
     path's smallest alpha with the estimator's default solver, on diabetes
     (standardized X, raw y) and on a planted problem with n=20 000; when the
     path ran another solver than that cold fit (solver="auto" picks cvxpy
     for small problems, the path the warm-startable proxgrad), also against a
     cold fit with the path's solver, labelled; best of k alternating runs,
     wall-clock and CPU-time ratios with the goal (<= 3x);
  2. nested 5-fold cross-validation on raw targets, side by side with the
     scikit-learn CV estimator of the same family on the same outer folds,
     for three outer shuffles (one with --quick):
     diabetes R^2 of Pipeline(StandardScaler, ConvexPolyNetRegressorCV())
     against RidgeCV (goal >=), breast_cancer and wine accuracy of
     ConvexPolyNetClassifierCV against LogisticRegressionCV (goal >= minus
     0.005).

Single-threaded BLAS, so the timing ratios do not depend on the other
processes of the machine. Usage:

    python benchmarks/bench_path.py [--quick] [--skip-cv] [--skip-path]
                                    [--data diabetes,breast_cancer,wine]
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


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def path_cost(name, X, y, n_alphas, repeats):
    """The path (defaults: solver="auto", warm starts) against cold fits at its
    smallest alpha: with the estimator's default solver, and, when the path
    ran another solver, with that one too (labelled)."""
    alphas = alpha_grid(ConvexPolyNetRegressor(), X, y, n_alphas=n_alphas, eps=1e-3)
    path = polynet_path(X, y, alphas=alphas)
    path_solvers = sorted({e.solver_ for e in path.estimators} - {"screening"})
    default = ConvexPolyNetRegressor(alpha=alphas[-1]).fit(X, y).solver_
    colds = {"default solver='auto'": {}}
    if path_solvers != [default]:
        for s in path_solvers:
            colds[f"the path's solver {s!r}"] = {"solver": s}
    t_path = [np.inf, np.inf]
    t_cold = {k: [np.inf, np.inf] for k in colds}
    cold = {}
    for _ in range(repeats):  # alternating, best of k (wall, CPU)
        path, wall, cpu = _timed(lambda: polynet_path(X, y, alphas=alphas))
        t_path = [min(t_path[0], wall), min(t_path[1], cpu)]
        for k, params in colds.items():
            cold[k], wall, cpu = _timed(
                lambda p=params: ConvexPolyNetRegressor(alpha=alphas[-1], **p).fit(X, y))
            t_cold[k] = [min(t_cold[k][0], wall), min(t_cold[k][1], cpu)]
    print(f"{name}: n={X.shape[0]}, d={X.shape[1]}, {n_alphas} alphas from "
          f"{alphas[0]:.4g} to {alphas[-1]:.4g}; widths {path.n_neurons[0]} .. "
          f"{path.n_neurons[-1]}, largest relative certified gap "
          f"{path.relative_gap.max():.1e} (tol 1e-4)")
    print(f"  path: {t_path[0]:.2f} s wall, {t_path[1]:.2f} s CPU, solvers {path_solvers} "
          f"(+ screening); smallest-alpha objective {path.objective[-1]:.8g}, relative gap "
          f"{path.relative_gap[-1]:.1e}")
    for k, (wall, cpu) in t_cold.items():
        c = cold[k]
        print(f"  path / one cold fit with {k} ({c.solver_}): {t_path[0] / wall:.1f}x wall, "
              f"{t_path[1] / cpu:.1f}x CPU  (goal <= 3x; cold {wall:.2f} s wall, {cpu:.2f} s "
              f"CPU, objective {c.objective_:.8g}, relative gap "
              f"{c.dual_gap_ / c.objective_:.1e})")


def nested(name, X, y, ours, theirs, splitter, seeds, metric, slack):
    """Both models on the same outer folds, for every outer shuffle in ``seeds``."""
    goal = f">= {type(theirs).__name__}" + (f" - {slack}" if slack else "")
    diffs = []
    for seed in seeds:
        outer = splitter(5, shuffle=True, random_state=seed)
        t = time.perf_counter()
        a = cross_val_score(make_pipeline(StandardScaler(), ours), X, y, cv=outer)
        t_ours = time.perf_counter() - t
        t = time.perf_counter()
        b = cross_val_score(make_pipeline(StandardScaler(), theirs), X, y, cv=outer)
        t_theirs = time.perf_counter() - t
        ok = "met" if a.mean() >= b.mean() - slack - 1e-12 else "NOT met"
        diffs.append(a.mean() - b.mean())
        print(f"{name} (outer shuffle {seed}): {metric} {type(ours).__name__} {a.mean():.4f} "
              f"(+- {a.std():.4f}, {t_ours:.0f} s) | {type(theirs).__name__} {b.mean():.4f} "
              f"(+- {b.std():.4f}, {t_theirs:.1f} s)  goal {goal}: {ok}", flush=True)
    print(f"{name}: mean difference over {len(seeds)} shuffles {np.mean(diffs):+.4f} "
          f"(goal >= {-slack:+.4f}), worst {np.min(diffs):+.4f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, one repeat")
    parser.add_argument("--skip-cv", action="store_true")
    parser.add_argument("--skip-path", action="store_true")
    parser.add_argument("--data", default="diabetes,breast_cancer,wine",
                        help="data sets of the CV part, comma-separated")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    warnings.filterwarnings("ignore", category=FutureWarning)  # LogisticRegressionCV's notices

    if not args.skip_path:
        print("== 1. path cost: 30-alpha warm-started path vs one cold fit at its "
              "smallest alpha")
        X, y = load_diabetes(return_X_y=True)
        X = StandardScaler().fit_transform(X)
        path_cost("diabetes", X, y, 30, 1 if args.quick else 3)
        n = 2000 if args.quick else 20_000
        X, y = make_planted_polynet(n, 10, 3, noise=0.1, random_state=0)
        path_cost("planted", X, y, 30, 1 if args.quick else 2)

    if not args.skip_cv:
        print("== 2. nested 5-fold CV on raw targets (outer folds shared)")
        seeds = (0,) if args.quick else (0, 1, 2)
        data = args.data.split(",")
        if "diabetes" in data:
            X, y = load_diabetes(return_X_y=True)
            nested("diabetes", X, y, ConvexPolyNetRegressorCV(), RidgeCV(), KFold, seeds,
                   "R^2", 0.0)
        for name, loader in (("breast_cancer", load_breast_cancer), ("wine", load_wine)):
            if name not in data:
                continue
            X, y = loader(return_X_y=True)
            nested(name, X, y, ConvexPolyNetClassifierCV(), LogisticRegressionCV(),
                   StratifiedKFold, seeds, "accuracy", 0.005)

if __name__ == "__main__":
    with threadpool_limits(1):
        main()
