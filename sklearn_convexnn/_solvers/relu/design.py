"""The gated design ``[D_1 X, ..., D_p X]`` as an operator, never formed.

Variables are a matrix ``W`` of shape (n_features, n_gates * n_outputs):
column ``c * n_gates + j`` is the weight of gate j for output c. Products
with ``X`` are taken over blocks of columns so that the temporaries hold at
most ``block`` columns of length n: memory O(n x block) however many gates
there are. Each product with ``X`` or ``X^T`` counts as one data pass.

With ``workers=2`` the products of the float-pattern path are split in two
halves (rows for ``forward``, patterns for ``backward``), one computed on
the calling thread and one on a helper thread, each with whatever BLAS
threads the caller allows (meant: one). numpy releases the GIL inside the
products, so the halves run on two cores; the caller waits on a lock, not
on a spinning barrier. Products are split from ``SPLIT_MIN_PRODUCT``
multiply-adds, and only while a core is idle (``threads.core_free``).
"""

import numpy as np
import scipy.sparse as sp

from ...exceptions import ProblemTooLargeError
from .newton import NEWTON_MAX_SAMPLES
from .threads import core_free
from .threads import split as _split

__all__ = ["MaskedDesign", "check_memory", "estimate_memory"]

#: Entries (n x columns) of one block of temporaries.
BLOCK_ENTRIES = 2**21
#: Up to this many pattern entries (n x p) the patterns are also kept as a
#: float matrix ``Mf``, so that each pass is one matrix product with no n x p
#: temporary: ``forward`` is ``rowsum(X o (Mf W^T))`` and ``backward`` is
#: ``(X o r)^T Mf``. Measured at n=2000, d=50, 500 patterns (one thread): a
#: pass 3-4x faster than masking blocks of ``X W`` (the elementwise n x p
#: products and the boolean gathers cost more than the products themselves).
FLOAT_MASK_ENTRIES = 2**26
#: Sparse ``X`` keeps the masked blocks: there ``X o T`` and ``X o r`` are
#: sparse elementwise products whose scipy overhead (a COO round trip per
#: call) made small sparse fits 2.5x slower than ``(X @ W) o masks``.

#: ``workers=2``: products of fewer multiply-adds stay on one thread. Handing
#: a half to the helper thread and waiting for it costs about 30 us of CPU
#: (60 us wall, loaded machine). Measured per pass, time on the calling
#: thread (what an idle second core leaves of a pass), serial vs split, one
#: BLAS thread, float32/float64: at 2e6 (n=500, d=20, 200 patterns) mixed,
#: 66-168 vs 100-186 us; at 4e6 mostly shorter (182-295 vs 210-365 us); at
#: 1e7 (n=1000, d=20, 500) about half (297-599 vs 419-1085 us).
SPLIT_MIN_PRODUCT = 4e6


