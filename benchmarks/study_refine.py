"""Weighted against repeated rows at tight tol: ConvexCNNClassifier's Newton refinement.

Random small image problems (4x4, 5x5, 6x6 images with 2x2 filters, or rows of
30 pixels; 2-4 classes; the multinomial logistic and the one-vs-rest squared
loss; alpha 1e-4 to 1e-2; integer weights 0..3), each fitted twice at
``tol=1e-12`` -- with the weights (rows shuffled), and on the rows repeated
by them -- by ``solver="auto"`` (cvxpy on these sizes) and ``"proxgrad"``.
Printed per
problem: the largest relative difference of the two decision functions (on
every row, the zero-weight ones included), the certified relative gaps, how
often the refinement from the solver's network did not certify (then
``"auto"`` retries from proxgrad's network), and the CPU time of the pair.
Goal: every difference within scikit-learn's check tolerance, rtol 1e-7. A
pair whose solver stalls before the refinement (its network never certified
within 1e-6) misses it: the summary also gives the worst pair certified
within 1e-9.

Usage::

    python benchmarks/study_refine.py [--problems 16]
"""

import argparse
import os
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_limits

import sklearn_convexnn._lifted_solvers as lifted_solvers
from sklearn_convexnn import ConvexCNNClassifier

GOAL = 1e-7


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problems", type=int, default=16)
    args = parser.parse_args()
    counts = {"certified": 0, "not certified": 0}
    refine_fit = lifted_solvers.refine_fit

    def counting(*a, **k):
        out = refine_fit(*a, **k)
        counts["certified" if out is not None else "not certified"] += 1
        return out

    lifted_solvers.refine_fit = counting
    print(f"load average at start: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")
    rng = np.random.default_rng(0)
    worst, worst_certified = 0.0, 0.0
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for trial in range(args.problems):
            H, W = [(4, 4), (5, 5), (1, 30), (6, 6)][trial % 4]
            n, k = int(rng.integers(12, 40)), [2, 3, 4][trial % 3]
            loss = ["logistic", "logistic", "squared"][trial % 3 if trial % 5 else 2]
            X = rng.random((n, H * W))
            y = rng.integers(0, k, n)
            w = rng.integers(0, 4, n)
            w[:2] = 1
            Xr, yr = X.repeat(w, axis=0), y.repeat(w)
            if len(np.unique(yr)) < 2:
                continue
            for solver in ("auto", "proxgrad"):
                kw = dict(image_shape=(H, W) if H > 1 else None,
                          patch_shape=(2, 2) if H > 1 else None, loss=loss, tol=1e-12,
                          solver=solver, alpha=float(rng.choice([1e-4, 1e-3, 1e-2])))
                before = counts["not certified"]
                t = time.process_time()
                rep = ConvexCNNClassifier(**kw).fit(Xr, yr)
                order = rng.permutation(n)  # the weighted rows shuffled, as in the check
                wei = ConvexCNNClassifier(**kw).fit(X[order], y[order], sample_weight=w[order])
                t = time.process_time() - t
                d1, d2 = rep.decision_function(X), wei.decision_function(X)
                rel = float(np.max(np.abs(d1 - d2)) / max(np.max(np.abs(d1)), 1e-300))
                worst = max(worst, rel)
                if max(rep.dual_gap_ / rep.objective_, wei.dual_gap_ / wei.objective_) <= 1e-9:
                    worst_certified = max(worst_certified, rel)
                print(f"{trial:>2} images {H}x{W} n={n:<2} classes={k} {loss:<8} "
                      f"alpha={kw['alpha']:<6g} {solver:<8} ({rep.solver_:<14}) "
                      f"rel. difference {rel:.1e} (goal <= {GOAL:g}), gaps "
                      f"{rep.dual_gap_ / rep.objective_:.0e}/{wei.dual_gap_ / wei.objective_:.0e}, "
                      f"not certified {counts['not certified'] - before}, {t:.2f} s CPU",
                      flush=True)
    print(f"refinements certified {counts['certified']}, not certified "
          f"{counts['not certified']}; worst relative difference {worst:.1e} "
          f"(goal <= {GOAL:g}: {'met' if worst <= GOAL else 'NOT met'}); over the pairs "
          f"both certified within 1e-9: {worst_certified:.1e}")
    print(f"load average at end: {', '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
