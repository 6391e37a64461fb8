"""The interior-point method's Newton system for ``p d > n`` (many gates), by Woodbury.

Eliminating the columns leaves, per output, the n x n system::

    A y = (K^-1 + sum_j G_j E_j^-1 G_j^T) y = r,     G_j = D_j X,

with ``K`` the loss curvature and ``E_j^-1 = B_u^-1 + B_v^-1`` of gate j.
Forming ``A`` costs ``n^2 p d`` (a rank-``pd`` update); applying it costs
``4 n d p`` (two products with X and the masks). Most of the ``pd`` directions
contribute little: with ``E_j^-1 = L_j L_j^T`` (Cholesky, or from its
eigenvalues) the term of gate j is ``(G_j L_j Q_j) diag(s_j) (G_j L_j Q_j)^T``
for the eigenpairs ``(s_j, Q_j)`` of ``L_j^T C_j L_j`` (``C_j = X^T D_j X``,
formed once), and the eigenvalues ``s`` are the squared norms of its rank-one
parts. Near the end an inactive gate's columns sit at the apex of their cones,
where the rows' barrier curvature is huge and ``s`` tiny; an active gate's
directions across its tight rows are tiny too. The preconditioner drops the
smallest ``s`` up to a total of ``DROP_SUM`` times the smallest diagonal entry
of ``K^-1`` (so the preconditioned spectrum lies in ``[1, 1 + DROP_SUM]``),
forms the rest in single precision and factors it; preconditioned conjugate
gradients on the exact operator then give the Newton step to ``CG_TOL``, in a
few products with X.

Forming the preconditioner costs 50 to 250 conjugate-gradient steps at
n=2000, d=50, 500 gates (with its rank), so the caller may keep the last
step's factor (``previous``) until it is stale (``_Factor.stale``): any
positive definite preconditioner leaves the solution exact, only the number
of steps grows. A kept factor that does not reach ``CG_TOL`` in ``CG_MAX``
steps is rebuilt and the solve redone; a fresh one that misses it (very
ill-conditioned end games) returns its last iterate, counted in
``n_unconverged``. The intercept borders the system; it
is solved by conjugate gradients projected on the intercept's constraint.
"""

import numpy as np
from scipy.linalg.blas import dsyrk, dtrsv, ssyrk, strsv
from scipy.linalg.lapack import dpotrf, spotrf

from .ipm_dense import spd_inverse
from .newton_cg import masked_back

__all__ = ["CG_TOL", "WoodburySystem", "newton_rtol", "woodbury_solver"]

