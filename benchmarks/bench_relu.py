"""Convex ReLU networks: our solvers against cvxpy and the reference library.

One process, contenders side by side, ratios printed with their goals:

1. gated ReLU: the estimator's default route (solver="auto": APG warm
   start, then active-set Newton steps) and plain APG, each to a certified
   relative gap of 1e-4, vs cvxpy (Clarabel) on the same gates; the
   objectives must agree to 1e-4. Goal >= 20x. Two regularizations: the
   estimator's default ``alpha="auto"`` (0.07 alpha_max here: ~110 of 500
   gates active) and a small ``alpha=1e-3`` (~300 active: many more groups
   than samples per group; the hard case). The issue's size (n=2000, d=50,
   500 gates) takes cvxpy many minutes on this loaded machine, so by
   default the comparison runs at n=1000, d=20, 100 gates; BENCH_FULL=1
   runs the issue's size.
2. gated ReLU vs the reference library ``pyscnn`` (import ``scnn``, R-FISTA)
   when importable: unit-norm columns (scnn rescales columns to unit norm;
   given such data both solve the same program), no intercept, the same
   gates; scnn at its defaults (float32, tol 1e-6) and at a tight setting
   (float64, tol 1e-10), ours to a certified gap of 1e-6 and 1e-4, and (as
   in section 4) to a certified gap of half the excess of scnn's default
   objective over ours, which is provably closer to the optimum than scnn's
   result. Goal: ours >= 2x faster than scnn's default at tighter accuracy. Otherwise the issue's
   measured figures are printed, labelled as quoted. scnn is a benchmark
   tool here, never a dependency (it pulls torch): install a CPU torch
   first (``pip install torch==<cpu build>``), then ``pip install --no-deps
   pyscnn linalg_backends opt_einsum tqdm``.
3. exact ReLU (``exact_section``): at n=100, d=5, 20 gates (BENCH_FULL=1:
   n=400, d=10, 60 gates) the estimator's default route (the interior-point
   method, solver="ipm"), ADMM and the augmented Lagrangian against a plain
   cvxpy solve; at the issue's size (n=2000, d=50, 500 gates; cvxpy needs
   ~56 GiB, not run) the IPM and ADMM under an iteration cap
   (BENCH_EXACT_ITERS) with the certified gap reached, beside scnn's quoted
   185 s; and plain cvxpy timed once in a child process (capped) at n=2000,
   d=50, 100 gates against the default route there. Goal >= 10x at 1e-4.
   BENCH_EXACT_SOLVERS (default "ipm,admm"; empty: none) picks the solvers
   timed at the issue's size.
4. gated ReLU at n=100 000, d=100, 200 gates, run to a certified gap of
   1e-3 (BENCH_LARGE_TOL; no iteration cap): time, data passes, peak memory
   of the solver's arrays (tracemalloc), on the issue's raw alpha=1e-3
   problem (reference: scnn 14.0 s, 1.3 GB, quoted); then scnn itself beside
   ours on scnn's program (unit-norm columns, no intercept, same gates),
   each in a child process, peak resident memory of each, scnn's objective
   against our certified bound.
5. breast_cancer 5-fold accuracy vs LogisticRegression (goal >= LR - 0.005)
   and diabetes 5-fold R^2 vs RidgeCV, default settings after StandardScaler.

Every timing is printed as wall clock and CPU time (the machine is shared:
wall clock inflates with the load, CPU time much less).
Set BENCH_QUICK=1 for a fast smoke run at reduced sizes, BENCH_FULL=1 for
the issue's sizes (an hour or more on this machine); BENCH_SECTIONS=gated,scnn
(comma-separated names of the ``*_section`` functions) runs only those.
"""

import os
import time
import tracemalloc
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_convexnn import ConvexReLUClassifier, ConvexReLURegressor

QUICK = os.environ.get("BENCH_QUICK") == "1"
FULL = os.environ.get("BENCH_FULL") == "1"
#: Iteration cap of the interior-point method in the exact section.
IPM_CAP = 200
#: Alternating rounds of ours and cvxpy on the small problems (see versus_cvxpy).
ROUNDS = 7
SCNN_QUOTED = {"gated_2000": 0.76, "exact_2000": 185.0, "gated_100k": 14.0, "mem_100k": 1.3}


