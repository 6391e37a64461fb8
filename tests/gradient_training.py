"""Baseline: the same network trained the usual way, by local optimization.

Test-only, outside the shipped package: tests compare the
certified optimum with what gradient training of the *same* non-convex
problem reaches from random starts::

    min_{V, w, b} (1/2n) ||sum_j w_j sigma(X v_j / ||v_j||) + b - y||^2 + alpha sum_j |w_j|

(squared loss, one output). ``|w|`` is smoothed as ``sqrt(w^2 + eps)``
for L-BFGS; the value returned is the exact, unsmoothed objective.
"""

import numpy as np
from scipy.optimize import minimize

__all__ = ["train_by_gradient"]


def train_by_gradient(X, y, width, alpha, activation, *, random_state=0, max_iter=3000,
                      eps=1e-12):
    """L-BFGS on the explicit network of ``width`` unit-norm neurons.

    Returns
    -------
    objective : float
        Exact objective of the trained network.
    U : ndarray of shape (width, d)
    w : ndarray of shape (width,)
    b : float
    """
    a, b, c = activation
    n, d = X.shape
    rng = np.random.default_rng(random_state)

    def unpack(theta):
        V = theta[: width * d].reshape(width, d)
        return V, theta[width * d: width * (d + 1)], theta[-1]

    def forward(V, w, b0):
        norms = np.linalg.norm(V, axis=1) + 1e-300
        U = V / norms[:, None]
        T = X @ U.T
        H = a * T**2 + b * T + c
        return U, norms, T, H, H @ w + b0 - y

    def fun(theta):
        V, w, b0 = unpack(theta)
        U, norms, T, H, r = forward(V, w, b0)
        smooth = np.sqrt(w**2 + eps)
        value = 0.5 * np.mean(r**2) + alpha * smooth.sum()
        gT = np.outer(r / n, w) * (2 * a * T + b)
        gU = gT.T @ X
        gV = (gU - np.sum(gU * U, axis=1, keepdims=True) * U) / norms[:, None]
        gw = H.T @ r / n + alpha * w / smooth
        return value, np.concatenate([gV.ravel(), gw, [r.mean()]])

    theta0 = np.concatenate([rng.standard_normal(width * d), 0.1 * rng.standard_normal(width),
                             [float(np.mean(y))]])
    res = minimize(fun, theta0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    V, w, b0 = unpack(res.x)
    U, _, _, _, r = forward(V, w, b0)
    return 0.5 * float(np.mean(r**2)) + alpha * float(np.abs(w).sum()), U, w, float(b0)
