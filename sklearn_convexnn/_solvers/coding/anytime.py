"""Randomized encoding and the anytime estimator.

Before the data are split into blocks, their (zero-padded) rows are mixed
by a random orthogonal map ``S``: random signs and a random permutation
(``"sign"``, ``O(n)``), or a Haar rotation from the QR factorization of a
Gaussian matrix (``"gaussian"``, ``O(n^2)``). The code then carries
``S A``; decoding returns ``S A x`` and one application of ``S^T`` gives
``A x``.

When the arrived workers do not determine every block, the outputs still
determine the projection ``P`` of the block vector on the row space of the
arrived generator rows (``r = rank`` of it): the minimum-norm solution is
``P (S A x)``. Put ``M = P (x) I_b`` (rank ``r b`` of ``n' = K b``). For
``S`` drawn independently of which workers arrived,
``E[S^T M S] = (r / K) I`` (the signs cancel the off-diagonal terms, the
permutation averages the diagonal; a Haar rotation averages everything),
so::

    estimate = (K / r) S^T P (S A x)

is unbiased for ``A x``, and its mean squared error is exactly::

    E ||estimate - A x||^2 = (K / r - 1) ||A x||^2

(``E ||estimate||^2 = (K / r) ||A x||^2``), with padding rows included;
dropping them only lowers the error. It falls to zero as the rank reaches
``K``, when the estimate is the exact product.
"""

import numpy as np

from ...exceptions import ProblemTooLargeError

#: Largest number of rows mixed by a dense Haar rotation (32 MiB of floats).
MAX_GAUSSIAN_ROWS = 2048

__all__ = [
    "RowMixing",
    "projected_blocks",
]


class RowMixing:
    """A random orthogonal map of ``n`` rows: ``apply`` is ``S``, ``adjoint`` ``S^T``."""

    def __init__(self, n_rows, kind, rng):
        self.n_rows = n_rows
        self.kind = kind
        if kind == "sign":
            self.signs = rng.choice([-1.0, 1.0], size=n_rows)
            self.perm = rng.permutation(n_rows)
        elif kind == "gaussian":
            if n_rows > MAX_GAUSSIAN_ROWS:
                raise ProblemTooLargeError(
                    f"randomize='gaussian' mixes the {n_rows} (padded) rows by a dense "
                    f"{n_rows} x {n_rows} rotation, above the limit of "
                    f"{MAX_GAUSSIAN_ROWS} rows; randomize='sign' mixes in O(n) with the "
                    "same unbiasedness and error formula."
                )
            Q, R = np.linalg.qr(rng.standard_normal((n_rows, n_rows)))
            self.Q = Q * np.sign(np.diag(R))  # Haar-distributed
        elif kind != "none":
            raise ValueError(f"Unknown randomization {kind!r}.")

    def apply(self, A):
        if self.kind == "sign":
            return _rows(self.signs, A) * A[self.perm]
        if self.kind == "gaussian":
            return np.tensordot(self.Q, A, axes=1)
        return A

    def adjoint(self, Z):
        if self.kind == "sign":
            out = np.empty_like(Z)
            out[self.perm] = _rows(self.signs, Z) * Z
            return out
        if self.kind == "gaussian":
            return np.tensordot(self.Q.T, Z, axes=1)
        return Z


def projected_blocks(G, workers, Y, rcond=1e-10):
    """Minimum-norm block solution ``P U`` and the rank ``r``.

    Parameters
    ----------
    G : ndarray of shape (N, K)
    workers : sequence of int
    Y : ndarray of shape (len(workers), ...)

    Returns
    -------
    U_hat : ndarray of shape (K, ...)
        Projection of the true blocks on the row space of ``G[workers]``.
    rank : int
    """
    K = G.shape[1]
    out_shape = (K, *np.shape(Y)[1:])
    if len(workers) == 0:
        return np.zeros(out_shape), 0
    Gt = G[np.asarray(workers)]
    W, s, Vt = np.linalg.svd(Gt, full_matrices=False)
    rank = int(np.sum(s > rcond * s[0])) if s.size and s[0] > 0 else 0
    Yt = np.asarray(Y).reshape(len(workers), -1)
    coef = (W[:, :rank].T @ Yt) / s[:rank, None]
    return (Vt[:rank].T @ coef).reshape(out_shape), rank


def _rows(v, A):
    return v.reshape((-1,) + (1,) * (np.ndim(A) - 1))
