"""
===========================================================================
Binary-weight networks: SDP relaxation + rounding vs post-training rounding
===========================================================================

For planted networks with first-layer weights in ``{-1, +1}^d`` and several
input sizes ``d``, compare on the same training objective
``(1/2n)||f(X) - y||^2 + alpha * sum_j |w_j|`` over binary networks:

* :class:`~sklearn_convexnn.QuantizedSDPRegressor`: the SDP relaxation,
  randomized rounding, and a convex refit of the output layer;
* its certified ``lower_bound_`` (no binary network of any width does better);
* the true quantized optimum by brute force where ``d <= 10``: with the
  hidden layer fixed to *all* ``2^d`` sign vectors, the problem is a Lasso
  over their activations, which :class:`sklearn.linear_model.Lasso` solves
  (its objective is exactly the one above);
* post-training quantization (PTQ): fit the continuous
  :class:`~sklearn_convexnn.ConvexPolyNetRegressor`, take the signs of its
  neurons, refit the output layer by the same Lasso.
"""

import itertools
import os
import time

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import Lasso

from sklearn_convexnn import ConvexPolyNetRegressor, QuantizedSDPRegressor
from sklearn_convexnn.datasets import make_planted_quantized

QUICK = os.environ.get("SKLEARN_CONVEXNN_EXAMPLES_QUICK") == "1"
ALPHA = 1e-2
A, B, C = 0.09, 0.5, 0.47  # activation "relu-approx": a t^2 + b t + c


def hidden(X, U):
    T = X @ U.T
    return A * T**2 + B * T + C


def refit_output_layer(X, y, U):
    """Best output layer over the neurons ``U``: a Lasso on their activations."""
    H = hidden(X, U)
    lasso = Lasso(alpha=ALPHA, tol=1e-10, max_iter=100_000).fit(H, y)
    r = H @ lasso.coef_ + lasso.intercept_ - y
    objective = 0.5 * np.mean(r**2) + ALPHA * np.abs(lasso.coef_).sum()
    return lasso, objective


def post_training_quantization(X, y):
    continuous = ConvexPolyNetRegressor(alpha=ALPHA).fit(X, y)
    U = np.unique(np.where(continuous.hidden_weights_ >= 0, 1.0, -1.0), axis=0)
    lasso, objective = refit_output_layer(X, y, U)
    return U, lasso, objective


def brute_force(X, y):
    U = np.array(list(itertools.product([-1.0, 1.0], repeat=X.shape[1])))
    return refit_output_layer(X, y, U)[1]


# %%
# Fit every method on each input size
# -----------------------------------
dims = [4, 6, 8] if QUICK else [4, 6, 8, 10, 15, 20]
n_train = 150 if QUICK else 300
rows = []
for d in dims:
    X, y = make_planted_quantized(2 * n_train, d, n_neurons=3, noise=0.05, random_state=d)
    Xtr, ytr, Xte, yte = X[:n_train], y[:n_train], X[n_train:], y[n_train:]
    t0 = time.perf_counter()
    model = QuantizedSDPRegressor(alpha=ALPHA, random_state=0).fit(Xtr, ytr)
    seconds = time.perf_counter() - t0
    U, lasso, ptq_objective = post_training_quantization(Xtr, ytr)
    rows.append({
        "d": d,
        "bound": model.lower_bound_,
        "sdp": model.objective_,
        "brute": brute_force(Xtr, ytr) if d <= 10 else np.nan,
        "ptq": ptq_objective,
        "sdp_test": float(np.mean((model.predict(Xte) - yte) ** 2)),
        "ptq_test": float(np.mean((lasso.predict(hidden(Xte, U)) - yte) ** 2)),
        "neurons": model.n_neurons_,
        "seconds": seconds,
    })

print(f"alpha={ALPHA}; test = held-out MSE (noise variance 0.0025)")
print(f"{'d':>3} {'lower bound':>12} {'SDP+round':>10} {'brute force':>12} {'PTQ':>9} "
      f"{'PTQ/SDP':>8} {'test SDP':>9} {'test PTQ':>9} {'neurons':>8} {'fit s':>6}")
for r in rows:
    print(f"{r['d']:>3} {r['bound']:>12.5f} {r['sdp']:>10.5f} {r['brute']:>12.5f} "
          f"{r['ptq']:>9.5f} {r['ptq'] / r['sdp']:>8.2f} {r['sdp_test']:>9.5f} "
          f"{r['ptq_test']:>9.5f} {r['neurons']:>8d} {r['seconds']:>6.1f}")

# %%
# Objective and held-out error
# ----------------------------
# The rounded SDP network sits between the certified lower bound and the
# post-training-quantized one; where brute force is possible it shows how
# much of the remaining gap is the bound's looseness.
d = [r["d"] for r in rows]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
ax1.plot(d, [r["ptq"] for r in rows], "s-", label="post-training quantization")
ax1.plot(d, [r["sdp"] for r in rows], "o-", label="SDP + rounding (QuantizedSDPRegressor)")
ax1.plot(d, [r["brute"] for r in rows], "k*", ms=10, label="brute-force optimum")
ax1.plot(d, [r["bound"] for r in rows], "v--", label="certified lower bound (SDP)")
ax1.set_yscale("log")
ax1.set_xlabel("input dimension d")
ax1.set_ylabel("training objective")
ax1.set_title("Binary first layer: objective")
ax1.legend(fontsize=8)
ax2.plot(d, [r["ptq_test"] for r in rows], "s-", label="post-training quantization")
ax2.plot(d, [r["sdp_test"] for r in rows], "o-", label="SDP + rounding")
ax2.axhline(0.05**2, color="gray", ls=":", label="noise level")
ax2.set_yscale("log")
ax2.set_xlabel("input dimension d")
ax2.set_ylabel("test MSE")
ax2.set_title("Held-out error")
ax2.legend(fontsize=8)
fig.tight_layout()
fig.savefig("plot_quantized.png", dpi=120)
plt.show()
