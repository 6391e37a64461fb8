"""The interior-point method's Newton system when ``p d <= n``: dense, pd x pd.

Per output the Newton system in the columns' steps ``(du, dv)`` and the
intercept's ``db`` is::

    [[M + Bu,   -M,     G^T k],      M = G^T diag(k) G,  G = [D_1 X, ..., D_p X],
     [ -M,    M + Bv,  -G^T k],      k the loss curvature, Bu / Bv block diagonal
     [k^T G, -k^T G,   sum k ]]      with the d x d blocks B_c of the columns.

Only ``du - dv`` meets ``M``: eliminating ``du + dv`` block by block leaves
the pd x pd system ``M + E`` (bordered by the intercept) with ``E_j =
Bu_j C_j^-1 Bv_j``, ``C_j = Bu_j + Bv_j`` (which is ``(Bu_j^-1 +
Bv_j^-1)^-1`` without inverting the ill-conditioned ``Bu_j``, ``Bv_j``): half
the size, an eighth of the factorization. With ``Zu = C^-1 Bu``, ``Zv = C^-1
Bv`` its right-hand side is ``Zv^T ru - Zu^T rv`` and the steps are ``du =
C^-1 (ru + rv) + Zv dw``, ``dv = C^-1 (ru + rv) - Zu dw``, each computed
directly (neither is the difference of two large ones).
"""

from functools import lru_cache

import numpy as np
from scipy.linalg.lapack import dpotrf, dpotri, dpotrs

__all__ = ["DenseNewtonSystem", "cholesky_lower", "spd_inverse", "stable_harmonic"]

#: spd_inverse inverts a block by LU rather than by its Cholesky factor when
#: the factor's diagonal spread squared (a lower bound of its condition
#: number) exceeds this, or when the factorization fails.
SPD_COND_MAX = 1e10


def cholesky_lower(A):
    """Lower Cholesky factor of A (its lower triangle), overwriting A (LAPACK directly:
    the scipy wrapper's checks cost more than a small factorization)."""
    c, info = dpotrf(A, lower=1, clean=0, overwrite_a=1)
    if info:
        raise np.linalg.LinAlgError(f"Newton matrix not positive definite (potrf {info})")
    return c


class DenseNewtonSystem:
    """The pd x pd Newton system of one output (``G`` the n x pd gated design).

    ``fixed_curvature``: the loss curvature never changes (squared loss), so
    ``[[M, G^T k], [k^T G, sum k]]`` is formed once.
    """

    def __init__(self, G, p, d, fit_intercept, fixed_curvature):
        self.G, self.p, self.d = G, p, d
        self.fit_intercept, self.fixed_curvature = fit_intercept, fixed_curvature
        self.H0 = None
        P = p * d
        self.size = P + (1 if fit_intercept else 0)
        self.blocks = _block_indices(p, d, self.size)

    def _fixed_part(self, curv):
        if self.H0 is None or not self.fixed_curvature:
            G, P = self.G, self.p * self.d
            self.H0 = None  # the last one freed before the next (ipm_memory counts one)
            H0 = np.empty((self.size, self.size))
            H0[:P, :P] = G.T @ (curv[:, None] * G)
            if self.fit_intercept:
                H0[:P, -1] = H0[-1, :P] = G.T @ curv
                H0[-1, -1] = float(np.sum(curv))
            self.H0 = H0
        return self.H0

    def factor(self, B, curv, shift=0.0):
        """Factor at the column blocks ``B`` (2p, d, d) and curvature ``curv``.

        ``shift`` (a retry after a failed factorization): ``E_j`` is formed
        positive semidefinite by construction (:func:`stable_harmonic`, not
        as ``Bu_j C_j^-1 Bv_j``, whose rounding grows with ``||Bu_j|| ||Bv_j||
        ||C_j^-1||``) and gets ``shift`` times the largest diagonal entry of
        ``Bu_j`` and ``Bv_j`` on its diagonal.

        Returns ``solve(ru, rv, rb) -> (dW (d, 2p), db)``; raises
        ``np.linalg.LinAlgError`` if the matrix is not positive definite.
        """
        p, d, P = self.p, self.d, self.p * self.d
        Bu, Bv = B[:p], B[p:]
        Cinv = spd_inverse(Bu + Bv)
        # BC = [Bu C^-1, Bv C^-1] = [Zu^T, Zv^T] (the blocks are symmetric).
        BC = B.reshape(2, p, d, d) @ Cinv
        if shift:
            E = stable_harmonic(Bu, Bv)
            scale = B.reshape(2, p, d * d)[:, :, :: d + 1].max(axis=(0, 2))
            E.reshape(p, d * d)[:, :: d + 1] += shift * scale[:, None]
        else:
            E = BC[0] @ Bv  # symmetric up to rounding; the factorization reads one half
        H = self._fixed_part(curv).copy()
        H.ravel()[self.blocks] += E.ravel()
        cf = cholesky_lower(H.T)  # Fortran-ordered: LAPACK works on it without a copy
        # Right-hand side rows [Zv^T, -Zu^T] and step rows [[C^-1, Zv], [C^-1, -Zu]]
        # (the same products, batched over the gates).
        rows = np.empty((p, d, 2 * d))
        rows[:, :, :d] = BC[1]
        np.negative(BC[0], out=rows[:, :, d:])
        back = np.empty((2, p, d, 2 * d))
        back[:, :, :, :d] = Cinv
        back[:, :, :, d:] = rows.reshape(p, d, 2, d).transpose(2, 0, 3, 1)  # [Zv, -Zu]
        fit_b = self.fit_intercept
        rhs = np.empty(self.size)

        def solve(ru, rv, rb, rtol=None):  # (rtol: the Woodbury solves' accuracy)
            r = np.concatenate([ru, rv], axis=1)  # (p, 2d)
            np.matmul(rows, r[:, :, None], out=rhs[:P].reshape(p, d, 1))
            if fit_b:
                rhs[P] = rb
            x = dpotrs(cf, rhs, lower=1)[0]
            r[:, :d] += rv  # ru + rv
            r[:, d:] = x[:P].reshape(p, d)  # dw
            return (back @ r[:, :, None]).reshape(2 * p, d).T, (x[P] if fit_b else 0.0)
        return solve


