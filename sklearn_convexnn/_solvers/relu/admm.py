"""Exact ReLU by ADMM whose linear system is factored once (Bai, Gautam & Sojoudi).

The exact program (columns ``W = [U | V]`` as in ``exact.py``; ``F`` the
signed gated design, so the prediction is ``F W + b``; ``A`` the cone map,
``(A W)_col = (2 D_j - I) X w_col``)::

    min_{W, b} L(F W + b) + alpha sum_col ||w_col||_2   s.t.  A W >= 0,

is split as ``W = Z`` (the group penalty acts on ``Z``) and ``A W = S``
(``S >= 0``). Scaled ADMM with penalty ``rho`` on the first split and
``rho * gamma`` on the second::

    (W, b) <- argmin  q(F W + b) + rho/2 ||W - Z + Lam||^2
                      + rho gamma/2 ||A W - S + Nu||^2
    Z      <- group soft-threshold(W + Lam, alpha / rho)
    S      <- max(0, A W + Nu)
    Lam    <- Lam + W - Z;   Nu <- Nu + A W - S

(with over-relaxation of ``W`` and ``A W`` in the last three lines). ``q``
is the loss itself for the squared loss and, for the logistic and
multinomial losses, its quadratic majorizer at the current prediction
(curvature ``c pi_i`` per sample: ``c = 1/4``, ``1/2``), a majorized ADMM.

The first step is one linear system whose matrix does not change: because
``(2 D_j - I)^2 = I`` the cone term contributes ``A^T A = I (x) X^T X``, so
the matrix is ``c F^T Pi F + rho B`` with ``B = I (x) (I + gamma X^T X)``,
block diagonal plus a term of rank at most n. Woodbury turns its inverse
into ``B^{-1}`` (one d x d factor shared by all columns) and one n x n
Cholesky factor of ``(rho / c) I + Pi^{1/2} F B^{-1} F^T Pi^{1/2}``, where
``F B^{-1} F^T = 2 (X G^{-1} X^T) o (M M^T)`` (``M`` the n x p masks, ``G
= I + gamma X^T X``) is formed once; every output shares it. An iteration
costs four products of ``X`` or ``X^T`` with n x (2 p k) or d x (2 p k)
blocks: O(n d p k).

Certificate and feasibility: the ADMM duals give the cone multipliers
``lambda = -rho gamma Nu >= 0`` (``Nu <= 0`` after every update), which
with the loss gradient at a feasible point make the dual point of
``certificate.py``; the feasible point is ``Z`` put in its cones by
``exact.repair``, so its objective is that of a true ReLU network.
"""

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp

from ..shared.anderson import Anderson as _Anderson
from .admm_feasible import feasible_objective as _feasible_objective
from .certificate import DualCertifier
from .exact import ExactALProblem
from .gated import ReLUSolution, curvature

__all__ = ["admm_memory", "solve_exact_admm"]

#: Over-relaxation factor (1.5-1.8 is the usual range for ADMM).
RELAX = 1.6
#: Iterations between certified-gap checks (each costs a feasibility repair
#: and two data passes over the active columns).
CHECK_EVERY = 10
#: Initial rho relative to the data term's per-column curvature.
RHO_SCALE = 1.0
#: Residual balancing: rho changes by this factor when one residual is this
#: many times the other (each change refactors the n x n matrix).
RHO_FACTOR = 5.0
RHO_IMBALANCE = 10.0
#: At most this many refactorizations.
MAX_RHO_CHANGES = 8
#: Anderson acceleration of the ADMM map: memory, and the factor by which the
#: fixed-point residual may grow before an extrapolated point is rejected.
AA_MEMORY = 5
AA_SAFEGUARD = 1.0
#: The feasibility repair runs once the infeasible iterate's relative gap is below this.
REPAIR_GAP = 0.05


def admm_memory(n, d, p, k):
    """Bytes the ADMM allocates: the n x n factor and about ten n x 2pk blocks."""
    return int(8 * (3 * n * n + 12 * n * 2 * p * k + 12 * d * 2 * p * k + n * d))