def planted(n, d, seed=0, width=5):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    U = rng.standard_normal((d, width)) / np.sqrt(d)
    y = np.maximum(X @ U, 0) @ rng.choice([-1.0, 1.0], width)
    return X, y + 0.1 * rng.standard_normal(n)


def cvxpy_relu(X, y, gates, alpha, variant, fit_intercept=True):
    import cvxpy as cp

    n, d = X.shape
    M = (X @ gates >= 0).astype(float)
    p = M.shape[1]
    b = cp.Variable() if fit_intercept else 0.0
    if variant == "gated":
        W = cp.Variable((d, p))
        pred = cp.sum(cp.multiply(M, X @ W), axis=1) + b
        pen, cons = cp.sum(cp.norm(W, 2, axis=0)), []
    else:
        U, V = cp.Variable((d, p)), cp.Variable((d, p))
        pred = cp.sum(cp.multiply(M, X @ (U - V)), axis=1) + b
        pen = cp.sum(cp.norm(U, 2, axis=0)) + cp.sum(cp.norm(V, 2, axis=0))
        S = 2 * M - 1
        cons = [cp.multiply(S, X @ U) >= 0, cp.multiply(S, X @ V) >= 0]
    prob = cp.Problem(cp.Minimize(cp.sum_squares(pred - y) / (2 * n) + alpha * pen), cons)
    t, c = time.perf_counter(), time.process_time()
    prob.solve(solver="CLARABEL")
    return time.perf_counter() - t, time.process_time() - c, prob.value


def ours(X, y, n_gates, alpha, variant, tol=1e-4, repeat=2, max_iter=100000, solver="auto",
         **kw):
    best, best_cpu, est = np.inf, np.inf, None
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = ConvexReLURegressor(alpha=alpha, n_gates=n_gates, variant=variant, tol=tol,
                                      max_iter=max_iter, solver=solver, random_state=0,
                                      **kw).fit(X, y)
        best = min(best, time.perf_counter() - t)
        best_cpu = min(best_cpu, time.process_time() - c)
    return best, best_cpu, est


def _secs(t):
    """Seconds to two decimals, or four below 0.1 s (millisecond fits)."""
    return f"{t:.2f} s" if t >= 0.1 else f"{t:.4f} s"


def versus_cvxpy(n, d, p, variant, goal, max_iter, solvers=("auto",), alpha=1e-3):
    """Each of ``solvers`` (estimator's route) against a plain cvxpy solve."""
    X, y = planted(n, d)
    runs = []
    tiny = n * d * p <= 1e5
    for solver in solvers:
        # The small exact fits by the default route take milliseconds: timed
        # below in rounds alternating with cvxpy (this first fit pays for
        # imports and set-ups); two fits for the gated ones.
        small = variant == "exact" and tiny and solver in ("auto", "ipm")
        runs.append([solver, *ours(X, y, p, alpha, variant, max_iter=max_iter, solver=solver,
                                   repeat=1 if small or variant != "gated" else 2), small])
    # Millisecond fits on a shared machine: the best of ROUNDS rounds, each
    # one fit of ours and one cvxpy solve, so that a burst of load hits both
    # sides (best of three, one side after the other, swung the ratio 7.5x to
    # 14.7x between runs at n=100, d=5, 20 gates).
    t_cvx = c_cvx = np.inf
    for run in runs:
        if run[4]:
            run[1] = run[2] = np.inf  # (the first fit was a warm-up)
    for _ in range(ROUNDS if tiny else 1):
        for run in runs:
            if run[4]:
                t, c, run[3] = ours(X, y, p, alpha, variant, max_iter=max_iter, solver=run[0],
                                    repeat=1)
                run[1], run[2] = min(run[1], t), min(run[2], c)
        t, c, v_cvx = cvxpy_relu(X, y, runs[0][3].gates_, runs[0][3].alpha_, variant)
        t_cvx, c_cvx = min(t_cvx, t), min(c_cvx, c)
    for solver, t_ours, c_ours, est, _ in runs:
        print(f"{variant} n={n} d={d} gates={p} alpha={est.alpha_:.4g} "
              f"({est.alpha_ / est.alpha_max_:.3f} alpha_max): ours (solver={solver!r} -> "
              f"{est.solver_!r}) {_secs(t_ours)} wall, {_secs(c_ours)} CPU (objective "
              f"{est.objective_:.8g}, certified gap {est.dual_gap_ / est.objective_:.1e}, "
              f"{est.n_iter_} iterations (cap {max_iter}), {est.n_data_passes_} data passes, "
              f"{est.n_neurons_} neurons)", flush=True)
    print(f"  plain cvxpy/Clarabel {_secs(t_cvx)} wall, {_secs(c_cvx)} CPU "
          f"(objective {v_cvx:.8g}; best of {ROUNDS if tiny else 1})")
    for solver, t_ours, c_ours, est, small in runs:
        rel = (est.objective_ - v_cvx) / abs(v_cvx)
        print(f"  solver={solver!r}: objective difference {rel:+.1e} (goal |.| <= 1e-4); "
              f"speed-up vs cvxpy {t_cvx / t_ours:.2f}x wall, {c_cvx / c_ours:.2f}x CPU "
              f"(goal >= {goal}x{'; best of ' + str(ROUNDS) if small else ''})",
              flush=True)
    return runs[0][1], runs[0][3]


