"""Randomized sketching operators: plain numpy / scipy functions.

Every sketch here is an operator ``S`` of shape ``(m, n)`` scaled so that
``E[S^T S] = I_n`` (for the surrogate sketch see :func:`surrogate_sample`).
It is applied to the rows of an ``(n, k)`` array (``S @ A``) or, for the
feature direction, to the columns of an ``(N, n)`` array (``X @ S.T``).

No scikit-learn objects here; randomness comes in as a
:class:`numpy.random.Generator`.

Why one module of ~650 lines: each sketch is a pair of small functions
(draw, apply) plus the ridge-leverage / DPP machinery two of them share;
split further, every file would import every other. Sections, in order:
Walsh-Hadamard, SRHT, CountSketch, Gaussian, leverage scores and DPP,
row sampling.

Walsh-Hadamard transforms.  :func:`fwht` is the full transform: an in-place
butterfly over all columns at once, one vectorized pass per level.  The
subsampled randomized Hadamard transform only needs ``m`` rows of ``H @ Y``,
so :func:`sampled_hadamard` computes just those: write ``n = n1 * n2``; by
the Sylvester structure ``H_n = H_{n1} kron H_{n2}``.  The ``log2(n1)`` high
levels are done at once by one matrix product with the dense ``n1 x n1``
Hadamard matrix (a large radix block, run by BLAS), then the remaining
``log2(n2)`` levels only for the sampled outputs, one small product per
group of outputs sharing their high bits.  With ``n1 ~ sqrt(m)`` this is
``O((n1 n + m n2) k)`` flops in a handful of BLAS calls, which measured
several times faster than the ``log2(n)`` memory-bound numpy passes of the
full butterfly, and nothing of size ``m x n`` is ever formed.
"""

from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from itertools import pairwise

import numpy as np
import scipy.sparse as sp
from scipy.linalg import eigh
from threadpoolctl import ThreadpoolController

_THREADPOOLS = None


@contextmanager
def _single_threaded_blas():
    # Many small products: BLAS threads only add synchronization (badly so
    # on a busy machine).
    global _THREADPOOLS
    if _THREADPOOLS is None:
        _THREADPOOLS = ThreadpoolController()
    with _THREADPOOLS.limit(limits=1, user_api="blas"):
        yield


# ---------------------------------------------------------------------------
# Walsh-Hadamard transform
# ---------------------------------------------------------------------------


