"""Newton directions of the gated program's active groups (``newton.py``).

One output's Newton system is solved in sample space through a Cholesky
factor of ``C = I + Pi s K s Pi`` (``_direction``, the derivation in
``newton.py``); ``_preconditioner`` makes from an earlier factor the
preconditioner of CG on a later system (``newton_cg.py``,
``newton_update.py``).
"""

import numpy as np
from scipy.linalg import cho_factor, cho_solve, get_blas_funcs

from .newton_cg import masked_back, masked_rowsum
from .newton_update import UPDATE_MIN_SAMPLES, SampleSolve, updated_solve

__all__ = ["direction", "preconditioner"]


def preconditioner(st, base, cols, norms, U, img, masks, fit_intercept):
    """A preconditioner for CG from the earlier factor ``base``, or None.

    ``base``: ``(columns, factor, curvature, solve)`` of one output. While
    the active set holds, the earlier point's own solve (an exact inverse of
    its Hessian). After a change, from ``UPDATE_MIN_SAMPLES`` samples, the
    factor updated by the groups that entered since (``newton_update.py``)
    while their rank is low, with the current point's sizes, directions and
    capacitance and the factor's loss curvature (a changed one made CG
    "converge" to wrong directions on the logistic loss). Not positive
    definite when groups grew since the factor: ``pcg_direction`` checks
    the true residual.
    """
    if base is None:
        return None
    if np.array_equal(base[0], cols):
        return base[3]
    if st.design.n < UPDATE_MIN_SAMPLES:
        return None
    C = updated_solve(st.design.X, base[:3], cols, norms, masks, st.alpha, fit_intercept)
    if C is None:
        return None
    # The entering groups' columns of the update, the capacitance's images.
    st.design.n_passes += 1
    return direction(st.design.X, None, masks, norms, U, img, base[2], st.alpha,
                      fit_intercept, base=C)


def direction(X, XXt, masks, norms, U, img, hz, alpha, fit_intercept, dtype=np.float64,
               base=None):
    """Factors of the Newton system of one output's m active groups.

    Returns ``solve(Gw, gb) -> (v (d, m), beta)``, the Newton direction for
    the gradient ``Gw`` of the groups and ``gb`` of the intercept.
    ``dtype``: precision of the n x n kernel, its factor and the solves
    (``XXt`` given in it); everything else is double precision.
    ``base``: no factorization, ``C`` solved through that earlier factor
    (``newton_update.SampleSolve``, possibly updated): a preconditioner.
    ``solve.base`` holds the factor.

    The intercept is eliminated first: ``beta = -(gb + hz^T A v) / sum(hz)``
    leaves the groups' system with ``Hz`` replaced by ``S Pi S``, ``Pi`` the
    projector orthogonal to ``s = sqrt(hz)``; so ``C = I + Pi s K s Pi`` (a
    rank-2 update of ``I + s K s``, O(n^2)) and the products with ``s A``
    are projected (was: a second solve for the intercept's column, two
    more passes of ``P^-1`` per factor).
    """
    e = norms / alpha
    sq = np.sqrt(hz)
    sigma = float(hz.sum())
    project = fit_intercept and sigma > 0

    def proj(r):
        return r - sq * (float(sq @ r) / sigma) if project else r

    # Cap = SV^T C^-1 SV = Y^T Y with L Y = SV, SV = Pi s A E U (A E U: the
    # masked images over alpha, e_j D_j X u_j = D_j X w_j / alpha).
    C = SampleSolve(_factor(XXt, masks, e, sq, sigma, project, dtype)) if base is None \
        else base
    SV = img * (sq / alpha)[:, None]
    if project:
        SV -= np.outer(sq, (sq @ SV) / sigma)
    Y = C.half(SV)
    Yw = C.mid(Y)  # W^-1 Y (Y itself without an update)
    Cap = (Y.T @ Yw).astype(float)
    Cap[np.diag_indices_from(Cap)] += 1e-12 * max(float(np.trace(Cap)) / Cap.shape[0], 1e-300)
    capf = cho_factor(Cap, lower=True, check_finite=False)

    def h_inv(R):
        """H^-1 R for R (d, m): one solve with C, two thin passes.

        With ``P^-1 R = E R - E A^T s Pi C^-1 a``, ``a = Pi s A E R``, and
        ``U^T P^-1 R = U^T E R - SV^T C^-1 a``, the Woodbury term
        ``P^-1 U coef`` adds ``E U coef`` and ``C^-1 SV coef`` inside the
        same back product: ``H^-1 R = E R + E U coef - E A^T s Pi C^-1 (a
        + SV coef)``, ``coef = Cap^-1 U^T P^-1 R``; ``C^-1 = L^-T W^-1
        L^-1`` shares ``w = W^-1 L^-1 a`` (was: two P^-1 products, four
        passes and two solves).
        """
        ER = R * e
        w = C.mid(C.lower(proj(sq * masked_rowsum(X, masks, ER))))
        coef = cho_solve(capf, np.sum(U * ER, axis=0) - (Y.T @ w).astype(float),
                         check_finite=False)
        qv = sq * proj(C.upper(w + Yw @ coef.astype(Yw.dtype)))
        return ER + U * (coef * e) - masked_back(X, masks, qv) * e

    if project:
        hwb = masked_back(X, masks, hz)  # A^T hz, the intercept's column

    def solve(Gw, gb):
        if not project:
            return -h_inv(Gw), 0.0
        v = -h_inv(Gw - hwb * (gb / sigma))
        return v, -(gb + float(np.sum(hwb * v))) / sigma

    solve.base = C
    return solve


def _factor(XXt, masks, e, sq, sigma, project, dtype):
    """Lower Cholesky factor of ``C = I + Pi s K s Pi`` (``_direction``)."""
    # s K s = (X X^T) o (S M e M^T S): the curvature scales the patterns'
    # rows, not two n x n passes; only the lower triangle is formed (syrk):
    # the factorization reads no other.
    SM = np.asarray((masks * sq[:, None]) * np.sqrt(e), dtype=dtype, order="F")
    K = get_blas_funcs("syrk", (SM,))(1.0, SM, lower=1)
    K *= XXt.T  # symmetric; its transpose matches the F order of K
    if project:
        # Pi K Pi = K - u y^T - y u^T, u = s / ||s||, y = K u - (u^T K u / 2) u.
        u = (sq / np.sqrt(sigma)).astype(dtype)
        Ku = get_blas_funcs("symv", (K,))(1.0, K, u, lower=1)
        y = Ku - (0.5 * float(u @ Ku)) * u
        K = get_blas_funcs("syr2", (K,))(-1.0, u, y, a=K, lower=1, overwrite_a=1)
    K.flat[::K.shape[0] + 1] += 1.0
    return cho_factor(K, lower=True, overwrite_a=True, check_finite=False)[0]
