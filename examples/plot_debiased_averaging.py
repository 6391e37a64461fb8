"""
================================================
Debiased averaging of distributed sketched ridge
================================================

Each of q workers sketches the data (a surrogate sketch of expected size
m = 2 d_lambda), solves its local ridge problem and returns its Newton
direction; the master averages them. Plain averaging keeps the ridge
parameter and stalls at its bias however many workers join. Debiased
averaging gives each worker the shrunk parameter
``alpha (1 - d_lambda / m)`` and scales the average by ``1 - d_lambda / m``:
the average is unbiased and its error falls like ``1 / sqrt(q)``.

The same estimator runs its workers on a Dask cluster with
``joblib.parallel_config(backend="dask")`` inside a ``dask.distributed``
``Client``: no change to the code below.

Saves ``plot_debiased_averaging.png``.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import Ridge

from sklearn_convexnn import (
    DebiasedAveragingRegressor,
    SurrogateSketch,
    effective_dimension,
)

plt.switch_backend("Agg")  # write files, never open windows
QUICK = os.environ.get("SKLEARN_CONVEXNN_EXAMPLES_QUICK") == "1"

QUICK = os.environ.get("SKLEARN_CONVEXNN_EXAMPLES_QUICK") == "1"

rng = np.random.default_rng(0)
n, d = (200, 10) if QUICK else (500, 20)
X = rng.standard_normal((n, d)) * (0.85 ** np.arange(d)) * 3.0
y = X @ rng.standard_normal(d) + rng.standard_normal(n)
alpha = float(np.median(np.linalg.eigvalsh(X.T @ X)))
exact = Ridge(alpha=alpha, fit_intercept=False).fit(X, y).coef_

d_lambda = effective_dimension(X, alpha)
m = int(np.ceil(2 * d_lambda))
print(f"d_lambda = {d_lambda:.2f}, sketch size m = {m}")

workers = [1, 4, 16, 64] if QUICK else [1, 2, 4, 8, 16, 32, 64, 128, 256]
seeds = range(1 if QUICK else 2)
fig, ax = plt.subplots(figsize=(6, 4.5))
curves = {}
for debias, style in [(True, "o-"), (False, "s--")]:
    errors = []
    for q in workers:
        errs = []
        for seed in seeds:
            reg = DebiasedAveragingRegressor(
                Ridge(alpha=alpha, fit_intercept=False),
                sketch=SurrogateSketch(m),
                n_workers=q,
                debias=debias,
                max_iter=1,  # the one-round estimate, no stopping test
                tol=None,
                random_state=seed,
            ).fit(X, y)
            errs.append(np.linalg.norm(reg.coef_ - exact) / np.linalg.norm(exact))
        errors.append(np.mean(errs))
    curves[debias] = errors
    label = "debiased averaging" if debias else "plain averaging"
    print(label, " ".join(f"{e:.4f}" for e in errors))
    ax.loglog(workers, errors, style, label=label)

q = np.array(workers, dtype=float)
ax.loglog(
    q,
    curves[True][0] / np.sqrt(q),
    color="gray",
    linewidth=0.8,
    label=r"$\propto 1/\sqrt{q}$",
)
ax.set_xlabel("number of workers q")
ax.set_ylabel(r"relative error $\|w_q - w^*\| / \|w^*\|$")
ax.set_title(f"Distributed ridge with surrogate sketches (m = {m})")
ax.legend()
fig.tight_layout()
fig.savefig("plot_debiased_averaging.png", dpi=120)
print("saved plot_debiased_averaging.png")
