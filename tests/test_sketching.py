"""Tests for the sketches, against independent references.

References are computed here from scratch: dense Hadamard matrices from
scipy, explicit operators ``S`` (obtained as ``sketch(I) = S``), ridge
leverage scores and DPP marginals from their defining formulas, and Monte
Carlo averages for the statements about expectations.
"""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.fft import dct
from scipy.linalg import dft, hadamard
from sklearn.base import clone
from sklearn.exceptions import DataDimensionalityWarning
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.random_projection import GaussianRandomProjection

from sklearn_convexnn._solvers.sketch import sketch_operators as ops
from sklearn_convexnn._solvers.sketch import trig_sketch as trig
from sklearn_convexnn.sketching import (
    CountSketch,
    GaussianSketch,
    LeverageScoreSketch,
    SRHTSketch,
    SurrogateSketch,
    effective_dimension,
    ridge_leverage_scores,
)

OBLIVIOUS = [GaussianSketch, SRHTSketch, CountSketch]
ALL = [*OBLIVIOUS, LeverageScoreSketch, SurrogateSketch]


def _coherent_orthonormal(n, d):
    """Orthonormal (n, d) with two spiky directions (coordinate vectors):
    uniform row sampling would miss them, a subspace embedding must not."""
    Q = _orthonormal(n, d, 0)
    Q[:, :2] = np.eye(n)[:, :2]
    return np.linalg.qr(Q)[0]


def _orthonormal(n, d, seed):
    Q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((n, d)))
    return Q


def _exact_leverage(A, alpha):
    A = A.toarray() if sp.issparse(A) else A
    M = np.linalg.pinv(A.T @ A + alpha * np.eye(A.shape[1]))
    return np.einsum("ij,jk,ik->i", A, M, A)


# ---------------------------------------------------------------- Hadamard


@pytest.mark.parametrize("n", [1, 2, 16, 256])
def test_fwht_matches_dense_hadamard(n):
    Y = np.random.default_rng(0).standard_normal((n, 3))
    Y0 = Y.copy()
    np.testing.assert_allclose(ops.fwht(Y), hadamard(n) @ Y, atol=1e-10)
    np.testing.assert_array_equal(Y, Y0)
    np.testing.assert_array_equal(ops.hadamard_rows(np.arange(n), n), hadamard(n))


def test_fwht_rejects_non_power_of_two():
    with pytest.raises(ValueError, match="power-of-two"):
        ops.fwht(np.ones((6, 2)))


@pytest.mark.parametrize("n, m", [(8, 3), (256, 40), (1024, 1024), (64, 200)])
def test_sampled_hadamard_matches_dense(n, m):
    rng = np.random.default_rng(1)
    Y = rng.standard_normal((n, 5))
    rows = np.sort(rng.integers(0, n, m))
    H = hadamard(n)[rows]
    for plan in (
        ops.hadamard_plan(rows, n),
        ops.hadamard_plan(rows, n, max_entries=64),
    ):
        np.testing.assert_allclose(ops.sampled_hadamard(Y, plan), H @ Y, atol=1e-9)
        Yt = np.ascontiguousarray(Y.T)
        np.testing.assert_allclose(
            ops.sampled_hadamard(Yt, plan, axis=1), Y.T @ H.T, atol=1e-9
        )


# ------------------------------------------- real Fourier and DCT transforms

SRHT_KINDS = ["fourier", "dct", "hadamard"]