class _Factor:
    """Solves ``(c F^T Pi F + rho B) W = R`` for every output at once (Woodbury)."""

    def __init__(self, X, masks, pi, c, gamma, rho):
        self.X = X
        d = X.shape[1]
        XtX = X.T @ X
        XtX = XtX.toarray() if sp.issparse(XtX) else np.asarray(XtX)
        G = np.eye(d) + gamma * XtX
        self.G_chol = sla.cho_factor(G)
        Ginv_Xt = sla.cho_solve(self.G_chol, np.asarray(
            X.T.toarray() if sp.issparse(X) else X.T))  # (d, n)
        K = np.asarray(X @ Ginv_Xt)  # X G^{-1} X^T, (n, n)
        Mf = masks.astype(float)
        C = 2.0 * K * (Mf @ Mf.T)
        del K
        self.sq = np.sqrt(pi[:, 0] * c)  # (c Pi)^{1/2}
        self.C = C * self.sq[:, None] * self.sq[None, :]
        self.c = c
        self.set_rho(rho)

    def set_rho(self, rho):
        self.rho = rho
        S = self.C.copy()
        S[np.diag_indices_from(S)] += rho
        self.S_chol = sla.cho_factor(S, lower=True, overwrite_a=True)

    def solve_G(self, R):
        return sla.cho_solve(self.G_chol, R)

    def solve_S(self, t):
        """``(rho (c Pi)^{-1} + F B^{-1} F^T)^{-1} t`` through the scaled factor."""
        return self.sq[:, None] * sla.cho_solve(self.S_chol, self.sq[:, None] * t)