def gated_section():
    print("== 1. gated ReLU vs cvxpy ==")
    n, d, p = (500, 20, 50) if QUICK else (2000, 50, 500) if FULL else (1000, 20, 100)
    for alpha in ("auto", 1e-3):
        versus_cvxpy(n, d, p, "gated", 20, 100000, solvers=("auto", "apg"), alpha=alpha)


def try_scnn():
    try:
        import scnn.optimize  # noqa: F401
    except Exception as exc:  # torch or one of its pure dependencies missing
        return f"{type(exc).__name__}: {exc}"
    return None


def run_scnn(X, y, gates, lam, tol, dtype):
    """scnn's R-FISTA on the gated program; returns (wall, CPU, predictions, weight norms)."""
    from scnn.metrics import Metrics
    from scnn.models import ConvexGatedReLU
    from scnn.optimize import optimize_model
    from scnn.regularizers import NeuronGL1
    from scnn.solvers import RFISTA

    model = ConvexGatedReLU(gates)
    solver = RFISTA(model, tol=tol) if tol is not None else RFISTA(model)
    t, c = time.perf_counter(), time.process_time()
    model, _ = optimize_model(model, solver, Metrics(), X, y, regularizer=NeuronGL1(lam),
                              return_convex=True, unitize_data=False, dtype=dtype)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    pred = np.asarray(model(X), dtype=float).ravel()
    norms = np.linalg.norm(np.asarray(model.parameters[0], dtype=float), axis=-1)
    return wall, cpu, pred, float(norms.sum())


def _our_threads(est, X):
    """The estimator's thread policy for ``X``, in words (see ConvexReLU _thread_policy)."""
    from threadpoolctl import threadpool_info

    workers, one_blas = est._thread_policy(X.shape, 1)
    blas = 1 if one_blas else max((i["num_threads"] for i in threadpool_info()), default=1)
    split = (f"products split over {workers} Python threads while a core is idle, "
             if workers > 1 else "")
    return f"{split}{blas} BLAS thread(s) each"


