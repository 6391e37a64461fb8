"""Exact Hessian of proxgrad's polish objective, for a trust-region Newton polish.

The polish (``proxgrad_polish.py``) writes the lifted matrices as neurons
``l_j = [y_j; t_j]``, ``t_j = ||T11 y_j|| / s_q``, and minimizes over the
``y_j`` (and the intercept)::

    f = loss(Yhat) + pen * sum_j t_j^2,
    Yhat_io = b_o + sum_{j: o_j = o} s_j l_j^T (Phi_i - mean Phi) l_j

(whitened units, one block of plain rows). On small problems (a few
hundred parameters: diabetes' ten neurons of ten weights) L-BFGS needs
hundreds of evaluations near a degenerate optimum (as many neurons as
dimensions), where Newton steps with the exact Hessian converge in a
handful: this module computes that Hessian::

    H = sum_i J_i^T C_i J_i + blockdiag_j(s_j Hess_y(l_j^T G_{o_j} l_j) + 2 pen Gw / s_q^2)

with ``J_i`` the Jacobian of sample ``i``'s predictions, ``C_i`` the loss
curvature there (diagonal for the squared, Huber and logistic losses,
``diag(p) - p p^T`` for the multinomial one) and ``G_o = sum_i theta_io
(Phi_i - mean Phi)`` the gradient matrix of output ``o``.
"""

import numpy as np

__all__ = ["NEWTON_LOSSES", "NEWTON_MAX_ENTRIES", "NEWTON_MAX_PARAMS", "polish_hessian",
           "refit_scales"]

#: Losses whose curvature the Hessian below knows.
NEWTON_LOSSES = {"squared", "huber", "logistic", "multinomial"}
#: The Newton polish runs up to this many parameters (a dense Hessian and
#: its factorizations per step; above it L-BFGS).
NEWTON_MAX_PARAMS = 400
#: ... and up to this many Jacobian entries (samples x outputs x parameters).
NEWTON_MAX_ENTRIES = 4_000_000
#: The data term of the Hessian is summed over at most this many rows
#: (evenly spaced; ``n p^2 m^2`` flops a step otherwise: planted n=20 000
#: spent 60 ms a Hessian, ten L-BFGS evaluations' worth).
NEWTON_HESSIAN_ROWS = 2000
#: A Hessian whose quadratic model predicted the last step's decrease to
#: 10% is kept for at most this many further steps.
NEWTON_REUSE = 3
#: The certificate is taken at least every this many Newton steps.
NEWTON_CHECK_EVERY = 10
#: ... and before a step whose predicted decrease is at most this fraction of
#: ``tol |objective|``: the certified gap shrinks only like the square root
#: of the decrease still to come (the dual point's violation is of the
#: order of the gradient), so a check at the first model decrease below
#: ``tol |objective|`` mostly fails (measured on the paths of
#: benchmarks/bench_path.py: 0.01 takes a third fewer checks than 1 for
#: about one more step per twenty alphas).
NEWTON_CHECK_RATIO = 1e-2
#: ``refit_scales``: at most this many Newton steps on the scales, and the
#: smallest fraction of its scale a neuron keeps in one step.
REFIT_STEPS = 4
REFIT_FLOOR = 1e-2


