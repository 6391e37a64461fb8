"""The elliptope: unit-diagonal PSD matrices, by factors with unit-norm rows.

The geometry the binary relaxation (``binary_relaxation.py``) and its
certificate (``binary_certificate.py``) stand on: a point ``C = V V^T`` with
unit-norm rows of ``V`` (Burer-Monteiro), the mixing method that raises a
linear function over such factors, and :func:`elliptope_max`, a certified
upper bound on ``max <M, C>`` over the elliptope: the max-cut SDP dual
``min sum(y) s.t. diag(y) >= M`` evaluated at the ``y`` read off a factor
``V`` (``y_j = (M V V^T)_jj``, complementary slackness) with the minimum
eigenvalue absorbing its infeasibility. The bound holds for any ``V``; with
an optimal factor it is tight.
"""

import math

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["default_rank", "elliptope_max", "mixing_ascent", "normalize_rows"]


def default_rank(q):
    """Columns of the factor for a (q x q) elliptope point.

    Full rank for small ``q`` (cheap, no spurious stationary points); beyond,
    ``sqrt(2 q) + 8``, past the Barvinok-Pataki rank of the diagonal
    constraints.
    """
    return int(q if q <= 40 else min(q, np.ceil(np.sqrt(2 * q)) + 8))


def mixing_ascent(M, V, max_sweeps=100, rtol=1e-9):
    """Raise ``<M, V V^T>`` over unit-norm rows by exact row updates (mixing method).

    Each row in turn is set to the normalized ``sum_{k != j} M_jk v_k``, which
    maximizes the objective over that row; sweeps stop when a sweep gains
    less than ``rtol`` relative. Returns the new V (a copy).
    """
    V = np.array(V, dtype=float)
    q = M.shape[0]
    offdiag = M - np.diag(np.diag(M))
    value = float(np.sum((M @ V) * V))
    for _ in range(max_sweeps):
        for j in range(q):
            g = offdiag[j] @ V
            norm = math.sqrt(g @ g)  # np.linalg.norm's overhead dominates at this size
            if norm > 0:
                V[j] = g / norm
        new = float(np.sum((M @ V) * V))
        gain = new - value
        value = new
        if gain <= rtol * max(abs(value), np.abs(M).max() * q, 1e-300):
            break
    return V


def elliptope_max(M, V=None, *, max_sweeps=100, random_state=None):
    """A certified upper bound on ``max <M, C>`` over unit-diagonal PSD matrices C.

    ``<M, C> = sum(y) + <M - diag(y), C> <= sum(y) + q lambda_max(M - diag(y))``
    for any vector y, since ``tr(C) = q``. The y is read off a factor ``V``
    improved by :func:`mixing_ascent`: ``y_j = (M V V^T)_jj``, the dual
    solution when ``V V^T`` is optimal. Valid for any ``V``.

    Parameters
    ----------
    M : ndarray of shape (q, q)
    V : ndarray of shape (q, r) or None
        Starting factor (rows are normalized); random if None.
    max_sweeps : int, default=100
    random_state : int, RandomState instance or None

    Returns
    -------
    bound : float
    V : ndarray of shape (q, r)
        The improved factor (to warm-start the next call).

    Examples
    --------
    >>> import numpy as np
    >>> M = np.array([[0.0, 1.0], [1.0, 0.0]])  # max <M, C> = 2 at C = ones
    >>> bound, V = elliptope_max(M, random_state=0)
    >>> round(bound, 8)
    2.0
    """
    M = 0.5 * (np.asarray(M, dtype=float) + np.asarray(M, dtype=float).T)
    q = M.shape[0]
    if V is None:
        V = check_random_state(random_state).standard_normal((q, default_rank(q)))
    V = normalize_rows(np.asarray(V, dtype=float))
    V = mixing_ascent(M, V, max_sweeps)
    y = np.einsum("ij,ij->i", M @ V, V)
    lam = np.linalg.eigvalsh(M - np.diag(y))[-1]
    return float(y.sum() + q * lam), V


def normalize_rows(W):
    """Rows scaled to unit norm (zero rows stay zero)."""
    norms = np.linalg.norm(W, axis=-1, keepdims=True)
    return W / np.where(norms > 0, norms, 1.0)
