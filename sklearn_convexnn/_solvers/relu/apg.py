"""Accelerated proximal gradient for ``f(W, b) + alpha sum_cols ||W[:, i]||_2``.

FISTA with backtracking line search (the step grows a little after each
accepted iteration and halves on a failed sufficient-decrease test) and
adaptive restart (momentum reset when the step points against the last
move, O'Donoghue & Candes 2015). The smooth part is a function of *linear
images* of the iterate (predictions, and for the exact problem the products
``X u_j``), so the extrapolated point's images are combined from stored ones:
one forward and one backward data pass per iteration, plus one per failed
line-search trial. The intercept ``b`` is unpenalized.
"""

import numpy as np

__all__ = ["APG", "group_soft_threshold"]


def group_soft_threshold(V, threshold):
    """Prox of ``threshold * sum_i ||V[:, i]||_2``."""
    norms = np.sqrt(np.sum(V**2, axis=0))
    shrink = np.maximum(0.0, 1.0 - threshold / np.maximum(norms, 1e-300))
    return V * shrink


class APG:
    """State of an accelerated proximal gradient run on ``problem``.

    ``problem`` supplies ``forward(W) -> images`` (a tuple of arrays linear in
    W), ``value(images, b)``, ``gradient(images, b) -> (GW, gb)`` and
    ``after_gradient(images, b, GW)`` (the certificate hook); optionally
    ``forward_near(W, W_ref, images_ref)``, the images of ``W`` from those of
    the nearby ``W_ref`` (used for the trial points of the line search).
    """

    def __init__(self, problem, W, b, alpha, lipschitz, fit_intercept):
        self.problem = problem
        self.alpha = alpha
        self.fit_intercept = fit_intercept
        self.L = float(lipschitz)
        self.x, self.bx = W, b
        self.img = problem.forward(W)
        self.fx = problem.value(self.img, b)
        self.restart()
        self.n_backtracks = 0

    def restart(self):
        self.t = 1.0
        self.x_old, self.b_old, self.img_old = self.x, self.bx, self.img

    def penalty(self, W):
        return self.alpha * float(np.sum(np.sqrt(np.sum(W**2, axis=0))))

    def objective(self):
        return self.fx + self.penalty(self.x)

    def step(self):
        """One iteration; returns the gradient columns at the extrapolated point."""
        pb = self.problem
        t_next = 0.5 * (1 + np.sqrt(1 + 4 * self.t**2))
        beta = (self.t - 1) / t_next
        if beta > 0:
            y = self.x + beta * (self.x - self.x_old)
            by = self.bx + beta * (self.bx - self.b_old)
            img_y = tuple((1 + beta) * a - beta * o for a, o in zip(self.img, self.img_old))
        else:
            y, by, img_y = self.x, self.bx, self.img
        fy = pb.value(img_y, by)
        GW, gb = pb.gradient(img_y, by, y) if getattr(pb, "wants_point", False) \
            else pb.gradient(img_y, by)
        if not self.fit_intercept:
            gb = np.zeros_like(gb)
        pb.after_gradient(img_y, by, GW)
        near = hasattr(pb, "forward_near")
        while True:
            step = 1.0 / self.L
            xn = group_soft_threshold(y - step * GW, self.alpha * step)
            bn = by - step * gb
            img_n = pb.forward_near(xn, self.x, self.img) if near else pb.forward(xn)
            fn = pb.value(img_n, bn)
            dx, db = xn - y, bn - by
            quad = float(np.sum(GW * dx) + np.dot(gb, db)) \
                + 0.5 * self.L * float(np.sum(dx**2) + np.dot(db, db))
            if fn <= fy + quad + 1e-12 * abs(fy) or self.L > 1e300:
                break
            self.L *= 2.0
            self.n_backtracks += 1
        # Gradient mapping (largest column): stationarity measure of this step.
        self.gmap = self.L * float(np.sqrt(np.max(np.sum(dx**2, axis=0), initial=0.0)
                                           + np.dot(db, db)))
        # Adaptive restart: the new point moved against the momentum.
        if float(np.sum((y - xn) * (xn - self.x)) + np.dot(by - bn, bn - self.bx)) > 0:
            t_next = 1.0
        self.x_old, self.b_old, self.img_old = self.x, self.bx, self.img
        self.x, self.bx, self.img, self.fx = xn, bn, img_n, fn
        self.t = t_next
        self.L *= 0.9
        return GW
