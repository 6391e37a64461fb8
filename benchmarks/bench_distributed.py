"""Debiased vs plain averaging of sketched ridge Newton steps, against q.

Part 1 prints (and plots) the relative error ``||w_q - w*|| / ||w*||`` of
the one-step distributed estimate against the exact ``Ridge`` solution for
q = 1, 2, 4, ..., 256 workers, for three sketches (uniform row sampling,
Gaussian, surrogate), each with and without debiasing, on a problem where
``d_lambda / m = 1/2``. Debiased averaging with the surrogate sketch keeps
falling like 1/sqrt(q); plain averaging stalls at its bias.

Part 2 prints the wall-clock of n_jobs=2 against n_jobs=1 (loky) on a
larger problem.

Run: ``python benchmarks/bench_distributed.py [--quick]``; writes
``bench_distributed.png`` in the current directory.
"""

import argparse
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.base import BaseEstimator
from sklearn.linear_model import Ridge

from sklearn_convexnn import (
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

    # -- wall-clock of n_jobs=2 vs n_jobs=1 ---------------------------------
    n, d, q = (20_000, 60, 8) if quick else (100_000, 100, 16)
    X, y = spread_problem(n, d, seed=1)
    alpha = float(np.median(np.linalg.eigvalsh(X.T @ X)))
    sketch = GaussianSketch(4 * d)
    times = {}
    for n_jobs in (1, 2):
        reg = DebiasedAveragingRegressor(
            Ridge(alpha=alpha),
            sketch=sketch,
            n_workers=q,
            n_jobs=n_jobs,
            random_state=0,
        )
        start = time.perf_counter()
        reg.fit(X, y)
        times[n_jobs] = time.perf_counter() - start
        print(
            f"wall-clock n={n} d={d} q={q} Gaussian m={4 * d} n_jobs={n_jobs}: "
            f"{times[n_jobs]:.2f} s"
        )
    print(f"speed-up n_jobs=2 vs n_jobs=1: {times[1] / times[2]:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    main(parser.parse_args().quick)