def _dense_trig(kind, n):
    """The orthonormal transform matrix, from its definition: the DCT-II by
    its cosine formula, the real Fourier transform from the rows of scipy's
    dense DFT matrix (real parts, then imaginary parts, interleaved)."""
    j = np.arange(n)
    if kind == "dct":
        C = np.sqrt(2.0 / n) * np.cos(np.pi * np.outer(j, 2 * j + 1) / (2 * n))
        C[0] /= np.sqrt(2.0)
        return C
    F = dft(n)  # F[k, j] = exp(-2 pi i j k / n)
    R = np.empty((n, n))
    R[0] = F[0].real / np.sqrt(n)
    for k in range(1, (n + 1) // 2):
        R[2 * k - 1] = np.sqrt(2.0 / n) * F[k].real
        R[2 * k] = np.sqrt(2.0 / n) * F[k].imag
    if n % 2 == 0:
        R[n - 1] = F[n // 2].real / np.sqrt(n)
    return R


@pytest.mark.parametrize("n", [1, 2, 5, 8, 15, 64])
def test_trig_transform_matrices_are_orthonormal(n):
    # The references themselves: orthogonal, entries at most sqrt(2 / n);
    # the DCT formula is scipy's dense orthonormal DCT-II matrix.
    for kind in ("fourier", "dct"):
        T = _dense_trig(kind, n)
        np.testing.assert_allclose(T @ T.T, np.eye(n), atol=1e-12)
        assert np.abs(T).max() <= np.sqrt(2.0 / n) + 1e-12
    np.testing.assert_allclose(
        _dense_trig("dct", n), dct(np.eye(n), norm="ortho", axis=0), atol=1e-12
    )


@pytest.mark.parametrize("kind", ["fourier", "dct"])
@pytest.mark.parametrize("n, m", [(100, 30), (15, 4), (37, 100), (7, 3), (1, 1)])
def test_trig_sketch_is_the_documented_operator(kind, n, m):
    # S = sqrt(n_pad / m) T[rows][:, :n] diag(signs) with T the dense
    # orthonormal transform: both directions, dense and sparse input, any
    # chunking and number of threads (identical results), and the estimator.
    signs, rows, n_pad = trig.draw_trig(n, m, np.random.default_rng(3))
    assert n_pad >= n and rows.shape == (m,) and np.all(np.diff(rows) >= 0)
    S = np.sqrt(n_pad / m) * _dense_trig(kind, n_pad)[rows][:, :n] * signs
    rng = np.random.default_rng(4)
    A = rng.standard_normal((n, 4))
    X = rng.standard_normal((37, n))
    A0, X0 = A.copy(), X.copy()
    np.testing.assert_allclose(trig.trig_rows(A, signs, rows, n_pad, kind), S @ A, atol=1e-10)
    np.testing.assert_allclose(
        trig.trig_rows(sp.csc_matrix(A), signs, rows, n_pad, kind), S @ A, atol=1e-10
    )
    kwargs = {"chunk_bytes": 8 * n_pad * 4}  # 4 rows per chunk
    serial = trig.trig_columns(X, signs, rows, n_pad, kind, n_threads=1, **kwargs)
    np.testing.assert_allclose(serial, X @ S.T, atol=1e-10)
    for n_threads in (2, 3):
        threaded = trig.trig_columns(
            X, signs, rows, n_pad, kind, n_threads=n_threads, **kwargs
        )
        np.testing.assert_array_equal(threaded, serial)
    got = trig.trig_columns(sp.csr_matrix(X), signs, rows, n_pad, kind)
    np.testing.assert_allclose(got, X @ S.T, atol=1e-10)
    np.testing.assert_array_equal(A, A0)
    np.testing.assert_array_equal(X, X0)
    est = SRHTSketch(m, transform_kind=kind, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataDimensionalityWarning)
        est.fit(X)
    S = (
        np.sqrt(est.n_padded_ / m)
        * _dense_trig(kind, est.n_padded_)[est.sample_indices_][:, :n]
        * est.signs_
    )
    np.testing.assert_allclose(est.transform(X), X @ S.T, atol=1e-10)


@pytest.mark.parametrize("kind", SRHT_KINDS)
def test_srht_kinds_expected_gram_is_identity(kind):
    # Monte Carlo E[S^T S] = I_n for every transform; n = 7 is padded (to 8).
    n, m, draws = 7, 3, 2000
    est = SRHTSketch(n_components=m, transform_kind=kind)
    rng = np.random.default_rng(0)
    grams = np.empty((draws, n * n))
    for t in range(draws):
        S = est.sketch(np.eye(n), random_state=rng)
        grams[t] = (S.T @ S).ravel()
    _assert_mc_mean(grams, np.eye(n).ravel())
    np.testing.assert_allclose(grams.mean(axis=0), np.eye(n).ravel(), atol=0.15)


@pytest.mark.parametrize("kind", SRHT_KINDS)
def test_srht_kinds_subspace_embedding(kind):
    # As test_subspace_embedding, for every transform, on a coherent Q; the
    # distortion is also of the order of the Gaussian sketch's.
    n, d, m = 2048, 8, 512
    Q = _coherent_orthonormal(n, d)
    worst, worst_gauss = 0.0, 0.0
    for seed in range(3):
        sv = np.linalg.svd(
            SRHTSketch(m, transform_kind=kind).sketch(Q, random_state=seed),
            compute_uv=False,
        )
        worst = max(worst, np.max(np.abs(sv - 1)))
        sv = np.linalg.svd(GaussianSketch(m).sketch(Q, random_state=seed), compute_uv=False)
        worst_gauss = max(worst_gauss, np.max(np.abs(sv - 1)))
    assert worst < 3.0 * np.sqrt(d / m)
    assert worst < 2.0 * worst_gauss


def test_srht_transform_kind_validated_and_padding():
    X = np.ones((3, 4097))
    # The next 5-smooth length (scipy's fast real FFT lengths), not 8192.
    assert SRHTSketch(8, random_state=0).fit(X).n_padded_ == 4320 == 2**5 * 3**3 * 5
    assert SRHTSketch(8, transform_kind="dct", random_state=0).fit(X).n_padded_ == 4320
    assert SRHTSketch(8, transform_kind="hadamard").fit(X).n_padded_ == 8192
    with pytest.raises(ValueError, match="transform_kind"):
        SRHTSketch(8, transform_kind="wavelet").fit(X)


# ------------------------------------------------------ operators, explicitly


def test_srht_is_the_documented_operator():
    n, m = 100, 30
    A = np.random.default_rng(2).standard_normal((n, 4))
    signs, rows, n_pad = ops.draw_srht(n, m, np.random.default_rng(3))
    assert n_pad == 128 and rows.shape == (m,) and np.unique(rows).size == m
    S = hadamard(n_pad)[rows][:, :n] * signs / np.sqrt(m)
    np.testing.assert_allclose(ops.srht_rows(A, signs, rows, n_pad), S @ A, atol=1e-10)
    X = np.random.default_rng(4).standard_normal((37, n))
    got = ops.srht_columns(X, signs, rows, n_pad, chunk_bytes=8 * 128 * 8)
    np.testing.assert_allclose(got, X @ S.T, atol=1e-10)


def test_countsketch_is_the_documented_operator():
    n, m = 50, 7
    buckets, signs = ops.draw_countsketch(n, m, np.random.default_rng(0))
    S = np.zeros((m, n))
    S[buckets, np.arange(n)] = signs
    A = np.random.default_rng(1).standard_normal((n, 3))
    np.testing.assert_allclose(ops.countsketch_rows(A, buckets, signs, m), S @ A)
    X_sp = sp.random(9, n, density=0.3, format="csr", random_state=3)
    got = ops.countsketch_columns(X_sp, buckets, signs, m)
    np.testing.assert_allclose(got.toarray(), X_sp.toarray() @ S.T)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
@pytest.mark.parametrize("density", [0.02, 0.6])  # m * d > nnz: CSR; <= nnz: dense
def test_countsketch_rows_sparse_is_the_explicit_product(fmt, density):
    # The result equals S @ A for the explicit S; its type follows the
    # documented rule (dense iff m * d <= nnz(A)) for either input format.
    n, d, m = 300, 40, 7
    buckets, signs = ops.draw_countsketch(n, m, np.random.default_rng(0))
    S = np.zeros((m, n))
    S[buckets, np.arange(n)] = signs
    A = sp.random(n, d, density=density, format="csr", random_state=1)
    A0 = A.copy()
    B = A.asformat(fmt)
    got = ops.countsketch_rows(B, buckets, signs, m)
    assert sp.issparse(got) == (m * d > A.nnz)
    got = got.toarray() if sp.issparse(got) else got
    assert got.shape == (m, d)
    np.testing.assert_allclose(got, S @ A.toarray(), atol=1e-12)
    np.testing.assert_allclose(ops.countsketch_rows(A.toarray(), buckets, signs, m), got)
    np.testing.assert_array_equal(A.toarray(), A0.toarray())
    # Through the estimator: same seed, same operator for every format.
    est = CountSketch(n_components=m)
    ref = est.sketch(A.toarray(), random_state=4)
    out = est.sketch(B, random_state=4)
    out = out.toarray() if sp.issparse(out) else out
    np.testing.assert_allclose(out, ref, atol=1e-12)


def test_countsketch_csc_chunks_and_duplicates():
    # Column chunks of every width (down to one column per chunk), with
    # unsorted indices and duplicate entries in the CSC input.
    n, d, m = 50, 13, 3
    rng = np.random.default_rng(0)
    buckets, signs = ops.draw_countsketch(n, m, rng)
    S = np.zeros((m, n))
    S[buckets, np.arange(n)] = signs
    rows = rng.integers(0, n, 400)
    cols = rng.integers(0, d, 400)
    vals = rng.standard_normal(400)
    A = sp.csc_matrix((vals, (rows, cols)), shape=(n, d))
    # Every entry twice, rows unsorted within columns, built from the raw
    # CSC arrays (the constructor then keeps the duplicates).
    order = np.argsort(np.r_[cols, cols], kind="stable")
    indptr = np.searchsorted(np.r_[cols, cols][order], np.arange(d + 1))
    A_dup = sp.csc_matrix(
        (np.r_[vals, vals][order], np.r_[rows, rows][order], indptr), shape=(n, d)
    )
    assert A_dup.nnz == 800
    ref = S @ A.toarray()
    for chunk in (1, 2 * m, 5 * 2 * m, 10**6):
        got = ops._countsketch_csc_dense(A, buckets, signs, m, chunk_entries=chunk)
        np.testing.assert_allclose(got, ref, atol=1e-12)
    np.testing.assert_allclose(ops.countsketch_rows(A_dup, buckets, signs, m), 2 * ref)


@pytest.mark.parametrize("cls", OBLIVIOUS)
def test_sketch_of_identity_is_the_operator(cls):
    # For a data-oblivious sketch, sketch(I) = S, and the same seed gives
    # the same S for any A with as many rows.
    n = 40
    A = np.random.default_rng(0).standard_normal((n, 6))
    est = cls(n_components=9)
    S = est.sketch(np.eye(n), random_state=7)
    assert S.shape == (9, n)
    SA = est.sketch(A, random_state=7)
    SA = SA.toarray() if sp.issparse(SA) else SA
    np.testing.assert_allclose(SA, S @ A, atol=1e-10)


@pytest.mark.parametrize("cls", OBLIVIOUS)
def test_transform_applies_the_fitted_operator(cls):
    d = 20
    X = np.random.default_rng(0).standard_normal((15, d))
    est = cls(n_components=6, random_state=0).fit(X)
    # Row j of S^T is the transform of the j-th unit vector.
    ST = est.transform(np.eye(d))
    ST = ST.toarray() if sp.issparse(ST) else ST
    np.testing.assert_allclose(est.transform(X), X @ ST, atol=1e-10)
    if cls is GaussianSketch:
        np.testing.assert_allclose(ST, est.components_.T)


# ------------------------------------------------------------- E[S^T S] = I


@pytest.mark.parametrize("cls", ALL)
def test_expected_gram_of_sketch_is_identity(cls):
    # sketch(I_n) = S; average S^T S over many draws.  n = 6 exercises the
    # zero padding of the SRHT.
    n, m, draws = 6, 4, 1000
    kwargs = {"alpha": 1.0} if cls in (LeverageScoreSketch, SurrogateSketch) else {}
    est = cls(n_components=m, **kwargs)
    rng = np.random.default_rng(0)
    grams = np.empty((draws, n * n))
    for t in range(draws):
        S = est.sketch(np.eye(n), random_state=rng)
        S = S.toarray() if sp.issparse(S) else S
        grams[t] = (S.T @ S).ravel()
    _assert_mc_mean(grams, np.eye(n).ravel())
    np.testing.assert_allclose(grams.mean(axis=0), np.eye(n).ravel(), atol=0.2)


def _assert_mc_mean(samples, expected, n_se=5.0):
    # Monte Carlo mean within n_se standard errors (estimated per entry).
    mean = samples.mean(axis=0)
    se = samples.std(axis=0) / np.sqrt(samples.shape[0])
    assert np.all(np.abs(mean - expected) < n_se * se + 1e-9), (mean, expected, se)


def test_leverage_sampling_expected_gram_nonuniform():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((30, 3)) * np.r_[np.full(5, 6.0), np.ones(25)][:, None]
    p = ops.sampling_probabilities(A, 1.0, "leverage")
    assert p.max() / p.min() > 5  # really nonuniform
    m, draws = 10, 5000
    diag = np.zeros((draws, 30))
    for t in range(draws):
        idx, w = ops.iid_sample(p, m, rng)
        np.add.at(diag[t], idx, w**2)
    _assert_mc_mean(diag, 1.0)


@pytest.mark.parametrize("base", ["uniform", "leverage"])
def test_surrogate_expected_gram(base):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((12, 3)) * np.r_[np.full(3, 4.0), np.ones(9)][:, None]
    alpha, m, draws = 2.0, 8, 4000
    lev = _exact_leverage(A, alpha)
    d_alpha = lev.sum()
    p = ops.sampling_probabilities(A, alpha, base)
    spectrum = ops.row_space_eigh(A)
    diag = np.zeros((draws, 12))
    for t in range(draws):
        idx, w, _ = ops.surrogate_sample(A, m, alpha, p, rng, spectrum=spectrum)
        np.add.at(diag[t], idx, w**2)
    expected = 1 - d_alpha / m + lev / (m * p)  # = 1 for base="leverage"
    _assert_mc_mean(diag, expected)
    if base == "uniform":
        assert np.ptp(expected) > 0.5  # the formula is not trivially 1


# --------------------------------------------------------- subspace embedding


@pytest.mark.parametrize("cls", ALL)
def test_subspace_embedding(cls):
    # Singular values of S Q for orthonormal Q (n x d) lie in 1 +- eps with
    # eps ~ C sqrt(d/m) (C sqrt(d^2/m) for CountSketch).  Q is made coherent
    # (a few spiky directions) so that uniform sampling would fail.  (The
    # surrogate sketch with a uniform base is no embedding for such Q: its
    # DPP part adds the spiky rows with uniform weights; see its docstring.)
    n, d, m = 2048, 8, 512
    Q = _coherent_orthonormal(n, d)
    kwargs = {}
    if cls in (LeverageScoreSketch, SurrogateSketch):
        kwargs["alpha"] = 1e-3
    if cls is SurrogateSketch:
        kwargs["base"] = "leverage"
    eps = 3.0 * np.sqrt(d / m) if cls is not CountSketch else np.sqrt(d**2 / m)
    for seed in range(3):
        SQ = cls(n_components=m, **kwargs).sketch(Q, random_state=seed)
        SQ = SQ.toarray() if sp.issparse(SQ) else SQ
        sv = np.linalg.svd(SQ, compute_uv=False)
        assert np.all(np.abs(sv - 1) < eps), (cls.__name__, sv)


def test_subspace_embedding_bound_can_fail():
    # Control: uniform row sampling of the same coherent Q misses the spikes.
    n, d, m = 2048, 8, 512
    Q = _coherent_orthonormal(n, d)
    idx, w = ops.iid_sample(np.full(n, 1 / n), m, np.random.default_rng(5))
    sv = np.linalg.svd(Q[idx] * w[:, None], compute_uv=False)
    assert np.max(np.abs(sv - 1)) > 3.0 * np.sqrt(d / m)


# ------------------------------------------------- leverage, d_alpha, DPP


@pytest.mark.parametrize("shape", [(30, 5), (5, 30)])
@pytest.mark.parametrize("alpha", [0.0, 0.5])
@pytest.mark.parametrize("sparse", [False, True])
def test_ridge_leverage_scores_exact(shape, alpha, sparse):
    rng = np.random.default_rng(0)
    A = rng.standard_normal(shape)
    A[:, 0] = A[:, 1]  # rank deficient: alpha = 0 is a pseudo-inverse
    ref = _exact_leverage(A, alpha)
    A_in = sp.csr_matrix(A) if sparse else A
    np.testing.assert_allclose(ridge_leverage_scores(A_in, alpha), ref, atol=1e-9)
    d_ref = np.trace(np.linalg.pinv(A.T @ A + alpha * np.eye(shape[1])) @ (A.T @ A))
    assert effective_dimension(A_in, alpha) == pytest.approx(d_ref, abs=1e-8)


def test_sketched_leverage_scores_within_constant_factor():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5000, 10)) * rng.exponential(size=(5000, 1))
    exact = _exact_leverage(A, 1.0)
    approx = ops.sketched_ridge_leverage_scores(A, 1.0, rng)
    ratio = approx / exact
    assert 0.2 < ratio.min() and ratio.max() < 5 and abs(np.median(ratio) - 1) < 0.3