def fwht(Y, *, overwrite=False):
    """Unnormalized fast Walsh-Hadamard transform along axis 0.

    Computes ``H_n @ Y`` for the Sylvester-ordered Hadamard matrix ``H_n``
    (entries +-1, ``H_n[i, j] = (-1)^popcount(i & j)``, the same matrix as
    :func:`scipy.linalg.hadamard`) in ``O(n log n)`` operations per column.

    Parameters
    ----------
    Y : ndarray of shape (n,) or (n, k)
        Input; ``n`` must be a power of two.
    overwrite : bool, default=False
        Transform ``Y`` in place (it must then be a C-contiguous float
        array) instead of a copy.

    Returns
    -------
    HY : ndarray of the same shape as ``Y``
    """
    Y = np.asarray(Y)
    n = Y.shape[0]
    if n & (n - 1):
        raise ValueError(f"fwht needs a power-of-two length, got n = {n}.")
    if overwrite and Y.flags.c_contiguous and Y.dtype.kind == "f":
        out = Y
    else:
        out = np.array(Y, dtype=np.result_type(Y.dtype, np.float64), order="C")
    work = out.reshape(n, -1)
    k = work.shape[1]
    buf = np.empty((n // 2) * k, dtype=out.dtype)
    h = 1
    while h < n:
        # (blocks, 2, h, k): the two halves of every butterfly of width 2h.
        v = work.reshape(n // (2 * h), 2, h, k)
        top, bottom = v[:, 0], v[:, 1]
        diff = buf.reshape(n // (2 * h), h, k)
        np.subtract(top, bottom, out=diff)
        top += bottom
        bottom[...] = diff
        h *= 2
    return out


def hadamard_rows(indices, n):
    """Rows ``indices`` of the Sylvester Hadamard matrix ``H_n``.

    Built by doubling (``row_i(H_2n) = [row(H_n), +-row(H_n)]``), so only
    ``len(indices) x n`` entries are formed.

    Parameters
    ----------
    indices : array-like of int
        Row indices in ``[0, n)``.
    n : int
        Size of the Hadamard matrix, a power of two.

    Returns
    -------
    rows : ndarray of shape (len(indices), n)
    """
    indices = np.asarray(indices, dtype=np.int64)
    rows = np.ones((indices.shape[0], n))
    width = 1
    while width < n:
        sign = np.where(indices & width, -1.0, 1.0)
        np.multiply(rows[:, :width], sign[:, None], out=rows[:, width : 2 * width])
        width *= 2
    return rows


def next_power_of_two(n):
    """Smallest power of two ``>= n`` (``n >= 1``)."""
    return 1 << (int(n) - 1).bit_length()


def hadamard_plan(rows, n, *, n1=None, max_entries=2**22):
    """Precompute how :func:`sampled_hadamard` splits ``H_n[rows]``.

    ``n = n1 * n2`` with ``n1 ~ sqrt(m)`` (balancing the two stages), raised
    if needed so that the stored low-bit factors (``m x n2`` entries) stay
    below ``max_entries``.

    Parameters
    ----------
    rows : ndarray of int, shape (m,)
        Sorted row indices in ``[0, n)`` (repeats allowed).
    n : int
        A power of two.

    Returns
    -------
    plan : tuple ``(n1, n2, H1, groups)``; ``H1`` holds the rows of
        ``H_{n1}`` that are used, ``groups`` a list of ``(lo, hi, H2)``:
        outputs ``lo:hi`` share high bits number ``g`` (their position in
        the list) and need the rows ``H2`` of ``H_{n2}``.
    """
    m = rows.shape[0]
    if n1 is None:
        n1 = next_power_of_two(int(np.ceil(np.sqrt(max(m, 1)))))
    n1 = max(n1, next_power_of_two(-(-m * n // max_entries)))
    n1 = min(n, max(2, n1))
    n2 = n // n1
    high = rows // n2
    low = rows - high * n2
    used = np.unique(high)
    bounds = [*np.searchsorted(high, used, side="left").tolist(), m]
    groups = [(lo, hi, hadamard_rows(low[lo:hi], n2)) for lo, hi in pairwise(bounds)]
    return n1, n2, hadamard_rows(used, n1), groups


def sampled_hadamard(Y, plan, *, axis=0):
    """``H_n[rows] @ Y`` (``axis=0``) or ``Y @ H_n[rows].T`` (``axis=1``).

    Two stages, never forming ``H_n`` or the full transform: the high bits
    by one product with the used rows of ``H_{n1}``, then the low bits only
    for the sampled outputs, one product per group of outputs sharing their
    high bits.

    Parameters
    ----------
    Y : ndarray of shape (n, k) (``axis=0``) or (k, n) (``axis=1``)
        C-contiguous; ``n`` a power of two.
    plan : tuple
        From :func:`hadamard_plan`.
    axis : {0, 1}
        Axis of ``Y`` to transform.

    Returns
    -------
    Z : ndarray of shape (m, k) (``axis=0``) or (k, m) (``axis=1``)
    """
    n1, n2, H1, groups = plan
    m = groups[-1][1]
    if axis == 0:
        k = Y.shape[1]
        W = (H1 @ Y.reshape(n1, n2 * k)).reshape(H1.shape[0], n2, k)
        Z = np.empty((m, k), dtype=W.dtype)
        with _single_threaded_blas():
            for g, (lo, hi, H2) in enumerate(groups):
                np.matmul(H2, W[g], out=Z[lo:hi])
        return Z
    k = Y.shape[0]
    # (k, n1, n2) -> (k, used, n2): a batch of small products, one per row
    # of Y, but every W[:, g, :] is then a strided matrix BLAS takes as is.
    W = np.matmul(H1, Y.reshape(k, n1, n2))
    # Outputs as rows of Z^T: every group's product lands in a contiguous
    # block (BLAS writes it in place, no temporary and copy per group).
    Zt = np.empty((m, k), dtype=W.dtype)
    for g, (lo, hi, H2) in enumerate(groups):
        np.matmul(H2, W[:, g, :].T, out=Zt[lo:hi])
    return Zt.T


# ---------------------------------------------------------------------------
# SRHT
# ---------------------------------------------------------------------------


def draw_srht(n, m, rng):
    """Draw an SRHT ``S = (1/sqrt(m)) P H D`` for inputs of length ``n``.

    ``D`` has i.i.d. random signs, ``H`` is the unnormalized Hadamard matrix
    of the padded size ``n_pad = next_power_of_two(n)`` and ``P`` samples
    ``m`` of its rows uniformly without replacement (if ``m > n_pad``: every
    row ``m // n_pad`` times plus the rest without replacement).  Then
    ``E[P^T P] = (m / n_pad) I`` and ``E[S^T S] = I_n``.

    Returns
    -------
    signs : ndarray of shape (n,)
    rows : ndarray of int, shape (m,), sorted, values in ``[0, n_pad)``
    n_pad : int
    """
    n_pad = next_power_of_two(n)
    return (*draw_signs_and_rows(n, n_pad, m, rng), n_pad)


def draw_signs_and_rows(n, n_pad, m, rng):
    """Random signs for ``n`` inputs and ``m`` outputs out of ``n_pad``.

    The outputs are drawn uniformly without replacement (if ``m > n_pad``:
    every one ``m // n_pad`` times plus the rest without replacement), so
    that ``E[P^T P] = (m / n_pad) I``; returned sorted.
    """
    signs = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    repeats, rest = divmod(m, n_pad)
    rows = rng.choice(n_pad, size=rest, replace=False)
    if repeats:
        rows = np.concatenate([np.tile(np.arange(n_pad), repeats), rows])
    return signs, np.sort(rows)


def scaled_padded_rows(A, scale, n_pad):
    """``diag(scale) A`` zero-padded to ``n_pad`` rows, dense; ``A`` (dense or sparse) untouched."""
    n, k = A.shape
    Y = np.empty((n_pad, k))
    Y[n:] = 0.0
    if sp.issparse(A):
        Y[:n] = (sp.diags(scale) @ A).toarray()
    else:
        np.multiply(A, scale[:, None], out=Y[:n])
    return Y


def srht_rows(A, signs, rows, n_pad):
    """Apply the SRHT to the rows of ``A``: returns ``S @ A``, shape (m, k).

    ``A`` (dense or sparse) is never modified; a padded, sign-flipped copy is
    transformed.
    """
    Y = scaled_padded_rows(A, signs, n_pad)
    Z = sampled_hadamard(Y, hadamard_plan(rows, n_pad), axis=0)
    Z *= 1.0 / np.sqrt(rows.shape[0])
    return Z


def srht_columns(X, signs, rows, n_pad, *, chunk_bytes=2**22, n_threads=None):
    """Apply the SRHT to the columns of ``X``: returns ``X @ S.T``, (N, m).

    Rows of ``X`` go through in chunks of about ``chunk_bytes`` so that the
    sign-flipped, zero-padded working copy stays in cache (the default, 4
    MB, 128 rows of 4096, measured best with two threads: smaller chunks
    mean more small products, each taking the GIL; serially 2 MB and 4 MB
    were within noise of each other); sparse ``X`` is
    densified one chunk at a time.  Per chunk: the high bits of the
    transform by one batched product with the used rows of ``H_{n1}`` (the
    ``1/sqrt(m)`` scale folded into them), then for every group of outputs
    sharing their high bits one product into its block of rows of a
    transposed chunk of the output.  Chunks are shared out over threads by
    :func:`map_row_chunks` (``n_threads``).
    """
    N, n = X.shape
    m = rows.shape[0]
    n1, n2, H1, groups = hadamard_plan(rows, n_pad)
    H1 = H1 * (1.0 / np.sqrt(m))
    out = np.empty((N, m))
    b = max(1, min(N, chunk_bytes // (8 * n_pad)))

    def worker():
        buf = np.zeros((b, n_pad))
        W = np.empty((b, H1.shape[0], n2))
        Zt = np.empty((m, b))

        def run(start, stop):
            c = stop - start
            np.multiply(dense_rows(X, start, stop), signs, out=buf[:c, :n])
            Wc = W[:c]
            np.matmul(H1, buf[:c].reshape(c, n1, n2), out=Wc)
            # Outputs as rows of Zt: the products are (size, n2) @ (n2, c),
            # wide in c, and land in contiguous blocks; one transposed copy
            # per chunk into the output (measured faster than writing
            # (c, n2) @ (n2, size) products, narrow in size, straight into
            # the output's column blocks).
            Ztc = Zt[:, :c]
            for g, (lo, hi, H2) in enumerate(groups):
                np.matmul(H2, Wc[:, g, :].T, out=Ztc[lo:hi])
            out[start:stop] = Ztc.T

        return run

    map_row_chunks(N, b, worker, n_threads=n_threads)
    return out


def dense_rows(X, start, stop):
    """Rows ``start:stop`` of ``X`` as a dense array (sparse densified)."""
    chunk = X[start:stop]
    return chunk.toarray() if sp.issparse(chunk) else chunk


def map_row_chunks(N, b, worker, *, n_threads=None):
    """Run ``worker()(start, stop)`` over the row chunks ``[start, stop)`` of
    width ``b`` covering ``range(N)``, shared out over ``n_threads`` threads.

    ``worker()`` is called once per thread and returns the function that
    processes one chunk (with that thread's own buffers).  The chunks are
    handed out one at a time (default ``n_threads``: as many as BLAS may
    use here, so a sketch uses the cores a dense Gaussian projection's BLAS
    call would; under ``threadpoolctl.threadpool_limits(1)`` or inside a
    joblib worker it runs serially): a thread slowed down by other load on
    its core takes fewer chunks instead of holding up the others.  BLAS
    runs single-threaded inside.  Every chunk is computed the same way
    whatever thread runs it, so results do not depend on the number of
    threads.
    """
    starts = iter(range(0, N, b))
    if n_threads is None:
        n_threads = _blas_threads()
    n_threads = max(1, min(n_threads, -(-N // b)))

    def run():
        process = worker()
        # next() on a shared range iterator is atomic under the GIL.
        for start in starts:
            process(start, min(N, start + b))

    with _single_threaded_blas():
        if n_threads == 1:
            run()
        else:
            # numpy and scipy.fft release the GIL in the heavy calls.
            with ThreadPoolExecutor(n_threads) as pool:
                for future in [pool.submit(run) for _ in range(n_threads)]:
                    future.result()


def _blas_threads():
    """Number of threads BLAS may use now (1 if none is loaded)."""
    global _THREADPOOLS
    if _THREADPOOLS is None:
        _THREADPOOLS = ThreadpoolController()
    info = _THREADPOOLS.select(user_api="blas").info()
    return max([1, *(int(lib.get("num_threads", 1)) for lib in info)])


# ---------------------------------------------------------------------------
# CountSketch
# ---------------------------------------------------------------------------


def draw_countsketch(n, m, rng):
    """Draw a CountSketch: column ``j`` of ``S`` has one entry ``signs[j]``
    in row ``buckets[j]``.  ``E[S^T S] = I_n`` without rescaling."""
    buckets = rng.integers(0, m, size=n)
    # One random bit per sign: n / 8 random bytes, unpacked.
    bits = np.unpackbits(rng.integers(0, 256, size=-(-n // 8), dtype=np.uint8), count=n)
    signs = bits.astype(np.float64)
    signs *= -2.0
    signs += 1.0
    return buckets, signs


def countsketch_rows(A, buckets, signs, m):
    """``S @ A`` in ``O(nnz(A))``.

    Dense ``A`` gives an ndarray.  Sparse ``A`` (CSR or CSC) gives an
    ndarray when ``m * d <= nnz(A)`` -- then the result is mostly nonzero
    (about ``1 - exp(-nnz / (m d))`` of it for spread-out data), so dense
    storage is no larger than CSR would be and at most ``A``'s own data
    array -- and a CSR matrix otherwise.  An ``m x n`` matrix is never
    formed.
    """
    n, k = A.shape
    if not sp.issparse(A):
        S = sp.csr_matrix((signs, (buckets, np.arange(n))), shape=(m, n))
        return np.asarray(S @ A)
    if A.format not in ("csr", "csc"):
        A = A.tocsr()
    counts = np.diff(A.indptr)
    if m * k <= A.nnz:
        if A.format == "csc":
            return _countsketch_csc_dense(A, buckets, signs, m)
        return _countsketch_csr_dense(A, counts, buckets, signs, m)
    if A.format == "csc":
        cols = np.repeat(np.arange(k), counts)
        data = A.data * signs[A.indices]
        return _accumulate_csr(buckets[A.indices], cols, data, (m, k))
    out_rows = np.repeat(buckets, counts)
    data = A.data * np.repeat(signs, counts)
    return _accumulate_csr(out_rows, A.indices, data, (m, k))


def _countsketch_csr_dense(A, counts, buckets, signs, m):
    # Row i of A goes to output row buckets[i]: flat keys
    # buckets[i] * d + column, summed by one bincount (no sort, no
    # duplicate handling); the per-row values come by np.repeat, no gather.
    k = A.shape[1]
    key = np.repeat(buckets.astype(np.intp, copy=False) * k, counts)
    key += A.indices
    weights = np.repeat(signs, counts)
    weights *= A.data
    return np.bincount(key, weights=weights, minlength=m * k).reshape(m, k)


def _countsketch_csc_dense(A, buckets, signs, m, *, chunk_entries=2**15):
    # One gather per entry, of a signed bucket code (bucket, plus m if the
    # sign is negative), instead of two (bucket and sign): one bincount sums
    # the positive and the negative entries into separate halves,
    # subtracted at the end.  Columns go through in chunks whose
    # 2m-per-column buffer holds about chunk_entries doubles, so the keys,
    # the buffer and the output block stay in cache.
    k = A.shape[1]
    code = np.where(signs < 0, buckets + m, buckets)
    out = np.empty((k, m))
    width = max(1, chunk_entries // (2 * m))
    offsets = np.arange(0, 2 * m * width, 2 * m)
    indptr = A.indptr
    for c0 in range(0, k, width):
        c1 = min(k, c0 + width)
        lo, hi = indptr[c0], indptr[c1]
        key = np.take(code, A.indices[lo:hi])
        key += np.repeat(offsets[: c1 - c0], np.diff(indptr[c0 : c1 + 1]))
        D = np.bincount(key, weights=A.data[lo:hi], minlength=2 * m * (c1 - c0))
        D = D.reshape(c1 - c0, 2, m)
        np.subtract(D[:, 0], D[:, 1], out=out[c0:c1])
    # (k, m) C-ordered, returned transposed: an F-ordered (m, k) array.
    return out.T


def countsketch_columns(X, buckets, signs, m):
    """``X @ S.T`` in ``O(nnz(X))``; sparse ``X`` gives a CSR result."""
    N, n = X.shape
    if sp.issparse(X):
        X = X.tocsr()
        rows = np.repeat(np.arange(N), np.diff(X.indptr))
        data = X.data * signs[X.indices]
        return _accumulate_csr(rows, buckets[X.indices], data, (N, m))
    S = sp.csr_matrix((signs, (buckets, np.arange(n))), shape=(m, n))
    return np.asarray(S @ X.T).T


def _accumulate_csr(rows, cols, data, shape):
    """CSR matrix with duplicate entries summed.

    When the result is small next to the number of entries (the usual case
    for a sketch: many inputs land on every output), summing into a dense
    buffer with ``bincount`` and compressing it beats the sort inside
    scipy's duplicate summation.
    """
    n_rows, n_cols = shape
    size = n_rows * n_cols
    if size > max(4 * data.shape[0], 2**22):
        out = sp.csr_matrix((data, (rows, cols)), shape=shape)
        out.sum_duplicates()
        return out
    dense = np.bincount(
        rows.astype(np.int64, copy=False) * n_cols + cols, weights=data, minlength=size
    )
    nz = np.flatnonzero(dense)
    indptr = np.searchsorted(nz, np.arange(0, size + 1, n_cols))
    return sp.csr_matrix((dense[nz], nz % n_cols, indptr), shape=shape)


# ---------------------------------------------------------------------------
# Gaussian
# ---------------------------------------------------------------------------


def gaussian_rows(A, m, rng, *, block_bytes=2**25):
    """``S @ A`` for ``S`` with i.i.d. ``N(0, 1/m)`` entries, drawn in blocks
    of columns so that at most ``block_bytes`` of ``S`` exist at a time."""
    n, k = A.shape
    if sp.issparse(A):
        A = A.tocsr()
    block = max(1, block_bytes // (8 * m))
    out = np.zeros((m, k))
    scale = 1.0 / np.sqrt(m)
    for start in range(0, n, block):
        S = rng.standard_normal((m, min(block, n - start)))
        A_block = A[start : start + block]
        if sp.issparse(A_block):
            out += (A_block.T @ S.T).T
        else:
            out += S @ A_block
    out *= scale
    return out


# ---------------------------------------------------------------------------
# Ridge leverage scores, effective dimension, DPP
# ---------------------------------------------------------------------------


def _dense_gram(B):
    G = B.T @ B
    return G.toarray() if sp.issparse(G) else np.asarray(G)


def _eigen_tol(s, shape):
    return max(float(s.max(initial=0.0)), 0.0) * max(shape) * np.finfo(float).eps


def _eigh(M, **kwargs):
    # Single-threaded, as the QR in sample_ridge_dpp: a d x d
    # eigendecomposition gains little from BLAS threads and loses much to
    # them on a busy machine; the Gram products around it keep theirs.
    with _single_threaded_blas():
        return eigh(M, **kwargs)


def row_space_eigh(A):
    """Eigenpairs of ``A A^T`` through the smaller Gram matrix.

    Returns ``s`` (r,) positive eigenvalues and ``U`` (n, r) orthonormal
    eigenvectors of ``A A^T`` (``r <= min(n, d)``).  Costs ``O(n d min(n, d))``.
    """
    n, d = A.shape
    if n <= d:
        s, U = _eigh(_dense_gram(A.T))
        keep = s > _eigen_tol(s, A.shape)
        return s[keep], U[:, keep]
    s, V = _eigh(_dense_gram(A))
    keep = s > _eigen_tol(s, A.shape)
    s, V = s[keep], V[:, keep]
    U = np.asarray(A @ V) / np.sqrt(s)
    return s, U


def effective_dimension(A, alpha):
    """``tr(A^T A (A^T A + alpha I)^{-1})`` from the eigenvalues of the
    smaller Gram matrix (for ``alpha = 0``: the numerical rank)."""
    n, d = A.shape
    s = _eigh(_dense_gram(A.T if n <= d else A), eigvals_only=True)
    s = s[s > _eigen_tol(s, A.shape)]
    return float(np.sum(s / (s + alpha)))


def ridge_leverage_scores(A, alpha):
    """``diag(A (A^T A + alpha I)^{-1} A^T)``, exact (pseudo-inverse if
    ``alpha = 0``).  They sum to :func:`effective_dimension`."""
    s, U = row_space_eigh(A)
    return (U**2) @ (s / (s + alpha))


def sketched_ridge_leverage_scores(A, alpha, rng, *, oversampling=20, n_probes=32):
    """Approximate ridge leverage scores in ``O(nnz(A) t + k d^2 + d^3)``.

    The Gram matrix is estimated from a CountSketch of ``k = oversampling * d``
    rows, giving ``M`` with ``M M^T ~ (A^T A + alpha I)^{-1}``; the row norms
    of ``A M`` are estimated with ``t = n_probes`` Gaussian probes.  Scores are
    within a constant factor of the exact ones with high probability; used
    as sampling probabilities they keep every estimate unbiased.
    """
    n, d = A.shape
    k = min(n, oversampling * d)
    buckets, signs = draw_countsketch(n, k, rng)
    SA = countsketch_rows(A, buckets, signs, k)
    s, V = _eigh(_dense_gram(SA))
    s = np.maximum(s, 0.0)
    if alpha == 0:
        keep = s > _eigen_tol(s, A.shape)
        s, V = s[keep], V[:, keep]
    M = V / np.sqrt(s + alpha)
    if M.shape[1] > n_probes:
        M = M @ (rng.standard_normal((M.shape[1], n_probes)) / np.sqrt(n_probes))
    B = np.asarray(A @ M)
    return np.einsum("ij,ij->i", B, B)


def sample_projection_dpp(U, rng):
    """Sample the projection DPP with kernel ``U U^T`` (``U`` orthonormal
    columns): exactly ``U.shape[1]`` distinct indices, by the chain rule with
    incremental Cholesky updates, ``O(n r^2)``."""
    n, r = U.shape
    residual = np.einsum("ij,ij->i", U, U)
    C = np.empty((n, r))
    chosen = np.empty(r, dtype=np.int64)
    for t in range(r):
        p = np.maximum(residual, 0.0)
        cdf = np.cumsum(p)
        i = int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right"))
        i = min(i, n - 1)
        chosen[t] = i
        c = U @ U[i] - C[:, :t] @ C[i, :t]
        c /= np.sqrt(max(residual[i], np.finfo(float).tiny))
        C[:, t] = c
        residual -= c**2
        residual[i] = 0.0
    return np.sort(chosen)


def sample_ridge_dpp(A, alpha, rng, *, spectrum=None):
    """One draw of the L-ensemble DPP with ``L = A A^T / alpha``.

    Spectral algorithm through the smaller Gram matrix: keep eigenvector
    ``k`` of ``A A^T`` with probability ``s_k / (s_k + alpha)``, then sample
    the projection DPP of the kept directions.  Expected size
    ``effective_dimension(A, alpha)``; inclusion probabilities
    ``diag(L (L + I)^{-1})`` = the ridge leverage scores.

    Parameters
    ----------
    A : {ndarray, sparse matrix} of shape (n, d)
    alpha : float > 0
    rng : numpy.random.Generator
    spectrum : tuple (s, U), optional
        ``row_space_eigh(A)``, to reuse over many draws.

    Returns
    -------
    indices : ndarray of int, sorted, distinct
    """
    s, U = row_space_eigh(A) if spectrum is None else spectrum
    keep = rng.random(s.shape[0]) < s / (s + alpha)
    if not keep.any():
        return np.empty(0, dtype=np.int64)
    V = U[:, keep]
    if V.shape[1] > 1:
        # Re-orthonormalize: columns from A V / sqrt(s) lose a little
        # orthogonality for the small eigenvalues.  Single-threaded: a
        # tall-skinny QR gains nothing from BLAS threads and, on a busy
        # machine, lost 100x to them (measured: 1 s instead of 10 ms).
        with _single_threaded_blas():
            V, _ = np.linalg.qr(V)
    return sample_projection_dpp(V, rng)


# ---------------------------------------------------------------------------
# Row-sampling sketches
# ---------------------------------------------------------------------------


def sampling_probabilities(A, alpha, base, rng=None, *, spectrum=None):
    """Row probabilities ``p``: ``"uniform"``, ``"leverage"`` (exact ridge
    leverage scores, from ``spectrum = row_space_eigh(A)`` if given) or
    ``"sketched"`` (approximate ones), normalized."""
    n = A.shape[0]
    if base == "uniform":
        return np.full(n, 1.0 / n)
    if base == "leverage":
        s, U = row_space_eigh(A) if spectrum is None else spectrum
        scores = (U**2) @ (s / (s + alpha))
    else:
        scores = sketched_ridge_leverage_scores(A, alpha, rng)
    total = scores.sum()
    if not total > 0:
        # A == 0: every row is as good as any other.
        return np.full(n, 1.0 / n)
    return scores / total


def iid_sample(p, m, rng):
    """``m`` i.i.d. row indices from ``p`` with weights ``1/sqrt(m p_i)``:
    the sampling sketch with ``E[S^T S] = I`` on the support of ``p``."""
    idx = np.sort(rng.choice(p.shape[0], size=m, p=p))
    return idx, 1.0 / np.sqrt(m * p[idx])


def surrogate_sample(A, m, alpha, p, rng, *, spectrum=None):
    """Draw a surrogate sketch (Derezinski et al., NeurIPS 2020).

    The union of ``Poisson(m - d_alpha)`` i.i.d. rows from ``p`` and one draw
    of the L-ensemble DPP with ``L = A A^T / alpha``; every chosen row ``i``
    is scaled by ``1/sqrt(m p_i)``.  Then, with ``alpha' = alpha (1 -
    d_alpha/m)``, exactly::

        (1 - d_alpha/m) E[((SA)^T SA + alpha' I)^{-1}] = (A^T A + alpha I)^{-1}.

    ``E[S^T S] = I`` holds when ``p`` are the ridge leverage scores; for
    other ``p`` its diagonal is ``1 - d_alpha/m + l_i / (m p_i)``.

    Parameters
    ----------
    A : {ndarray, sparse matrix} of shape (n, d)
    m : int
        Expected sketch size, ``> d_alpha``.
    alpha : float > 0
    p : ndarray of shape (n,)
        Base row probabilities.
    rng : numpy.random.Generator
    spectrum : tuple (s, U), optional
        ``row_space_eigh(A)``, to reuse over many draws.

    Returns
    -------
    idx : ndarray of int, sorted (rows may repeat)
    weights : ndarray of float, ``1/sqrt(m p_idx)``
    d_alpha : float
    """
    if spectrum is None:
        spectrum = row_space_eigh(A)
    s = spectrum[0]
    d_alpha = float(np.sum(s / (s + alpha)))
    if not m > d_alpha:
        raise ValueError(
            f"The surrogate sketch needs n_components > effective dimension; "
            f"got n_components={m} <= d_alpha={d_alpha:.3f} (alpha={alpha}). "
            f"Increase n_components or alpha."
        )
    n_iid = rng.poisson(m - d_alpha)
    iid = rng.choice(p.shape[0], size=n_iid, p=p)
    dpp = sample_ridge_dpp(A, alpha, rng, spectrum=spectrum)
    idx = np.sort(np.concatenate([iid, dpp]))
    return idx, 1.0 / np.sqrt(m * p[idx]), d_alpha


def apply_row_sample(A, idx, weights):
    """``S @ A`` for a row-sampling sketch: rows ``idx`` scaled by
    ``weights``.  Sparse ``A`` gives a CSR result."""
    if sp.issparse(A):
        return sp.csr_matrix(sp.diags(weights) @ A.tocsr()[idx])
    return A[idx] * weights[:, None]
