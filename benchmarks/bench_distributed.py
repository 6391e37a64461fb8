"""Debiased vs plain averaging of sketched ridge Newton steps, against q.

Part 1 prints (and plots) the relative error ``||w_q - w*|| / ||w*||`` of
the one-step distributed estimate against the exact ``Ridge`` solution for
q = 1, 2, 4, ..., 256 workers, for three sketches (uniform row sampling,
Gaussian, surrogate), each with and without debiasing, on a problem where
``d_lambda / m = 1/2``. Debiased averaging with the surrogate sketch keeps
falling like 1/sqrt(q); plain averaging stalls at its bias.

Part 2 prints the wall-clock of n_jobs=2 against n_jobs=1 (loky) on a
small problem (where the n_jobs rule keeps one task) and a larger one
(where it splits), with the number of tasks the rule picked.

Part 3 fits DebiasedAveragingClassifier (multinomial, 10 classes) on
standardized digits (70/30 split) next to LogisticRegression: fit-time
ratio (goal <= 20x) and test-accuracy difference (goal within 0.01).

Run: ``python benchmarks/bench_distributed.py [--quick]``; writes
``bench_distributed.png`` in the current directory.
"""

import argparse
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_convexnn import (
    DebiasedAveragingClassifier,
    DebiasedAveragingRegressor,
    GaussianSketch,
    SurrogateSketch,
    effective_dimension,
)

plt.switch_backend("Agg")  # write files, never open windows


class UniformRowSampling(BaseEstimator):
    """i.i.d. uniform row sampling with replacement, rows scaled sqrt(n/m)."""

    def __init__(self, n_components=100):
        self.n_components = n_components

    def sketch(self, A, random_state=None):
        rng = np.random.default_rng(random_state)
        rows = rng.integers(0, A.shape[0], size=self.n_components)
        return A[rows] * np.sqrt(A.shape[0] / self.n_components)