def test_dpp_expected_size_is_effective_dimension():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((60, 5)) * np.array([3.0, 2.0, 1.0, 0.5, 0.2])
    alpha, draws = 10.0, 3000
    spectrum = ops.row_space_eigh(A)
    sizes = [
        ops.sample_ridge_dpp(A, alpha, rng, spectrum=spectrum).size
        for _ in range(draws)
    ]
    d_alpha = effective_dimension(A, alpha)
    assert 1 < d_alpha < 4
    assert np.mean(sizes) == pytest.approx(
        d_alpha, abs=4 * np.std(sizes) / np.sqrt(draws)
    )


@pytest.mark.parametrize("shape", [(5, 3), (5, 7)])
def test_dpp_inclusion_probabilities(shape):
    # Single and pair inclusion probabilities of the L-ensemble with
    # L = A A^T / alpha: K = L (L + I)^{-1}, P(i) = K_ii,
    # P(i, j) = K_ii K_jj - K_ij^2 (pairs tell a DPP from independent picks).
    rng = np.random.default_rng(0)
    A = rng.standard_normal(shape)
    alpha, draws = 2.0, 8000
    L = A @ A.T / alpha
    K = L @ np.linalg.inv(L + np.eye(5))
    spectrum = ops.row_space_eigh(A)
    single, pair = np.zeros(5), np.zeros((5, 5))
    for _ in range(draws):
        z = np.zeros(5)
        idx = ops.sample_ridge_dpp(A, alpha, rng, spectrum=spectrum)
        assert np.unique(idx).size == idx.size
        z[idx] = 1
        single += z
        pair += np.outer(z, z)
    tol = 4 * 0.5 / np.sqrt(draws)
    np.testing.assert_allclose(single / draws, np.diag(K), atol=tol)
    pair_ref = np.outer(np.diag(K), np.diag(K)) - K**2
    off = ~np.eye(5, dtype=bool)
    np.testing.assert_allclose((pair / draws)[off], pair_ref[off], atol=tol)


