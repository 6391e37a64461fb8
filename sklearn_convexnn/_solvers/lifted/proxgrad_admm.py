"""ADMM first phase of proxgrad with the exact Hessian metric of the features.

An alternative to FISTA (``method="admm"``) kept for experiments: the
explicit lifted features' Hessian is factored once, so the iteration is
immune to their conditioning; on digits it was slower than FISTA plus the
polish (``_solvers/lifted/proxgrad.py``).
"""

import numpy as np

from .certificate import relative_gap
from .psd_projection import project_psd_hyperplane

__all__ = ["solve_admm"]


def solve_admm(op, Y, loss, curv, W, b, Gw, pen, dual, fit_intercept, max_iter, tol, verbose,
               check_every=5):
    """ADMM on ``X = W``: X carries the loss (Hessian metric), W the constraint.

    X-step: ``min loss(M (X+ - X-)) + rho/2 ||X - W + U||^2``, exact for the
    squared loss (one solve with ``H + rho/2 I``, H factored once), else the
    same with the loss replaced by its quadratic majorizer ``curv * H`` at the
    previous X (a semi-proximal ADMM step, still convergent). W-step: the
    projection onto the constraint set (the penalty is linear: a shift).
    rho follows residual balancing; the certificate is taken at W (feasible)
    every few iterations.
    """
    n = Y.shape[0]
    shape = W.shape
    q = shape[-1]
    p = q - 1
    squared = loss.name == "squared"
    H = op.hessian()
    lamH, QH = np.linalg.eigh(H)
    lamH = np.maximum(lamH, 0.0)
    Ms = op.M * op.sw
    MtY = Ms.T @ Y / n                                   # (D, k)
    E = np.zeros(shape)
    E[..., p, p] = pen
    U = np.zeros(shape)
    X = W.copy()
    d = op.pack(X[:, :, 0] - X[:, :, 1])                 # (k, D)
    mu = np.zeros(int(np.prod(shape[:3])))
    rho = max(curv * float(np.mean(lamH)), 1e-8)
    best, bound, theta_best = (np.inf, W, b, None), -np.inf, None
    status, gap, rank, passes, it = "max_iter", np.inf, 0, 0, 0
    for it in range(1, max_iter + 1):
        V = W - U
        Vd = op.pack(V[:, :, 0] - V[:, :, 1])
        Vs = V[:, :, 0] + V[:, :, 1]
        if squared:
            rhs = (MtY.T if fit_intercept else (Ms.T @ (Y - b) / n).T) + 0.5 * rho * Vd
            scale = lamH + 0.5 * rho
        else:
            Yhat = Ms @ d.T + b
            theta = loss.gradient(Yhat, Y)
            passes += 2
            rhs = curv * (H @ d.T).T - (Ms.T @ theta).T + 0.5 * rho * Vd
            scale = curv * lamH + 0.5 * rho
            if fit_intercept:
                b = b - theta.sum(axis=0) / curv
        d = ((QH @ ((QH.T @ rhs.T) / scale[:, None])).T)
        Dm = op.unpack(d)
        X = np.stack([(Vs + Dm) / 2, (Vs - Dm) / 2], axis=2)
        W_old = W
        Wf, mu, ranks = project_psd_hyperplane((X + U - E / rho).reshape(-1, q, q), Gw, mu)
        W = Wf.reshape(shape)
        U = U + X - W
        r_norm = float(np.sqrt(np.sum((X - W) ** 2)))
        s_norm = rho * float(np.sqrt(np.sum((W - W_old) ** 2)))
        rank = int(ranks.sum())
        if it % check_every == 0 or it == max_iter:
            Yw = Ms @ op.pack(W[:, :, 0] - W[:, :, 1]).T + b
            F = loss.value(Yw, Y) + pen * float(np.sum(W[..., p, p]))
            theta = loss.gradient(Yw, Y)
            lb, th = dual.bound(op.backward(theta), theta)
            passes += 2
            if F < best[0]:
                best = (F, W, b.copy(), Yw)
            if lb > bound:
                bound, theta_best = lb, th
            gap = relative_gap(best[0], bound, floor=1e-12)
            if verbose:
                print(f"[proxgrad/admm] iter {it}: objective {F:.10g}, bound {bound:.10g}, "
                      f"gap {gap:.2e}, rank {rank}, rho {rho:.3g}, residuals {r_norm:.2e} "
                      f"{s_norm:.2e}")
            if gap <= tol:
                status = "optimal"
                break
        if it % 10 == 0:
            if r_norm > 10 * s_norm:
                rho *= 2.0
                U /= 2.0
            elif s_norm > 10 * r_norm:
                rho /= 2.0
                U *= 2.0
    if best[3] is None:
        Yw = Ms @ op.pack(W[:, :, 0] - W[:, :, 1]).T + b
        best = (loss.value(Yw, Y) + pen * float(np.sum(W[..., p, p])), W, b, Yw)
    return best, bound, theta_best, status, gap, rank, it, passes