def spread_problem(n, d, seed=0):
    """Gaussian rows with a decaying spectrum and a planted ridge model."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * (0.9 ** np.arange(d)) * 3.0
    y = X @ rng.standard_normal(d) + rng.standard_normal(n)
    return X, y


def error_against_workers(X, y, alpha, sketch, workers, seeds, debias):
    exact = Ridge(alpha=alpha, fit_intercept=False).fit(X, y).coef_
    errors = []
    for q in workers:
        errs = [
            np.linalg.norm(
                DebiasedAveragingRegressor(
                    Ridge(alpha=alpha, fit_intercept=False),
                    sketch=sketch,
                    n_workers=q,
                    debias=debias,
                    max_iter=1,
                    tol=None,
                    random_state=seed,
                )
                .fit(X, y)
                .coef_
                - exact
            )
            / np.linalg.norm(exact)
            for seed in seeds
        ]
        errors.append(float(np.mean(errs)))
    return errors


def main(quick=False):
    n, d = (1000, 30) if quick else (2000, 50)
    X, y = spread_problem(n, d)
    # choose alpha so that d_lambda ~ d / 2, then m = 2 d_lambda
    alpha = float(np.median(np.linalg.eigvalsh(X.T @ X)))
    d_lam = effective_dimension(X, alpha)
    m = int(np.ceil(2 * d_lam))
    workers = [2**k for k in range(7 if quick else 9)]
    seeds = range(2 if quick else 4)
    sketches = {
        "uniform": UniformRowSampling(m),
        "gaussian": GaussianSketch(m),
        "surrogate": SurrogateSketch(m),
    }
    print(
        f"ridge n={n} d={d} alpha={alpha:.4g} d_lambda={d_lam:.2f} m={m} "
        f"d_lambda/m={d_lam / m:.2f}; mean relative error over {len(seeds)} seeds"
    )
    header = f"{'sketch':>10} {'debias':>6} " + " ".join(
        f"{'q=' + str(q):>8}" for q in workers
    )
    print(header)
    fig, ax = plt.subplots(figsize=(6, 4.5))
    table = {}
    for name, sketch in sketches.items():
        for debias in (True, False):
            errs = error_against_workers(X, y, alpha, sketch, workers, seeds, debias)
            table[name, debias] = errs
            print(f"{name:>10} {debias!s:>6} " + " ".join(f"{e:8.4f}" for e in errs))
            ax.loglog(
                workers,
                errs,
                marker="o",
                linestyle="-" if debias else "--",
                label=f"{name}, {'debiased' if debias else 'plain'}",
            )
    q = np.array(workers, dtype=float)
    ref = table["surrogate", True][0] / np.sqrt(q)
    ax.loglog(q, ref, color="gray", linewidth=0.8, label=r"$1/\sqrt{q}$")
    ax.set_xlabel("number of workers q")
    ax.set_ylabel(r"$\|w_q - w^*\| / \|w^*\|$")
    ax.set_title(f"Distributed ridge, one step, m = 2 d_lambda = {m}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig("bench_distributed.png", dpi=120)
    last, first = workers[-1], workers[0]
    for name in sketches:
        for debias in (True, False):
            e = table[name, debias]
            print(
                f"{name:>10} debias={debias!s:>5}: error(q={first})/error(q={last}) "
                f"= {e[0] / e[-1]:.1f}  (1/sqrt(q) predicts {np.sqrt(last / first):.1f})"
            )
    print("saved bench_distributed.png")

    n_jobs_timings(quick)
    digits_against_logistic_regression(quick)


def n_jobs_timings(quick):
    """n_jobs=2 vs 1 (loky), alternately, best of k; the rule's choice."""
    cases = [(2_000, 20, 16), (20_000, 60, 8) if quick else (40_000, 100, 8)]
    for n, d, q in cases:
        X, y = spread_problem(n, d, seed=1)
        alpha = float(np.median(np.linalg.eigvalsh(X.T @ X)))
        times = {1: [], 2: []}
        tasks = {}
        for _ in range(2 if quick else 3):
            for n_jobs in (1, 2):
                reg = DebiasedAveragingRegressor(
                    Ridge(alpha=alpha),
                    sketch=GaussianSketch(4 * d),
                    n_workers=q,
                    max_iter=1,
                    tol=None,
                    n_jobs=n_jobs,
                    random_state=0,
                )
                start = time.perf_counter()
                reg.fit(X, y)
                times[n_jobs].append(time.perf_counter() - start)
                tasks[n_jobs] = reg.n_tasks_
        t1, t2 = min(times[1]), min(times[2])
        print(
            f"n={n} d={d} q={q} Gaussian m={4 * d}: n_jobs=1 {t1:.3f} s, "
            f"n_jobs=2 {t2:.3f} s"
        )
        print(
            f"n_jobs=2 vs 1: ratio {t1 / t2:.2f}x, rule picked {tasks[2]} task(s) "
            f"for n_jobs=2 (goal: >= 1x, i.e. never slower)"
        )


def digits_against_logistic_regression(quick):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=0
    )
    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    configs = {
        "defaults (16 workers, tol=1e-8)": {},
        "16 workers, tol=1e-4": {"tol": 1e-4},
        "4 workers, tol=1e-4": {"tol": 1e-4, "n_workers": 4},
    }
    if quick:
        configs = {"4 workers, tol=1e-4": {"tol": 1e-4, "n_workers": 4}}
    t_lr, lr = [], None
    for _ in range(3):
        start = time.perf_counter()
        lr = LogisticRegression().fit(X_train, y_train)
        t_lr.append(time.perf_counter() - start)
    acc_lr = lr.score(X_test, y_test)
    print(
        f"digits (standardized, 70/30): LogisticRegression {min(t_lr):.3f} s, "
        f"accuracy {acc_lr:.4f}"
    )
    for label, params in configs.items():
        clf = DebiasedAveragingClassifier(random_state=0, **params)
        start = time.perf_counter()
        clf.fit(X_train, y_train)
        t = time.perf_counter() - start
        start = time.perf_counter()
        LogisticRegression().fit(X_train, y_train)  # right after: same load
        t_lr.append(time.perf_counter() - start)
        acc = clf.score(X_test, y_test)
        print(
            f"DebiasedAveragingClassifier on digits vs LogisticRegression "
            f"[{label}, {clf.n_iter_} rounds]: time ratio "
            f"{t / min(t_lr):.1f}x (goal <= 20x), accuracy difference "
            f"{acc - acc_lr:+.4f} (goal within 0.01)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    main(parser.parse_args().quick)