def polish_hessian(op, P, loss, Y, coef, Yhat, G, Yv, Zr, centre, t, Gy, o_j, s_j, Gw11,
                   s_q, pen, fit_intercept):
    """Hessian of the polish objective at the neurons ``Yv`` (m, p) and intercept.

    Parameters
    ----------
    op : Operator
        The whitened data operator (``act``, ``n``).
    P : ndarray of shape (n, p)
        Its one block of whitened rows.
    loss : Loss
    Y : ndarray of shape (n, k)
    coef : ndarray
        ``loss.sample_coef(Y)``: sample weights over n.
    Yhat : ndarray of shape (n, k)
        Predictions at the point.
    G : ndarray of shape (k, 1, q, q)
        Gradient matrices ``op.backward(theta)`` at the point.
    Yv, Zr, centre, t, Gy : ndarrays
        The neurons, ``P @ Yv.T``, ``mean Phi @ l_j`` (or None), ``t_j`` and
        ``Gw11 @ y_j`` at the point.
    o_j, s_j : ndarrays of shape (m,)
        Output and sign of each neuron.
    Gw11 : ndarray of shape (p, p)
        The trace constraint's quadratic form (``t^2 = y^T Gw11 y / s_q^2``).
    s_q, pen : float
    fit_intercept : bool

    Returns
    -------
    H : ndarray of shape (m p + k, m p + k) (``m p`` without intercept)
    """
    a, b, c = op.act
    n, k = Y.shape
    m, p = Yv.shape
    coef = np.broadcast_to(coef, Y.shape)
    factor = 1.0
    if n > NEWTON_HESSIAN_ROWS:
        # Sub-sampled data term (every s-th row, weighted by s): the gradient
        # stays exact, the damping's ratio test absorbs the difference.
        stride = -(-n // NEWTON_HESSIAN_ROWS)
        P, Y, Yhat, Zr, coef = (v[::stride] for v in (P, Y, Yhat, Zr, coef))
        factor = n / Y.shape[0]
        n = Y.shape[0]
    tt = np.maximum(t, 1e-300)
    dt = Gy / (s_q**2 * tt)[:, None]                      # grad of t_j, (m, p)
    # Jacobian of each neuron's own output: (n, m, p).
    J = (2 * a * Zr + b * t)[:, :, None] * P[:, None, :]
    J += (b * Zr + 2 * c * t)[:, :, None] * dt[None]
    if centre is not None:
        J -= (2 * centre[:, :p] + 2 * centre[:, p:] * dt)[None]
    J *= s_j[None, :, None]
    n_par = m * p + (k if fit_intercept else 0)
    Jf = np.zeros((n, k, n_par))
    for o in range(k):
        mine = o_j == o
        Jf[:, o, :m * p] = (J * mine[None, :, None]).reshape(n, m * p)
        if fit_intercept:
            Jf[:, o, m * p + o] = 1.0
    H = factor * loss.gauss_newton(Jf, Yhat, Y, coef)
    # Curvature of each neuron's quadratic form, and of the penalty.
    Gws = Gw11 / s_q**2
    for j in range(m):
        Gj = G[o_j[j], 0]
        A, g, c0 = Gj[:p, :p], Gj[:p, p], Gj[p, p]
        d2t = (Gws - np.outer(dt[j], dt[j])) / tt[j]
        gd = np.outer(g, dt[j])
        Hj = 2 * A + 2 * (gd + gd.T) + 2 * float(g @ Yv[j]) * d2t \
            + 2 * c0 * (np.outer(dt[j], dt[j]) + t[j] * d2t)
        sl = slice(j * p, (j + 1) * p)
        H[sl, sl] += s_j[j] * Hj + 2 * pen * Gws
    return (H + H.T) / 2


def newton_minimize(fg, hess, x, callback, max_evals, damping, check_below):
    """Damped (Levenberg-Marquardt) Newton on ``fg`` from ``x``.

    ``fg(x)`` returns the value and gradient, ``hess(x)`` the Hessian at the
    last point ``fg`` saw. ``callback(x)`` (the certificate; it raises
    StopIteration to stop) runs before a step whose predicted decrease is
    at most ``NEWTON_CHECK_RATIO * check_below`` (the point may be
    certifiable: the objective is that close to the model's minimum) and
    every ``NEWTON_CHECK_EVERY`` steps; when the predicted decrease is below ``1e-9 check_below`` and the
    callback did not stop, Newton has nothing left to do here (the caller
    prices new neurons). The damping ``lambda`` (relative to the mean
    diagonal of the Hessian) shrinks after steps the quadratic model predicts
    well and grows after poor or rejected ones; it is returned so that the
    next run starts from it.

    Returns
    -------
    x : ndarray
        The last accepted point.
    damping : float
    progressed : bool
        Whether any step was accepted.
    """
    f, g = fg(x)
    H = hess(x)
    evals, since_check, progressed, reused = 1, 1, False, 0
    while evals < max_evals:
        scale = max(float(np.mean(np.abs(np.diag(H)))), 1e-300)
        try:
            L = np.linalg.cholesky(H + damping * scale * np.eye(H.shape[0]))
        except np.linalg.LinAlgError:
            damping = max(10 * damping, 1e-8)
            continue
        step = -np.linalg.solve(L.T, np.linalg.solve(L, g))
        predicted = -(g @ step + 0.5 * step @ (H @ step))
        if (predicted <= NEWTON_CHECK_RATIO * check_below
                or since_check >= NEWTON_CHECK_EVERY) and \
                since_check > 0:  # not twice at one point (after a rejected step)
            since_check = 0
            try:
                callback(x)
            except StopIteration:
                break
        if predicted <= 1e-9 * check_below:
            break
        f_new, g_new = fg(x + step)
        evals += 1
        since_check += 1
        ratio = (f - f_new) / predicted if predicted > 0 else -1.0
        if ratio > 0.75:
            damping /= 4
        elif ratio < 0.25:
            damping = max(4 * damping, 1e-8)
        if ratio <= 1e-4 or not np.isfinite(f_new):
            since_check -= 1  # still at the point last checked
            continue
        x, f, g = x + step, f_new, g_new
        progressed = True
        # A model that predicted the step well is kept for the next ones
        # (the Hessian costs n p^2 m^2, a step two data passes).
        if ratio > 0.75 and abs(ratio - 1) < 0.1 and reused < NEWTON_REUSE:
            reused += 1
        else:
            H, reused = hess(x), 0
    return x, damping, progressed


def refit_scales(loss, Y, coef, V, o_j, s_j, t, pen, b, fit_intercept):
    """Best output scales of the neurons along their directions, and the intercept.

    Scaling neuron ``j`` (its ``y_j``, hence ``t_j``) by ``sqrt(w_j)`` scales
    its centred output ``V[:, j]`` and its penalty ``pen t_j^2`` by ``w_j``,
    so with the directions fixed the polish objective is::

        f(w, b) = loss(b + sum_j w_j s_j V[:, j] e_{o_j}) + pen sum_j w_j t_j^2,

    convex in ``(w, b)`` (quadratic for the squared loss: one step). Damped
    Newton from ``w = 1`` with the exact Hessian (``Loss.gauss_newton``: the
    predictions are linear in ``(w, b)``), each step cut so that every scale
    keeps at least ``REFIT_FLOOR`` of its value and taken only if ``f``
    decreases. From a path's previous network the neurons' scales are what
    changes most with alpha (the directions barely move), and a neuron just
    priced in starts at its best size next to the others.

    Parameters
    ----------
    loss : Loss
    Y : ndarray of shape (n, k)
    coef : ndarray
        ``loss.sample_coef(Y)``.
    V : ndarray of shape (n, m)
        Centred outputs of the neurons (before their signs).
    o_j, s_j : ndarrays of shape (m,)
        Output and sign of each neuron.
    t : ndarray of shape (m,)
        The neurons' ``t_j`` (penalty ``pen t_j^2``).
    pen : float
    b : ndarray of shape (k,)
        Intercept (kept when ``fit_intercept`` is False).
    fit_intercept : bool

    Returns
    -------
    w : ndarray of shape (m,)
        The scales (``>= REFIT_FLOOR ** REFIT_STEPS``).
    b : ndarray of shape (k,)
    """
    n, k = Y.shape
    m = V.shape[1]
    coef = np.broadcast_to(coef, Y.shape)
    S = np.zeros((m, k))
    S[np.arange(m), o_j] = s_j
    n_par = m + (k if fit_intercept else 0)
    Jf = np.zeros((n, k, n_par))
    for o in range(k):
        Jf[:, o, :m] = V * S[:, o]
        if fit_intercept:
            Jf[:, o, m + o] = 1.0
    lin = pen * t * t
    b = np.array(b, dtype=float)

    def value(w, b):
        Yhat = V @ (w[:, None] * S) + b
        return loss.value(Yhat, Y) + float(lin @ w), Yhat

    w = np.ones(m)
    f, Yhat = value(w, b)
    for _ in range(REFIT_STEPS):
        theta = loss.gradient(Yhat, Y)
        g = np.einsum("nkp,nk->p", Jf, theta)
        g[:m] += lin
        H = loss.gauss_newton(Jf, Yhat, Y, coef)
        H[np.diag_indices(n_par)] += 1e-12 * max(float(np.trace(H)), 1e-300) / n_par
        try:
            step = -np.linalg.solve(H, g)
        except np.linalg.LinAlgError:
            break
        predicted = -(g @ step + 0.5 * step @ (H @ step))
        if not predicted > 1e-15 * max(abs(f), 1e-300):
            break
        shrink = step[:m] < 0
        room = np.min((REFIT_FLOOR - 1) * w[shrink] / step[:m][shrink], initial=np.inf)
        size, accepted = min(1.0, float(room)), False
        for _ in range(10):
            w_new = w + size * step[:m]
            b_new = b + size * step[m:] if fit_intercept else b
            f_new, Y_new = value(w_new, b_new)
            if f_new < f:
                accepted = True
                break
            size /= 2
        if not accepted:
            break
        w, b, f, Yhat = w_new, b_new, f_new, Y_new
        if loss.name == "squared" and size == 1.0:
            break  # exact for a quadratic
    return w, b
