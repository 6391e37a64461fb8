"""Lifted polynomial-network SDP: cvxpy + Clarabel vs the lowrank solver.

Prints, in one run:
  1. cvxpy/Clarabel vs lowrank and proxgrad on a grid of sizes up to n=2000,
     d=50, the fast solvers to a certified relative gap of 1e-4 (so within
     1e-4 of the optimum): wall and CPU times, their ratios, relative
     objective difference (goal: >= 100x cvxpy at n=2000, d=50 for the
     solver "auto" picks);
  2. n=100 000, d=100: the proxgrad solver (full lifted matrices) and the
     lowrank solver (neurons) to a certified gap of 1e-3: data passes
     counted (proxgrad), reads of X (lowrank), fit CPU time in units of one
     data pass (forming X^T diag(r) X once, timed here), neurons, with the
     goals (<= 200 passes, aim 50; <= 20 neurons);
  3. plain gradient training of the same network (L-BFGS-B on (U, w) with
     the l1 split w = w+ - w-, several widths and random restarts): how often
     it reaches the certified optimum and how long it takes;
  4. peak memory of the big fit (resource.getrusage) next to the data size.

Every solver runs with single-threaded BLAS, so the ratios do not depend on
what else the machine is doing with its cores. Usage:

    python benchmarks/bench_polynet.py [--quick]
"""

import argparse
import resource
import time
import warnings

import numpy as np
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from sklearn_convexnn._solvers.lifted.cvxpy_backend import solve_lifted_cvxpy
from sklearn_convexnn._solvers.lifted.lifted import ACTIVATIONS, LiftedBlock
from sklearn_convexnn._solvers.lifted.lowrank import solve_lifted_lowrank
from sklearn_convexnn._solvers.lifted.proxgrad import solve_lifted_proxgrad
from sklearn_convexnn._solvers.shared.losses import get_loss
from sklearn_convexnn.datasets import make_planted_polynet

ACT = ACTIVATIONS["relu-approx"]
LOSS = get_loss("squared")


def planted(n, d, seed=0, neurons=5, noise=0.1):
    X, y = make_planted_polynet(n, d, neurons, noise=noise, random_state=seed)
    return X, y[:, None]


def timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def timed_cpu(fn, repeats=1):
    """``(result, best wall seconds, best CPU seconds)`` over ``repeats`` runs.

    CPU time (this process, all threads) is what a loaded machine distorts
    least; both are printed.
    """
    walls, cpus = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        out = fn()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return out, min(walls), min(cpus)


def versus_cvxpy(sizes, alpha, tol=1e-4, repeats=3):
    print(f"\n== 1. cvxpy/Clarabel (tol 1e-8) vs lowrank and proxgrad (squared loss, "
          f"alpha={alpha}, planted, 5 neurons, noise 0.1; both fast solvers to a certified "
          f"relative gap of {tol:g}, so their objective is within {tol:g} of the optimum; "
          f"fast solvers best of {repeats}; speed-ups as wall / CPU time)")
    print(f"{'n':>6} {'d':>4} {'cvxpy s':>9} {'cpu s':>7} {'lowrank s':>10} {'cpu s':>7} "
          f"{'speed-up':>14} {'rel obj diff':>13} {'neurons':>8} {'proxgrad s':>11} "
          f"{'cpu s':>7} {'speed-up':>14} {'rel obj diff':>13} {'neurons':>8}")
    for n, d in sizes:
        X, Y = planted(n, d)
        blocks = [LiftedBlock(X)]
        sol, t_cvx, c_cvx = timed_cpu(lambda b=blocks, Y=Y: solve_lifted_cvxpy(
            b, Y, LOSS, ACT, alpha, tol=1e-8))
        res, t_low, c_low = timed_cpu(lambda b=blocks, Y=Y: solve_lifted_lowrank(
            b, Y, LOSS, ACT, alpha, tol=tol), repeats)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            pg, t_pg, c_pg = timed_cpu(lambda b=blocks, Y=Y: solve_lifted_proxgrad(
                b, Y, LOSS, ACT, alpha, tol=tol, max_iter=3000), repeats)
        diff = (res.objective - sol.value) / abs(sol.value)
        diff_pg = (pg.objective - sol.value) / abs(sol.value)
        up_low = f"{t_cvx / t_low:.0f}x/{c_cvx / c_low:.0f}x"
        up_pg = f"{t_cvx / t_pg:.0f}x/{c_cvx / c_pg:.0f}x"
        print(f"{n:>6} {d:>4} {t_cvx:>9.2f} {c_cvx:>7.2f} {t_low:>10.3f} {c_low:>7.3f} "
              f"{up_low:>14} {diff:>13.1e} {res.neurons.shape[0]:>8} {t_pg:>11.3f} "
              f"{c_pg:>7.3f} {up_pg:>14} {diff_pg:>13.1e} {pg.neurons.shape[0]:>8}")
        if (n, d) == (2000, 50):
            print(f"   sparse case n=2000, d=50: lowrank (what auto picks here: n < 4 (d+1)^2) "
                  f"{t_cvx / t_low:.0f}x cvxpy in wall time, {c_cvx / c_low:.0f}x in CPU time "
                  f"(goal >= 100x), certified gap {res.gap:.1e}, objective {diff:+.1e} "
                  f"relative to cvxpy's (goal: within {tol:g})")