def scnn_section():
    print("== 2. gated ReLU vs the reference library scnn (R-FISTA) ==")
    why = try_scnn()
    if why is not None:
        print(f"  scnn not importable ({why}); reference figures (quoted from the issue, "
              f"n=2000 d=50 gates=500): {SCNN_QUOTED['gated_2000']} s, default tolerance "
              f"stops ~1% above the optimum; goal ours >= 2x faster at tighter accuracy")
        return
    n, d, p = (500, 20, 50) if QUICK else (2000, 50, 500)
    X, y = planted(n, d)
    X = X / np.linalg.norm(X, axis=0)  # scnn's own column scaling, applied up front
    # The estimator's default regularization (alpha="auto": 0.07 alpha_max),
    # random gates only (linear_gate=False: scnn's gates are sampled ones).
    kw = dict(fit_intercept=False, linear_gate=False, repeat=3)
    t_ours, c_ours, est = ours(X, y, p, "auto", "gated", tol=1e-6, **kw)
    t_def, c_def, est_def = ours(X, y, p, "auto", "gated", **kw)
    gates, lam = est.gates_, est.alpha_
    print(f"gated n={n} d={d} gates={gates.shape[1]} unit-norm columns, no intercept, "
          f"alpha={lam:.4g} (0.07 alpha_max): ours (auto -> {est.solver_!r}) "
          f"{t_ours:.2f} s wall, {c_ours:.2f} s CPU, objective {est.objective_:.8g}, "
          f"certified bound {est.lower_bound_:.8g} "
          f"(gap {est.dual_gap_ / est.objective_:.1e}); at the default tol 1e-4: "
          f"{t_def:.2f} s wall, {c_def:.2f} s CPU (gap "
          f"{est_def.dual_gap_ / est_def.objective_:.1e})", flush=True)
    import torch

    print(f"  threads: scnn (torch) {torch.get_num_threads()}, ours: {_our_threads(est, X)}",
          flush=True)
    scnn_default = None
    for label, tol, dtype in (("default (float32, tol 1e-6)", None, "float32"),
                              ("tight (float64, tol 1e-10)", 1e-10, "float64")):
        wall, cpu, pred, pen = run_scnn(X, y, gates, lam, tol, dtype)
        obj = 0.5 * np.mean((pred - y) ** 2) + lam * pen
        scnn_default = scnn_default or (wall, cpu, obj)
        excess = (obj - est.lower_bound_) / est.lower_bound_
        print(f"  scnn {label}: {wall:.2f} s wall, {cpu:.2f} s CPU, objective {obj:.8g} "
              f"({excess:.1e} above our certified bound); ours (gap <= 1e-6) "
              f"{wall / t_ours:.2f}x wall, {cpu / c_ours:.2f}x CPU faster (goal >= 2x); "
              f"ours (gap <= 1e-4) {wall / t_def:.2f}x wall, {cpu / c_def:.2f}x CPU",
              flush=True)
    # At comparable accuracy (as in section 4): scnn's default objective is
    # above the optimum by at least (its objective - ours) / ours; ours to a
    # certified gap of half that is provably closer to the optimum.
    wall, cpu, obj = scnn_default
    proven = (obj - est.objective_) / est.objective_
    if proven > 2e-6:
        loose = float(f"{0.5 * proven:.0e}")
        t_lo, c_lo, est_lo = ours(X, y, p, "auto", "gated", tol=loose, **kw)
        print(f"  ours to a certified gap of {loose:g} (scnn's default is >= {proven:.1e} "
              f"above the optimum): {t_lo:.2f} s wall, {c_lo:.2f} s CPU, "
              f"{est_lo.n_iter_} iterations, gap {est_lo.dual_gap_ / est_lo.objective_:.1e} "
              f"-> {wall / t_lo:.2f}x wall, {cpu / c_lo:.2f}x CPU faster than scnn's default "
              f"(goal >= 2x)", flush=True)


def _cvxpy_exact_subprocess(n, d, p, cap):
    """Plain cvxpy on the exact program in a child process, killed after ``cap`` s."""
    import json
    import subprocess
    import sys

    cmd = [sys.executable, os.path.abspath(__file__), "--cvxpy-exact", str(n), str(d), str(p)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=cap, check=True)
    except subprocess.TimeoutExpired:
        return None
    except subprocess.CalledProcessError as err:
        return {"error": err.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _cvxpy_exact_child(n, d, p):
    import json
    import resource

    X, y = planted(n, d)
    gates = _issue_gates(X, y, p)
    t, c, v = cvxpy_relu(X, y, gates, 1e-3, "exact")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps({"wall": t, "cpu": c, "value": v, "peak_gib": rss}))


def _issue_gates(X, y, p):
    """The gates the exact estimator samples with random_state=0.

    (The gated default adds the zero gate, so its gates differ.) At an alpha
    above alpha_max no solver runs.
    """
    return ConvexReLURegressor(alpha=1e12, n_gates=p, variant="exact",
                               random_state=0).fit(X, y).gates_


