"""The smooth objective of the factored binary relaxation, and its cut penalty.

``f(b, t, W)`` of ``binary_relaxation.py`` with its gradient, packed for
L-BFGS-B: ``Z = t V V^T`` per output and side with ``V = W / ||W||_row`` (the
unit diagonal holds by construction), the loss of the lifted outputs plus
``alpha sum t``; while the relaxation is tightened, the augmented-Lagrangian
penalty of the triangle cuts (``triangle.py``) joins it. Also the
Frank-Wolfe step along a ray of the cone (exact line search by bisection on
the convex slope) that the solver alternates with L-BFGS-B.
"""

import numpy as np

from .elliptope import normalize_rows
from .triangle import cut_matrix, cut_values

__all__ = ["FactoredObjective", "row_scaled"]


class FactoredObjective:
    """``f(b, t, W)`` and its gradient, packed for L-BFGS-B."""

    def __init__(self, block, Y, loss, act, alpha, fit_intercept, k, q, r):
        self.block, self.Y, self.loss, self.act = block, Y, loss, act
        self.alpha, self.fit_intercept = alpha, fit_intercept
        self.k, self.q, self.r = k, q, r
        nb = k if fit_intercept else 0
        self.nb = nb
        self.bounds = [(None, None)] * nb + [(0.0, None)] * (2 * k) + \
            [(None, None)] * (2 * k * q * r)
        self.signs = np.array([1.0, -1.0])
        self.cuts = None  # {(o, side): (idx, pat, lam)} while tightening
        self.rho = 0.0

    def pack(self, b, t, W):
        parts = [np.ravel(t), np.ravel(W)]
        if self.fit_intercept:
            parts.insert(0, np.ravel(b))
        return np.concatenate(parts)

    def unpack(self, x):
        k, q, r, nb = self.k, self.q, self.r, self.nb
        b = x[:nb] if self.fit_intercept else np.zeros(k)
        t = x[nb:nb + 2 * k].reshape(k, 2)
        W = x[nb + 2 * k:].reshape(k, 2, q, r)
        return b, t, W

    def _features(self, V):
        """Per side: ``h`` (k, 2, n) and the projections ``P V1`` (k, 2, N, r)."""
        a, b, c = self.act
        V1, vq = V[..., :-1, :], V[..., -1, :]
        PV = np.matmul(self.block.P, V1)  # (k, 2, N, r)
        rows = a * np.sum(PV**2, axis=-1) + b * np.einsum("...nr,...r->...n", PV, vq) + c
        if self.block.pool is not None:
            rows = np.asarray(self.block.pool @ rows.reshape(-1, rows.shape[-1]).T).T.reshape(
                self.k, 2, -1)
        return rows, PV

    def frank_wolfe(self, b, t, W, o, side, V_star, r):
        """Move ``Z = t C`` of one side to ``t C + tau C*`` with the best ``tau >= 0``.

        The objective is convex in ``tau`` (``Z`` moves on a ray of the
        cone); ``tau`` is found by bisection on its derivative. The mixed
        point ``(t C + tau C*) / (t + tau)`` is in the elliptope and is
        re-factored (top ``r`` eigen-directions, rows renormalized).
        """
        V = normalize_rows(W)
        h_star, _ = self._features(np.broadcast_to(V_star, V.shape).copy())
        h_star = h_star[o, side]
        sign = self.signs[side]
        base = self.outputs(b, t, V)

        cut_slope = self._cut_slope(t[o, side], V[o, side], V_star, o, side)

        def slope(tau):
            Yhat = base.copy()
            Yhat[:, o] += sign * tau * h_star
            return sign * float(self.loss.gradient(Yhat, self.Y)[:, o] @ h_star) + self.alpha \
                + cut_slope(tau)

        if slope(0.0) >= 0:
            return b, t, W
        hi = max(t[o, side], 1e-12)
        while slope(hi) < 0 and hi < 1e12:
            hi *= 2
        lo = 0.0
        for _ in range(50):
            mid = 0.5 * (lo + hi)
            if slope(mid) < 0:
                lo = mid
            else:
                hi = mid
        tau = lo
        if tau <= 0:
            return b, t, W
        C = (t[o, side] * V[o, side] @ V[o, side].T + tau * V_star @ V_star.T) \
            / (t[o, side] + tau)
        w, Q = np.linalg.eigh(0.5 * (C + C.T))
        F = Q[:, ::-1][:, :r] * np.sqrt(np.clip(w[::-1][:r], 0.0, None))
        if F.shape[1] < r:
            F = np.hstack([F, np.zeros((F.shape[0], r - F.shape[1]))])
        W = W.copy()
        t = t.copy()
        W[o, side] = normalize_rows(F)
        t[o, side] += tau
        return b, t, W

    def outputs(self, b, t, V):
        h, _ = self._features(V)
        return b[None, :] + np.einsum("os,s,osn->no", t, self.signs, h)

    def __call__(self, x):
        b_, t, W = self.unpack(x)
        norms = np.linalg.norm(W, axis=-1, keepdims=True)
        norms = np.maximum(norms, 1e-300)
        V = W / norms
        h, PV = self._features(V)
        Yhat = b_[None, :] + np.einsum("os,s,osn->no", t, self.signs, h)
        f = self.loss.value(Yhat, self.Y) + self.alpha * float(t.sum())
        theta = self.loss.gradient(Yhat, self.Y)  # (n, k)
        g_b = theta.sum(axis=0)
        g_t = np.einsum("no,s,osn->os", theta, self.signs, h) + self.alpha
        a, bb, _ = self.act
        rows = theta.T  # (k, n)
        if self.block.pool is not None:
            rows = np.asarray(self.block.pool.T @ theta).T
        P = self.block.P
        weighted = rows[:, None, :, None] * PV  # (k, 2, N, r)
        G1 = 2 * a * np.matmul(P.T, weighted)  # (k, 2, p, r)
        if bb:
            Pt = rows @ P  # (k, p)
            vq = V[..., -1, :]
            G1 = G1 + bb * Pt[:, None, :, None] * vq[..., None, :]
            Gq = bb * np.einsum("on,osnr->osr", rows, PV)
        else:
            Gq = np.zeros((*V.shape[:2], V.shape[-1]))
        G = np.concatenate([G1, Gq[..., None, :]], axis=-2)
        G *= (self.signs[None, :] * t)[..., None, None]
        if self.cuts is not None:
            f += self._augmented(t, V, g_t, G)
        # Through the row normalization: tangent part over the row norm.
        G = (G - np.sum(G * V, axis=-1, keepdims=True) * V) / norms
        return f, self.pack(g_b, g_t, G)


    def _cut_slope(self, t, V, V_star, o, side):
        """Slope in ``tau`` of the cuts' penalty along ``t C + tau C*`` (0 without cuts).

        The homogeneous cut is linear in the lifted matrix:
        ``c(tau) = t g(C) + tau g(C*)``.
        """
        if self.cuts is None or not len(self.cuts.get((o, side), ((),))[0]):
            return lambda tau: 0.0
        idx, pat, lam = self.cuts[(o, side)]
        c0 = t * cut_values(V @ V.T, idx, pat)
        g_star = cut_values(V_star @ V_star.T, idx, pat)
        rho = self.rho
        return lambda tau: -float(np.maximum(0.0, lam - rho * (c0 + tau * g_star)) @ g_star)

    def _augmented(self, t, V, g_t, G):
        """Add the cuts' augmented-Lagrangian terms' gradients in place; return their value.

        Cut ``c = t g``, ``g = 1 + <T, C>``: ``psi(c) = (w^2 - lam^2) / (2 rho)``
        with ``w = max(0, lam - rho c)``, ``dpsi/dc = -w``.
        """
        total = 0.0
        rho = self.rho
        for (o, side), (idx, pat, lam) in self.cuts.items():
            if not len(idx):
                continue
            Vs = V[o, side]
            g = cut_values(Vs @ Vs.T, idx, pat)
            w = np.maximum(0.0, lam - rho * t[o, side] * g)
            total += float(np.sum(w**2 - lam**2)) / (2 * rho)
            g_t[o, side] -= float(w @ g)
            G[o, side] -= 2.0 * t[o, side] * (cut_matrix(idx, pat, w, self.q) @ Vs)
        return total


def row_scaled(W, t):
    """Rows of norm ``sqrt(t)`` (floored): the same factors, better conditioned.

    The objective sees ``V = W / ||W||_row`` only; its gradient in ``W`` is
    ``t`` times a bounded term over ``||W||``, so rows of norm ``sqrt(t)``
    give the factor and the scale ``t`` comparable curvature for L-BFGS.
    """
    floor = 1e-3 * max(float(t.max(initial=0.0)), 1e-12)
    target = np.sqrt(np.maximum(t, floor))[..., None, None]
    return normalize_rows(W) * target


