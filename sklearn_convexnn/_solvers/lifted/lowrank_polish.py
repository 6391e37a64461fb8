"""Polishing the low-rank solver's neurons: L-BFGS along cheap rays.

``Path`` is the factorized objective restricted to rays ``x + t p`` of the
packed neuron vectors and intercept, built so that a line-search step costs
no pass over the data; ``lbfgs`` is a plain two-loop L-BFGS on it that stops
as soon as the gap estimated from the current neurons reaches its target,
so the exact certificate of ``lowrank.py`` runs only when it may pass.
"""

import numpy as np

from ..shared.dual import feasible_dual
from .certificate import rescaled_bound
from .lowrank_network import signed_scatter

__all__ = ["Path", "lbfgs"]

#: Accepted L-BFGS steps between exact recomputations of the pre-activations.
RESYNC = 100


class Path:
    """The objective along rays ``x + t p`` of the packed neurons and intercept.

    The pre-activations ``T_r = Y_r P_r^T`` (kept as (m, N) arrays) are linear
    in the neurons, so one thin product ``D_r P_r^T`` per ray gives them at
    every step length: a backtracking step costs O(N k) work and no pass over
    the data, and an iteration two thin products (the ray and the gradient).
    ``T`` and the signed sums ``q0 = W^T (T * T)`` follow the accepted steps
    and are recomputed from scratch every ``RESYNC`` of them, so rounding
    cannot pile up.

    With ``target > 0`` each gradient also estimates the certified gap from
    the current neurons alone: ``theta`` is the certificate's dual point and
    ``max_j |theta^T sigma(u_j)|`` over the neurons is at most the exact dual
    violation, so the estimate is the gap the certificate would give if no
    other unit neuron violated more. ``on_target`` tells the caller to run
    the exact certificate.
    """

    def __init__(self, problem, net, target, lower):
        self.pb, self.net = problem, net
        self.target, self.lower = target, lower
        self.on_target, self.estimate = False, np.inf
        self.k = problem.Y.shape[1]
        self.shapes = [Yr.shape for Yr in net.Y]
        self.W = [signed_scatter(net, r, self.k) for r in range(len(net.Y))]
        self.steps = 0

    def pack(self, net):
        return np.concatenate([Yr.ravel() for Yr in net.Y]
                              + ([net.intercept] if self.pb.fit_intercept else []))

    def _split(self, x):
        Ys, pos = [], 0
        for sh in self.shapes:
            Ys.append(x[pos:pos + sh[0] * sh[1]].reshape(sh))
            pos += sh[0] * sh[1]
        return Ys, (x[pos:pos + self.k] if self.pb.fit_intercept else None)

    def unpack(self, x):
        Ys, b0 = self._split(x)
        return self.net.with_Y(Ys, self.net.intercept if b0 is None else b0.copy())

    def _intercept(self, b0):
        return self.net.intercept if b0 is None else b0

    def reset(self, x):
        """Exact state at ``x``: returns ``(f, gradient)``."""
        pb = self.pb
        self.x = x
        Ys, _ = self._split(x)
        self.T = [Yr @ blk.P.T if Yr.shape[0] else None for Yr, blk in zip(Ys, pb.blocks)]
        self.q0 = [None if T is None else W.T @ (T * T) for T, W in zip(self.T, self.W)]
        self.ray(np.zeros_like(x), product=False)
        self.value(0.0)
        g = self._accept(0.0)
        return self.f, g

    def ray(self, p, product=True):
        """Prepare ``value(t)`` along ``x + t p``: one thin product per block."""
        self.p = p
        Ds, _ = self._split(p)
        self.Dt, self.q = [], []
        for r, (D, blk) in enumerate(zip(Ds, self.pb.blocks)):
            T = self.T[r]
            if T is None or not product:
                self.Dt.append(None)
                self.q.append(None)
                continue
            Dt = D @ blk.P.T
            W = self.W[r]
            TD = T * Dt
            q1 = W.T @ TD
            np.multiply(Dt, Dt, out=TD)
            self.Dt.append(Dt)
            self.q.append((q1, W.T @ TD))
        self.trial = None

    def value(self, t):
        """Objective at ``x + t p`` (after ``ray(p)``)."""
        pb = self.pb
        a, b, c = pb.act
        Ys, b0 = self._split(self.x + t * self.p)
        Yhat = np.tile(self._intercept(b0), (pb.Y.shape[0], 1))
        rhos, q0s, pen = [], [], 0.0
        for r, Yr in enumerate(Ys):
            rho = np.linalg.norm(Yr, axis=1)
            rhos.append(rho)
            pen += float(rho @ rho)
            if self.T[r] is None:
                q0s.append(None)
                continue
            W = self.W[r]
            Wb = W * (b * rho)[:, None]
            q0 = self.q0[r]
            H = Wb.T @ self.T[r]
            if self.q[r] is not None:
                q1, q2 = self.q[r]
                q0 = q0 + (2 * t) * q1
                q0 += (t * t) * q2
                H += t * (Wb.T @ self.Dt[r])
            q0s.append(q0)
            H += a * q0
            H += ((c * rho**2) @ W)[:, None]
            Yhat += np.asarray(pb.blocks[r].pooled(H.T))
        f = pb.loss.value(Yhat, pb.Y) + pb.alpha * pen
        self.trial = (t, Yhat, f, rhos, q0s)
        return f

    def move(self, t):
        """Step to ``x + t p`` (the last ``value`` call); returns the gradient there."""
        self.x = self.x + t * self.p
        self.steps += 1
        if self.steps % RESYNC == 0:
            return self.reset(self.x)[1]
        for T, Dt in zip(self.T, self.Dt):
            if T is not None:
                if t != 1.0:
                    Dt *= t
                T += Dt
        return self._accept(t)

    def _accept(self, t):
        t_trial, self.Yhat, self.f, self.rho, self.q0 = self.trial
        assert t_trial == t
        self.Dt = self.q = None
        return self._gradient(self._split(self.x)[0])

    def _gradient(self, Ys):
        """Gradient at the current state; every block costs one thin product."""
        pb = self.pb
        a, b, c = pb.act
        k = self.k
        G = pb.loss.gradient(self.Yhat, pb.Y)
        grads = []
        for r, (Yr, blk) in enumerate(zip(Ys, pb.blocks)):
            T = self.T[r]
            if T is None:
                grads.append(np.zeros(Yr.size))
                continue
            rho = self.rho[r]
            m = T.shape[0]
            out, sign = self.net.out[r], self.net.sign[r]
            Gp = np.asarray(blk.pooled_T(G))
            # d/dy_j of sum_i Gp[i, o_j] s_j (a T_ji^2 + b rho_j T_ji + c rho_j^2):
            # s_j [(2 a T_j * Gp_o + b rho_j Gp_o) P + (b T_j.Gp_o / rho_j + 2 c sum Gp_o) y_j].
            B = np.empty((m + k, T.shape[1]))
            np.multiply(T, Gp[:, 0] if k == 1 else Gp[:, out].T, out=B[:m])
            B[m:] = Gp.T
            TG = B[:m].sum(axis=1)
            A = B @ blk.P
            gY = A[:m]
            gY *= 2 * a
            gY += (b * rho)[:, None] * A[m + out]
            radial = b * TG / np.maximum(rho, 1e-300) + 2 * c * Gp.sum(axis=0)[out]
            gY += radial[:, None] * Yr
            gY *= sign[:, None]
            gY += (2 * pb.alpha) * Yr
            grads.append(gY.ravel())
        if pb.fit_intercept:
            grads.append(G.sum(axis=0))
        if self.target > 0:
            self._estimate(G)
        return np.concatenate(grads)

    def _estimate(self, G):
        """Gap the certificate would give if the neurons held the worst violation."""
        pb = self.pb
        a, b, c = pb.act
        theta = feasible_dual(G, pb.Y, pb.loss, pb.fit_intercept)
        violation = 0.0
        for r, blk in enumerate(pb.blocks):
            T = self.T[r]
            if T is None:
                continue
            rho, W = self.rho[r], self.W[r]
            tp = np.asarray(blk.pooled_T(theta))
            num = a * ((T * T) @ tp) + (b * rho)[:, None] * (T @ tp) \
                + (c * rho**2)[:, None] * tp.sum(axis=0)
            v = np.abs(np.sum(num * W, axis=1)) / np.maximum(rho**2, 1e-300)
            violation = max(violation, float(v.max(initial=0.0)))
        lower = max(self.lower, rescaled_bound(theta, violation, pb.alpha, pb.Y, pb.loss)[0])
        self.estimate = (self.f - lower) / max(abs(self.f), 1e-12)
        self.on_target = self.estimate <= self.target


