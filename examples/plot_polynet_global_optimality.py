"""
=====================================================
Certified optimum vs gradient training of one network
=====================================================

On a planted problem, :class:`~sklearn_convexnn.ConvexPolyNetRegressor`
solves the training problem of a two-layer network with quadratic activation
``sigma(t) = 0.09 t^2 + 0.5 t + 0.47`` *exactly* (a semidefinite program) and
certifies the result: ``lower_bound_`` is a lower bound on the objective of
every network of this kind, of any width.

Gradient training (L-BFGS, written out below in a few lines of NumPy) of the
*same* non-convex objective

.. math::

    \\min_{\\|u_j\\|=1,\\ w,\\ b}\\ \\frac{1}{2n}
    \\Big\\|\\sum_j w_j\\,\\sigma(X u_j) + b - y\\Big\\|^2 + \\alpha \\sum_j |w_j|

at several widths and random starts stops at local optima above it, or
needs many more neurons than the convex fit uses to reach it.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import minimize

from sklearn_convexnn import ConvexPolyNetRegressor
from sklearn_convexnn.datasets import make_planted_polynet

QUICK = os.environ.get("SKLEARN_CONVEXNN_EXAMPLES_QUICK") == "1"
ALPHA = 1e-2
ACTIVATION = (0.09, 0.5, 0.47)  # "relu-approx": a t^2 + b t + c

# %%
# The convex fit and its certificate
# ----------------------------------
n_samples, n_features = (120, 4) if QUICK else (200, 6)
X, y = make_planted_polynet(n_samples, n_features, 4, noise=0.05, random_state=0)
model = ConvexPolyNetRegressor(alpha=ALPHA, solver="cvxpy").fit(X, y)
print(f"convex fit: objective {model.objective_:.6f}, certified lower bound "
      f"{model.lower_bound_:.6f}, {model.n_neurons_} neurons")


# %%
# Gradient training of the same objective
# ---------------------------------------
# ``|w|`` is smoothed as ``sqrt(w^2 + eps)`` for L-BFGS; the value reported
# is the exact objective of the trained network.
def gradient_training(X, y, width, alpha, seed, eps=1e-12):
    a, b, c = ACTIVATION
    n, d = X.shape

    def split(theta):
        return theta[: width * d].reshape(width, d), theta[width * d: -1], theta[-1]

    def objective_and_gradient(theta):
        V, w, b0 = split(theta)
        norms = np.linalg.norm(V, axis=1) + 1e-300
        U = V / norms[:, None]
        T = X @ U.T
        H = a * T**2 + b * T + c
        r = H @ w + b0 - y
        smooth = np.sqrt(w**2 + eps)
        grad_T = np.outer(r / n, w) * (2 * a * T + b)
        grad_U = grad_T.T @ X
        # chain rule through the normalization u = v / ||v||
        grad_V = (grad_U - np.sum(grad_U * U, axis=1, keepdims=True) * U) / norms[:, None]
        grad_w = H.T @ r / n + alpha * w / smooth
        value = 0.5 * np.mean(r**2) + alpha * smooth.sum()
        return value, np.concatenate([grad_V.ravel(), grad_w, [r.mean()]])

    rng = np.random.default_rng(seed)
    theta = np.concatenate([rng.standard_normal(width * d), 0.1 * rng.standard_normal(width),
                            [y.mean()]])
    theta = minimize(objective_and_gradient, theta, jac=True, method="L-BFGS-B",
                     options={"maxiter": 3000}).x
    V, w, b0 = split(theta)
    U = V / np.linalg.norm(V, axis=1, keepdims=True)
    T = X @ U.T
    r = (a * T**2 + b * T + c) @ w + b0 - y
    return 0.5 * np.mean(r**2) + alpha * np.abs(w).sum()


widths = [1, 2, 4, 8] if QUICK else [1, 2, 4, 8, 16, 32]
restarts = 3 if QUICK else 8
results = {}
print(f"{'width':>5} {'best':>10} {'median':>10} {'reach optimum':>14}")
for width in widths:
    objectives = np.array([gradient_training(X, y, width, ALPHA, seed)
                           for seed in range(restarts)])
    results[width] = objectives
    hits = np.mean(objectives <= model.objective_ * (1 + 1e-4))
    print(f"{width:>5} {objectives.min():>10.6f} {np.median(objectives):>10.6f} {hits:>14.0%}")

# %%
# Every gradient-trained network lies above the certified lower bound (no
# network of this kind can go below it); the convex fit sits on it.
fig, ax = plt.subplots(figsize=(6, 4))
for i, width in enumerate(widths):
    ax.scatter(np.full(restarts, i), results[width], color="tab:blue", alpha=0.6,
               label="L-BFGS, random starts" if i == 0 else None)
ax.axhline(model.objective_, color="tab:red",
           label=f"convex fit ({model.n_neurons_} neurons)")
ax.axhline(model.lower_bound_, color="black", ls=":", label="certified lower bound")
ax.set_xticks(range(len(widths)), [str(w) for w in widths])
ax.set_yscale("log")
ax.set_xlabel("width of the gradient-trained network")
ax.set_ylabel("training objective")
ax.legend()
fig.tight_layout()
fig.savefig("polynet_global_optimality.png", dpi=120)
plt.show()
