"""Real-valued MDS codes: generators and decoding by a linear solve.

Any ``K`` rows of an MDS generator (``N`` x ``K``) are invertible, so the
product is decodable from any ``K`` workers, at the price of a ``K x K``
solve (``O(K^3)`` flops) whose conditioning grows with ``N``: real
Vandermonde matrices are exponentially ill-conditioned, Gaussian ones
only polynomially.
"""

import numpy as np

__all__ = ["gaussian_generator", "mds_decode", "vandermonde_generator"]


def vandermonde_generator(n_workers, n_blocks):
    """Systematic real Vandermonde generator on Chebyshev nodes.

    ``G = V V_K^{-1}`` with ``V[i, j] = t_i^j``, so the first ``K`` workers
    hold the data blocks themselves and any ``K`` rows are invertible in
    exact arithmetic.
    """
    t = np.cos(np.pi * (2 * np.arange(n_workers) + 1) / (2 * n_workers))
    V = np.vander(t, n_blocks, increasing=True)
    G = np.linalg.solve(V[:n_blocks].T, V.T).T
    G[:n_blocks] = np.eye(n_blocks)
    return G


def gaussian_generator(n_workers, n_blocks, rng):
    """I.i.d. standard Gaussian generator (MDS with probability one)."""
    return rng.standard_normal((n_workers, n_blocks))


def mds_decode(G, workers, Y, method="solve"):
    """Data blocks from the arrived workers by one linear solve.

    ``method="solve"``: LU on the rows of the first ``K`` workers;
    ``"lstsq"``: least squares on every arrived row (costlier, and less
    sensitive to an ill-conditioned ``K x K`` subset).

    Parameters
    ----------
    G : ndarray of shape (N, K)
    workers : sequence of int
        Available workers, first arrived first.
    Y : ndarray of shape (len(workers), ...)
        Their outputs in the same order.
    method : {"solve", "lstsq"}, default="solve"

    Returns
    -------
    ndarray of shape (K, ...) or None if fewer than ``K`` workers.
    """
    K = G.shape[1]
    if len(workers) < K:
        return None
    if method == "lstsq":
        Yall = np.asarray(Y).reshape(len(workers), -1)
        U = np.linalg.lstsq(G[np.asarray(workers)], Yall, rcond=None)[0]
    else:
        U = np.linalg.solve(G[np.asarray(workers[:K])], np.asarray(Y[:K]).reshape(K, -1))
    return U.reshape((K, *np.shape(Y)[1:]))
