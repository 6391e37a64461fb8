"""Time the exact IPM at the issue's size (n=2000, d=50, 500 gates, alpha=1e-3, tol 1e-4).

Usage: OMP_NUM_THREADS=1 PYTHONPATH=<checkout> python time_exact_issue.py
Prints one JSON line: CPU and wall seconds, iterations, certified gap. Run
checkouts alternately (compare_exact_issue.sh) on a shared, noisy machine.
"""
import json
import os
import sys
import time
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_relu import planted

import sklearn_convexnn
from sklearn_convexnn import ConvexReLURegressor

if os.environ.get("STUDY_SET"):  # module constants to try (study_exact_ipm.py)
    from study_exact_ipm import _set_constants

    _set_constants()
if os.environ.get("COUNT_SAFEGUARD"):  # count the inexact solves continued tighter
    from sklearn_convexnn._solvers.relu import ipm_woodbury

    _cg, counts = ipm_woodbury.WoodburySystem._cg, [0, 0]

    def _counted(self, r, rb, rtol, start=None):
        counts[start is not None] += 1
        return _cg(self, r, rb, rtol, start)

    ipm_woodbury.WoodburySystem._cg = _counted
n, d, p = (int(v) for v in os.environ.get("ISSUE_SIZE", "2000,50,500").split(","))
X, y = planted(n, d)
verbose = int(os.environ.get("VERBOSE", "0"))
t, c = time.perf_counter(), time.process_time()
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    est = ConvexReLURegressor(alpha=1e-3, n_gates=p, variant="exact", solver="ipm", tol=1e-4,
                              max_iter=200, random_state=0, verbose=verbose).fit(X, y)
c, t = time.process_time() - c, time.perf_counter() - t
print(json.dumps({"src": os.path.dirname(sklearn_convexnn.__file__), "cpu": round(c, 2),
                  "wall": round(t, 2), "iters": int(est.n_iter_),
                  "gap": float(est.dual_gap_ / est.objective_),
                  "objective": float(est.objective_),
                  **({"cg_calls, continued": counts} if os.environ.get("COUNT_SAFEGUARD")
                     else {})}))