def test_surrogate_sketch_debiases_ridge_inverse():
    # DESIGN.md: n=200, d=6, lambda=20, m=20.  (1 - d/m) E[(SA^T SA +
    # lambda' I)^{-1}] = (A^T A + lambda I)^{-1} for the surrogate sketch;
    # plain i.i.d. uniform sampling with lambda shows a clear bias.
    rng = np.random.default_rng(0)
    n, d, lam, m, draws = 200, 6, 20.0, 20, 1000
    A = rng.standard_normal((n, d)) * np.linspace(0.3, 1.5, d)
    target = np.linalg.inv(A.T @ A + lam * np.eye(d))
    d_lam = effective_dimension(A, lam)
    assert 2 < d_lam < m
    shrink = 1 - d_lam / m
    sketch = SurrogateSketch(n_components=m, alpha=lam)
    surrogate, plain = np.zeros((d, d)), np.zeros((d, d))
    for _ in range(draws):
        SA = sketch.sketch(A, random_state=rng)
        surrogate += shrink * np.linalg.inv(SA.T @ SA + lam * shrink * np.eye(d))
        idx, w = ops.iid_sample(np.full(n, 1 / n), m, rng)
        SA = A[idx] * w[:, None]
        plain += np.linalg.inv(SA.T @ SA + lam * np.eye(d))
    def err(M):
        return np.linalg.norm(M / draws - target) / np.linalg.norm(target)
    assert err(surrogate) < 0.02
    assert err(plain) > 0.05


