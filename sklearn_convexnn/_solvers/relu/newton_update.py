"""Preconditioners of the Newton phase from an earlier factor, by low-rank updates.

Why: in the Newton phase (``newton.py``) the active set changes at most
steps (groups dropped when a step carries them through zero, groups
entering late), and each change cost a fresh n x n factorization: at
n=2000, d=50, 95 active groups (the scnn line of benchmarks/bench_relu.py)
32 of the 45 ms of a direction, four per fit.

The sample-space system ``C = I + Pi s K s Pi`` is the only n x n part of a
direction (``newton._direction``); the rest (the group sizes ``E``, the
directions ``U``, the capacitance) is thin. After a change of the active
set, the preconditioner of CG on the current Hessian (``newton_cg.py``) is
that Woodbury solve at the *current* point (sizes, directions,
capacitance; the loss curvature stays the factor's) with ``C`` replaced by
the earlier ``L L^T``, updated by the groups that entered since: group
``j`` contributes the rank-d term ``e_j (Pi s D_j X)(Pi s D_j X)^T``, so
``r`` entering groups give::

    C' = L (I + Yb Yb^T) L^T,   Yb = L^-1 B,

inverted by Woodbury through the ``r d x r d`` matrix ``I + Yb^T Yb``:
``n^2 r d`` flops (one triangular solve) instead of ``n^3 / 3``. Dropped
groups stay in ``C'`` (measured on the scnn line: their removal, rank 50
each, saved no CG iteration).

``P^-1 = E - E A^T s C'^-1 s A E`` is positive definite only when ``C' -
I`` dominates ``s A E A^T s``: a group grown since the factor can break it
(the more, the stiffer the data), and CG through such a preconditioner can
"converge" in its own indefinite norm to a wrong direction, so
``pcg_direction`` checks the true residual (``CG_EUCLID``). Measured on the
scnn line (tol 1e-4), CG iterations per step after the first factor:

* current sizes (kept): 2, 1, 1, one factorization instead of four;
* the earlier point's sizes and directions (an exact inverse of the
  earlier Hessian, positive definite): 2, 3, then a failed run and a second
  factor;
* current sizes capped at the factor's (positive definite): 2, 3 (failed),
  2, two factors; plus rank-d updates for the five most grown groups: one
  factor, 2, 2, 2, but the updates cost more than the factor saved.
"""

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_factor, cho_solve, get_blas_funcs, solve_triangular

__all__ = ["UPDATE_MAX_RANK", "UPDATE_MIN_SAMPLES", "SampleSolve", "updated_solve"]

#: Only from this many samples: below, a factorization costs little more
#: than the preconditioner's set-up (``n^2 m`` for the capacitance, against
#: ``n^3 / 3 + 2 n^2 m``) and the CG runs it saves, so the runs that fail
#: (then a fresh factor) cost more than they save. Measured (best of two,
#: alternating): n=1000, d=20, 100 gates, alpha=1e-3: 0.089 -> 0.118 s (6
#: factorizations instead of 5); diabetes at alpha=1e-3 0.049 -> 0.065 s;
#: at n=2000 (the scnn line) 4 factorizations -> 1.
UPDATE_MIN_SAMPLES = 1500

#: At most this fraction of n as the rank ``r d`` of an update: beyond it
#: the triangular solve for ``Yb`` (``n^2 r d``) nears the factorization's
#: ``n^3 / 3`` and a fresh factor is made.
UPDATE_MAX_RANK = 0.25


class SampleSolve:
    """``C^-1 = L^-T W^-1 L^-1``, ``L`` the lower Cholesky factor of an earlier ``C``.

    ``B`` (n, r): ``C = L L^T + B B^T``, ``W = I + Yb Yb^T``, ``Yb = L^-1 B``
    (none: ``W = I``). Products in the factor's precision; the ``r x r``
    Woodbury matrix in double precision.
    """

    def __init__(self, L, B=None):
        self.L, self.dtype = L, L.dtype
        self.trsv = get_blas_funcs("trsv", (L,))
        self.Yb = None
        if B is not None and B.shape[1]:
            self.Yb = self.half(B)
            Yb = self.Yb.astype(float)
            self.wf = cho_factor(np.eye(B.shape[1]) + Yb.T @ Yb, lower=True,
                                 check_finite=False)

    def half(self, R):
        """``L^-1 R`` for R (n, m), in the factor's precision."""
        return solve_triangular(self.L, np.asarray(R, dtype=self.dtype), lower=True,
                                check_finite=False)

    def lower(self, r):
        """``L^-1 r`` for a vector r (BLAS trsv directly: measured 3x faster
        than LAPACK's potrs on one right-hand side at n=1000, scipy's
        wrapper cost a third of them); in the factor's precision."""
        return self.trsv(self.L, r.astype(self.dtype), lower=1)

    def upper(self, y):
        """``L^-T y`` for a vector y, returned in double precision."""
        return self.trsv(self.L, y.astype(self.dtype), lower=1, trans=1).astype(float)

    def mid(self, Y):
        """``W^-1 Y`` (Y itself without an update)."""
        if self.Yb is None:
            return Y
        return Y - self.Yb @ cho_solve(self.wf, (self.Yb.T @ Y).astype(float),
                                       check_finite=False).astype(self.dtype)


def updated_solve(X, base, cols, norms, masks, alpha, fit_intercept):
    """The earlier factor of one output, updated by the groups entering since, or None.

    ``base``: ``(columns, SampleSolve, hz)`` of the earlier factor (no
    update; ``hz`` the loss curvature it saw, which the preconditioner
    keeps); ``cols``: the active columns now, with their ``norms`` and
    float patterns ``masks``. Entering groups count with their current
    sizes. None when their rank passes ``UPDATE_MAX_RANK``.
    """
    old, C, hz = base
    at = np.searchsorted(old, cols)
    at[at >= old.size] = 0
    common = old[at] == cols
    new = np.flatnonzero(~common)
    n, d = X.shape
    if new.size * d > UPDATE_MAX_RANK * n:
        return None
    if new.size == 0:
        return C
    sq = np.sqrt(hz)
    sigma = float(hz.sum())
    blocks = []
    for j in new:
        a = masks[:, j] * sq * np.sqrt(norms[j] / alpha)
        Bj = X.multiply(a[:, None]).toarray() if sp.issparse(X) else X * a[:, None]
        if fit_intercept and sigma > 0:
            Bj = Bj - np.outer(sq, (sq @ Bj) / sigma)
        blocks.append(Bj)
    return SampleSolve(C.L, np.hstack(blocks))