#: Dropped eigen-directions total at most this multiple of min(K^-1): the
#: preconditioned operator's eigenvalues lie in [1, 1 + DROP_SUM] (before the
#: single-precision rounding), so conjugate gradients gain a digit in about
#: sqrt(1 + DROP_SUM) steps (a bound: far fewer in practice). Measured at
#: n=2000, d=50, 500 gates (bench_relu.py's planted data, alpha=1e-3, tol
#: 1e-4), one process: 100 -> 27.3 s CPU (mean rank 10 000, 1 004 CG
#: steps), 300 -> 30.3 s (30 iterations), 1000 -> 25.0 s (rank 6 300, 990
#: steps), 3000 -> 28.6 s (rank 3 800, 1 379 steps). Not the best
#: everywhere: at smaller sizes 100 was often faster (alpha=1e-3, planted
#: data: n=800, d=10, 150 gates, tol 1e-5: 0.58 s against 4.24 s CPU; n=400,
#: d=10, 100 gates, tol 1e-6: 0.53 s against 1.31 s), but the tight-tol end
#: games of tests/test_relu_exact.py then stalled on one problem.
DROP_SUM = 1000.0
#: Single precision for the preconditioner while its rounding is below this
#: share of min(K^-1).
ROUNDING_SHARE = 1.0
#: Relative residual of the conjugate gradients on the n x n system.
CG_TOL = 1e-10
#: A rebuild of the preconditioner costs about REBUILD_FIXED + rank n /
#: (REBUILD_RANK d p) conjugate-gradient steps (the rank-``rank`` product
#: against the steps' ``4 n d p``, plus the gates' eigendecompositions and the
#: n x n factorization). Measured at n=2000, d=50, 500 gates (CPU time of
#: refresh against apply, ranks 1 300 to 24 000): 45 + rank / 120.
REBUILD_FIXED, REBUILD_RANK = 45.0, 10.0
#: Conjugate-gradient steps per solve at most.
CG_MAX = 60
#: The preconditioner keeps at most RANK_CAP * n directions (its largest
#: ``s``): the early steps' systems keep 7n and more under DROP_SUM alone
#: (14 186 of 25 000 at n=2000, d=50, 500 gates), and the n x n product of
#: its build grows with the rank while the steps' conjugate gradients gain
#: little past 2n.
RANK_CAP = 2
#: Inexact Newton steps far from the target (``newton_rtol``): the conjugate
#: gradients' relative residual is CG_TOL * ratio^2 capped at NEWTON_RTOL_MAX,
#: for the ratio of the rows' gap to the target gap; CG_TOL from the
#: certificate's start (``ipm.CERTIFY_START``). The steps' errors are checked
#: in the operator's norm (INEXACT_ETA); in ``ipm.solve_output_ipm`` a
#: corrector that does not descend on the barrier is solved again to CG_TOL
#: and the fit's later steps are exact. Measured at n=2000, d=50, 500 gates
#: (tol 1e-4), one process, load about 1: caps 1e-4, 1e-5 and 1e-6 all 16.2
#: to 17.0 s CPU (exact: 19.3 s), 31, 29 and 29 iterations (exact: 29); 1e-3
#: and 1e-2 took 43 and 46 iterations (23 and 27 s). study_exact_ipm.py's 36
#: small fits (inexact forced on them): 665, 602 and 622 iterations (exact
#: 600), iteration counts that rounding alone moves by +-8%.
NEWTON_RTOL_MAX = 1e-5
#: An inexact Newton step (``rtol`` above CG_TOL) is accepted when its error
#: is at most this fraction of its length, both in the operator's norm.
INEXACT_ETA = 0.1


