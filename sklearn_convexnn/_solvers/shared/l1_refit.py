"""An l1-penalized generalized linear fit by accelerated proximal gradient.

Solves, over a fixed design ``H`` (n, m) and encoded targets ``Y`` (n, k)::

    min_{W, b}  loss(H W + 1 b^T) + alpha * sum_{j, o} |W[j, o]|

for any smooth loss of ``losses.py`` (squared, huber, logistic,
multinomial), with an unpenalized intercept ``b``. Used to refit the output
layer of a network over fixed (e.g. quantized) hidden neurons.

Method: L-BFGS-B on the split ``W = P - N`` (P, N >= 0), falling back to
FISTA with backtracking and function-value restarts, on centred,
unit-scaled columns (the intercept decouples from the centred columns for
the squared loss and is well conditioned for the others), inside a
working-set loop: the subproblem is solved on the columns that carry weight
or violate the optimality condition most, then the full optimality
condition is checked and violators join. It stops on a certified duality
gap: the loss gradient at the iterate, centred, pulled into the conjugate's
domain and scaled until ``|H^T Theta| <= alpha`` entrywise, is a dual point,
and ``primal - (-loss*(Theta))`` bounds the distance to the optimum.
"""

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np

from .dual import feasible_dual, rescaled_bound
from .intercept import constant_fit
from .losses import smooth_loss_names

__all__ = ["L1Fit", "l1_refit", "single_blas_thread"]

_CONTROLLER = []


@contextmanager
def single_blas_thread():
    """Context manager: BLAS on one thread (tiny dense algebra; threads only contend).

    The BLAS libraries are found once (``ThreadpoolController`` scans the
    loaded libraries, about a millisecond); each use then only reads and sets
    their thread counts (threadpoolctl's own ``limit`` takes 20 us, reading
    every library's full description twice: a third of a percent of a
    5 ms exact fit). The counts are restored on exit.
    """
    if not _CONTROLLER:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER.append(ThreadpoolController().select(user_api="blas").lib_controllers)
    changed = []
    try:
        for lib in _CONTROLLER[0]:
            threads = lib.get_num_threads()
            if threads is not None and threads != 1:
                lib.set_num_threads(1)
                changed.append((lib, threads))
        yield
    finally:
        for lib, threads in changed:
            lib.set_num_threads(threads)


#: Cold starts on designs of at most this many columns are solved whole: the
#: working-set loop would grow from a handful of columns through several
#: restarts (each solving its subset to a tight gap), which costs more than
#: the wider iterations. Warm starts keep the working set (support and top
#: violators), whose iterations are cheaper.
_FULL_SET = 400
#: L-BFGS-B iterations between two duality-gap checks.
_CHECK_EVERY = 10


@dataclass
class L1Fit:
    """Solution of :func:`l1_refit` in the caller's units.

    ``value`` is the objective at (``weights``, ``intercept``), ``lower_bound``
    a certified lower bound on the optimum (``gap = value - lower_bound``),
    ``theta`` the dual point that certified it.
    """

    weights: np.ndarray
    intercept: np.ndarray
    value: float
    lower_bound: float
    theta: np.ndarray
    n_iter: int
    status: str

    @property
    def gap(self):
        return self.value - self.lower_bound