def large(n, d, alpha, tol):
    print(f"\n== 2. n={n}, d={d} (alpha={alpha}, target certified gap {tol}): proxgrad and "
          f"lowrank; times also in units of one data pass (X^T diag(r) X), CPU time")
    X, Y = planted(n, d, seed=1)
    r = np.random.default_rng(0).normal(size=n)
    _, t_pass, c_pass = timed_cpu(lambda: (X.T * r) @ X, 3)
    print(f"one data pass (X^T diag(r) X): {t_pass:.3f} s wall, {c_pass:.3f} s CPU")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    res, t_fit, c_fit = timed_cpu(lambda: solve_lifted_proxgrad([LiftedBlock(X)], Y, LOSS, ACT,
                                                               alpha, tol=tol))
    rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"proxgrad: {t_fit:.1f} s wall, {c_fit:.1f} s CPU = {c_fit / c_pass:.0f} data passes "
          f"of CPU time; {res.n_iter} iterations, data passes counted {res.n_passes}; "
          f"certified gap {res.gap:.1e} ({res.status}); {res.neurons.shape[0]} neurons")
    low, t_low, c_low = timed_cpu(lambda: solve_lifted_lowrank([LiftedBlock(X)], Y, LOSS, ACT,
                                                               alpha, tol=tol))
    # An L-BFGS iteration reads X twice through thin products (X times a
    # p x width matrix, width the neurons), a round once more for the
    # certificate's full pass X^T diag(theta) X and once for its forward.
    reads = 2 * low.n_iter + 2 * low.n_rounds
    print(f"lowrank: {t_low:.1f} s wall, {c_low:.1f} s CPU = {c_low / c_pass:.0f} data passes "
          f"of CPU time; {low.n_iter} L-BFGS iterations in {low.n_rounds} rounds (about "
          f"{reads} reads of X, {low.n_rounds} of them full passes); certified gap "
          f"{low.gap:.1e} ({low.status}); {low.neurons.shape[0]} neurons; objective "
          f"{(low.objective - res.objective) / res.objective:+.1e} relative to proxgrad's")
    best = min((c_fit, "proxgrad", res), (c_low, "lowrank", low), key=lambda t: t[0])
    print(f"   large case, fastest solver ({best[1]}): {best[0] / c_pass:.0f} data passes of "
          f"CPU time (goal <= 200, aim 50); certified gap {best[2].gap:.1e} (goal <= {tol:g}); "
          f"{best[2].neurons.shape[0]} neurons (goal <= 20); auto picks proxgrad here "
          f"(n >= 4 (d+1)^2), {res.n_passes} data passes counted")
    print(f"\n== 4. memory: data {X.nbytes / 2**20:.0f} MiB; process peak RSS before the "
          f"proxgrad fit {rss0 / 2**20:.0f} MiB, after {rss1 / 2**20:.0f} MiB: the fit added "
          f"{(rss1 - rss0) / 2**20:.0f} MiB = {(rss1 - rss0) / X.nbytes:.2f} x the data")


