"""The lifted quadratic model: one problem family for three estimators.

A neuron ``u`` with activation ``sigma(t) = a t^2 + b t + c`` seen through a
*block* of lifted features contributes, for sample ``i``::

    sum_k W[i, k] sigma(P[k] . u)
        = < [[a Q_i, b L_i / 2], [b L_i^T / 2, c s_i]], [u; 1][u; 1]^T >

with ``Q_i = sum_k W[i,k] P[k] P[k]^T``, ``L_i = sum_k W[i,k] P[k]``,
``s_i = sum_k W[i,k]``. A dense network uses ``P = X`` and ``W = I``; a
convolutional one uses the image patches as ``P`` and the pooling weights of
one pooling region as ``W``. Every (output, block) pair gets its own pair of
PSD matrices ``(Z, Z')`` (positive and negative output weights), and the
penalty ``alpha * sum (Z4 + Z4')`` is the l1 norm of the output layer.

What a neuron may be is the *constraint*: ``"sphere"`` (``||u|| = 1``,
lifted ``tr(Z1) = Z4``) or ``"binary"`` (``u in {-1, +1}^d``, relaxed to
``diag(Z1) = Z4 1``).
"""

from dataclasses import dataclass

import numpy as np

__all__ = [
    "ACTIVATIONS",
    "LiftedBlock",
    "block_outputs",
    "network_forward",
    "preactivation_range",
    "precondition_scale",
    "resolve_activation",
    "scale_blocks",
]

#: Working memory of ``LiftedBlock.moments`` for the row products of a chunk.
MOMENT_CHUNK_BYTES = 32 * 2**20

ACTIVATIONS = {
    "relu-approx": (0.09, 0.5, 0.47),
    "square": (1.0, 0.0, 0.0),
}


def resolve_activation(activation):
    """Return the activation's coefficients ``(a, b, c)`` as floats."""
    if isinstance(activation, str):
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"Unknown activation {activation!r}; expected one of "
                f"{sorted(ACTIVATIONS)} or a tuple (a, b, c)."
            )
        return ACTIVATIONS[activation]
    try:
        coef = tuple(float(v) for v in activation)
    except TypeError:
        coef = ()
    if len(coef) != 3 or not np.all(np.isfinite(coef)):
        raise ValueError(
            f"activation must be a name or a tuple of three finite floats (a, b, c); "
            f"got {activation!r}."
        )
    if coef == (0.0, 0.0, 0.0):
        raise ValueError("activation (0, 0, 0) is identically zero.")
    return coef


