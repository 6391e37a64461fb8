"""FISTA phase of proxgrad: accelerated proximal gradient on the lifted matrices.

The iterates are the whitened matrices ``W`` (k, R, 2, q, q) (both signs of
every output and block) and the intercept ``b``; the prox is the projection
onto the PSD cone cut by the hyperplane ``<Gw, W> = 0``
(``psd_projection.py``). FISTA with gradient-based adaptive restarts
(O'Donoghue & Candes) and backtracking on the Lipschitz constant, which also
shrinks when steps pass easily; the certificate (``sphere_dual.py``) is
taken from each iteration's gradient. The driver, the preconditioning and
the two other phases are in ``proxgrad.py``, ``proxgrad_polish.py`` and
``proxgrad_admm.py``.
"""

import numpy as np

from .certificate import relative_gap
from .psd_projection import project_psd_hyperplane

__all__ = ["differences", "penalized_objective", "run_fista"]

#: With explicit features the certificate is taken every this many iterations.
CHECK_EVERY = 5


def differences(W):
    """Differences ``W - W'`` (k, R, q, q): the operator works in W coordinates."""
    return W[:, :, 0] - W[:, :, 1]


def penalized_objective(loss, Yhat, Y, W, pen):
    """``loss(Yhat) + pen * sum(W_qq)``: the penalty ``alpha Z4`` in W coordinates."""
    p = W.shape[-1] - 1
    return loss.value(Yhat, Y) + pen * float(np.sum(W[..., p, p]))


def run_fista(op, Y, loss, curv, start, Gw, mu, pen, dual, *, scale, fit_intercept, n_iter,
              tol, verbose, explicit, polish, passes):
    """FISTA from ``start = (F, W, b, Yhat)``; returns the state the driver finishes.

    Parameters
    ----------
    op : ExplicitOperator or PassOperator
        The data passes (``forward``, ``backward``) in W coordinates.
    Y : ndarray of shape (n, k)
    loss : Loss
    curv : float
        Curvature bound of the loss (per sample).
    start : tuple (F, W, b, Yhat)
        Objective, matrices, intercept and predictions of the first point.
    Gw : ndarray of shape (k * R * 2, q, q)
        The hyperplane of every matrix.
    mu : ndarray of shape (k * R * 2,)
        Multipliers of the previous projection (warm start of the next).
    pen : float
        Penalty on ``W_qq`` of every matrix.
    dual : DualBound
    scale : float
        Lipschitz scale of the lifted map; the step starts at ``curv * scale``.
    fit_intercept, n_iter, tol, verbose : as in ``solve_lifted_proxgrad``
    explicit : bool
        The features are explicit (the certificate every ``CHECK_EVERY``).
    polish : bool
        A polish follows (only the last certificate counts).
    passes : int
        Data passes so far.

    Returns
    -------
    best, bound, theta_best, status, gap, rank, it, passes
        ``best = (F, W, b, Yhat)`` the best point seen.
    """
    F, W, b, Yhat = start
    shape = W.shape
    k, q = shape[0], shape[-1]
    p = q - 1
    sign = np.array([1.0, -1.0])[None, None, :, None, None]

    def objective(Yh, Wm):
        return penalized_objective(loss, Yh, Y, Wm, pen)

    # FISTA state: x = (W, b) with predictions Yhat; y = extrapolated point.
    Wy, by, Yy = W, b, Yhat
    W_prev, Yhat_prev = W, Yhat
    t = 1.0
    # The intercept moves as b = kappa * beta, its curvature matched to W's.
    L = curv * scale
    kappa2 = max(L / curv, 1e-300)
    best = (F, W, b, Yhat)
    bound, theta_best = -np.inf, None
    status, gap, rank, it = "max_iter", np.inf, 0, 0
    for it in range(1, n_iter + 1):
        theta = loss.gradient(Yy, Y)
        G = op.backward(theta)        # centred: gradient of the centred features
        passes += 1
        fy = objective(Yy, Wy)
        gW = G[:, :, None] * sign     # gradient in W of <G, W - W'>
        gW[..., p, p] += pen
        gb = theta.sum(axis=0) if fit_intercept else np.zeros(k)

        # Certificate from this gradient (a valid bound whatever the point);
        # with explicit features a pass is cheaper than the check: every few.
        # Before a polish only the last one counts (the polish certifies).
        if not explicit or it == n_iter or (it % CHECK_EVERY == 0 and not polish):
            lb, th = dual.bound(G, theta)
            if lb > bound:
                bound, theta_best = lb, th

        # Backtracking step.
        for _ in range(60):
            V = (Wy - gW / L).reshape(-1, q, q)
            W_new, mu_new, ranks = project_psd_hyperplane(V, Gw, mu)
            W_new = W_new.reshape(shape)
            b_new = by - kappa2 * gb / L
            Y_new = op.forward(differences(W_new)) + b_new
            passes += 1
            dW, db = W_new - Wy, b_new - by
            # Both (Z, Z') halves of a symmetric matrix enter the norm.
            sq = float(np.sum(dW * dW) + db @ db / kappa2)
            # The penalty is linear: inside the model, exactly.
            f_new = objective(Y_new, W_new)
            lin = float(np.sum(gW * dW) + gb @ db)
            if f_new <= fy + lin + 0.5 * L * sq + 1e-12 * abs(fy):
                break
            L *= 2.0
        mu = mu_new
        F_new = f_new
        rank = int(ranks.sum())
        if F_new < best[0]:
            best = (F_new, W_new, b_new, Y_new)
        gap = relative_gap(best[0], bound, floor=1e-12)
        if verbose:
            print(f"[proxgrad] iter {it}: objective {F_new:.10g}, bound {bound:.10g}, "
                  f"gap {gap:.2e}, rank {rank}, L {L:.3g}, passes {passes}")
        if gap <= tol:
            status = "optimal"
            break

        # Momentum with gradient-based restart.
        restart = float(np.sum((Wy - W_new) * (W_new - W_prev))
                        + (by - b_new) @ (b_new - b) / kappa2) > 0 or F_new > F
        if restart:
            t = 1.0
            Wy, by, Yy = W_new, b_new, Y_new
        else:
            t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
            beta = (t - 1.0) / t_next
            Wy = W_new + beta * (W_new - W_prev)
            by = b_new + beta * (b_new - b)
            Yy = Y_new + beta * (Y_new - Yhat_prev)
            t = t_next
        W_prev, b, Yhat_prev, F = W_new, b_new, Y_new, F_new
        L *= 0.9
        if restart and not np.all(np.isfinite(Y_new)):
            raise FloatingPointError("proxgrad diverged (non-finite predictions).")
    return best, bound, theta_best, status, gap, rank, it, passes