@lru_cache(maxsize=16)
def _block_indices(p, d, size):
    """Flat indices of the p diagonal d x d blocks of a size x size matrix (read-only;
    cached: building them took a tenth of a 100 x 5 fit's set-up)."""
    off = (np.arange(p) * d)[:, None, None]
    rows = off + np.arange(d)[None, :, None] + 0 * np.arange(d)
    cols = off + 0 * np.arange(d)[None, :, None] + np.arange(d)
    blocks = (rows * size + cols).ravel()
    blocks.flags.writeable = False
    return blocks


def spd_inverse(B):
    """Inverses of the symmetric positive definite blocks ``B`` (k, d, d).

    By Cholesky (LAPACK ``potrf`` and ``potri`` per block: two thirds of
    ``np.linalg.inv``'s time at 1000 blocks of 50 x 50, which is LU with
    pivoting); the blocks whose factorization fails (rounding made them
    indefinite) or whose condition estimate exceeds SPD_COND_MAX by LU
    (``np.linalg.inv``), as before, in one batched call.
    """
    k, d = B.shape[0], B.shape[-1]
    out = np.empty_like(B)
    diag = np.ones((k, d))
    failed = np.zeros(k, dtype=bool)
    for j in range(k):
        c, info = dpotrf(B[j], lower=1, clean=0)
        if info:
            failed[j] = True
            continue
        diag[j] = np.diagonal(c)
        out[j] = dpotri(c, lower=1, overwrite_c=1)[0]
    # potri leaves the lower triangle (in LAPACK's column order; B is symmetric).
    iu, ju = np.triu_indices(d, 1)
    out[:, iu, ju] = out[:, ju, iu]
    with np.errstate(divide="ignore"):
        spread = np.max(diag, axis=1) / np.min(diag, axis=1)
    lu = np.flatnonzero(failed | ~(spread * spread <= SPD_COND_MAX))
    if len(lu):
        out[lu] = np.linalg.inv(B[lu])
    return out


def stable_harmonic(Bu, Bv):
    """``(Bu^-1 + Bv^-1)^-1`` of stacked positive definite blocks, positive
    semidefinite by construction.

    With ``C = Bu + Bv = L L^T``, ``M = L^-1 Bu L^-T`` and ``N = L^-1 Bv
    L^-T = I - M`` share the eigenvectors ``Q``; the result is ``L Q
    diag(m n) Q^T L^T`` with ``m``, ``n`` the Rayleigh quotients of ``M`` and
    ``N`` (clipped at zero; ``n`` is not formed as ``1 - m``, which would
    lose the small ones).
    """
    L = np.linalg.cholesky(Bu + Bv)
    Li = np.linalg.inv(L)
    M = Li @ Bu @ np.swapaxes(Li, 1, 2)
    N = Li @ Bv @ np.swapaxes(Li, 1, 2)
    m, Q = np.linalg.eigh(M)
    n = np.einsum("jab,jac,jcb->jb", Q, N, Q)
    F = L @ Q
    return (F * (np.maximum(m, 0.0) * np.maximum(n, 0.0))[:, None, :]) @ np.swapaxes(F, 1, 2)