def l1_refit(H, Y, loss, alpha, *, fit_intercept=True, warm_start=None, tol=1e-8,
             max_iter=20000):
    """Minimize ``loss(H W + b) + alpha ||W||_1`` to a certified relative gap.

    Parameters
    ----------
    H : ndarray of shape (n, m)
        Design (e.g. the activations of candidate neurons).
    Y : ndarray of shape (n, k)
        Encoded targets.
    loss : Loss
        A smooth loss (``loss.smooth``; its ``curvature`` starts the line search).
    alpha : float
        l1 weight, > 0.
    fit_intercept : bool, default=True
    warm_start : tuple (W, b) or None
        Starting point, W of shape (m, k), b of shape (k,).
    tol : float, default=1e-8
        Target relative duality gap ``(value - lower_bound) / |value|``.
    max_iter : int, default=20000
        Total proximal-gradient iterations over all working sets.

    Returns
    -------
    L1Fit
        ``status`` is "optimal" when the gap target was met, else "max_iter".

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn._solvers.shared.losses import get_loss
    >>> rng = np.random.default_rng(0)
    >>> H = rng.normal(size=(50, 5))
    >>> Y = (H[:, :1] * 2.0 + 0.1 * rng.normal(size=(50, 1)))
    >>> fit = l1_refit(H, Y, get_loss("squared"), 0.1)
    >>> fit.status, np.flatnonzero(fit.weights[:, 0]).tolist()
    ('optimal', [0])
    """
    if not loss.smooth:
        raise ValueError(
            f"l1_refit needs a smooth loss (one of {smooth_loss_names()}); got "
            f"{loss.name!r}."
        )
    H = np.asarray(H, dtype=float)
    Y = np.asarray(Y, dtype=float)
    m = H.shape[1]
    k = Y.shape[1]
    c = loss.sample_coef(Y)[:, 0]
    # Centred, unit-scale columns: W = Wt / scale, b = bt - mean @ W.
    mean = c @ H if fit_intercept else np.zeros(m)
    Hc = H - mean
    scale = np.sqrt(c @ Hc**2)
    scale[~(scale > 1e-300)] = np.inf  # constant columns: weight forced to zero
    Hs = Hc / scale
    Hs[:, ~np.isfinite(scale)] = 0.0
    # alpha |W| = (alpha / scale) |Wt|; constant columns get an infinite weight (zero).
    lam = np.where(np.isfinite(scale), alpha / np.where(np.isfinite(scale), scale, 1.0), np.inf)
    Wt = np.zeros((m, k))
    bt = np.zeros(k)
    if warm_start is not None:
        W0, b0 = warm_start
        Wt = np.asarray(W0, dtype=float).reshape(m, k) * np.where(np.isfinite(scale), scale,
                                                                   0.0)[:, None]
        bt = np.asarray(b0, dtype=float).ravel() + (mean @ W0 if fit_intercept else 0.0)
    if fit_intercept and warm_start is None:
        bt = constant_fit(Y, loss)
    if not fit_intercept:
        bt = np.zeros(k)

    problem = _Problem(Hs, Y, loss, lam, fit_intercept, loss.curvature)
    ws = problem.initial_set(Wt, bt)
    used, status = 0, "max_iter"
    L = None
    last_value = np.inf
    while True:
        sub = ws
        # A strict subset is solved tighter than tol: its gap omits the outside.
        sub_tol = tol if ws.size == m else tol / 3
        Wsub, bt, it, L = problem.split_lbfgs(sub, Wt[sub], bt, sub_tol, max_iter - used, L)
        if it == 0:
            Wsub, bt, it, L = problem.fista(sub, Wt[sub], bt, sub_tol, max_iter - used, L)
        used += it
        Wt[:] = 0.0
        Wt[sub] = Wsub
        value, lower, theta, viol, bt = problem.certify(Wt, bt)
        if value - lower <= tol * max(abs(value), 1e-300):
            status = "optimal"
            break
        if used >= max_iter:
            break
        outside = np.setdiff1d(np.arange(m), ws)
        bad = outside[viol[outside] > 0]
        if bad.size:
            grow = max(10, ws.size)
            bad = bad[np.argsort(-viol[bad])[:grow]]
            ws = np.union1d(ws, bad)
        elif it <= 1 or not value < last_value - 1e-12 * abs(value):
            status = "precision"  # no progress left at this floating-point accuracy
            break
        last_value = value
    W = np.where(np.isfinite(scale), 1.0 / scale, 0.0)[:, None] * Wt
    b = bt - (mean @ W if fit_intercept else 0.0)
    return L1Fit(W, b, value, lower, theta, used, status)