@pytest.mark.slow
def test_surrogate_sketch_debiases_ridge_inverse_leverage_base_many_draws():
    rng = np.random.default_rng(1)
    n, d, lam, m, draws = 200, 6, 20.0, 20, 10000
    A = rng.standard_normal((n, d)) * np.linspace(0.3, 1.5, d)
    A[:10] *= 5
    target = np.linalg.inv(A.T @ A + lam * np.eye(d))
    shrink = 1 - effective_dimension(A, lam) / m
    sketch = SurrogateSketch(n_components=m, alpha=lam, base="leverage")
    acc = np.zeros((d, d))
    for _ in range(draws):
        SA = sketch.sketch(A, random_state=rng)
        acc += shrink * np.linalg.inv(SA.T @ SA + lam * shrink * np.eye(d))
    assert np.linalg.norm(acc / draws - target) / np.linalg.norm(target) < 0.005


def test_surrogate_sketch_size_is_m_on_average():
    A = np.random.default_rng(0).standard_normal((300, 5))
    sketch = SurrogateSketch(n_components=30, alpha=5.0)
    rng = np.random.default_rng(1)
    sizes = [sketch.sketch(A, random_state=rng).shape[0] for _ in range(500)]
    assert np.mean(sizes) == pytest.approx(30, abs=4 * np.std(sizes) / np.sqrt(500))