class WoodburySystem:
    """Factor and solve the n x n Woodbury system of one Newton step.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    Mf : ndarray of shape (n, p)
        The gates' masks as floats.
    C : ndarray of shape (p, d, d)
        The gated Gram matrices ``X^T D_j X``.
    Einv : ndarray of shape (p, d, d)
        ``E_j^-1``, symmetric positive definite.
    kinv : ndarray of shape (n,)
        ``K^-1``, the inverse loss curvature.
    previous : WoodburySystem or None
        Keep this system's preconditioner (built for other ``E_j^-1``)
        instead of building one.
    """

    def __init__(self, X, Mf, C, Einv, kinv, previous=None):
        self.X, self.Mf, self.C, self.Einv, self.kinv = X, Mf, C, Einv, kinv
        self.n_products = 0
        self.cg_steps = 0
        self.n_solves = 0
        self.n_unconverged = 0  # solves that missed CG_TOL in CG_MAX steps (verbose)
        self.rank, self.precision, self.cf = None, None, None
        if previous is not None and previous.cf is not None:
            # The last step's factor, kept until it is stale (_Factor.stale).
            self.cf, self.rank, self.precision = previous.cf, previous.rank, previous.precision
            self.cf.uses += 1
            self.cf.prev, self.cf.last = self.cf.last, 0
            self.fresh = False
        else:
            self.refresh()

    def refresh(self):
        """Build and factor the preconditioner from this system's ``E_j^-1``."""
        X, Mf, C, Einv, kinv = self.X, self.Mf, self.C, self.Einv, self.kinv
        n, d = X.shape
        p = Mf.shape[1]
        self.cf = None
        try:
            L = np.linalg.cholesky(Einv)
        except np.linalg.LinAlgError:
            # E_j^-1 = L_j L_j^T by eigenvalues (its rounding may leave tiny
            # negative ones, which only the exact operator keeps).
            e, U = np.linalg.eigh(Einv)
            L = U * np.sqrt(np.maximum(e, 0.0))[:, None, :]
        s, Q = np.linalg.eigh(L.transpose(0, 2, 1) @ C @ L)
        flat = s.ravel()
        order = np.argsort(flat)
        n_drop = int(np.searchsorted(np.cumsum(np.maximum(flat[order], 0.0)),
                                     DROP_SUM * float(np.min(kinv)), side="right"))
        n_drop = max(n_drop, p * d - RANK_CAP * n)
        keep = np.ones(p * d, dtype=bool)
        keep[order[:n_drop]] = False
        self.rank = int(np.sum(keep))
        # Kept directions: column (j, k) of L_j Q_j, in gate order.
        V = (L @ Q).transpose(0, 2, 1).reshape(p * d, d)[keep]
        count = keep.reshape(p, d).sum(axis=1)
        off = np.r_[0, np.cumsum(count)]
        # Single precision first (twice as fast; a preconditioner need not be
        # exact), double should its rounding cost the positive definiteness.
        for dtype, syrk in ((np.float32, ssyrk), (np.float64, dsyrk)):
            # Y^T = [V_j^T X^T D_j]_j, rows in gate order (k x n, C order: the
            # masks scale row blocks; its transpose is the Fortran-ordered
            # n x k matrix BLAS reads without a copy).
            Yt = V.astype(dtype) @ np.ascontiguousarray(X.T, dtype=dtype)
            Mt = np.ascontiguousarray(Mf.T, dtype=dtype)
            for j in np.flatnonzero(count):
                Yt[off[j]:off[j + 1]] *= Mt[j]
            if dtype == np.float32:
                # The rounding of Y Y^T's entries (about sqrt(k) eps |y_i| |y_k|
                # for k terms) against K^-1: beyond ROUNDING_SHARE of it the
                # preconditioner would be off by more than what was dropped.
                big = float(np.max(np.einsum("ki,ki->i", Yt, Yt), initial=0.0))
                if np.sqrt(len(V)) * np.finfo(dtype).eps * big > ROUNDING_SHARE * float(
                        np.min(kinv)):
                    continue
            P = syrk(1.0, Yt.T, lower=1)
            del Yt
            self.precision = np.dtype(dtype).name
            if dtype == np.float32:
                # Factor in single precision too (twice as fast; its rounding
                # is of the order of the product's; measured at the issue's
                # size: 0.06 s less per build, 1% more CG steps), double
                # should it fail.
                P32 = P.copy(order="F")
                with np.errstate(over="ignore"):  # an infinite K^-1: double
                    P32[np.diag_indices_from(P32)] += kinv.astype(np.float32)
                c, info = spotrf(P32, lower=1, clean=0, overwrite_a=1)
                del P32
                if not info and np.all(np.isfinite(c)):
                    break
            P = np.asarray(P, dtype=np.float64)
            P[np.diag_indices_from(P)] += kinv
            c, info = dpotrf(P, lower=1, clean=0, overwrite_a=1)
            if not info:
                break
        else:
            raise np.linalg.LinAlgError(f"Woodbury preconditioner not positive definite ({info})")
        self.cf = _Factor(c)
        self.cf.cost = REBUILD_FIXED + self.rank * n / (REBUILD_RANK * d * p)
        self.fresh = True

    def apply(self, y):
        """``A y``: two products with X (counted in ``n_products``)."""
        self.n_products += 2
        # G_j^T y = X^T D_j y for all j, without an n x p temporary (a third
        # faster at n=2000, d=50, 500 gates).
        g = masked_back(self.X, self.Mf, y)  # (d, p)
        h = (self.Einv @ g.T[:, :, None])[:, :, 0]  # (p, d): batched, 4x einsum's speed
        return self.kinv * y + np.einsum("ij,ij->i", self.Mf, self.X @ h.T)

    def solve(self, r, rb=None, rtol=CG_TOL):
        """``A^-1 r`` by preconditioned conjugate gradients; with ``rb``, the
        bordered system ``[[A, -1], [1^T, 0]] [y; db] = [r; rb]`` as ``(y, db)``.

        ``rtol``: the relative residual to reach (``CG_TOL``: exact for the
        IPM's purposes; looser for an inexact Newton step, which is accepted
        only if its error is small in the operator's norm, ``INEXACT_ETA``).

        The bordered system is solved by conjugate gradients projected on
        ``{1^T y = rb}`` (a constraint preconditioner: ``z = M^-1 r - M^-1 1
        (1^T M^-1 r) / (1^T M^-1 1)``, with ``M^-1 1`` once per factor), not
        by a second solve with ``A``. With a kept (stale) preconditioner that
        does not reach ``rtol`` in ``CG_MAX`` steps, the preconditioner is
        rebuilt and the solve redone.
        """
        x, db, converged, err2 = self._cg(r, rb, rtol)
        if not converged and not self.fresh:
            self.refresh()
            x, db, converged, err2 = self._cg(r, rb, rtol)
        # Inexact Newton: the error's squared A-norm is at most the residual's
        # r^T M^-1 r (M <= A: the preconditioner only drops positive terms),
        # the step's own y^T A y = y^T (r + db 1). A step whose error exceeds
        # INEXACT_ETA of its length in that norm goes on, 100x tighter.
        while converged and rtol > CG_TOL and err2 > INEXACT_ETA**2 * float(x @ (r + db)):
            rtol = max(rtol * 1e-2, CG_TOL)
            x, db, converged, err2 = self._cg(r, rb, rtol, (x, db))
        # A fresh preconditioner can miss CG_TOL too once the Newton matrices
        # are very ill conditioned (tight tol, tiny mu): the last iterate is
        # returned, and the IPM's line search on the barrier guards the step.
        # (Measured, not kept: a rebuild in double precision then moved the
        # end-game stalls of tiny problems at tol <= 1e-6 around, 1 -> 2 of 36.)
        self.n_unconverged += not converged
        self.n_solves += 1
        return x if rb is None else (x, db)

    def _cg(self, r, rb, rtol, start=None):
        """Conjugate gradients to ``rtol`` (from ``start = (x, db)`` if given):
        ``(x, db, converged, res^T M^-1 res)``."""
        f = self.cf
        if start is None:
            x, db = f.solve(r), 0.0
            if rb is not None:  # y0 = M^-1 (r + db 1) on the constraint
                m1, s1 = f.ones()
                db = (rb - float(x.sum())) / s1
                x += db * m1
        else:
            x, db = start[0].copy(), start[1]
            if rb is not None:
                m1, s1 = f.ones()
        target = rtol * max(float(np.linalg.norm(r)), float(np.linalg.norm(r + db)))
        res = r + db - self.apply(x)  # r + db 1 - A x, throughout

        def precondition(res, db):
            z = f.solve(res)
            if rb is not None:
                # Project on 1^T z = 0; the residual's part along 1 moves to db.
                w = float(z.sum()) / s1
                z -= w * m1
                res -= w
                db -= w
            return z, db

        z, db = precondition(res, db)
        q = z.copy()
        rz = float(res @ z)
        for _ in range(CG_MAX):
            if float(np.linalg.norm(res)) <= target:
                return x, db, True, rz
            self.cg_steps += 1
            f.steps += 1
            f.last += 1
            Aq = self.apply(q)
            curvature = float(q @ Aq)
            if not curvature > 0 or not rz > 0:
                # A singular (rounded) operator or preconditioner: no descent
                # left along q (the step would divide by zero); the iterate
                # so far is the answer.
                break
            step = rz / curvature
            x += step * q
            old = res.copy()
            res -= step * Aq
            z, db = precondition(res, db)
            rz_new = float(res @ z)
            # Polak-Ribiere: robust to the single-precision preconditioner's
            # rounding (equal to Fletcher-Reeves in exact arithmetic).
            q = z + ((rz_new - float(old @ z)) / rz) * q
            rz = rz_new
        return x, db, float(np.linalg.norm(res)) <= target, rz


