"""Study: the exact IPM's iterations and misses on 36 small fits, against cvxpy.

3 sizes (p d above n: the Woodbury system, twice; below: the dense one) x 3
seeds (tol 1e-4, 1e-5, 1e-6) x alpha (1e-2, 1e-3) x loss (squared,
logistic). A miss: the certified gap above tol, or the objective more than
1e-4 (relative) above cvxpy/Clarabel's value of the same program. cvxpy's
values are cached in STUDY_CACHE (keyed by the problem and its gates), so
checkouts can be compared quickly:

    PYTHONPATH=<checkout> python benchmarks/study_exact_ipm.py

``STUDY_SET="ipm_woodbury.NEWTON_RTOL_MAX=1e-6,ipm.INEXACT_MIN_WORK=0"`` sets
module constants of ``sklearn_convexnn._solvers.relu`` first (to compare
settings in one checkout); ``STUDY_SIZES="100,5,40"`` picks sizes.

``--scan`` instead runs many random small fits (seeds 100-159) and reports
any exception (a crash) or a status other than optimal.
"""
import hashlib
import json
import os
import sys
import time
import warnings

import numpy as np

from sklearn_convexnn import ConvexReLUClassifier, ConvexReLURegressor

CACHE = os.environ.get("STUDY_CACHE", "/tmp/study_exact_ipm_cvxpy.json")
SIZES = [(60, 3, 30), (100, 5, 40), (200, 8, 20)]
SEEDS = [(0, 1e-4), (1, 1e-5), (2, 1e-6)]


def data(n, d, seed):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.linspace(0.5, 3.0, d)
    y = np.maximum(X @ rng.standard_normal(d), 0) - np.maximum(X @ rng.standard_normal(d), 0)
    return X, y + 0.1 * rng.standard_normal(n)


def cvxpy_value(X, Y, masks, alpha, loss):
    import cvxpy as cp

    n, d = X.shape
    M = masks.astype(float)
    p = M.shape[1]
    b = cp.Variable()
    U, V = cp.Variable((d, p)), cp.Variable((d, p))
    z = cp.sum(cp.multiply(M, X @ (U - V)), axis=1) + b
    pen = cp.sum(cp.norm(U, 2, axis=0)) + cp.sum(cp.norm(V, 2, axis=0))
    S = 2.0 * M - 1.0
    cons = [cp.multiply(S, X @ U) >= 0, cp.multiply(S, X @ V) >= 0]
    data_term = (cp.sum_squares(z - Y) / (2 * n) if loss == "squared"
                 else cp.sum(cp.logistic(-cp.multiply(Y, z))) / n)
    prob = cp.Problem(cp.Minimize(data_term + alpha * pen), cons)
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return float(prob.value)


def fit(X, y, p, alpha, loss, tol, seed=0, max_iter=300):
    cls = ConvexReLURegressor if loss == "squared" else ConvexReLUClassifier
    target = y if loss == "squared" else (y > np.median(y)).astype(int)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return cls(alpha=alpha, n_gates=p, variant="exact", solver="ipm", tol=tol,
                   max_iter=max_iter, random_state=seed).fit(X, target), target


def _set_constants():
    import importlib

    for item in filter(None, os.environ.get("STUDY_SET", "").split(",")):
        name, value = item.split("=")
        module, const = name.rsplit(".", 1)
        mod = importlib.import_module(f"sklearn_convexnn._solvers.relu.{module}")
        setattr(mod, const, type(getattr(mod, const))(value))


def study():
    _set_constants()
    sizes = os.environ.get("STUDY_SIZES")
    sizes = SIZES if not sizes else [tuple(int(v) for v in s.split(","))
                                      for s in sizes.split(";")]
    cache = json.load(open(CACHE)) if os.path.exists(CACHE) else {}
    total_it, misses, cpu = 0, 0, 0.0
    for n, d, p in sizes:
        for seed, tol in SEEDS:
            for alpha in (1e-2, 1e-3):
                for loss in ("squared", "logistic"):
                    X, y = data(n, d, seed)
                    c = time.process_time()
                    est, target = fit(X, y, p, alpha, loss, tol)
                    cpu += time.process_time() - c
                    masks = X @ est.gates_ >= 0
                    key = hashlib.sha1(repr((n, d, p, seed, alpha, loss)).encode()
                                       + masks.tobytes()).hexdigest()
                    if key not in cache:
                        Y = target if loss == "squared" else 2.0 * target - 1
                        cache[key] = cvxpy_value(X, Y, masks, alpha, loss)
                        json.dump(cache, open(CACHE, "w"))
                    ref = cache[key]
                    gap = est.dual_gap_ / est.objective_
                    off = (est.objective_ - ref) / abs(ref)
                    miss = gap > tol * 1.0001 or off > 1e-4
                    misses += miss
                    total_it += est.n_iter_
                    print(f"n={n:3d} d={d} p={p:2d} seed={seed} tol={tol:.0e} alpha={alpha:.0e} "
                          f"{loss:8s} iters {est.n_iter_:3d} gap {gap:.1e} off {off:+.1e}"
                          + ("  MISS" if miss else ""), flush=True)
    print(f"TOTAL iterations {total_it} misses {misses} cpu {cpu:.2f} s")


def scan():
    _set_constants()
    bad = 0
    low, high = (float(v) for v in os.environ.get("SCAN_LOG_ALPHA", "-4,-2").split(","))
    tol = float(os.environ.get("SCAN_TOL", "1e-5"))
    for seed in range(100, 160):
        rng = np.random.default_rng(seed)
        n, d, p = int(rng.integers(60, 201)), int(rng.integers(3, 9)), int(rng.integers(10, 41))
        alpha = float(10 ** rng.uniform(low, high))
        loss = "squared" if seed % 3 else "logistic"
        X, y = data(n, d, seed)
        try:
            est, _ = fit(X, y, p, alpha, loss, tol, seed=seed)
            ok = est.dual_gap_ <= tol * est.objective_ * 1.0001
            msg = (f"iters {est.n_iter_} gap {est.dual_gap_ / est.objective_:.1e} "
                   f"{est.solver_}")
        except Exception as exc:  # (the scan reports crashes)
            ok, msg = False, f"CRASH {type(exc).__name__}: {exc}"
        bad += not ok
        print(f"seed {seed} n={n} d={d} p={p} alpha={alpha:.1e} {loss}: {msg}"
              + ("" if ok else "  BAD"), flush=True)
    print(f"SCAN bad {bad}")


if __name__ == "__main__":
    scan() if "--scan" in sys.argv else study()