def exact_section():
    """Exact ReLU: ADMM and the augmented Lagrangian vs cvxpy and scnn's quoted time.

    (a) small problems: every route against a plain cvxpy solve, to 1e-4;
    (b) the issue's size n=2000, d=50, 500 gates: cvxpy's memory estimate
        (it does not fit), ours under an iteration cap with the certified gap
        it reached, beside scnn's quoted 185 s;
    (c) cvxpy timed in a child process (cap BENCH_CVXPY_CAP s, default 1800)
        at the largest size that fits, ours at the same size
        (BENCH_CVXPY_EXACT_JSON: a file holding that child's JSON line from
        an earlier run, to time cvxpy only once).
    """
    from sklearn_convexnn._solvers.relu.cvxpy_relu import estimate_cvxpy_memory

    print("== 3. exact ReLU ==")
    n2, d2, p2 = (400, 10, 60) if FULL else (100, 5, 20)
    versus_cvxpy(n2, d2, p2, "exact", 10, 20000, solvers=("auto", "admm"))
    versus_cvxpy(n2, d2, p2, "exact", 10, 2000, solvers=("augmented_lagrangian",))
    if QUICK:
        return
    n, d, p = 2000, 50, 500
    need = estimate_cvxpy_memory(n, d, p, 1, "exact") / 2**30
    print(f"exact n={n} d={d} gates={p}: cvxpy needs about {need:.0f} GiB (machine: 24 GiB): "
          f"not run at this size")
    X, y = planted(n, d)
    cap = int(os.environ.get("BENCH_EXACT_ITERS", "3000" if FULL else "300"))
    solvers = os.environ.get("BENCH_EXACT_SOLVERS", "ipm,admm")
    for solver in filter(None, solvers.split(",")):
        t, c, est = ours(X, y, p, 1e-3, "exact", repeat=1,
                         max_iter=IPM_CAP if solver == "ipm" else cap, solver=solver)
        rel = est.dual_gap_ / est.objective_
        verdict = "reached" if rel <= 1e-4 else "NOT reached: ratio is not at equal accuracy"
        print(f"  ours solver={solver!r}: {t:.1f} s wall, {c:.1f} s CPU, {est.n_iter_} iterations "
              f"(cap {IPM_CAP if solver == 'ipm' else cap}), certified gap {rel:.1e} (1e-4 "
              f"{verdict}); reference scnn (quoted) {SCNN_QUOTED['exact_2000']} s -> "
              f"{SCNN_QUOTED['exact_2000'] / t:.1f}x wall, {SCNN_QUOTED['exact_2000'] / c:.1f}x "
              f"our CPU time (goal >= 10x)", flush=True)
    pc = int(os.environ.get("BENCH_CVXPY_GATES", "100"))
    cvx_cap = float(os.environ.get("BENCH_CVXPY_CAP", "1800"))
    print(f"exact n={n} d={d} gates={pc} (cvxpy about "
          f"{estimate_cvxpy_memory(n, d, pc, 1, 'exact') / 2**30:.0f} GiB by the package's "
          f"estimate):", flush=True)
    cached = os.environ.get("BENCH_CVXPY_EXACT_JSON")
    if cached and os.path.exists(cached):
        import json

        with open(cached) as fh:
            lines = fh.read().strip().splitlines()
        res = json.loads(lines[-1]) if lines else {"error": f"no result in {cached} yet"}
        print(f"  (cvxpy measured once, in its own background process: {cached})")
    else:
        res = _cvxpy_exact_subprocess(n, d, pc, cvx_cap)
    t, c, est = ours(X, y, pc, 1e-3, "exact", repeat=1, max_iter=IPM_CAP)
    rel = est.dual_gap_ / est.objective_
    print(f"  ours solver='auto' -> {est.solver_!r}: {t:.1f} s wall, {c:.1f} s CPU, "
          f"{est.n_iter_} iterations, certified gap {rel:.1e}, objective {est.objective_:.8g}")
    if res is None:
        print(f"  plain cvxpy/Clarabel > {cvx_cap:.0f} s (capped) -> speed-up > "
              f"{cvx_cap / t:.1f}x wall (goal >= 10x)")
    elif "error" in res:
        print(f"  plain cvxpy/Clarabel failed: {res['error']}")
    else:
        diff = (est.objective_ - res["value"]) / abs(res["value"])
        print(f"  plain cvxpy/Clarabel {res['wall']:.1f} s wall, {res['cpu']:.1f} s CPU, peak "
              f"{res['peak_gib']:.1f} GiB, objective {res['value']:.8g}: difference "
              f"{diff:+.1e} (goal |.| <= 1e-4); speed-up {res['wall'] / t:.2f}x wall, "
              f"{res['cpu'] / c:.2f}x CPU (goal >= 10x)")