def gradient_training(n, d, alpha, widths, restarts):
    print(f"\n== 3. gradient training of the same network vs the certified optimum "
          f"(n={n}, d={d}, alpha={alpha})")
    X, Y = planted(n, d, seed=2)
    y = Y[:, 0]
    res, t_low = timed(lambda: solve_lifted_lowrank([LiftedBlock(X)], Y, LOSS, ACT, alpha,
                                                    tol=1e-6))
    best = res.objective
    print(f"lowrank: objective {best:.8g}, certified gap {res.gap:.1e}, {t_low:.2f} s, "
          f"{res.neurons.shape[0]} neurons")
    print(f"{'width':>6} {'reached (rel<=1e-4)':>20} {'median rel excess':>18} "
          f"{'median s':>9}")
    for m in widths:
        hits, excess, times = 0, [], []
        for seed in range(restarts):
            value, t = timed(lambda m=m, seed=seed: _lbfgs_network(X, y, alpha, m, seed))
            rel = (value - best) / best
            hits += rel <= 1e-4
            excess.append(rel)
            times.append(t)
        print(f"{m:>6} {f'{hits}/{restarts}':>20} {np.median(excess):>18.1e} "
              f"{np.median(times):>9.2f}")


def _lbfgs_network(X, y, alpha, m, seed, maxiter=3000):
    """Train sum_j w_j sigma(x . z_j / ||z_j||) + b by L-BFGS-B, w = w+ - w-, w+-, >= 0."""
    n, d = X.shape
    a, b, c = ACT
    rng = np.random.default_rng(seed)
    x0 = np.concatenate([rng.normal(size=m * d), np.abs(rng.normal(size=2 * m)) * 0.1,
                         [y.mean()]])

    def fun(x):
        Z = x[:m * d].reshape(m, d)
        wp, wm, b0 = x[m * d:m * d + m], x[m * d + m:m * d + 2 * m], x[-1]
        nrm = np.linalg.norm(Z, axis=1)
        U = Z / nrm[:, None]
        T = X @ U.T
        H = a * T**2 + b * T + c
        w = wp - wm
        r = H @ w + b0 - y
        f = 0.5 * r @ r / n + alpha * (wp.sum() + wm.sum())
        g_r = r / n
        gH = H.T @ g_r
        gU = ((g_r[:, None] * (2 * a * T + b)) * w).T @ X
        gU -= np.sum(gU * U, axis=1, keepdims=True) * U
        gZ = gU / nrm[:, None]
        return f, np.concatenate([gZ.ravel(), gH + alpha, -gH + alpha, [g_r.sum()]])

    bounds = [(None, None)] * (m * d) + [(0, None)] * (2 * m) + [(None, None)]
    out = minimize(fun, x0, jac=True, method="L-BFGS-B", bounds=bounds,
                   options={"maxiter": maxiter, "ftol": 1e-15, "gtol": 1e-12})
    return out.fun


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    with threadpool_limits(1):
        # The large fit first: its peak RSS must not hide under cvxpy's.
        if args.quick:
            large(20_000, 50, alpha=1e-2, tol=1e-3)
            versus_cvxpy([(200, 5), (500, 10), (1000, 20)], alpha=1e-2)
            gradient_training(500, 10, 1e-2, widths=[5, 22], restarts=3)
        else:
            large(100_000, 100, alpha=1e-2, tol=1e-3)
            versus_cvxpy([(200, 5), (500, 10), (1000, 15), (2000, 20), (2000, 50)],
                         alpha=1e-2)
            gradient_training(2000, 20, 1e-2, widths=[5, 10, 42], restarts=5)


if __name__ == "__main__":
    main()
