"""Triangle inequalities: cuts that sign vectors satisfy and elliptope points may not.

Every lifted sign vector ``v in {-1, +1}^q`` gives ``C = v v^T`` with, for
every triple ``i < j < k`` and every pattern ``s`` of
``(1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)``::

    1 + s_1 C_ij + s_2 C_jk + s_3 C_ik >= 0

(the product of the three signs of ``v`` is +-1, so at most two of the three
pairs disagree). The elliptope (unit-diagonal PSD matrices) does not imply
them, so adding them to the binary relaxation tightens it towards the cut
polytope while staying a valid relaxation of every sign-vector network.

A cut is a row of ``idx`` (the triple) and of ``pat`` (the pattern); its
matrix ``T`` has ``<T, C> = s_1 C_ij + s_2 C_jk + s_3 C_ik``. For any
multipliers ``lam >= 0`` and any ``C`` satisfying the cuts::

    <S, C> <= <S + sum_k lam_k T_k, C> + sum_k lam_k,

so :func:`certified_cut_max` bounds ``max <S, C>`` over the elliptope
intersected with the cuts by one elliptope bound (``elliptope_max``) of a
shifted matrix: valid for every ``lam >= 0``, tight at the optimal
multipliers.
"""

import itertools
import warnings

import numpy as np

from .elliptope import elliptope_max

__all__ = [
    "PATTERNS",
    "certified_cut_max",
    "cut_matrix",
    "cut_multipliers",
    "cut_values",
    "violated_cuts",
]

#: The four sign patterns of a triangle inequality, on (C_ij, C_jk, C_ik).
PATTERNS = np.array([[1.0, 1.0, 1.0], [1.0, -1.0, -1.0], [-1.0, 1.0, -1.0],
                     [-1.0, -1.0, 1.0]])


def cut_values(C, idx, pat):
    """``1 + s . (C_ij, C_jk, C_ik)`` for every cut (>= 0 when satisfied)."""
    i, j, k = idx.T
    return 1.0 + pat[:, 0] * C[i, j] + pat[:, 1] * C[j, k] + pat[:, 2] * C[i, k]


def cut_matrix(idx, pat, weights, q):
    """``sum_k weights_k T_k`` (symmetric, q x q)."""
    i, j, k = idx.T
    flat = np.concatenate([i * q + j, j * q + k, i * q + k])
    w = 0.5 * np.concatenate([weights * pat[:, 0], weights * pat[:, 1], weights * pat[:, 2]])
    T = np.bincount(flat, weights=w, minlength=q * q).reshape(q, q)
    return T + T.T


def cut_multipliers(S, idx, pat):
    """The multipliers minimizing the bound of :func:`certified_cut_max`, by cvxpy.

    Solves the dual of ``max <S, C>`` over the elliptope cut by the given
    inequalities, ``min sum(y) + sum(lam)`` subject to
    ``diag(y) - S - sum lam_k T_k`` PSD and ``lam >= 0`` (an SDP of the side's
    size). Returns ``lam`` (clipped at 0), or None when the solver fails; the
    caller certifies with whatever it returns, so an inaccurate solve only
    loosens the bound.
    """
    import cvxpy as cp
    import scipy.sparse as sp

    q, m = S.shape[0], len(idx)
    if m == 0:
        return np.zeros(0)
    i, j, k = idx.T
    rows = np.concatenate([i * q + j, j * q + i, j * q + k, k * q + j, i * q + k, k * q + i])
    cols = np.tile(np.arange(m), 6)
    vals = 0.5 * np.concatenate([pat[:, 0], pat[:, 0], pat[:, 1], pat[:, 1], pat[:, 2],
                                 pat[:, 2]])
    B = sp.csr_matrix((vals, (rows, cols)), shape=(q * q, m))
    y, lam = cp.Variable(q), cp.Variable(m, nonneg=True)
    slack = cp.diag(y) - S - cp.reshape(B @ lam, (q, q), order="C")
    scale = max(float(np.abs(S).max()), 1e-300)
    prob = cp.Problem(cp.Minimize((cp.sum(y) + cp.sum(lam)) / scale),
                      [0.5 * (slack + slack.T) >> 0])
    try:
        with warnings.catch_warnings():
            # An inaccurate solve only loosens the bound the caller certifies.
            warnings.simplefilter("ignore")
            prob.solve(solver="CLARABEL")
    except cp.error.SolverError:
        return None
    if lam.value is None:
        return None
    return np.maximum(np.asarray(lam.value, dtype=float), 0.0)


def violated_cuts(C, *, tol=1e-6, max_cuts=None):
    """The triangle inequalities ``C`` violates by more than ``tol``, worst first.

    Parameters
    ----------
    C : ndarray of shape (q, q)
        A unit-diagonal matrix.
    tol : float, default=1e-6
    max_cuts : int or None
        Keep at most this many (the most violated).

    Returns
    -------
    idx : ndarray of shape (m, 3) of int
    pat : ndarray of shape (m, 3)

    Examples
    --------
    >>> import numpy as np
    >>> C = np.full((3, 3), -0.5) + 1.5 * np.eye(3)  # in the elliptope, not a cut point
    >>> idx, pat = violated_cuts(C)
    >>> idx.tolist(), pat.tolist()
    ([[0, 1, 2]], [[1.0, 1.0, 1.0]])
    """
    q = C.shape[0]
    triples = _triples(q)
    idx = np.repeat(triples, len(PATTERNS), axis=0)
    pat = np.tile(PATTERNS, (len(triples), 1))
    v = cut_values(C, idx, pat)
    bad = np.flatnonzero(v < -tol)
    bad = bad[np.argsort(v[bad], kind="stable")]
    if max_cuts is not None:
        bad = bad[:max_cuts]
    return idx[bad], pat[bad]


def certified_cut_max(S, idx, pat, lam, V=None, *, max_sweeps=100, random_state=0):
    """An upper bound on ``max <S, C>`` over elliptope points satisfying the cuts.

    ``elliptope_max(S + sum lam_k T_k) + sum lam_k``, valid for any
    ``lam >= 0`` (negative entries are clipped) and any starting factor.

    Returns
    -------
    bound : float
    V : ndarray
        The improved factor of the shifted problem.
    """
    lam = np.maximum(np.asarray(lam, dtype=float), 0.0)
    shifted = S + cut_matrix(idx, pat, lam, S.shape[0]) if len(lam) else S
    bound, V = elliptope_max(shifted, V, max_sweeps=max_sweeps, random_state=random_state)
    return bound + float(lam.sum()), V


_TRIPLES = {}


def _triples(q):
    if q not in _TRIPLES:
        _TRIPLES[q] = np.array(list(itertools.combinations(range(q), 3)),
                               dtype=int).reshape(-1, 3)
    return _TRIPLES[q]
