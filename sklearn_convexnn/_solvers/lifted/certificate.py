"""Duality certificate for networks whose neurons live on the unit sphere.

The lifted problem is a lasso over infinitely many neurons. For any dual
point ``Theta`` (n, k) in the conjugate's domain, with centred columns when
the intercept is free, and with ``max_{||u||=1} |Theta_o^T sigma_r(u)| <=
alpha`` for every output ``o`` and block ``r``, weak duality gives::

    optimum >= -loss*(Theta)

``sphere_lower_bound`` turns any approximate dual point (the loss gradient
at a solver's iterate, the dual variable cvxpy returns) into one that meets
these conditions exactly, so the bound holds however the solver stopped.
"""

import numpy as np

from .decomposition import neural_decomposition
from .trust_region import sphere_quadratic_range

__all__ = ["dual_violation", "into_dual_domain", "network_from_lifted", "sphere_lower_bound"]


def dual_violation(blocks, theta, activation):
    """Largest ``max_{||u||=1} |theta_o^T sigma_r(u)|`` over outputs and blocks.

    Returns ``(value, u, output, block, sign)`` of the most violating neuron.
    """
    best = (-np.inf, None, 0, 0, 1.0)
    for o in range(theta.shape[1]):
        for r, block in enumerate(blocks):
            A, g, c0 = block.dual_quadratic(theta[:, o], activation)
            value, u, sign = sphere_quadratic_range(A, g, c0)
            if value > best[0]:
                best = (value, u, o, r, sign)
    return best


def sphere_lower_bound(blocks, Y, loss, activation, alpha, theta, fit_intercept=True):
    """A certified lower bound on the optimum of the lifted sphere problem.

    Parameters
    ----------
    blocks, Y, loss, activation, alpha, fit_intercept
        The problem (see ``lifted.py``).
    theta : ndarray of shape (n, k)
        Approximate dual point, e.g. the loss gradient at the fitted outputs.

    Returns
    -------
    bound : float
    """
    theta = np.array(theta, dtype=float)
    if fit_intercept:
        theta -= theta.mean(axis=0, keepdims=True)
    theta = into_dual_domain(theta, Y, loss)
    violation = dual_violation(blocks, theta, activation)[0]
    if violation > alpha:
        theta *= alpha / violation
    return -loss.conjugate(theta, Y)


def into_dual_domain(theta, Y, loss):
    """Mix with a centred interior dual point as little as the domain needs."""
    if loss.in_domain(theta, Y):
        return theta
    inner = loss.interior_dual(Y)
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if loss.in_domain((1 - mid) * theta + mid * inner, Y):
            hi = mid
        else:
            lo = mid
    return (1 - hi) * theta + hi * inner


def network_from_lifted(Z, rtol=1e-9):
    """Neurons of every (output, block) pair of lifted matrices.

    ``Z[o][r] = (Zpos, Zneg)``. Returns ``neurons`` (m, p), ``weights``
    (m, k) with one non-zero per row, and ``block_index`` (m,).
    """
    k = len(Z)
    rows, weights, index = [], [], []
    for o, row in enumerate(Z):
        for r, pair in enumerate(row):
            for sign, Zb in zip((1.0, -1.0), pair):
                U, w = neural_decomposition(Zb, rtol)
                for u, wj in zip(U, w):
                    rows.append(u)
                    wrow = np.zeros(k)
                    wrow[o] = sign * wj
                    weights.append(wrow)
                    index.append(r)
    p = Z[0][0][0].shape[0] - 1
    if not rows:
        return np.zeros((0, p)), np.zeros((0, k)), np.zeros(0, dtype=int)
    return np.array(rows), np.array(weights), np.array(index, dtype=int)
