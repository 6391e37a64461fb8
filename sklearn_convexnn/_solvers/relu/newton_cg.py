"""Newton directions by conjugate gradients preconditioned with an earlier factor.

Late in an active-set Newton run (``newton.py``) the active set no longer
changes and the iterates move little from step to step: the Hessian of the
restricted objective (the same ``A^T Hz A`` for the squared loss, the
penalty's ``alpha / ||w_j|| (I - u_j u_j^T)`` with norms and directions
that barely move) stays close to the one an earlier step factored. The
Newton system of the current step is then solved by CG on the exact
Hessian, preconditioned with that earlier factor (its Woodbury solve): the
preconditioned operator is close to the identity, so a few iterations, each
two thin products with ``X`` and a pair of n x n triangular solves, replace
the n x n factorization (``n^3 / 3`` flops) and its capacitance.
"""

import numpy as np
import scipy.sparse as sp
from scipy.special import expit

__all__ = ["ABORT_AFTER_TWO", "CG_EUCLID", "CG_MAX_ITER", "CG_MIN_GAP", "CG_RTOL", "NEWTON_LOSSES",
           "hessian_product", "loss_curvature", "masked_back", "masked_rowsum", "pcg_direction"]

#: Losses whose Hessian is diagonal in the predictions.
NEWTON_LOSSES = ("squared", "logistic")


def loss_curvature(loss, Z):
    """Diagonal of the loss Hessian per (weighted) sample and output, (n, k)."""
    if loss.name == "squared":
        return np.broadcast_to(loss.pi, Z.shape)
    if loss.name == "logistic":
        s = expit(loss.Y * Z)
        return loss.pi * s * (1 - s)
    raise ValueError(f"Newton steps need a loss in {NEWTON_LOSSES}, got {loss.name!r}.")


#: While the active set stays the same, each Newton system is first solved
#: by CG preconditioned with the last factor (an iteration about a tenth of
#: a factorization at n=1000) to this relative
#: residual: the steps here converge linearly anyway (a group nearly
#: spanned by the others, the linear gate, turns slowly: the error shrinks
#: 10-20 fold per exact step), so a tenth costs no step ...
CG_RTOL = 0.1
#: ... within this many iterations, else a fresh factor. Measured (counts,
#: tol 1e-4; rtol 1e-3 with 8 iterations / 0.1 with 3): n=1000, d=20, 100
#: gates, alpha=1e-3: 6 factorizations + 19 CG iterations / 6 + 7; diabetes
#: (raw y) at alpha=1e-3: 16 + 43 / 15 + 18; breast_cancer at alpha=1e-3:
#: 7 factorizations before, 4 + 0-2 CG iterations with either.
CG_MAX_ITER = 3
#: ... and only above this certified relative gap: below it the objective's
#: decrease nears its rounding, where only exact steps (quadratically
#: convergent near the end) still pass the line search (a fit to a gap of
#: 1e-8 stalled at 1.01e-8 on CG steps).
CG_MIN_GAP = 1e-6
#: CG gives up after two iterations that left more than this fraction of
#: the preconditioned residual: measured over 22 runs (five planted problems
#: and diabetes at alpha <= 1e-3), the seven that never reached 0.1 within 3
#: iterations stood at 0.30-0.70 after two, the fifteen that did at
#: 0.03-0.19.
ABORT_AFTER_TWO = 0.25
#: A direction is accepted only if its residual's Euclidean norm is below
#: this fraction of the right-hand side's: the preconditioners of a changed
#: active set (``newton_update.py``) need not be positive definite. The
#: recurrence keeps the true residual, so the check costs nothing. Measured
#: on the scnn line of benchmarks/bench_relu.py: 0.017-0.089 at the
#: accepted directions; 0.23-0.29 where a preconditioner with group sizes
#: 30% off "converged" to a wrong direction (tests/test_relu_newton.py).
CG_EUCLID = 0.15