@dataclass
class LiftedBlock:
    """Rows a neuron sees (``P``, shape (N, p)) and how they pool into samples.

    ``pool`` is a sparse (n, N) matrix of fixed weights, or ``None`` for the
    identity (N == n, one row per sample).
    """

    P: np.ndarray
    pool: object = None

    @property
    def n_samples(self):
        return self.P.shape[0] if self.pool is None else self.pool.shape[0]

    @property
    def dim(self):
        return self.P.shape[1]

    def pooled(self, V):
        """Apply the pooling to per-row values ``V`` (N, ...) -> (n, ...)."""
        return V if self.pool is None else self.pool @ V

    def pooled_T(self, v):
        """Adjoint of ``pooled``: sample weights (n, ...) -> row weights (N, ...)."""
        return v if self.pool is None else self.pool.T @ v

    def moments(self, chunk_bytes=MOMENT_CHUNK_BYTES):
        """``Q`` (n, p*p), ``L`` (n, p), ``s`` (n,) of the module docstring.

        The row Kronecker products ``P[k] P[k]^T`` are formed a chunk of rows
        at a time (at most ``chunk_bytes``) and pooled at once, so a
        convolutional block with many patches never holds its (N, p^2)
        products whole.
        """
        P = self.P
        N, p = P.shape
        if self.pool is None:
            Q = (P[:, :, None] * P[:, None, :]).reshape(N, p * p)
        else:
            Q = np.zeros((self.n_samples, p * p))
            step = max(1, int(chunk_bytes // (8 * p * p)))
            pool = self.pool.tocsc()
            for lo in range(0, N, step):
                blk = P[lo:lo + step]
                Q += pool[:, lo:lo + step] @ (blk[:, :, None] * blk[:, None, :]).reshape(-1, p * p)
        L = self.pooled(P)
        s = self.pooled(np.ones(N))
        return np.asarray(Q), np.asarray(L), np.asarray(s).ravel()

    def scaled(self, factor):
        return LiftedBlock(self.P * factor, self.pool)

    def dual_quadratic(self, theta, activation):
        """``(A, g, c0)`` with ``theta^T sigma_block(u) = u^T A u + g^T u + c0``."""
        a, b, c = activation
        w = np.asarray(self.pooled_T(theta)).ravel()
        A = a * (self.P.T * w) @ self.P
        g = b * (self.P.T @ w)
        return A, g, c * float(w.sum())


def precondition_scale(blocks):
    """A scale ``s`` such that the rows ``P / s`` have unit RMS norm.

    Scaling the rows by ``1/s`` and the activation ``(a, b, c)`` to
    ``(a s^2, b s, c)`` leaves every neuron's output unchanged, so the lifted
    problem is the same; only the numbers a solver sees are tamer. Computed
    without overflow (the rows are divided by their largest entry first).
    """
    sq, seen = [], {}
    for b in blocks:
        if id(b.P) not in seen:
            top = float(np.max(np.abs(b.P), initial=0.0))
            if not np.isfinite(top) or top == 0:
                seen[id(b.P)] = None
            else:
                seen[id(b.P)] = (top, float(np.mean(np.sum((b.P / top) ** 2, axis=1))))
        if seen[id(b.P)] is not None:
            sq.append(seen[id(b.P)])
    if not sq:
        return 1.0
    top = max(t for t, _ in sq)
    s = top * float(np.sqrt(np.mean([m * (t / top) ** 2 for t, m in sq])))
    return s if np.isfinite(s) and s > 0 else 1.0


def scale_blocks(blocks, factor):
    """Blocks with rows ``P * factor``; blocks sharing a patch matrix share the copy."""
    copies = {}
    out = []
    for b in blocks:
        if id(b.P) not in copies:
            copies[id(b.P)] = b.P * factor
        out.append(LiftedBlock(copies[id(b.P)], b.pool))
    return out


def block_outputs(block, neurons, activation, bounds=None):
    """Pooled activations of ``neurons`` (m, p) on a block: shape (n, m).

    ``bounds`` (m, 2), if given, clips each neuron's pre-activation ``P u``
    to ``[low, high]`` before the activation (see ``preactivation_range``).
    """
    a, b, c = activation
    T = block.P @ neurons.T
    if bounds is not None:
        T = np.clip(T, bounds[:, 0], bounds[:, 1])
    return np.asarray(block.pooled(a * T**2 + b * T + c))


def network_forward(blocks, neurons, weights, block_index, intercept, activation, bounds=None):
    """Outputs (n, k) of the network: sum over neurons of pooled activations.

    ``neurons`` (m, p) belong to blocks ``block_index`` (m,); ``weights`` is
    (m, k); ``intercept`` is (k,); ``bounds`` (m, 2) optionally clips the
    pre-activations (see ``block_outputs``).
    """
    n = blocks[0].n_samples
    out = np.tile(np.asarray(intercept, dtype=float), (n, 1))
    for r, block in enumerate(blocks):
        mask = block_index == r
        if np.any(mask):
            clip = None if bounds is None else bounds[mask]
            out += block_outputs(block, neurons[mask], activation, clip) @ weights[mask]
    return out


def preactivation_range(blocks, neurons, block_index, sample_mask=None):
    """``(m, 2)``: the smallest and largest pre-activation ``P u`` of each neuron.

    Taken over the rows of the neuron's block (the training samples, or
    every patch of every training image) that belong to the samples in
    ``sample_mask`` (n,) (those of positive weight; all by default). Clipping to this range changes
    nothing on the training data, so the certified objective stays the
    network's, while a quadratic activation no longer grows without bound
    on inputs far outside what the network was trained on.
    """
    out = np.zeros((neurons.shape[0], 2))
    for r, block in enumerate(blocks):
        mask = block_index == r
        if np.any(mask):
            P = block.P
            if block.pool is not None or sample_mask is not None:
                # Only the rows pooled into (kept) samples reach the outputs.
                keep = np.ones(block.n_samples) if sample_mask is None else sample_mask
                P = P[np.asarray(block.pooled_T(keep.astype(float))).ravel() != 0]
            if P.shape[0] == 0:
                continue
            T = neurons[mask] @ P.T          # (m, rows): contiguous reductions
            out[mask, 0], out[mask, 1] = T.min(axis=1), T.max(axis=1)
    return out