class _Problem:
    """The scaled problem: design ``Hs``, per-column weights ``lam``."""

    def __init__(self, Hs, Y, loss, lam, fit_intercept, curvature):
        self.H, self.Y, self.loss, self.lam = Hs, Y, loss, lam
        self.fit_intercept = fit_intercept
        self.curvature = curvature

    def initial_set(self, Wt, bt):
        m = self.H.shape[1]
        support = np.flatnonzero(np.abs(Wt).max(axis=1) > 0)
        if m <= 60 or (m <= _FULL_SET and not support.size):
            return np.arange(m)
        viol = self._violation(self.H @ Wt + bt)
        top = np.argsort(-viol)[: max(20, 2 * support.size)]
        top = top[viol[top] > 0]
        ws = np.union1d(support, top)
        return ws if ws.size else np.argsort(-viol)[:20]

    def _violation(self, Yhat):
        G = self.loss.gradient(Yhat, self.Y)
        if self.fit_intercept:
            G = G - self.loss.sample_coef(self.Y) * G.sum(axis=0)
        return np.abs(self.H.T @ G).max(axis=1) - self.lam

    def objective(self, Yhat, W, lam):
        return self.loss.value(Yhat, self.Y) + float(np.sum(lam[:, None] * np.abs(W)))

    def certify(self, Wt, bt):
        """(primal value, lower bound, dual point, per-column violation)."""
        Yhat = self.H @ Wt + bt
        value = self.objective(Yhat, Wt, np.where(np.isfinite(self.lam), self.lam, 0.0))
        bt, Yhat, value = self._polish_intercept(Wt, bt, Yhat, value, None)
        lower, theta, corr = self._dual_point(self.H, self.lam, Yhat)
        return value, lower, theta, corr - self.lam, bt

    def _dual_point(self, H, lam, Yhat):
        """``(bound, theta, corr)`` from the gradient at ``Yhat``; ``corr = max_k |H^T grad|``.

        The gradient is centred in proportion to the sample weights and zero
        where a weight is zero (the weighted conjugate is finite only there),
        then scaled into the l1 ball ``|H_j^T theta| <= lam_j`` (dual norm
        ``max_j corr_j / lam_j`` against 1).
        """
        # The mixing weight to 1e-6 relative: ~20 domain checks per gap check
        # instead of 60, for a bound lower by a negligible amount against the
        # gaps asked (1e-2 to 1e-8 relative).
        theta = feasible_dual(self.loss.gradient(Yhat, self.Y), self.Y, self.loss,
                              self.fit_intercept, rtol=1e-6)
        corr = np.abs(H.T @ theta).max(axis=1)
        lam = np.ravel(lam)
        finite = np.isfinite(lam)
        ratio = float(np.max(corr[finite] / lam[finite], initial=0.0))
        bound, theta = rescaled_bound(theta, ratio, 1.0, self.Y, self.loss)
        return bound, theta, corr

    def split_lbfgs(self, cols, W, b, tol, budget, L):
        """L-BFGS-B on the split ``W = P - N``, ``P, N >= 0`` (smooth, with bounds).

        The l1 term becomes linear, ``lam * (P + N)``; the quasi-Newton model
        picks up the loss's local curvature, which a first-order step cannot
        (for the logistic loss on well-separated classes it is orders of
        magnitude below its global bound). Zeros are exact (active bounds).
        Returns ``it = 0`` when L-BFGS-B makes no progress (FISTA takes over).
        """
        from scipy.optimize import minimize
        H = self.H[:, cols]
        m, k = W.shape
        lam = self.lam[cols]
        fixed = ~np.isfinite(lam)
        lam_f = np.where(fixed, 0.0, lam)
        loss, Y = self.loss, self.Y
        nb = k if self.fit_intercept else 0
        bounds = [(None, None)] * nb + [(0.0, 0.0) if f else (0.0, None)
                                        for f in np.repeat(fixed, k)] * 2

        def unpack(x):
            bb = x[:nb] if self.fit_intercept else np.zeros(k)
            P = x[nb:nb + m * k].reshape(m, k)
            N = x[nb + m * k:].reshape(m, k)
            return bb, P, N

        def fun(x):
            bb, P, N = unpack(x)
            Yhat = H @ (P - N) + bb
            G = loss.gradient(Yhat, Y)
            HG = H.T @ G
            f = loss.value(Yhat, Y) + float(np.sum(lam_f[:, None] * (P + N)))
            parts = [(HG + lam_f[:, None]).ravel(), (-HG + lam_f[:, None]).ravel()]
            if self.fit_intercept:
                parts.insert(0, G.sum(axis=0))
            return f, np.concatenate(parts)

        x = np.concatenate(([b] if self.fit_intercept else [])
                           + [np.maximum(W, 0).ravel(), np.maximum(-W, 0).ravel()])
        state = {"it": 0, "done": None}

        def check(intermediate_result):
            # The gap is checked every few iterations inside one L-BFGS-B run
            # (restarting it would drop its curvature memory): a loose tol is
            # often met within tens of iterations.
            state["it"] += 1
            if state["it"] % _CHECK_EVERY:
                return
            bb, P, N = unpack(intermediate_result.x)
            Wn = P - N
            Yhat = H @ Wn + bb
            F = loss.value(Yhat, Y) + float(np.sum(lam_f[:, None] * np.abs(Wn)))
            gap, b_pol = self._sub_gap(H, lam[:, None], Wn, bb, Yhat, F)
            if gap <= tol * max(abs(F), 1e-300):
                state["done"] = (Wn, b_pol)
                raise StopIteration

        used = 0
        F_old = np.inf
        while used < budget:
            state["it"] = 0
            with single_blas_thread():
                res = minimize(fun, x, jac=True, method="L-BFGS-B", bounds=bounds,
                               callback=check,
                               options={"maxiter": budget - used, "maxcor": 20,
                                        "ftol": 1e-15, "gtol": 1e-14})
            used += max(int(res.nit), state["it"], 1)
            if state["done"] is not None:
                Wn, b_pol = state["done"]
                return Wn, b_pol, used, L
            x = res.x
            bb, P, N = unpack(x)
            Wn = P - N
            Yhat = H @ Wn + bb
            F = loss.value(Yhat, Y) + float(np.sum(lam_f[:, None] * np.abs(Wn)))
            gap, b_pol = self._sub_gap(H, lam[:, None], Wn, bb, Yhat, F)
            if gap <= tol * max(abs(F), 1e-300):
                return Wn, b_pol, used, L
            if not F < F_old - 1e-10 * abs(F):
                # No progress at this accuracy: hand over (FISTA if nothing moved).
                return (Wn, bb, used, L) if np.isfinite(F_old) else (W, b, 0, L)
            F_old = F
            x = np.concatenate(([b_pol] if self.fit_intercept else [])
                               + [np.maximum(Wn, 0).ravel(), np.maximum(-Wn, 0).ravel()])
        return Wn, bb, used, L

    def fista(self, cols, W, b, tol, budget, L):
        H = self.H[:, cols]
        lam = self.lam[cols][:, None]
        lam_f = np.where(np.isfinite(lam), lam, 0.0)
        loss, Y = self.loss, self.Y
        if L is None:
            c = loss.sample_coef(Y)[:, 0]
            sn = np.linalg.norm(H * np.sqrt(c)[:, None], 2) if H.size else 0.0
            L = self.curvature * (sn**2 + (1.0 if self.fit_intercept else 0.0))
            L = max(L, 1e-12)
        L = L / 4  # backtracking restores it where needed

        def smooth(W, b):
            Yhat = H @ W + b
            return loss.value(Yhat, Y), Yhat

        def grad(Yhat):
            G = loss.gradient(Yhat, Y)
            return H.T @ G, (G.sum(axis=0) if self.fit_intercept else np.zeros_like(b))

        x_W, x_b = W.copy(), b.copy()
        fx, Yx = smooth(x_W, x_b)
        Fx = fx + float(np.sum(lam_f * np.abs(x_W)))
        y_W, y_b, fy, Yy = x_W, x_b, fx, Yx
        t = 1.0
        it = 0
        while it < budget:
            it += 1
            gW, gb = grad(Yy)
            while True:
                z_W = _soft(y_W - gW / L, lam / L)
                z_b = y_b - gb / L
                fz, Yz = smooth(z_W, z_b)
                dW, db = z_W - y_W, z_b - y_b
                quad = fy + np.sum(gW * dW) + np.sum(gb * db) \
                    + 0.5 * L * (np.sum(dW**2) + np.sum(db**2))
                if fz <= quad + 1e-12 * abs(fy) or L > 1e30:
                    break
                L *= 2.0
            Fz = fz + float(np.sum(lam_f * np.abs(z_W)))
            if Fz > Fx:
                if y_W is x_W:
                    break  # no descent even from x: converged to rounding
                # Function-value restart: drop the momentum, step from x again.
                t = 1.0
                y_W, y_b, fy, Yy = x_W, x_b, fx, Yx
                continue
            t_next = 0.5 * (1 + np.sqrt(1 + 4 * t * t))
            beta = (t - 1) / t_next
            y_W = z_W + beta * (z_W - x_W)
            y_b = z_b + beta * (z_b - x_b)
            x_W, x_b, fx, Yx, Fx_old, Fx = z_W, z_b, fz, Yz, Fx, Fz
            t = t_next
            fy, Yy = smooth(y_W, y_b) if beta else (fz, Yz)
            if it % 25 == 0 or abs(Fx_old - Fx) <= 1e-15 * abs(Fx):
                gap, b_pol = self._sub_gap(H, lam, x_W, x_b, Yx, Fx)
                if gap <= tol * max(abs(Fx), 1e-300):
                    x_b = b_pol
                    break
            L *= 0.9  # let the step grow back
        return x_W, x_b, it, L

    def _sub_gap(self, H, lam, W, b, Yhat, F):
        """Duality gap of the subproblem at (W, b), after polishing b; returns (gap, b)."""
        b, Yhat, F = self._polish_intercept(W, b, Yhat, F, lam)
        bound, _, _ = self._dual_point(H, lam, Yhat)
        return F - bound, b

    def _polish_intercept(self, W, b, Yhat, F, lam):
        """A few Newton steps on the intercept alone (kept if they lower F).

        Centring the dual point for the free intercept costs little when the
        intercept is optimal for the current weights: then the loss gradient
        already sums to zero and stays inside the conjugate's domain.
        """
        if not self.fit_intercept:
            return b, Yhat, F
        c = self.loss.sample_coef(self.Y)[:, 0]
        pen = F - self.loss.value(Yhat, self.Y)
        b_new, Y_new = b.copy(), Yhat.copy()
        for _ in range(5):
            G = self.loss.gradient(Y_new, self.Y).sum(axis=0)
            curv = np.maximum(_curvature(self.loss, Y_new, self.Y, c).sum(axis=0), 1e-300)
            step = G / curv
            b_new = b_new - step
            Y_new = Y_new - step
            if np.all(np.abs(step) <= 1e-14 * (1 + np.abs(b_new))):
                break
        F_new = self.loss.value(Y_new, self.Y) + pen
        if F_new <= F:
            return b_new, Y_new, F_new
        return b, Yhat, F


def _curvature(loss, Yhat, Y, c):
    """Per-sample, per-output second derivative of the loss (diagonal model)."""
    from scipy.special import expit, softmax

    if loss.name == "squared":
        return np.broadcast_to(c[:, None], Yhat.shape)
    if loss.name == "huber":
        return c[:, None] * np.where(np.abs(Yhat - Y) <= loss.delta, 1.0, 1e-6)
    if loss.name == "logistic":
        p = expit(Y * Yhat)
        return c[:, None] * p * (1 - p)
    P = softmax(Yhat, axis=1)
    return c[:, None] * P * (1 - P)


def _soft(V, thresh):
    return np.sign(V) * np.maximum(np.abs(V) - thresh, 0.0)