class MaskedDesign:
    """``X`` (n, d) dense or sparse with boolean patterns ``masks`` (n, p), ``n_outputs`` k."""

    def __init__(self, X, masks, n_outputs, workers=1):
        self.X = X
        self.masks = masks
        self.n, self.d = X.shape
        self.p = masks.shape[1]
        self.k = n_outputs
        self.q = self.p * self.k
        self.gate_of = np.tile(np.arange(self.p), self.k)
        self.output_of = np.repeat(np.arange(self.k), self.p)
        self.block = max(1, BLOCK_ENTRIES // max(self.n, 1))
        self.n_passes = 0
        self.Mf = (np.asarray(masks, dtype=float, order="F")
                   if self.n * self.p <= FLOAT_MASK_ENTRIES and not sp.issparse(X) else None)
        self._single = None
        self._gather = {}  # (fast, output): (gates, their patterns), _backward_cols
        #: Threads sharing each product of the float-pattern path (1 or 2).
        self.workers = workers

    def _splits(self, n_columns):
        """Whether a product over ``n_columns`` pattern columns is split in two (now)."""
        return (self.workers > 1 and self.n * self.d * n_columns >= SPLIT_MIN_PRODUCT
                and core_free(self.workers))

    def single(self):
        """Single-precision copies ``(X, Mf)`` for fast passes, or None (sparse X, no Mf).

        Made on first use; :meth:`forward` and :meth:`backward` with
        ``fast=True`` multiply in float32 (about twice the speed and half the
        memory traffic) and return double-precision arrays. For solver
        *steps* only: a certificate needs the products in double precision.
        """
        if self._single is None and self.Mf is not None and not sp.issparse(self.X):
            self._single = (np.asarray(self.X, dtype=np.float32),
                            np.asarray(self.Mf, dtype=np.float32, order="F"))
        return self._single

    # ------------------------------------------------------------ primitives
    def images(self, W, cols=None):
        """``X @ W[:, cols]`` (n, len(cols)); one pass."""
        self.n_passes += 1
        Wc = W if cols is None else W[:, cols]
        return np.asarray(self.X @ Wc)

    def rmatmat(self, R):
        """``X^T @ R`` for R (n, m); one pass."""
        self.n_passes += 1
        return np.asarray(self.X.T @ R)

    # ------------------------------------------------------- gated operator
    def _backward_cols(self, R, fast, cols):
        """:meth:`backward` over the columns ``cols`` only, the others zero."""
        G = np.zeros((self.d, self.q))
        self.n_passes += 1
        X = (self.single() or (self.X,))[0] if fast else self.X
        for c in np.unique(self.output_of[cols]):
            cc = cols[self.output_of[cols] == c]
            M = _gathered(self, fast, c, self.gate_of[cc])
            XRt = (X * R[:, c:c + 1].astype(X.dtype)).T

            def patterns(a, b, XRt=XRt, M=M, cc=cc):
                G[:, cc[a:b]] = XRt @ M[:, a:b]

            if self._splits(cc.size):
                _split(patterns, cc.size)
            else:
                patterns(0, cc.size)
        return G

    def forward(self, W, fast=False):
        """``Z[:, c] = sum_j D_j X W[:, c p + j]``, shape (n, k); one pass over active columns.

        ``fast``: products in single precision when :meth:`single` allows.
        """
        Z = np.zeros((self.n, self.k))
        active = np.flatnonzero(np.any(W != 0, axis=0))
        self.n_passes += 1
        if self.Mf is not None:
            X, Mf = (self.single() or (self.X, self.Mf)) if fast else (self.X, self.Mf)
            for c in np.unique(self.output_of[active]):
                cols = active[self.output_of[active] == c]
                gates = None if cols.size == self.p else self.gate_of[cols]
                Wt = W[:, cols].T.astype(Mf.dtype)

                def rows(a, b, c=c, gates=gates, Wt=Wt):
                    M = Mf[a:b] if gates is None else Mf[a:b, gates]
                    T = M @ Wt  # (rows, d): sum_j m_j w_j^T per row
                    Z[a:b, c] = _rowdot(X[a:b], T)

                if self._splits(cols.size):
                    _split(rows, self.n)
                else:
                    rows(0, self.n)
            return Z
        for start in range(0, active.size, self.block):
            cols = active[start:start + self.block]
            P = np.asarray(self.X @ W[:, cols])
            P *= self.masks[:, self.gate_of[cols]]
            for c in np.unique(self.output_of[cols]):
                Z[:, c] += P[:, self.output_of[cols] == c].sum(axis=1)
        return Z

    def backward(self, R, fast=False, cols=None):
        """``G[:, c p + j] = (D_j X)^T R[:, c]``, shape (d, q); one pass.

        ``fast``: products in single precision when :meth:`single` allows.
        ``cols``: only these columns (sorted), the others zero (float-pattern
        path; the others compute every column).
        """
        if cols is not None and self.Mf is not None:
            return self._backward_cols(R, fast, cols)
        G = np.empty((self.d, self.q))
        self.n_passes += 1
        if self.Mf is not None:
            X, Mf = (self.single() or (self.X, self.Mf)) if fast else (self.X, self.Mf)
            for c in range(self.k):
                XRt = (X * R[:, c:c + 1].astype(X.dtype)).T
                base = c * self.p

                def patterns(a, b, XRt=XRt, base=base):
                    G[:, base + a:base + b] = XRt @ Mf[:, a:b]

                if self._splits(self.p):
                    _split(patterns, self.p)
                else:
                    patterns(0, self.p)
            return G
        for start in range(0, self.q, self.block):
            cols = np.arange(start, min(start + self.block, self.q))
            P = self.masks[:, self.gate_of[cols]] * R[:, self.output_of[cols]]
            G[:, cols] = np.asarray(self.X.T @ P)
        return G


def _gathered(design, fast, c, gates):
    """``Mf[:, gates]`` of output ``c`` in the pass's precision, kept while ``gates`` holds."""
    key = gates.tobytes()
    if design._gather.get((fast, c), (None,))[0] != key:
        Mf = (design.single() or (design.X, design.Mf))[1] if fast else design.Mf
        design._gather[fast, c] = (key, np.asarray(Mf[:, gates], order="F"))
    return design._gather[fast, c][1]


def _rowdot(X, T):
    """``sum_f X[i, f] T[i, f]`` per row (dense: the float-pattern path has no sparse X)."""
    return np.einsum("ij,ij->i", X, T)


def estimate_memory(n, d, p, k, variant, sparse_nnz=None):
    """Bytes the solver allocates for n samples, d features, p patterns, k outputs."""
    q = p * k
    block = min(q, max(1, BLOCK_ENTRIES // max(n, 1)))
    total = n * p  # boolean masks
    if n * p <= FLOAT_MASK_ENTRIES and sparse_nnz is None:
        total += 12 * n * p  # their float copies (MaskedDesign.Mf, single())
        total += 4 * n * p  # a working set of them, gathered (backward with cols)
        total += 4 * n * d  # single-precision X
    total += 8 * n * 2 * p  # gate images and masks while sampling (float + bool)
    total += 8 * d * q * 10  # iterates, gradients, certificate precomputations
    total += 8 * n * k * 12  # predictions, residuals, dual points
    if variant == "exact":
        # images of u and v at three points, multipliers, residual columns
        total += 8 * n * 2 * q * 8
    else:
        total += 8 * n * block * 3
        if n <= NEWTON_MAX_SAMPLES:
            # Newton steps (solver "newton", auto's choice at this size): X X^T,
            # the kernel and its Cholesky factor, n x n each, and a spare.
            total += 8 * n * n * 4
    if sparse_nnz is None:
        total += 8 * n * d  # a dense float copy of X
    else:
        total += 16 * sparse_nnz
    return int(total)


def check_memory(n, d, p, k, variant, memory_limit, X):
    """Refuse a problem whose allocations would pass ``memory_limit`` (GiB)."""
    nnz = X.nnz if sp.issparse(X) else None
    need = estimate_memory(n, d, p, k, variant, nnz)
    if need > memory_limit * 2**30:
        hint = ("use variant='gated' (memory O(n x block) instead of O(n x gates)), "
                if variant == "exact" else "")
        raise ProblemTooLargeError(
            f"The convex ReLU problem ({variant}, n_samples={n}, n_features={d}, "
            f"{p} activation patterns, {k} outputs) needs about {need / 2**30:.2f} GiB, "
            f"above memory_limit={memory_limit} GiB. Reduce n_gates, {hint}subsample the "
            f"rows, or raise memory_limit."
        )
    return need
