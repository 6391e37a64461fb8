"""The state of the low-rank solver: explicit neurons grouped by (block, output, sign).

Neuron ``j`` of block ``r`` is a vector ``y_j``: its direction is
``u = y / ||y||`` and its output weight ``sign * ||y||^2``, so the l1 penalty
is ``alpha * ||y||^2`` and the objective is smooth in ``y``. A group of
neurons of one (block, output, sign) is the PSD lifted matrix
``Z = sum_j [y_j; ||y_j||][y_j; ||y_j||]^T`` of the SDP (the Burer-Monteiro
factor), which ``Network.compress`` rewrites with as many neurons as its
rank through the rank-one decomposition of ``decomposition.py``.
"""

from dataclasses import dataclass

import numpy as np

from .decomposition import rank_one_decomposition

__all__ = ["Network", "lift", "signed_scatter"]

#: A candidate whose lifted vector has a smaller relative residual off its
#: group's span is not new (see ``Network.add``).
NEW_DIRECTION = 0.05
#: ... unless it violates the dual constraint by more than this ratio: then
#: it is a descent direction the local method is not finding.
ALWAYS_ADD = 1.01
#: Neurons lighter than this fraction of the heaviest are dropped between rounds.
NEGLIGIBLE = 1e-12


@dataclass
class Network:
    """Neurons of the factorized problem, one (output, block, sign) each.

    Neuron ``j`` of block ``r`` is the vector ``Y[r][j]``: its direction is
    ``u = y / ||y||`` and its output weight ``sign * ||y||^2``, so the l1
    penalty is ``alpha * ||y||^2`` and the whole objective is smooth in ``y``.
    """

    Y: list            # per block: (m_r, p_r)
    sign: list         # per block: (m_r,) +-1
    out: list          # per block: (m_r,) output index
    intercept: np.ndarray

    @classmethod
    def empty(cls, k, dims):
        return cls([np.zeros((0, p)) for p in dims], [np.zeros(0) for _ in dims],
                   [np.zeros(0, dtype=int) for _ in dims], np.zeros(k))

    @classmethod
    def from_network(cls, neurons, weights, block_index, intercept, dims):
        weights = np.asarray(weights, dtype=float)
        weights = weights[:, None] if weights.ndim == 1 else weights
        net = cls.empty(weights.shape[1], dims)
        net.intercept = np.array(intercept, dtype=float).reshape(-1).copy()
        neurons = np.asarray(neurons, dtype=float)
        block_index = np.asarray(block_index, dtype=int)
        for r in range(len(dims)):
            rows, outs = np.nonzero((block_index[:, None] == r) & (weights != 0))
            U = neurons[rows]
            norm = np.linalg.norm(U, axis=1)
            keep = norm > 0
            vals = weights[rows[keep], outs[keep]]
            net.Y[r] = U[keep] / norm[keep, None] * np.sqrt(np.abs(vals))[:, None]
            net.sign[r] = np.sign(vals)
            net.out[r] = outs[keep]
        return net

    @property
    def size(self):
        return sum(s.shape[0] for s in self.sign)

    def with_Y(self, Y, intercept):
        return Network(Y, self.sign, self.out, intercept)

    def drop_negligible(self):
        """Drop neurons whose weight is negligible next to the largest one."""
        w = [np.sum(Yr**2, axis=1) for Yr in self.Y]
        top = max((float(wr.max(initial=0.0)) for wr in w), default=0.0)
        keep = [wr > NEGLIGIBLE * top for wr in w]
        return Network([Yr[kp] for Yr, kp in zip(self.Y, keep)],
                        [s[kp] for s, kp in zip(self.sign, keep)],
                        [o[kp] for o, kp in zip(self.out, keep)], self.intercept)

    def add(self, neurons):
        """Append neurons (r, o, sign, y, violation ratio); count them.

        A barely violating candidate whose lifted vector ``[u; 1]`` lies
        (nearly) in the span of its group's ``[y_j; ||y_j||]`` adds nothing
        the existing neurons cannot reach by moving: the fit needs polishing,
        not width.
        """
        added = 0
        for r, o, sgn, y, ratio in neurons:
            mine = (self.out[r] == o) & (self.sign[r] == sgn)
            lifted = lift(self.Y[r][mine])
            cand = lift(y[None, :])[0]
            if lifted.shape[0] and ratio < ALWAYS_ADD:
                Q = np.linalg.qr(lifted.T)[0]
                resid = cand - Q @ (Q.T @ cand)
                if np.linalg.norm(resid) < NEW_DIRECTION * np.linalg.norm(cand):
                    continue
            self.Y[r] = np.vstack([self.Y[r], y[None, :]])
            self.sign[r] = np.append(self.sign[r], sgn)
            self.out[r] = np.append(self.out[r], o)
            added += 1
        return added

    def compress(self, rtol=1e-15):
        """Same lifted matrices with at most ``rank`` neurons per group.

        Each (block, output, sign) group is the PSD matrix
        ``Z = sum_j [y_j; ||y_j||][y_j; ||y_j||]^T``; the rank-one
        decomposition rewrites it with as many neurons as its rank (at most
        ``p + 1``), so redundant neurons do not slow the quasi-Newton steps.
        Eigenvalues of ``Z`` below ``rtol`` times its largest count as zero
        (the matrix changes by at most that much).
        """
        net = Network(list(self.Y), list(self.sign), list(self.out), self.intercept)
        for r, Yr in enumerate(self.Y):
            p = Yr.shape[1]
            groups = sorted(set(zip(self.out[r].tolist(), self.sign[r].tolist())))
            Ys, signs, outs = [], [], []
            for o, sgn in groups:
                mine = (self.out[r] == o) & (self.sign[r] == sgn)
                G = Yr[mine]
                if G.shape[0] > 1:
                    L = lift(G)
                    Q = rank_one_decomposition(L.T @ L, rtol=rtol)
                    G = Q[:, :p] * np.sign(Q[:, p])[:, None]
                Ys.append(G)
                signs.append(np.full(G.shape[0], sgn))
                outs.append(np.full(G.shape[0], o, dtype=int))
            if groups:
                net.Y[r], net.sign[r] = np.vstack(Ys), np.concatenate(signs)
                net.out[r] = np.concatenate(outs)
        return net

    def as_network(self):
        k = self.intercept.shape[0]
        neurons, weights, index = [], [], []
        for r, Yr in enumerate(self.Y):
            m = Yr.shape[0]
            w = np.sum(Yr**2, axis=1)
            neurons.append(Yr / np.sqrt(np.maximum(w, 1e-300))[:, None])
            W = np.zeros((m, k))
            W[np.arange(m), self.out[r]] = self.sign[r] * w
            weights.append(W)
            index.append(np.full(m, r, dtype=int))
        return np.vstack(neurons), np.vstack(weights), np.concatenate(index)


def signed_scatter(net, r, k):
    """(m_r, k) matrix: neuron ``j`` of block ``r`` feeds output ``out_j`` with its sign."""
    W = np.zeros((net.Y[r].shape[0], k))
    W[np.arange(W.shape[0]), net.out[r]] = net.sign[r]
    return W


def lift(Yg):
    """Lifted vectors ``[y; ||y||]`` of neuron rows, shape (m, p + 1)."""
    return np.hstack([Yg, np.linalg.norm(Yg, axis=1, keepdims=True)])