# ------------------------------------------------------------------ the API


@pytest.mark.parametrize("cls", ALL)
def test_shapes_sparse_and_inputs_untouched(cls):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 12))
    X_sp = sp.csr_matrix(np.where(rng.random(X.shape) < 0.3, X, 0.0))
    X0, X_sp0 = X.copy(), X_sp.copy()
    kwargs = {"alpha": 1.0} if cls in (LeverageScoreSketch, SurrogateSketch) else {}
    est = cls(n_components=20, random_state=0, **kwargs)
    Xt = est.fit_transform(X)
    assert Xt.shape == (40, est.n_components_)
    assert est.get_feature_names_out().shape == (est.n_components_,)
    SA = est.sketch(X, random_state=0)
    assert SA.shape[1] == 12
    # Sparse input gives the same numbers as dense input.
    est_sp = clone(est).fit(X_sp)
    dense = clone(est).fit(X_sp.toarray())
    out_dense = dense.transform(X_sp.toarray())
    for sparse_in in (X_sp, X_sp.tocsc()):
        out_sp = est_sp.transform(sparse_in)
        out_sp = out_sp.toarray() if sp.issparse(out_sp) else out_sp
        np.testing.assert_allclose(out_sp, out_dense, atol=1e-10)
    for sparse_in in (X_sp, X_sp.tocsc()):
        s_sp = est.sketch(sparse_in, random_state=3)
        s_sp = s_sp.toarray() if sp.issparse(s_sp) else s_sp
        np.testing.assert_allclose(
            s_sp, est.sketch(X_sp.toarray(), random_state=3), atol=1e-10
        )
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(X_sp.toarray(), X_sp0.toarray())


