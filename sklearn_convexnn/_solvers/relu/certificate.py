"""Dual certificates for the gated and exact convex ReLU programs.

Gated problem (groups: one column ``w`` per gate and output)::

    P = min_{W, b} L(sum_j D_j X w_j + 1 b) + alpha sum_j ||w_j||_2.

Its Fenchel dual is ``max -L*(Theta)`` over ``Theta`` with
``||(D_j X)^T Theta||_2 <= alpha`` for every group and, when the intercept
``b`` is fitted (unpenalized), columns of ``Theta`` summing to zero. Any
such ``Theta`` gives ``-L*(Theta) <= P``.

Exact problem: the groups ``u_j`` (and ``v_j``, entering with a minus sign)
are restricted to the cones ``K_j = {u : (2 D_j - I) X u >= 0}``. With
multipliers ``lambda_j >= 0`` for the cone constraints the dual constraint
becomes ``||(D_j X)^T Theta - ((2 D_j - I) X)^T lambda_j||_2 <= alpha`` (and
with ``-Theta`` and ``mu_j`` for ``v_j``): the Lagrangian term
``-lambda_j^T (2 D_j - I) X u_j`` is nonpositive on ``K_j``, so the same
bound ``-L*(Theta)`` holds. The augmented Lagrangian solver hands these
``lambda_j`` (its updated multipliers) over with the gradient.

The dual point comes from the loss gradient ``theta`` at a solver iterate,
made feasible in three steps, none of which needs a data pass:

1. centre (intercept only): ``theta - pi * sum(theta)``, whose products with
   the gated design are the gradient's minus a precomputed correction;
2. mix towards the interior point (the gradient at the best constant
   predictor) just enough to re-enter the domain of ``L*``;
3. divide by ``max(1, max_j ||.||_2 / alpha)``; scaling keeps the column
   sums at zero and, the domain being convex and containing 0 or the
   interior point, keeps the point in the domain.
"""

import numpy as np

from ..shared.dual import rescaled_bound

__all__ = ["DualCertifier"]


class DualCertifier:
    """Turns ``(theta, gradient columns)`` into a certified lower bound.

    Parameters
    ----------
    loss : WeightedLoss
    design : MaskedDesign
    alpha : float
    fit_intercept : bool
    signs : ndarray of shape (n_columns,)
        +1 for columns entering the prediction with a plus sign, -1 for the
        exact problem's ``v`` columns. Column ``i`` uses design column
        ``i % design.q``.
    """

    def __init__(self, loss, design, alpha, fit_intercept, signs):
        self.loss = loss
        self.alpha = float(alpha)
        self.fit_intercept = fit_intercept
        self.signs = np.asarray(signs, dtype=float)
        base = np.arange(self.signs.size) % design.q
        self.output_of = design.output_of[base]
        self.best = -np.inf
        if fit_intercept:
            self.interior = loss.interior_dual()
            # (D_j X)^T pi, one pass once; (D_j X)^T interior on the first
            # mix (never for the squared loss, whose domain is everything).
            pi_cols = design.backward(np.repeat(loss.pi, design.k, axis=1))
            self.pi_cols = pi_cols[:, base] * self.signs
            self._interior_cols, self._design, self._base = None, design, base

    @property
    def interior_cols(self):
        """``sign * (D_j X)^T interior`` per column (one pass, on first use)."""
        if self._interior_cols is None:
            cols = self._design.backward(self.interior)
            self._interior_cols = cols[:, self._base] * self.signs
        return self._interior_cols

    def bound(self, theta, grad_cols):
        """Lower bound from the loss gradient ``theta`` (n, k) and ``grad_cols``.

        ``grad_cols`` are the gradient columns of the smooth part:
        ``sign * (D_j X)^T theta[:, c]`` minus the cone-multiplier term.
        """
        if self.fit_intercept:
            s = theta.sum(axis=0)
            theta = theta - self.loss.pi * s
            cols = grad_cols - self.pi_cols * s[self.output_of]
            t = self.loss.mix_into_domain(theta)
            if t > 0:
                theta = (1 - t) * theta + t * self.interior
                cols = (1 - t) * cols + t * self.interior_cols
        else:
            cols = grad_cols
        norm = float(np.sqrt(np.max(np.sum(cols**2, axis=0), initial=0.0)))
        value, _ = rescaled_bound(theta, norm, self.alpha, self.loss.Y, self.loss.base)
        self.best = max(self.best, value)
        return value
