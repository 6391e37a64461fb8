"""Type-II Anderson acceleration of a fixed-point map (used by the exact-ReLU ADMM)."""

import numpy as np

__all__ = ["Anderson"]


class Anderson:
    """Type-II Anderson acceleration of a fixed-point map, ring buffer of ``m`` pairs."""

    def __init__(self, size, m):
        self.m = m
        self.DX = np.empty((m, size))
        self.DG = np.empty((m, size))
        self.gram = np.zeros((m, m))
        self.reset()

    def reset(self):
        self.count, self.pos = 0, 0

    def push(self, dx, dg):
        i = self.pos
        self.DX[i], self.DG[i] = dx, dg
        self.count = min(self.count + 1, self.m)
        self.pos = (i + 1) % self.m
        row = self.DG[:self.count] @ dg
        self.gram[i, :self.count] = row
        self.gram[:self.count, i] = row

    def extrapolate(self, Tx, f):
        """``Tx - (DX + DG)^T coef`` with ``coef`` the least-squares fit of ``f``."""
        if self.count == 0:
            return Tx
        c = self.count
        M = self.gram[:c, :c].copy()
        M[np.diag_indices_from(M)] += 1e-10 * np.trace(M) + 1e-300
        try:
            coef = np.linalg.solve(M, self.DG[:c] @ f)
        except np.linalg.LinAlgError:
            return Tx
        return Tx - coef @ self.DX[:c] - coef @ self.DG[:c]