@pytest.mark.parametrize("cls", ALL)
def test_randomness(cls):
    A = np.random.default_rng(0).standard_normal((64, 4))
    def same(P, Q):
        return P.shape == Q.shape and np.allclose(P, Q)
    est = cls(n_components=16)
    # Fresh randomness when nothing is seeded; reproducible with a seed.
    assert not same(est.sketch(A), est.sketch(A))
    assert same(est.sketch(A, random_state=1), est.sketch(A, random_state=1))
    seeded = cls(n_components=16, random_state=2)
    assert same(seeded.sketch(A), seeded.sketch(A))
    # The argument overrides the attribute; Generators are accepted.
    assert same(seeded.sketch(A, random_state=5), est.sketch(A, random_state=5))
    rng = np.random.default_rng(0)
    assert not same(est.sketch(A, random_state=rng), est.sketch(A, random_state=rng))
    # A RandomState advances: two calls differ.
    rs = np.random.RandomState(0)
    assert not same(est.sketch(A, random_state=rs), est.sketch(A, random_state=rs))


@pytest.mark.parametrize("cls", [LeverageScoreSketch, SurrogateSketch])
def test_alpha_can_be_set_on_a_clone(cls):
    A = np.random.default_rng(0).standard_normal((100, 4))
    sk = clone(cls(n_components=30)).set_params(alpha=7.5)
    assert sk.alpha == 7.5
    assert sk.sketch(A, random_state=0).shape[1] == 4


def test_pipeline_and_set_output():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((80, 30))
    y = X @ rng.standard_normal(30)
    pipe = make_pipeline(SRHTSketch(n_components=16, random_state=0), Ridge())
    assert pipe.fit(X, y).predict(X).shape == (80,)
    names = pipe[0].get_feature_names_out()
    assert names[0] == "srhtsketch0" and len(names) == 16
    pd = pytest.importorskip("pandas")
    out = GaussianSketch(n_components=3, random_state=0).set_output(transform="pandas")
    df = out.fit_transform(pd.DataFrame(X[:, :5], columns=list("abcde")))
    assert list(df.columns) == ["gaussiansketch0", "gaussiansketch1", "gaussiansketch2"]


# ------------------------------------------------------------------ bad input


@pytest.mark.parametrize("cls", ALL)
def test_bad_input(cls):
    X = np.random.default_rng(0).standard_normal((20, 5))
    for bad in (0, -3, 2.5):
        with pytest.raises(ValueError, match="n_components"):
            cls(n_components=bad).fit(X)
        with pytest.raises(ValueError, match="n_components"):
            cls(n_components=bad).sketch(X)
    X_nan = X.copy()
    X_nan[3, 2] = np.nan
    est = cls(n_components=30, random_state=0)
    with pytest.raises(ValueError, match="NaN"):
        est.fit(X_nan)
    with pytest.raises(ValueError, match="NaN"):
        est.sketch(X_nan)
    est.fit(X)
    with pytest.raises(ValueError, match="NaN"):
        est.transform(X_nan)
    with pytest.raises(ValueError, match=r"X has 4 features, but .* is expecting 5"):
        est.transform(X[:, :4])