class _Factor:
    """The preconditioner ``M = L L^T`` from its lower Cholesky factor ``c``.

    Its solves are two triangular solves in single precision (ten times
    faster than LAPACK's double ``potrs`` at n=2000, which is memory bound):
    the rounded factor still defines a positive definite ``M``, and the
    conjugate gradients on the exact operator keep the solves exact. Double
    when the factor's range does not fit single precision.
    """

    def __init__(self, c):
        with np.errstate(over="ignore"):  # checked below
            c32 = c.astype(np.float32, copy=False)
        c32[np.abs(c32) < np.finfo(np.float32).tiny] = 0.0  # no subnormals (slow)
        diag = np.diagonal(c32)
        if np.all(np.isfinite(c32)) and np.all(diag > 0):
            self.L, self.trsv = np.asfortranarray(c32), strsv
        else:
            self.L, self.trsv = np.asfortranarray(c), dtrsv
        self._ones = None
        # Its build's cost (in conjugate-gradient steps), the steps taken with
        # it in all, in the latest Newton step and the one before, the Newton
        # steps using it.
        self.cost, self.steps, self.last, self.prev, self.uses = 0.0, 0, 0, 0, 1

    def stale(self):
        """Rebuild rather than keep: the next Newton step's conjugate gradients
        (extrapolated from the last two) would cost more than the average
        Newton step since the build, the build included. The steps grow as the
        factor ages, so this keeps the average cost per Newton step near its
        minimum (a renewal rule). Measured at n=2000, d=50, 500 gates (then
        with DROP_SUM=100) against a fixed threshold of 30 or 40 steps per
        Newton step: the same within the machine's noise (28.8 to 30.9 s
        CPU); unlike a fixed threshold it follows the build's cost.
        """
        upcoming = 2 * self.last - self.prev if self.uses > 1 else self.last
        return upcoming * self.uses > self.cost + self.steps

    def solve(self, r):
        """``M^-1 r`` (``r`` scaled to unit maximum for single precision)."""
        scale = float(np.max(np.abs(r), initial=0.0))
        if not scale > 0:
            return np.zeros_like(r)
        z = self.trsv(self.L, (r / scale).astype(self.L.dtype), lower=1)
        z = self.trsv(self.L, z, lower=1, trans=1, overwrite_x=1)
        return scale * z.astype(np.float64)

    def ones(self):
        """``(M^-1 1, 1^T M^-1 1)``, once per factor."""
        if self._ones is None:
            m1 = self.solve(np.ones(self.L.shape[0]))
            self._ones = (m1, float(m1.sum()))
        return self._ones