def lbfgs(path, x, maxiter, memory=20, gtol=1e-14):
    """Plain L-BFGS (two-loop recursion, Armijo backtracking) along a ``Path``.

    The Armijo test forgives rounding (a relative ``1e-15`` of the value) so
    the iteration keeps following the gradient where value differences have
    sunk into noise; the certificate, not this routine, decides when to stop.
    Stops early when ``path.on_target``. Returns ``(x, iterations, converged)``.
    """
    f, g = path.reset(x)
    S, Ydiff = [], []
    nit = 0
    while nit < maxiter and not path.on_target:
        if np.linalg.norm(g) <= gtol * max(1.0, abs(f)):
            return x, max(nit, 1), True
        # Two-loop recursion for p = -H g.
        q = g.copy()
        coefs = []
        for s, y in zip(reversed(S), reversed(Ydiff)):
            rho = 1.0 / (y @ s)
            a = rho * (s @ q)
            q -= a * y
            coefs.append((rho, a))
        if S:
            q *= (S[-1] @ Ydiff[-1]) / (Ydiff[-1] @ Ydiff[-1])
        else:
            q /= max(np.linalg.norm(g), 1e-300)
        for (s, y), (rho, a) in zip(zip(S, Ydiff), reversed(coefs)):
            q += (a - rho * (y @ q)) * s
        p = -q
        slope = g @ p
        if slope >= 0:  # not a descent direction: restart from the gradient
            S, Ydiff = [], []
            p, slope = -g / max(np.linalg.norm(g), 1e-300), -np.linalg.norm(g)
        path.ray(p)
        t, noise = 1.0, 1e-15 * abs(f)
        for _ in range(40):
            f_new = path.value(t)
            if np.isfinite(f_new) and f_new <= f + 1e-4 * t * slope + noise:
                break
            t *= 0.3
        else:
            return x, max(nit, 1), True
        g_new = path.move(t)
        x_new, f_new = path.x, path.f
        nit += 1
        s, y = x_new - x, g_new - g
        if s @ y > 1e-12 * np.linalg.norm(s) * np.linalg.norm(y):
            S.append(s)
            Ydiff.append(y)
            if len(S) > memory:
                S.pop(0)
                Ydiff.pop(0)
        x, f, g = x_new, f_new, g_new
    return x, max(nit, 1), False
