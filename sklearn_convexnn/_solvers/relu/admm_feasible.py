"""The exact-ReLU ADMM's feasible point: cone repair, then a refit of the column scales.

Split from ``admm.py`` (the ADMM iteration and its factored linear system):
this is the primal-recovery concern, run every few iterations to give the
certified upper bound a true ReLU network.
"""

import numpy as np

from .exact import repair
from .gated import curvature

__all__ = ["feasible_objective"]

#: Accelerated projected-gradient steps refitting the repaired columns' scales.
REFIT_ITERS = 100


def feasible_objective(problem, loss, gates, gate_images, Zc, b, fit_intercept, alpha):
    """Repair ``Zc`` into its cones, rescale its columns; returns (objective, W, b, gradient).

    Scaling a column by ``t >= 0`` keeps it in its cone, so after the repair
    the scales (and the intercept) are refitted by projected accelerated
    gradient on the small problem over ``t``: the repair moved the columns
    off the ADMM's balance, the rescaling restores it.
    """
    IZ = problem.forward(Zc)[0]
    Wf, IWf = repair(problem, gates, gate_images, Zc, IZ)
    Wf, IWf = Wf.copy(), IWf.copy()  # the repair may hand back the ADMM's own Z
    norms = np.sqrt(np.sum(Wf**2, axis=0))
    J = np.flatnonzero(norms > 0)
    k = loss.Y.shape[1]
    b = np.asarray(b, dtype=float).reshape(k)
    H = np.where(problem.mask[:, J], IWf[:, J], 0.0) * problem.sign[J]  # (n, |J|)
    outs = problem.out_cols[J]
    t, b = _refit_scales(loss, H, outs, alpha * norms[J], b, fit_intercept)
    Wf[:, J] *= t
    IWf[:, J] *= t
    Zp = problem.predict(IWf, b)
    obj = loss.value(Zp) + alpha * float(np.sum(np.sqrt(np.sum(Wf**2, axis=0))))
    return obj, Wf, b, loss.gradient(Zp)


def _refit_scales(loss, H, outs, weights, b, fit_intercept, n_iter=REFIT_ITERS):
    """``min_{t >= 0, b} L(sum_j t_j H_j e_{out_j} + b) + weights . t`` from ``t = 1``."""
    k = loss.Y.shape[1]
    E = np.zeros((H.shape[1], k))
    E[np.arange(H.shape[1]), outs] = 1.0

    def value(t, b):
        return loss.value(H @ (t[:, None] * E) + b) + float(weights @ t)

    def grad(t, b):
        theta = loss.gradient(H @ (t[:, None] * E) + b)
        gt = np.sum((H.T @ theta) * E, axis=1) + weights
        gb = theta.sum(axis=0) if fit_intercept else np.zeros(k)
        return gt, gb

    sq = np.sqrt(loss.pi[:, 0])[:, None] * H
    # ||sq||_2^2 by power iterations (a 10% margin; the best point is kept anyway).
    v = np.ones(H.shape[1])
    top = 0.0
    for _ in range(20 if H.shape[1] else 0):
        v = sq.T @ (sq @ v)
        top = float(np.linalg.norm(v))
        v /= max(top, 1e-300)
    lip = curvature(loss) * (1.1 * top + 1.0)
    t = np.ones(H.shape[1])
    best_t, best_b, best_v = t, b, value(t, b)
    yt, yb, t_old, b_old, mom = t, b, t, b, 1.0
    for _ in range(n_iter):
        gt, gb = grad(yt, yb)
        t_new = np.maximum(0.0, yt - gt / lip)
        b_new = yb - gb / lip
        mom_new = 0.5 * (1 + np.sqrt(1 + 4 * mom**2))
        beta = (mom - 1) / mom_new
        t_old, b_old, t, b = t, b, t_new, b_new
        yt, yb, mom = t + beta * (t - t_old), b + beta * (b - b_old), mom_new
        v = value(t, b)
        if v < best_v:
            best_t, best_b, best_v = t, b, v
    return best_t, best_b