def large_section():
    """n=100 000, d=100, 200 gates: APG (Newton's n x n factor does not fit).

    (a) The issue's line: raw Gaussian columns, intercept, alpha=1e-3 (all
        200 gates active: the hard case), to a certified relative gap of
        BENCH_LARGE_TOL (default 1e-3: ten times tighter than scnn's default
        stop at n=2000, about 1% above the optimum; the estimator's default
        1e-4 takes APG several times longer here, its gradient-based bound
        converging like the square root of the objective). Peak memory of the
        solver's arrays (tracemalloc). BENCH_LARGE_RAW=0 skips it (minutes).
    (b) scnn beside ours on scnn's own program (unit-norm columns, no
        intercept, the same gates, the estimator's default alpha="auto"),
        each in a child process so that both peaks are the same measure (the
        child's peak resident memory, interpreter and libraries included):
        scnn at its defaults (float32, tol 1e-6), ours to a certified gap of
        BENCH_LARGE_TOL, scnn's objective stated relative to our certified
        lower bound; then ours to a certified gap of half the excess scnn
        provably has (its objective over our objective), i.e. at tighter
        accuracy than scnn's. Threads: whatever OMP_NUM_THREADS allows (torch
        follows it), printed.
    """
    print("== 4. large gated problem ==")
    n3 = 20000 if QUICK else 100000
    tol = float(os.environ.get("BENCH_LARGE_TOL", "1e-3"))
    if os.environ.get("BENCH_LARGE_RAW", "1") == "1":
        X, y = planted(n3, 100, seed=1)
        tracemalloc.start()
        t, c = time.perf_counter(), time.process_time()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            est = ConvexReLURegressor(alpha=1e-3, n_gates=200, tol=tol, max_iter=100000,
                                      random_state=0).fit(X, y)
        elapsed, cpu = time.perf_counter() - t, time.process_time() - c
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(f"gated n={n3} d=100 gates=200 raw columns, intercept, alpha=1e-3 (solver "
              f"{est.solver_!r}, tol {tol:g}, no iteration cap): {elapsed:.1f} s wall, "
              f"{cpu:.1f} s CPU, {est.n_iter_} iterations, {est.n_data_passes_} data passes, "
              f"peak {peak / 2**30:.2f} GiB of arrays (X itself {X.nbytes / 2**30:.2f} GiB), "
              f"certified gap {est.dual_gap_ / est.objective_:.1e}, {est.n_neurons_} neurons; "
              f"reference scnn (quoted, n=100k, its default tolerance) "
              f"{SCNN_QUOTED['gated_100k']} s, {SCNN_QUOTED['mem_100k']} GB", flush=True)
        del X, y
    ours_res = _large_child("ours", n3, tol)
    print(f"gated n={n3} d=100 gates=200 unit-norm columns, no intercept, alpha="
          f"{ours_res['alpha']:.4g} (0.07 alpha_max), {ours_res['threads']}: "
          f"ours (solver {ours_res['solver']!r}, tol {tol:g}) {ours_res['wall']:.1f} s wall, "
          f"{ours_res['cpu']:.1f} s CPU, {ours_res['n_iter']} iterations, "
          f"{ours_res['passes']} data passes, peak {ours_res['peak_gib']:.2f} GiB resident, "
          f"objective {ours_res['objective']:.8g}, certified bound {ours_res['bound']:.8g} "
          f"(gap {(ours_res['objective'] - ours_res['bound']) / ours_res['objective']:.1e}), "
          f"{ours_res['neurons']} neurons", flush=True)
    why = try_scnn()
    if why is not None:
        print(f"  scnn not importable ({why}); quoted: {SCNN_QUOTED['gated_100k']} s, "
              f"{SCNN_QUOTED['mem_100k']} GB")
        return
    sc = _large_child("scnn", n3, tol)
    excess = (sc["objective"] - ours_res["bound"]) / ours_res["bound"]
    print(f"  scnn default (float32, tol 1e-6), {sc['threads']} torch thread(s): "
          f"{sc['wall']:.1f} s wall, {sc['cpu']:.1f} s CPU, peak {sc['peak_gib']:.2f} GiB "
          f"resident, objective {sc['objective']:.8g} ({excess:.1e} above our certified "
          f"bound); ours (gap <= {tol:g}) {sc['wall'] / ours_res['wall']:.2f}x wall, "
          f"{sc['cpu'] / ours_res['cpu']:.2f}x CPU faster (goal >= 2x)", flush=True)
    # At comparable accuracy: scnn's objective is above the optimum by at
    # least (its objective - ours) / ours; ours to a certified gap of half that
    # is provably closer to the optimum than scnn's result.
    proven = (sc["objective"] - ours_res["objective"]) / ours_res["objective"]
    if proven > 2 * tol:
        loose = float(f"{0.5 * proven:.0e}")
        lo = _large_child("ours", n3, loose)
        print(f"  ours to a certified gap of {loose:g} (scnn is >= {proven:.1e} above the "
              f"optimum): {lo['wall']:.1f} s wall, {lo['cpu']:.1f} s CPU, {lo['n_iter']} "
              f"iterations, {lo['passes']} data passes, gap "
              f"{(lo['objective'] - lo['bound']) / lo['objective']:.1e} -> "
              f"{sc['wall'] / lo['wall']:.2f}x wall, {sc['cpu'] / lo['cpu']:.2f}x CPU faster "
              f"than scnn's default (goal >= 2x)", flush=True)