def masked_rowsum(X, masks, V):
    """``sum_j masks[:, j] (X V)[:, j]`` (n,): the summed images ``sum_j D_j X v_j``.

    Dense ``X``: as ``rowdot(X, masks V^T)``, whose elementwise work is n x d
    rather than n x m (measured 30% faster at n=1000, d=20, m=100).
    """
    if sp.issparse(X):
        return np.sum(masks * np.asarray(X @ V), axis=1)
    return np.einsum("ij,ij->i", X, masks @ V.T)


def masked_back(X, masks, r):
    """``[(D_j X)^T r]_j`` (d, m) for a vector r (n,); dense: ``(X o r)^T masks``."""
    if sp.issparse(X):
        return np.asarray(X.T @ (masks * r[:, None]))
    return (X * r[:, None]).T @ masks


def hessian_product(X, masks, norms, U, hz, alpha, fit_intercept):
    """``H [v; beta]`` of one output's restricted objective, as a function.

    ``H`` is the Hessian of ``L(sum_j D_j X w_j + b) + alpha sum_j ||w_j||``
    in the active groups (columns of ``U``, unit directions; ``norms`` their
    lengths; ``masks`` their patterns, n x m) and the intercept, for a loss
    with diagonal curvature ``hz`` (n,). Two thin data passes per product.
    """
    pen = alpha / norms

    def apply(V, beta):
        t = masked_rowsum(X, masks, V)
        if fit_intercept:
            t = t + beta
        r = hz * t
        HV = masked_back(X, masks, r) + pen * (V - U * np.sum(U * V, axis=0))
        return HV, (float(r.sum()) if fit_intercept else 0.0)

    return apply


def pcg_direction(apply, solve, Gw, gb, rtol, max_iter, abort=None, euclid=None):
    """Newton direction ``-H^-1 [Gw; gb]`` by preconditioned CG.

    ``apply``: the current Hessian (:func:`hessian_product`); ``solve``:
    an earlier step's factor, ``solve(G, g) = -H_old^-1 [G; g]``, the
    preconditioner. Stops when the residual's preconditioned norm is below
    ``rtol`` times the right-hand side's. Returns ``(v, beta, n_iterations)``,
    ``v`` and ``beta`` None when ``max_iter`` iterations do not get there,
    two iterations leave more than ``abort`` of it (e.g.
    ``ABORT_AFTER_TWO``), the operator is not positive definite along a
    search direction, or, at the stop, the residual's Euclidean norm is above
    ``euclid`` times the right-hand side's (e.g. ``CG_EUCLID``): the sign
    of a preconditioner that is not positive definite, whose "norm" of the
    residual can be small while the residual is not.
    """
    def prec(RV, rb):
        v, b = solve(RV, rb)
        return -v, -b

    xV, xb = np.zeros_like(Gw), 0.0
    rV, rb = -Gw, -float(gb)
    zV, zb = prec(rV, rb)
    rz = float(np.sum(rV * zV) + rb * zb)
    if not rz > 0:
        return (xV, xb, 0) if rz == 0 else (None, None, 0)
    target, rz0 = rtol**2 * rz, rz
    r0 = float(np.sum(rV**2)) + rb**2
    pV, pb = zV, zb
    for it in range(1, max_iter + 1):
        qV, qb = apply(pV, pb)
        curv = float(np.sum(pV * qV) + pb * qb)
        if not curv > 0:
            return None, None, it
        a = rz / curv
        xV, xb = xV + a * pV, xb + a * pb
        rV, rb = rV - a * qV, rb - a * qb
        zV, zb = prec(rV, rb)
        rz_new = float(np.sum(rV * zV) + rb * zb)
        if rz_new <= target:
            if euclid is None or float(np.sum(rV**2)) + rb**2 <= euclid**2 * r0:
                return xV, xb, it
            return None, None, it
        if it == 2 and abort is not None and rz_new > abort**2 * rz0:
            return None, None, it
        pV, pb = zV + (rz_new / rz) * pV, zb + (rz_new / rz) * pb
        rz = rz_new
    return None, None, max_iter