def newton_rtol(ratio, exact_below):
    """The Newton steps' relative residual at ``ratio`` = rows' gap / target gap:
    loose far from the target, CG_TOL from ``exact_below`` on (the certificate's
    phase)."""
    if ratio <= exact_below:
        return CG_TOL
    return min(CG_TOL * ratio * ratio, NEWTON_RTOL_MAX)


def woodbury_solver(prob, B, curv):
    """The Newton step's solver for ``p d > n`` (``ipm._Output.factor``).

    ``B`` holds the 2p column blocks (u then v), ``curv`` the loss curvature;
    the n x n system ``K^-1 + sum_j G_j E_j^-1 G_j^T`` is bordered by the
    intercept. The last step's system (``prob.woodbury``) lends its
    preconditioner until it is stale (``_Factor.stale``).
    """
    p = prob.p
    Binv = spd_inverse(B)
    Einv = Binv[:p] + Binv[p:]
    Einv = 0.5 * (Einv + np.transpose(Einv, (0, 2, 1)))
    if prob.C is None:
        prob.n_passes += 1
        prob.C = prob.blocks(prob.Mf.T @ prob.XX)
    if prob.woodbury is not None:  # the last system's products with X
        prob.n_passes += prob.woodbury.n_products
    old = prob.woodbury
    if old is not None and old.cf.stale():
        old = prob.woodbury = None  # not kept (the IPM's last solve may still hold it)
    system = WoodburySystem(prob.X, prob.Mf, prob.C, Einv, 1.0 / np.maximum(curv, 1e-300), old)
    prob.woodbury = system

    def solve(ru, rv, rb, rtol=CG_TOL):
        g = (Binv[:p] @ ru[:, :, None] - Binv[p:] @ rv[:, :, None])[:, :, 0]
        gv = np.einsum("ij,ij->i", prob.Mf, prob.mul(g.T))
        y, db = system.solve(gv, rb, rtol) if prob.fit_intercept \
            else (system.solve(gv, rtol=rtol), 0.0)
        return prob._back(Binv, ru, rv, y), db
    return solve
