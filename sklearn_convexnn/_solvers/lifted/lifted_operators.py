"""Data passes of the lifted model for proxgrad: features, adjoint, preconditioner.

``ExplicitOperator`` forms the lifted features once (small patches: the
pooled CNN moments), ``PassOperator`` streams every pass through the rows;
both map difference matrices ``D (k, R, q, q)`` to predictions ``(n, k)`` and
back, with the features centred when the intercept is free.
``preconditioner`` computes the congruences that whiten and equilibrate the
rows (``_solvers/lifted/proxgrad.py`` explains the reformulation).
"""

import numpy as np

__all__ = ["ExplicitOperator", "PassOperator", "preconditioner"]


class Operator:
    """Linear map ``D (k, R, q, q) -> <Phi_ir, D_or>`` (n, k) and its adjoint,
    with the features centred when the intercept is free."""

    def __init__(self, blocks, activation, fit_intercept):
        self.blocks = blocks
        self.act = tuple(float(v) for v in activation)
        self.fit_intercept = fit_intercept
        self.R = len(blocks)
        self.p = blocks[0].dim
        self.q = self.p + 1
        self.n = blocks[0].n_samples

    def mean_output(self, D):
        """Mean over samples of the raw (uncentred) outputs, (k,)."""
        if not self.fit_intercept:
            return np.zeros(D.shape[0])
        return np.einsum("rjl,krjl->k", self.mean, D)


class ExplicitOperator(Operator):
    """Lifted features formed once: (n, R * q (q + 1) / 2), upper triangles."""

    def __init__(self, blocks, activation, fit_intercept):
        super().__init__(blocks, activation, fit_intercept)
        a, b, c = self.act
        p, q = self.p, self.q
        iu, ju = np.triu_indices(q)
        self.iu, self.ju = iu, ju
        h = iu.size
        M = np.empty((self.n, self.R * h))
        quad = (ju < p)
        lin = (iu < p) & (ju == p)
        for r, blk in enumerate(blocks):
            P = blk.P
            cols = M[:, r * h:(r + 1) * h]
            prod = P[:, iu[quad]] * P[:, ju[quad]]
            cols[:, quad] = a * np.asarray(blk.pooled(prod))
            cols[:, lin] = 0.5 * b * np.asarray(blk.pooled(P))
            cols[:, h - 1] = c * np.asarray(blk.pooled(np.ones((P.shape[0], 1)))).ravel()
        mean = M.mean(axis=0)
        self.mean = self._unpack(mean[None, :])[0] if fit_intercept else None
        if fit_intercept:
            M -= mean
        self.M = M
        self.weight = np.where(iu == ju, 1.0, 2.0)
        # Orthonormal coordinates of symmetric matrices: off-diagonals * sqrt(2).
        self.sw = np.sqrt(np.tile(self.weight, self.R))

    def pack(self, D):
        """(k, R, q, q) symmetric -> (k, R * h) orthonormal coordinates."""
        return D[:, :, self.iu, self.ju].reshape(D.shape[0], -1) * self.sw

    def unpack(self, v):
        return self._unpack(v / self.sw)

    def hessian(self):
        """``Ms^T Ms / n`` in orthonormal coordinates, (R h, R h)."""
        Ms = self.M * self.sw
        return Ms.T @ Ms / self.n

    def _unpack(self, cols):
        """(k, R * h) -> symmetric (k, R, q, q)."""
        k = cols.shape[0]
        h = self.iu.size
        out = np.zeros((k, self.R, self.q, self.q))
        C = cols.reshape(k, self.R, h)
        out[:, :, self.iu, self.ju] = C
        out[:, :, self.ju, self.iu] = C
        return out

    def forward(self, D):
        k = D.shape[0]
        packed = D[:, :, self.iu, self.ju] * self.weight
        return self.M @ packed.reshape(k, -1).T

    def backward(self, theta):
        return self._unpack((self.M.T @ theta).T)

    def lipschitz_guess(self):
        """Largest eigenvalue of the Hessian M^T M / n, by a few power steps."""
        # Off-diagonal entries count twice in the Frobenius norm.
        Ms = self.M * np.sqrt(np.tile(self.weight, self.R))
        v = np.random.default_rng(0).normal(size=Ms.shape[1])
        lam = 1.0
        for _ in range(20):
            w = Ms.T @ (Ms @ v) / self.n
            lam = float(np.linalg.norm(w))
            v = w / max(lam, 1e-300)
        return max(lam, 1e-12)


