"""Subsampled randomized trigonometric transforms: real Fourier and DCT.

``S = sqrt(n_pad / m) P T D``: ``D`` flips the signs of the ``n`` inputs
at random (zero padded to ``n_pad``), ``T`` is an orthonormal real
trigonometric transform of size ``n_pad`` and ``P`` keeps ``m`` of its
outputs uniformly at random (:func:`~.sketch_operators.draw_signs_and_rows`).
Two transforms ``T``, both computed by ``scipy.fft``:

* ``"fourier"``, the real discrete Fourier transform: output ``0`` is
  ``sum_j x_j / sqrt(n)``; outputs ``2k - 1`` and ``2k`` (``0 < k <
  n / 2``) are ``sqrt(2 / n) sum_j x_j cos(2 pi j k / n)`` and ``-sqrt(2 /
  n) sum_j x_j sin(2 pi j k / n)``, the real and imaginary parts of the
  ``k``-th FFT coefficient, scaled; for even ``n`` the last output is
  ``sum_j (-1)^j x_j / sqrt(n)``.  These are the columns of ``rfft``'s
  output viewed as real numbers, without the imaginary parts that are
  always zero (:func:`fourier_positions`).
* ``"dct"``, the orthonormal DCT-II.

Like the Hadamard matrix, ``T`` is orthogonal with entries of size at most
``sqrt(2 / n_pad)``, so the randomized transform spreads every vector
evenly over its outputs and uniform subsampling keeps a subspace embedding
(subsampled randomized trigonometric transforms: Ailon & Chazelle 2009;
Woolfe, Liberty, Rokhlin & Tygert 2008; Tropp 2011).  With ``E[P^T P] =
(m / n_pad) I``, ``E[S^T S] = I_n`` exactly.

Why: ``scipy.fft`` transforms a whole block of rows in one compiled call
that releases the GIL, ``O(n log n)`` per vector, for any ``n`` (padded
only to the next fast length, not to a power of two).  The sampled
Hadamard transform of ``sketch_operators`` needs a few large and many small
BLAS products per block (each taking the GIL) and pads ``n`` up to twice
its size.  On the features benchmark (4096 x 4096 -> 512,
``benchmarks/bench_sketching.py``) the real Fourier transform took about
15-20% less CPU time than the DCT-II (which pocketfft computes from the
same real FFT plus pre- and post-processing passes) and than the sampled
Hadamard transform, and scaled better over two threads on a loaded
machine.  Only the kept outputs are needed, but a pruned FFT saves little:
the full transform is already ``O(log n)`` per entry.
"""

import numpy as np
from scipy import fft

from .sketch_operators import (
    _blas_threads,
    dense_rows,
    draw_signs_and_rows,
    map_row_chunks,
    scaled_padded_rows,
)

KINDS = ("fourier", "dct")


def draw_trig(n, m, rng):
    """Draw a subsampled randomized trigonometric transform for length ``n``.

    ``n_pad = scipy.fft.next_fast_len(n, real=True)``; ``signs`` and the
    kept outputs ``rows`` are drawn as for the SRHT.

    Returns
    -------
    signs : ndarray of shape (n,)
    rows : ndarray of int, shape (m,), sorted, values in ``[0, n_pad)``
    n_pad : int
    """
    n_pad = fft.next_fast_len(int(n), real=True)
    return (*draw_signs_and_rows(n, n_pad, m, rng), n_pad)


def fourier_positions(n):
    """Where the real Fourier outputs sit in ``rfft``'s output as reals.

    ``rfft`` of length ``n`` gives ``n // 2 + 1`` complex numbers, viewed
    as ``2 (n // 2 + 1)`` interleaved reals ``Re0, Im0, Re1, Im1, ...``;
    ``Im0`` (and ``Im(n/2)`` for even ``n``) are always zero.  Output ``r``
    of the transform is real number ``0`` for ``r = 0`` and ``r + 1``
    otherwise.

    Returns
    -------
    positions : ndarray of int, shape (n,)
    scales : ndarray of shape (n,)
        ``sqrt(2 / n)``, or ``1 / sqrt(n)`` for the constant output and
        (even ``n``) the alternating one.
    """
    positions = np.arange(1, n + 1)
    positions[0] = 0
    scales = np.full(n, np.sqrt(2.0 / n))
    scales[0] = np.sqrt(1.0 / n)
    if n % 2 == 0:
        scales[-1] = np.sqrt(1.0 / n)
    return positions, scales


