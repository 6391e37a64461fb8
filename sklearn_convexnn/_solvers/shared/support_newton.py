"""Newton polish of an l1-penalized fit on its support, signs fixed.

A first-order or quasi-Newton solver of ``min loss(H W + b) + alpha |W|_1``
stops when the objective no longer decreases in floating point: the
objective is then exact to ~1e-16 relative, but the weights only to about
its square root times the conditioning (the objective is flat to second
order around its minimum). On the support with the signs of the solution
fixed, the problem is smooth -- ``loss(H_S W_S + b) + alpha <sign, W_S>`` --
and Newton's method drives its *gradient* to round-off, which fixes the
weights to ~1e-16 times the conditioning. Two formulations of one problem
(weighted and repeated rows) then give the same weights, not merely the
same objective.

The predictions are linear in the variables, so the Hessian is the loss's
curvature form ``Loss.gauss_newton`` on the support's columns, exactly;
its null space (the multinomial shift of the intercept) is handled by
least squares. The
polish stops at the first step that does not lower the gradient norm or
would change a sign, so it never returns a worse point than it was given.
"""

import numpy as np

__all__ = ["newton_polish"]

#: Largest number of variables (support entries plus intercepts) polished.
MAX_VARIABLES = 400
#: Newton steps at most (quadratic convergence: 3-4 suffice from a 1e-8 gap).
MAX_STEPS = 8


def newton_polish(H, Y, loss, alpha, W, b, fit_intercept=True):
    """``(W, b)`` polished by Newton's method on the support of ``W``.

    Parameters
    ----------
    H : ndarray of shape (n, m)
        Design (neuron outputs).
    Y : ndarray of shape (n, k)
        Encoded targets.
    loss : Loss
        A smooth loss (its ``gradient`` is the derivative of ``value``).
    alpha : float
        l1 weight.
    W : ndarray of shape (m, k)
        A near-optimal solution; its zeros stay zero, its signs stay.
    b : ndarray of shape (k,)
        Intercept.
    fit_intercept : bool, default=True

    Returns
    -------
    W, b : ndarray
        The polished solution, or the given one when no step improved it.
    """
    W = np.asarray(W, dtype=float)
    b = np.asarray(b, dtype=float).ravel()
    mask = W != 0
    S = np.sign(W)
    k = W.shape[1]
    nb = k if fit_intercept else 0
    n_vars = nb + int(mask.sum())
    if not loss.smooth or n_vars == 0 or n_vars > MAX_VARIABLES:
        return W, b
    rows = np.flatnonzero(mask.any(axis=1))
    Hs, Ss, ms = H[:, rows], S[rows], mask[rows]

    def unpack(x):
        bb = x[:nb] if fit_intercept else b
        Wn = np.zeros(ms.shape)
        Wn[ms] = x[nb:]
        return Wn, bb

    def grad(x):
        Wn, bb = unpack(x)
        G = loss.gradient(Hs @ Wn + bb, Y)
        gW = (Hs.T @ G + alpha * Ss)[ms]
        return np.concatenate([G.sum(axis=0), gW]) if fit_intercept else gW

    # Jacobian of the predictions: intercepts first, then the support's
    # entries in the order of ``x``.
    Jf = np.zeros((H.shape[0], k, n_vars))
    if fit_intercept:
        Jf[:, np.arange(k), np.arange(k)] = 1.0
    r_idx, o_idx = np.nonzero(ms)
    Jf[:, o_idx, nb + np.arange(len(r_idx))] = Hs[:, r_idx]

    x = np.concatenate([b[:nb], W[rows][ms]])
    g = grad(x)
    for _ in range(MAX_STEPS):
        Wn, bb = unpack(x)
        hess = loss.gauss_newton(Jf, Hs @ Wn + bb, Y)
        step = np.linalg.lstsq(hess, g, rcond=1e-12)[0]
        x_new = x - step
        if np.any(np.sign(x_new[nb:]) != np.sign(x[nb:])):
            break
        g_new = grad(x_new)
        if not np.linalg.norm(g_new) < np.linalg.norm(g):
            break
        x, g = x_new, g_new
    Wn, bb = unpack(x)
    W = W.copy()
    W[rows] = Wn
    return W, np.array(bb, dtype=float)