class PassOperator(Operator):
    """Passes through the rows: O(N p^2) per (output, block), no lifted matrix."""

    def __init__(self, blocks, activation, fit_intercept):
        super().__init__(blocks, activation, fit_intercept)
        self.s = [np.asarray(blk.pooled(np.ones((blk.P.shape[0], 1)))).ravel()
                  for blk in blocks]
        self.mean = None
        if fit_intercept:
            self.mean = self._raw_backward(np.full((self.n, 1), 1.0 / self.n))[0]

    def forward(self, D):
        a, b, c = self.act
        p = self.p
        k = D.shape[0]
        out = np.zeros((self.n, k))
        for r, blk in enumerate(self.blocks):
            P = blk.P
            rows = np.empty((P.shape[0], k))
            lin = P @ D[:, r, :p, p].T
            for o in range(k):
                rows[:, o] = a * np.einsum("ij,ij->i", P @ D[o, r, :p, :p], P)
            rows += b * lin
            out += np.asarray(blk.pooled(rows)) + c * self.s[r][:, None] * D[:, r, p, p]
        if self.fit_intercept:
            out -= np.einsum("rjl,krjl->k", self.mean, D)
        return out

    def _raw_backward(self, theta):
        a, b, c = self.act
        p = self.p
        k = theta.shape[1]
        G = np.zeros((k, self.R, self.q, self.q))
        for r, blk in enumerate(self.blocks):
            P = blk.P
            w = np.asarray(blk.pooled_T(theta))
            lin = 0.5 * b * (P.T @ w)
            for o in range(k):
                G[o, r, :p, :p] = a * ((P.T * w[:, o]) @ P)
            G[:, r, :p, p] = lin.T
            G[:, r, p, :p] = lin.T
            G[:, r, p, p] = c * (self.s[r] @ theta)
        return G

    def backward(self, theta):
        G = self._raw_backward(theta)
        if self.fit_intercept:
            G -= theta.sum(axis=0)[:, None, None, None] * self.mean[None]
        return G

    def lipschitz_guess(self):
        return 1.0


def preconditioner(blocks, activation, fit_intercept):
    """``(T11, s_q, curvature)``: the congruences ``Z_r = T_r W_r T_r^T``.

    ``T_r = diag(T11[r], s_q)``. ``T11[r]`` whitens the rows block ``r``
    pools (inverse square root of their covariance, eigenvalues floored at
    ``1e-4`` of the largest: pixels a region never lights stay tame), then
    equilibrates the quadratic features feature by feature; ``s_q`` balances
    the linear features against the quadratic ones (activation ``b`` against
    ``a``). ``curvature`` is the resulting typical curvature of an entry of W.
    """
    a, b, _ = (float(v) for v in activation)
    p = blocks[0].dim
    T11 = np.empty((len(blocks), p, p))
    lin_scales = []
    for r, blk in enumerate(blocks):
        P = blk.P
        w = np.abs(np.asarray(blk.pooled_T(np.ones((blk.n_samples, 1))))).ravel()
        w = w / max(w.sum(), 1e-300)
        mean = w @ P if fit_intercept else np.zeros(p)
        C = (P.T * w) @ P - np.outer(mean, mean)
        lam, V = np.linalg.eigh((C + C.T) / 2)
        lam = np.maximum(lam, 1e-4 * max(float(lam[-1]), 1e-300))
        Tr = (V / np.sqrt(lam)) @ V.T
        Pw = P @ Tr
        sq = np.asarray(blk.pooled(Pw**2))
        li = np.asarray(blk.pooled(Pw))
        if fit_intercept:
            sq = sq - sq.mean(axis=0)
            li = li - li.mean(axis=0)
        var_q = a * a * np.mean(sq**2, axis=0)
        var_l = 0.25 * b * b * np.mean(li**2, axis=0)
        sj = np.ones(p)
        ok = var_q > 0
        if np.any(ok):
            ref = np.exp(np.mean(np.log(var_q[ok])))
            sj = np.clip(np.where(ok, var_q, ref) / ref, 1e-4, 1e4) ** -0.25 * ref**-0.25
        T11[r] = Tr * sj
        lin = 2 * var_l * sj**2
        if np.any(lin > 0):
            lin_scales.append(np.mean(np.log(lin[lin > 0])))
    s_q = float(np.exp(-0.5 * np.mean(lin_scales))) if lin_scales else 1.0
    return T11, s_q, 1.0