def test_surrogate_refuses_sketch_not_larger_than_effective_dimension():
    A = np.random.default_rng(0).standard_normal((100, 8))
    d_alpha = effective_dimension(A, 1.0)
    assert 7 < d_alpha < 8
    with pytest.raises(ValueError, match=r"n_components=7 <= d_alpha=7\.9"):
        SurrogateSketch(n_components=7, alpha=1.0).sketch(A)
    with pytest.raises(ValueError, match="alpha"):
        SurrogateSketch(alpha=0.0).sketch(A)
    with pytest.raises(ValueError, match="alpha"):
        effective_dimension(A, -1.0)


@pytest.mark.parametrize("shape", [(40, 30), (3000, 2000)])  # bincount / sort path
def test_accumulate_csr_sums_duplicates(shape):
    rng = np.random.default_rng(0)
    rows = rng.integers(0, 40, 500)
    cols = rng.integers(0, 30, 500)
    data = rng.standard_normal(500)
    ref = np.zeros(shape)
    np.add.at(ref, (rows, cols), data)
    got = ops._accumulate_csr(rows, cols, data, shape)
    assert sp.isspmatrix_csr(got) or got.format == "csr"
    np.testing.assert_allclose(got.toarray(), ref, atol=1e-12)


def test_srht_features_same_result_for_any_number_of_threads():
    # The chunks shared out over threads are computed exactly as serially,
    # and both equal X @ S.T for the explicit operator.
    n, m = 100, 24
    signs, rows, n_pad = ops.draw_srht(n, m, np.random.default_rng(0))
    S = hadamard(n_pad)[rows][:, :n] * signs / np.sqrt(m)
    X = np.random.default_rng(1).standard_normal((53, n))
    kwargs = {"chunk_bytes": 8 * n_pad * 4}  # 4 rows per chunk: 14 chunks
    serial = ops.srht_columns(X, signs, rows, n_pad, n_threads=1, **kwargs)
    for n_threads in (2, 3, 20):
        threaded = ops.srht_columns(X, signs, rows, n_pad, n_threads=n_threads, **kwargs)
        np.testing.assert_array_equal(threaded, serial)
    np.testing.assert_allclose(serial, X @ S.T, atol=1e-10)


@pytest.mark.parametrize("n, m", [(100, 24), (40, 100)])
def test_srht_features_sparse_and_repeated_outputs(n, m):
    # Sparse chunks densified one at a time, a short last chunk, and (m >
    # n_pad) outputs kept more than once: still X @ S.T for the explicit S.
    signs, rows, n_pad = ops.draw_srht(n, m, np.random.default_rng(5))
    S = hadamard(n_pad)[rows][:, :n] * signs / np.sqrt(m)
    X = sp.random(29, n, density=0.2, format="csr", random_state=6)
    for n_threads in (1, 2):
        got = ops.srht_columns(
            X, signs, rows, n_pad, chunk_bytes=8 * n_pad * 8, n_threads=n_threads
        )
        np.testing.assert_allclose(got, X.toarray() @ S.T, atol=1e-10)


@pytest.mark.parametrize("cls", ALL)
def test_more_components_than_features_warns_like_sklearn(cls):
    X = np.random.default_rng(0).standard_normal((30, 6))
    kwargs = {"alpha": 1.0} if cls in (LeverageScoreSketch, SurrogateSketch) else {}
    with pytest.warns(DataDimensionalityWarning) as ours:
        cls(n_components=10, random_state=0, **kwargs).fit(X)
    with pytest.warns(DataDimensionalityWarning):  # the reference behaviour
        GaussianRandomProjection(n_components=10, random_state=0).fit(X)
    assert "n_features < n_components (6 < 10)" in str(ours[0].message)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataDimensionalityWarning)
        cls(n_components=6, random_state=0, **kwargs).fit(X)


@pytest.mark.parametrize("cls", ALL)
def test_prepared_rows_draw_what_sketch_draws(cls):
    # The meta-estimators draw through _prepare_rows (the A-only part
    # computed once): every draw must be the one sketch() gives.
    A = np.random.default_rng(0).standard_normal((120, 5))
    kwargs = {"alpha": 2.0} if cls in (LeverageScoreSketch, SurrogateSketch) else {}
    est = cls(n_components=30, **kwargs)
    sampler = est._prepare_rows(A)
    for seed in range(3):
        got = sampler.draw(np.random.default_rng(seed))
        ref = est.sketch(A, random_state=np.random.default_rng(seed))
        got = got.toarray() if sp.issparse(got) else got
        ref = ref.toarray() if sp.issparse(ref) else ref
        np.testing.assert_allclose(got, ref, atol=1e-12)