def solve_exact_admm(design, loss, alpha, gates, gate_images, *, fit_intercept, tol, max_iter,
                     verbose=0, rng=None, rho=None, gamma=None):
    """Minimize the exact-ReLU program by ADMM to relative gap ``tol``; returns a feasible point.

    Parameters
    ----------
    design : MaskedDesign
    loss : WeightedLoss
    alpha : float
    gates, gate_images : ndarray
        Gate vectors (d, p) and ``X @ gates`` (n, p), for the feasibility repair.
    fit_intercept : bool
    tol : float
        Target certified relative gap.
    max_iter : int
    verbose : int
    rng : Generator, unused (the method is deterministic)
    rho, gamma : float or None
        Penalty of the ``W = Z`` split and relative weight of the cone split
        (defaults from the data's scale).
    """
    X = design.X
    n, d, q, k = design.n, design.d, design.q, design.k
    pi = loss.pi
    c = curvature(loss)
    signs = np.concatenate([np.ones(q), -np.ones(q)])
    certifier = DualCertifier(loss, design, alpha, fit_intercept, signs)
    problem = ExactALProblem(design, loss, certifier, rho=1.0)
    mask = problem.mask  # (n, 2q)
    out_cols = problem.out_cols
    col_sign = problem.sign
    if sp.issparse(X):
        fro2 = float(X.multiply(X).sum())
    else:
        fro2 = float(np.sum(np.asarray(X) ** 2))
    # gamma X^T X has unit average eigenvalue, so both splits weigh alike.
    if gamma is None:
        gamma = d / max(fro2, 1e-300)
    # The data term's curvature per column is about c * fro2 / (2 d) (a
    # pattern keeps about half the rows, weighted by pi).
    if rho is None:
        row2 = (np.asarray(X.multiply(X).sum(axis=1)).ravel() if sp.issparse(X)
                else np.sum(np.asarray(X) ** 2, axis=1))
        rho = max(RHO_SCALE * c * float(pi[:, 0] @ row2) / (2 * d), 1e-12)
    fac = _Factor(X, design.masks, pi, c, gamma, rho)

    # Column i adds sign_i times its masked image to output out_cols[i].
    combine = np.zeros((2 * q, k))
    combine[np.arange(2 * q), out_cols] = col_sign

    def predict_from_images(IW):
        """``F W`` (n, k) from the images ``X W`` (n, 2q)."""
        return np.where(mask, IW, 0.0) @ combine

    def Ft(T):
        """``F^T T`` (d, 2q) for T (n, k): one pass over q columns."""
        R = design.masks[:, design.gate_of] * T[:, design.output_of]
        half = design.rmatmat(R)
        return np.hstack([half, -half])

    def H_solve(R):
        """``(c F^T Pi F + rho B)^{-1} R`` and its images ``X W``: three passes."""
        Y1 = fac.solve_G(R)
        IY1 = design.images(Y1)
        x = fac.solve_S(predict_from_images(IY1))
        W = (Y1 - fac.solve_G(Ft(x))) / fac.rho
        return W

    def intercept_direction():
        """``g = H^{-1} c F^T pi`` for each output (columns of that output only)."""
        g = H_solve(c * Ft(np.repeat(pi, k, axis=1)))
        Ig = design.images(g)
        # pi^T F_o g_o: the prediction of output o's own columns.
        return g, Ig, (pi[:, 0] @ predict_from_images(Ig))

    g, Ig, piFg = intercept_direction() if fit_intercept else (None, None, None)

    sg = np.sqrt(gamma)
    shapes = [(d, 2 * q), (n, 2 * q), (d, 2 * q), (n, 2 * q)]
    sizes = [a * b for a, b in shapes]
    weights = [1.0, sg, 1.0, sg]  # the ADMM metric: the cone split weighs gamma

    def flat(parts):
        return np.concatenate([w * a.ravel() for w, a in zip(weights, parts)])

    def unflat(x):
        out, at = [], 0
        for (shape, size, w) in zip(shapes, sizes, weights):
            out.append(x[at:at + size].reshape(shape) / w)
            at += size
        return out

    def step(parts, pred):
        """One ADMM iteration from (Z, S, Lam, Nu); returns the new ones and the W step."""
        Zc, S, Lam, Nu = parts
        # (W, b) step: the quadratic model's target T, then one solve.
        T = loss.Y if loss.name == "squared" else pred - loss.gradient(pred) / (c * pi)
        rhs = c * Ft(pi * T) + fac.rho * (Zc - Lam) \
            + fac.rho * gamma * design.rmatmat(np.where(mask, S - Nu, Nu - S))
        W0 = H_solve(rhs)
        IW0 = design.images(W0)
        if fit_intercept:
            b = (pi[:, 0] @ (T - predict_from_images(IW0))) / (1.0 - piFg)
            W = W0 - g * b[out_cols]
            IW = IW0 - Ig * b[out_cols]
        else:
            b, W, IW = np.zeros(k), W0, IW0
        AW = np.where(mask, IW, -IW)
        pred = predict_from_images(IW) + b
        # Z and S steps with over-relaxation, then the scaled duals.
        What = RELAX * W + (1 - RELAX) * Zc
        AWhat = RELAX * AW + (1 - RELAX) * S
        V = What + Lam
        norms = np.sqrt(np.sum(V**2, axis=0))
        Zn = V * np.maximum(0.0, 1.0 - (alpha / fac.rho) / np.maximum(norms, 1e-300))
        Sn = np.maximum(0.0, AWhat + Nu)
        Lamn = Lam + What - Zn
        Nun = Nu + AWhat - Sn
        return [Zn, Sn, Lamn, Nun], W, AW, b, pred

    b0 = loss.best_constant() if fit_intercept else np.zeros(k)
    pred = np.zeros((n, k)) + b0
    x = np.zeros(sum(sizes))
    # The empty network is feasible: the fallback upper bound.
    best = (loss.value(pred), np.zeros((d, 2 * q)), b0)
    status, history = "max_iter", []
    n_changes = 0
    aa = _Anderson(x.size, AA_MEMORY)
    x_prev = f_prev = None
    fallback, r_base, from_aa = None, np.inf, False
    n_rejected = 0
    it = 0
    for it in range(1, max_iter + 1):
        parts = unflat(x)
        new, W, AW, b, pred_new = step(parts, pred)
        Tx = flat(new)
        f = Tx - x
        r = float(np.linalg.norm(f))
        if from_aa and r > AA_SAFEGUARD * r_base and it < max_iter:
            # The extrapolated point made things worse: take the plain step
            # from the last accepted point instead and forget the history.
            x, x_prev, f_prev, from_aa = fallback, None, None, False
            aa.reset()
            n_rejected += 1
            continue
        pred = pred_new
        if x_prev is not None and aa.m:
            aa.push(x - x_prev, f - f_prev)
        x_prev, f_prev, r_base, fallback = x, f, r, Tx
        x = aa.extrapolate(Tx, f)
        from_aa = x is not Tx
        Zc, S, Lam, Nu = new
        Z_old, S_old = parts[0], parts[1]

        if it % CHECK_EVERY and it != max_iter:
            continue
        # --- Lower bound: the gradient at the W step is the one the ADMM duals
        # answer (there F^T theta - A^T lambda = -rho Lam minus the dual residual).
        Lcone = np.maximum(0.0, -fac.rho * gamma * Nu)
        signed_L = np.where(mask, Lcone, -Lcone)
        theta_w = loss.gradient(pred)
        base_w = np.where(mask, theta_w[:, out_cols] * col_sign, 0.0)
        certifier.bound(theta_w, design.rmatmat(base_w - signed_L))
        lb = certifier.best
        # --- Upper bound at a feasible point built from Z: the repair is costly
        # while Z is far from its cones, so only once the infeasible iterate's
        # own gap is small (and at the end).
        est = loss.value(pred) + alpha * float(np.sum(np.sqrt(np.sum(W**2, axis=0))))
        if est - lb <= REPAIR_GAP * max(abs(est), 1e-12) or it == max_iter:
            obj, Wf, bf, theta = _feasible_objective(problem, loss, gates, gate_images, Zc, b,
                                                     fit_intercept, alpha)
            if obj < best[0]:
                best = (obj, Wf, bf)
            base = np.where(mask, theta[:, out_cols] * col_sign, 0.0)
            certifier.bound(theta, design.rmatmat(base - signed_L))
            lb = certifier.best
            gap = best[0] - lb
        gap = best[0] - lb
        r_prim = np.sqrt(np.sum((W - Zc) ** 2) + gamma * np.sum((AW - S) ** 2))
        r_dual = fac.rho * np.sqrt(np.sum((Zc - Z_old) ** 2) + gamma * np.sum((S - S_old) ** 2))
        history.append((design.n_passes, best[0], lb))
        if verbose:
            width = int(np.sum(np.any(best[1] != 0, axis=0)))
            print(f"[admm] iter {it:5d}  objective {best[0]:.10g}  bound {lb:.10g}  "
                  f"gap {gap:.3e}  width {width}  rho {fac.rho:.2e}  "
                  f"residuals {r_prim:.2e}/{r_dual:.2e}  fixed-point {r:.2e}  "
                  f"rejected {n_rejected}")
        if gap <= tol * max(abs(best[0]), 1e-12):
            status = "optimal"
            break
        # Residual balancing (rescaling the scaled duals with rho).
        if n_changes < MAX_RHO_CHANGES and it < max_iter:
            scale = 1.0
            if r_prim > RHO_IMBALANCE * r_dual:
                scale = RHO_FACTOR
            elif r_dual > RHO_IMBALANCE * r_prim:
                scale = 1.0 / RHO_FACTOR
            if scale != 1.0:
                fac.set_rho(fac.rho * scale)
                x = flat([Zc, S, Lam / scale, Nu / scale])
                x_prev, f_prev, from_aa = None, None, False
                aa.reset()
                if fit_intercept:
                    g, Ig, piFg = intercept_direction()
                n_changes += 1
    obj, W, b = best
    return ReLUSolution(W, b, float(obj), min(certifier.best, float(obj)), it,
                        design.n_passes, status, history)
