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


def mds_decode(G, workers, Y):
    """Data blocks from the first ``K`` of ``workers`` by one linear solve.

    Parameters
    ----------
    G : ndarray of shape (N, K)
    workers : sequence of int
        Available workers, first arrived first.
    Y : ndarray of shape (len(workers), ...)
        Their outputs in the same order.

    Returns
    -------
    ndarray of shape (K, ...) or None if fewer than ``K`` workers.
    """
    K = G.shape[1]
    if len(workers) < K:
        return None
    rows = np.asarray(workers[:K])
    Yk = np.asarray(Y[:K]).reshape(K, -1)
    return np.linalg.solve(G[rows], Yk).reshape((K, *np.shape(Y)[1:]))
