"""Neural decomposition: from an optimal lifted matrix back to neurons.

A PSD matrix ``Z`` of size (d+1) with ``tr(G Z) = 0``, ``G = diag(I_d, -1)``
(that is ``tr(Z1) = Z4``) is a sum of rank-one terms ``y_j y_j^T`` with
``y_j^T G y_j = 0`` each (the rank-one decomposition from the S-lemma proof).
Writing ``y_j = t_j [u_j; 1]`` gives a unit-norm neuron ``u_j`` with output
weight ``t_j^2``: the lifted optimum becomes a plain two-layer network.
"""

import numpy as np

__all__ = ["neural_decomposition", "psd_factor", "rank_one_decomposition"]


def psd_factor(Z, rtol=1e-9):
    """Columns ``P`` with ``P P^T ~= Z``, dropping eigenvalues below ``rtol``.

    Tiny negative eigenvalues left by an interior-point solver are clipped.
    """
    Z = (np.asarray(Z, dtype=float) + np.asarray(Z, dtype=float).T) / 2
    lam, V = np.linalg.eigh(Z)
    keep = lam > rtol * max(float(lam.max(initial=0.0)), np.finfo(float).tiny)
    return V[:, keep] * np.sqrt(lam[keep])


def rank_one_decomposition(Z, rtol=1e-9):
    """Vectors ``y_j`` with ``Z = sum_j y_j y_j^T`` and ``y_j^T G y_j = 0``.

    ``G = diag(1, ..., 1, -1)``. Returns an array of shape (r, d+1), r at most
    the numerical rank of ``Z``. Needs ``tr(G Z) ~= 0``; the last vector takes
    whatever residual the input carries.
    """
    # Work at unit scale: the quadratic for the mix squares the entries, so
    # a Z of magnitude above ~1e154 would overflow it.
    Z = np.asarray(Z, dtype=float)
    top = float(np.max(np.abs(Z), initial=0.0))
    if not np.isfinite(top):
        raise ValueError("The lifted matrix has non-finite entries; it cannot be decomposed.")
    if top == 0.0:
        return np.zeros((0, Z.shape[0]))
    root = np.sqrt(top)
    P = list(psd_factor(Z / top, rtol).T)
    out = []
    while len(P) > 1:
        gval = np.array([_gform(p, p) for p in P])
        scale = np.array([p @ p for p in P])
        zero = np.abs(gval) <= 1e-13 * scale
        if np.any(zero):
            out.append(P.pop(int(np.flatnonzero(zero)[0])))
            continue
        i = int(np.argmax(gval))
        j = int(np.argmin(gval))
        if gval[i] < 0 or gval[j] > 0:
            # Every remaining term has the same sign: tr(G Z) != 0 beyond
            # rounding. Keep them as they are; callers normalize the neurons.
            break
        pi, pj = P[i], P[j]
        # (pi + a pj)^T G (pi + a pj) = 0: g_jj a^2 + 2 g_ij a + g_ii = 0,
        # with g_ii > 0 > g_jj, so real roots of opposite signs exist.
        gii, gjj, gij = gval[i], gval[j], _gform(pi, pj)
        a = (-gij - np.sqrt(gij**2 - gii * gjj)) / gjj
        norm = np.sqrt(1 + a**2)
        y = (pi + a * pj) / norm
        z = (-a * pi + pj) / norm  # y y^T + z z^T = pi pi^T + pj pj^T
        for k in sorted((i, j), reverse=True):
            P.pop(k)
        out.append(y)
        P.append(z)
    out.extend(P)
    if not out:
        return np.zeros((0, Z.shape[0]))
    return np.array(out) * root


def neural_decomposition(Z, rtol=1e-9):
    """Neurons and output weights of one lifted block.

    Parameters
    ----------
    Z : ndarray of shape (d+1, d+1)
        PSD, ``tr(Z[:d, :d]) ~= Z[d, d]``.
    rtol : float
        Relative eigenvalue threshold below which a direction is dropped.

    Returns
    -------
    neurons : ndarray of shape (r, d)
        Unit-norm rows ``u_j``.
    weights : ndarray of shape (r,)
        Non-negative ``t_j^2``; ``sum_j weights_j [u_j;1][u_j;1]^T ~= Z``.

    Examples
    --------
    >>> import numpy as np
    >>> u = np.array([0.6, 0.8]); y = 2.0 * np.append(u, 1.0)
    >>> neurons, weights = neural_decomposition(np.outer(y, y))
    >>> np.round(np.abs(neurons), 6), np.round(weights, 6)
    (array([[0.6, 0.8]]), array([4.]))
    """
    Y = rank_one_decomposition(Z, rtol)
    if Y.shape[0] == 0:
        return np.zeros((0, Y.shape[1] - 1)), np.zeros(0)
    d = Y.shape[1] - 1
    t = Y[:, d]
    head = Y[:, :d]
    head_norm = np.linalg.norm(head, axis=1)
    keep = (np.abs(t) > 1e-12 * max(1.0, float(np.abs(Y).max()))) & (head_norm > 0)
    # y = t [u; 1] up to rounding: u = head / t, renormalized to the sphere.
    neurons = head[keep] * np.sign(t[keep])[:, None]
    neurons /= np.linalg.norm(neurons, axis=1, keepdims=True)
    # t^2 averaged with ||head||^2 (equal when y^T G y = 0) spreads the error.
    weights = 0.5 * (t[keep] ** 2 + head_norm[keep] ** 2)
    return neurons, weights


def _gform(p, q):
    return float(p[:-1] @ q[:-1] - p[-1] * q[-1])