def _plan(kind, signs, rows, n_pad):
    """Scaled signs, the positions of the kept outputs in the transform's
    real output, and their column scales (None: folded into the signs)."""
    m = rows.shape[0]
    if kind == "dct":
        return signs * np.sqrt(n_pad / m), rows, None
    positions, scales = fourier_positions(n_pad)
    # sqrt(n_pad / m) * scales = sqrt(1 / m) * (1 or sqrt(2)): the common
    # factor goes into the signs, the sqrt(2) is applied to the outputs.
    return signs * np.sqrt(1.0 / m), positions[rows], scales[rows] * np.sqrt(n_pad)


def _transform_rows(kind, Y):
    """The (unscaled for ``"fourier"``) transform of every row of ``Y`` as a
    real array; ``Y`` (float64, C-contiguous) may be overwritten."""
    if kind == "dct":
        return fft.dct(Y, type=2, norm="ortho", axis=1, overwrite_x=True, workers=1)
    return fft.rfft(Y, axis=1, overwrite_x=True, workers=1).view(np.float64)


def trig_rows(A, signs, rows, n_pad, kind="fourier"):
    """``S @ A``, shape (m, k), for the transform ``kind``.

    ``A`` (dense or sparse) is never modified; a padded, sign-flipped copy
    is transformed along its columns (with as many ``scipy.fft`` workers as
    BLAS may use) and the kept outputs gathered.
    """
    scaled, positions, scales = _plan(kind, signs, rows, n_pad)
    Y = scaled_padded_rows(A, scaled, n_pad)
    workers = _blas_threads()
    if kind == "dct":
        Y = fft.dct(Y, type=2, norm="ortho", axis=0, overwrite_x=True, workers=workers)
        return Y[positions]
    # Real position p of rfft's output is the real (p even) or imaginary
    # (p odd) part of complex coefficient p // 2: gather those rows only.
    Z = fft.rfft(Y, axis=0, overwrite_x=True, workers=workers)[positions // 2]
    out = np.where((positions % 2 == 1)[:, None], Z.imag, Z.real)
    out *= scales[:, None]
    return out


def trig_columns(
    X, signs, rows, n_pad, kind="fourier", *, chunk_bytes=2**20, n_threads=None
):
    """``X @ S.T``, shape (N, m), for the transform ``kind``.

    Rows of ``X`` go through in chunks of about ``chunk_bytes`` (default 1
    MB, 32 rows of 4096: measured faster than 2 MB and 256 KB, as fast as
    512 KB, serially and with two threads), shared out over threads by
    :func:`~.sketch_operators.map_row_chunks`.  Per chunk: one pass writes
    the sign-flipped, scaled rows into a zero-padded buffer, one
    ``scipy.fft`` call transforms it, one ``take`` copies the kept outputs
    into the result (and for ``"fourier"`` one product scales them).
    Sparse ``X`` is densified one chunk at a time.
    """
    N, n = X.shape
    m = rows.shape[0]
    scaled, positions, scales = _plan(kind, signs, rows, n_pad)
    out = np.empty((N, m))
    b = max(1, min(N, chunk_bytes // (8 * n_pad)))

    def worker():
        buf = np.empty((b, n_pad))

        def run(start, stop):
            c = stop - start
            Y = buf[:c]
            np.multiply(dense_rows(X, start, stop), scaled, out=Y[:, :n])
            Y[:, n:] = 0.0
            block = out[start:stop]
            np.take(_transform_rows(kind, Y), positions, axis=1, out=block, mode="clip")
            if scales is not None:
                block *= scales

        return run

    map_row_chunks(N, b, worker, n_threads=n_threads)
    return out
