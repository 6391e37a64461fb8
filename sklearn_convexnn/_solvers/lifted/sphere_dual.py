"""Certified lower bound of the lifted sphere problem from a gradient (proxgrad).

A dual point ``theta`` of the loss gives the matrices ``G = sum_i theta_i
Phi_i``; the exact check ``max_{||u|| = 1} |[u; 1]^T G [u; 1]| <= alpha``
(one per output, block and sign) is bounded from above by a batched
trust-region dual (one ``eigh`` per matrix), and scaling ``theta`` into the
check's feasible set gives a valid lower bound ``-loss*(theta)``
(``_solvers/lifted/proxgrad.py``, ``certificate.py``).
"""

import numpy as np

from ..shared.dual import mix_weight, rescaled_bound

__all__ = ["DualBound", "max_abs_sphere", "sphere_ranges"]

#: Newton steps at most on the trust-region dual (it converges monotonically,
#: quadratically near the root; most matrices stop within ten).
NEWTON_STEPS = 50


class DualBound:
    """Certified lower bound from the gradient matrices of a centred dual point."""

    def __init__(self, op, Y, loss, alpha, T_inv, fit_intercept):
        self.op, self.Y, self.loss, self.alpha = op, Y, loss, alpha
        self.T_inv = T_inv
        self.fit_intercept = fit_intercept
        self._inner = None
        # The operator centres with the plain mean, which leaves non-zero dual
        # values on rows of zero weight (outside the conjugate's domain).
        # Weighted centring instead: theta - c sum(theta), whose gradient
        # matrices are G - sum(theta) backward(c - 1/n).
        self._shift = None
        if fit_intercept and loss.weights is not None:
            self._coef = loss.sample_coef(Y)
            self._shift = op.backward(self._coef - 1.0 / Y.shape[0])

    def bound(self, G, theta):
        """``(bound, theta)``: ``G`` = sum_i theta_c,i Phi_i for the centred ``theta``."""
        Y, loss = self.Y, self.loss
        if self._shift is not None:
            total = theta.sum(axis=0)
            th = theta - self._coef * total
            G = G - total[:, None, None, None] * self._shift
        elif self.fit_intercept:
            th = theta - theta.mean(axis=0, keepdims=True)
        else:
            th = theta
        if not loss.in_domain(th, Y):
            if self._inner is None:
                inner = loss.interior_dual(Y)
                self._inner = (inner, self.op.backward(inner))
            inner, G_inner = self._inner
            # Bisection to 1e-3 relative: the bound is taken often, and
            # stopping at 1.001 w* loses a negligible part of it.
            w = mix_weight(th, inner, Y, loss, rtol=1e-3, atol=1e-15)
            th = (1 - w) * th + w * inner
            G = (1 - w) * G + w * G_inner
        # The check lives on the caller's sphere: G_Z = T^-T G_W T^-1.
        viol = max_abs_sphere(self.T_inv.transpose(0, 2, 1) @ G @ self.T_inv)
        return rescaled_bound(th, viol, self.alpha, Y, loss)


def max_abs_sphere(G):
    """Upper bound on ``max_{o,r} max_{||u||=1} |[u;1]^T G_or [u;1]|``, batched."""
    up_plus, up_minus = sphere_ranges(G)
    return float(max(np.max(up_plus), np.max(up_minus), 0.0))


def sphere_ranges(G):
    """Per matrix: upper bounds on ``max`` and ``max -`` of ``[u;1]^T G [u;1]`` on the sphere.

    ``[u;1]^T G [u;1] = u^T A u + g^T u + c0``. For ``t > lambda_max(A)``,
    ``max_{||u||=1} u^T A u + g^T u <= t + g^T (t I - A)^{-1} g / 4``
    (Lagrangian weak duality); ``t`` is tuned by bisection on the
    derivative, and every ``t`` tried is a valid bound.
    """
    q = G.shape[-1]
    p = q - 1
    G = G.reshape(-1, q, q)
    A = (G[:, :p, :p] + G[:, :p, :p].transpose(0, 2, 1)) / 2
    g = G[:, :p, p] + G[:, p, :p]
    c0 = G[:, p, p]
    lam, V = np.linalg.eigh(A)
    h = np.einsum("bjk,bj->bk", V, g)
    up_plus = _tr_dual_upper(lam, h) + c0
    up_minus = _tr_dual_upper(-lam[:, ::-1], -h[:, ::-1]) - c0
    return up_plus, up_minus


def _tr_dual_upper(lam, h):
    """``min_{t > lam_max} t + sum h_k^2 / (4 (t - lam_k))`` approximately (an upper bound).

    With ``delta = t - lam_max > 0`` the function is convex and its
    derivative vanishes where ``S(delta) = sum h_k^2 / (4 (gap_k + delta)^2)
    = 1``. ``S^{-1/2}`` is concave and increasing in ``delta`` (the secular
    function of the trust-region problem, More & Sorensen), so Newton's
    method on ``S^{-1/2} = 1`` started left of the root stays left of it and
    increases monotonically to it: a few steps instead of a bisection. Any
    ``delta > 0`` gives a valid bound; the iterate only has to be good.
    """
    top = lam[:, -1:]
    gap = top - lam                     # >= 0
    h2 = h * h / 4.0
    scale = np.maximum(np.abs(lam).max(axis=1), np.sqrt(h2.sum(axis=1))) + 1e-300
    delta = 1e-17 * scale
    # The root is at most sqrt(sum h2): S <= sum h2 / delta^2 there.
    hi = np.sqrt(h2.sum(axis=1)) + delta
    active = np.ones(lam.shape[0], dtype=bool)
    for _ in range(NEWTON_STEPS):
        d = gap[active] + delta[active, None]
        # (sqrt(h2) / d)^2, not h2 / d^2: with every entry zero (a zero dual,
        # e.g. labels of one class) delta is subnormal, d^2 underflows and
        # h2 / d^2 would be 0/0. sqrt(h2) / d is finite (delta >= 1e-17 sqrt(h2))
        # and a zero h2 gives a zero ratio.
        r = np.divide(np.sqrt(h2[active]), d, out=np.zeros_like(d), where=h2[active] > 0) ** 2
        S = r.sum(axis=1)
        T = (r / d).sum(axis=1)
        # Newton on S^{-1/2} - 1: step S (sqrt(S) - 1) / T (>= 0 left of the root).
        step = np.where(S > 1.0, S * (np.sqrt(S) - 1.0) / np.maximum(T, 1e-300), 0.0)
        new = np.minimum(delta[active] + step, hi[active])
        done = step <= 1e-12 * (delta[active] + scale[active] * 1e-12)
        delta[active] = new
        idx = np.flatnonzero(active)
        active[idx[done]] = False
        if not active.any():
            break
    return top[:, 0] + delta + np.sum(h2 / (gap + delta[:, None]), axis=1)