def _large_child(who, n, tol):
    """Run one contender of ``large_section`` (b) in a child process; its JSON result."""
    import json
    import subprocess
    import sys

    cmd = [sys.executable, os.path.abspath(__file__), "--large", who, str(n), str(tol)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _large_child_main(who, n, tol):
    import json
    import resource

    X, y = planted(n, 100, seed=1)
    X = X / np.linalg.norm(X, axis=0)
    kw = dict(alpha="auto", n_gates=200, random_state=0, fit_intercept=False,
              linear_gate=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if who == "ours":
            t, c = time.perf_counter(), time.process_time()
            est = ConvexReLURegressor(tol=tol, max_iter=100000, **kw).fit(X, y)
            wall, cpu = time.perf_counter() - t, time.process_time() - c
            res = dict(objective=est.objective_, bound=est.lower_bound_, n_iter=est.n_iter_,
                       passes=est.n_data_passes_, neurons=est.n_neurons_, solver=est.solver_,
                       alpha=est.alpha_, threads=_our_threads(est, X))
        else:
            import torch

            est = ConvexReLURegressor(tol=tol, max_iter=1, **kw).fit(X, y)
            lam = est.alpha_
            wall, cpu, pred, pen = run_scnn(X, y, est.gates_, lam, None, "float32")
            res = dict(objective=0.5 * np.mean((pred - y) ** 2) + lam * pen,
                       threads=torch.get_num_threads())
    res.update(wall=wall, cpu=cpu,
               peak_gib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    print(json.dumps(res))


def defaults_section():
    print("== 5. defaults on real data (5-fold, after StandardScaler) ==")
    X, y = load_breast_cancer(return_X_y=True)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    lr = cross_val_score(make_pipeline(StandardScaler(), LogisticRegression()), X, y, cv=cv)
    cr = cross_val_score(make_pipeline(StandardScaler(), ConvexReLUClassifier(random_state=0)),
                         X, y, cv=cv)
    print(f"breast_cancer accuracy: ConvexReLUClassifier {cr.mean():.4f}, LogisticRegression "
          f"{lr.mean():.4f}: difference {cr.mean() - lr.mean():+.4f} (goal >= -0.005)")
    X, y = load_diabetes(return_X_y=True)
    cv = KFold(5, shuffle=True, random_state=0)
    rr = cross_val_score(make_pipeline(StandardScaler(), RidgeCV()), X, y, cv=cv)
    cr = cross_val_score(make_pipeline(StandardScaler(), ConvexReLURegressor(random_state=0)),
                         X, y, cv=cv)
    print(f"diabetes R^2: ConvexReLURegressor {cr.mean():.4f}, RidgeCV {rr.mean():.4f}: "
          f"difference {cr.mean() - rr.mean():+.4f} (goal >= 0)")
    # The gates are random: the spread over gate draws, next to the one above.
    seeds = [cross_val_score(make_pipeline(StandardScaler(),
                                           ConvexReLURegressor(random_state=s)),
                             X, y, cv=cv).mean() for s in range(1, 5)]
    print(f"  diabetes R^2 over gate draws random_state=1..4: "
          f"{', '.join(f'{v:.4f}' for v in seeds)} (mean {np.mean(seeds):.4f})")


def main():
    np.set_printoptions(precision=4)
    sections = os.environ.get("BENCH_SECTIONS", "gated,scnn,exact,large,defaults").split(",")
    for name in sections:
        globals()[f"{name.strip()}_section"]()


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 5 and sys.argv[1] == "--cvxpy-exact":
        _cvxpy_exact_child(*map(int, sys.argv[2:]))
    elif len(sys.argv) == 5 and sys.argv[1] == "--large":
        _large_child_main(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]))
    else:
        main()
