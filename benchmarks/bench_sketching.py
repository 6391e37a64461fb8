"""Sketches side by side: speed, memory and subspace-embedding distortion.

Run ``python benchmarks/bench_sketching.py``. Timings are best of several
runs (``time.perf_counter``); every line pits a structured sketch against
the dense Gaussian sketch of the same size, or against scipy / scikit-learn.

* rows: ``S @ A`` for A 65536 x 64 -> 1024 rows (SRHT vs Gaussian; the
  Gaussian time includes drawing its 1024 x 65536 matrix, as every fresh
  sketch must; the BLAS product alone is printed too);
* features: ``X @ S.T`` for X 4096 x 4096 -> 512 features (fit + transform,
  and transform only), against the dense Gaussian sketch (goal: SRHT >= 3x
  faster; both use the cores BLAS may use: the Gaussian through its
  threaded product, the SRHT by sharing its row chunks over threads) and
  scikit-learn's Gaussian / sparse random projections; then transform only
  in CPU time, with the threads and with one thread each, and the three
  ``transform_kind`` of SRHTSketch (real Fourier, the default; DCT-II;
  Walsh-Hadamard) side by side;
* CountSketch vs ``scipy.linalg.clarkson_woodruff_transform`` on a sparse
  200000 x 500 matrix at 1% density (scipy sketches rows: (n, d) -> (m, d)),
  the same CSR / CSC input to both, timed alternately (best of 9); the
  output types are printed (ours is dense here, as m * d <= nnz);
* peak memory of a row sketch (tracemalloc) against the m x n matrix the
  structured sketches never form;
* distortion ``max |sigma(S Q) - 1|`` for an orthonormal Q.
"""

import time
import tracemalloc

import numpy as np
import scipy.sparse as sp
from scipy.linalg import clarkson_woodruff_transform
from sklearn.random_projection import GaussianRandomProjection, SparseRandomProjection
from threadpoolctl import threadpool_limits

from sklearn_convexnn.sketching import (
    CountSketch,
    GaussianSketch,
    LeverageScoreSketch,
    SRHTSketch,
    SurrogateSketch,
)


def best_time(f, repeats=5):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def best_times_interleaved(f, g, repeats=5, clock=time.perf_counter):
    """Best times of ``f`` and ``g``, run alternately."""
    tf, tg = [], []
    for _ in range(repeats):
        for fn, times in ((f, tf), (g, tg)):
            t0 = clock()
            fn()
            times.append(clock() - t0)
    return min(tf), min(tg)


def _kind(M):
    return f"{M.format.upper()} sparse" if sp.issparse(M) else "dense ndarray"


def ratio_line(label, fast, slow, goal=None):
    line = f"{label}: {fast:.3f} s vs {slow:.3f} s  ratio {slow / fast:.1f}x"
    if goal is not None:
        line += f" (goal >= {goal}x)"
    print(line)


def peak_mb(f):
    tracemalloc.start()
    f()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def rows_direction(rng):
    n, d, m = 65536, 64, 1024
    A = rng.standard_normal((n, d))
    print(f"== rows: S @ A, A {n} x {d} -> {m} x {d}")
    srht = best_time(lambda: SRHTSketch(m).sketch(A, random_state=0))
    gauss = best_time(lambda: GaussianSketch(m).sketch(A, random_state=0), 3)
    ratio_line("SRHT rows vs Gaussian rows", srht, gauss)
    S = rng.standard_normal((m, n))
    gemm = best_time(lambda: S @ A, 3)
    ratio_line("SRHT rows vs Gaussian product only (S drawn beforehand)", srht, gemm)
    dense_mb = m * n * 8 / 2**20
    for name, sk in [("SRHT", SRHTSketch(m)), ("Gaussian", GaussianSketch(m))]:
        mb = peak_mb(lambda sk=sk: sk.sketch(A, random_state=0))
        print(
            f"peak memory {name} rows: {mb:.0f} MB (an {m} x {n} S: {dense_mb:.0f} MB)"
        )


def features_direction(rng):
    N, d, m = 4096, 4096, 512
    X = rng.standard_normal((N, d))
    print(f"== features: X @ S.T, X {N} x {d} -> {N} x {m} (fit + transform)")

    def fit_transform(est):
        return lambda: est.fit(X).transform(X)

    # Alternately, best of 5 each: on a shared machine load hits both alike.
    srht, gauss = best_times_interleaved(
        fit_transform(SRHTSketch(m, random_state=0)),
        fit_transform(GaussianSketch(m, random_state=0)),
    )
    ratio_line("SRHT features vs Gaussian (fit + transform)", srht, gauss, goal=3)
    timings = {
        "sklearn GaussianRandomProjection": GaussianRandomProjection(m, random_state=0),
        "sklearn SparseRandomProjection": SparseRandomProjection(m, random_state=0),
    }
    for name, est in timings.items():
        ratio_line(f"SRHT features vs {name}", srht, best_time(fit_transform(est), 3))
    est = SRHTSketch(m, random_state=0).fit(X)
    gauss = GaussianSketch(m, random_state=0).fit(X)
    transform_only, gauss_only = best_times_interleaved(
        lambda: est.transform(X), lambda: gauss.transform(X)
    )
    ratio_line(
        "SRHT features vs Gaussian (transform only)", transform_only, gauss_only, goal=3
    )
    # CPU time (all threads) is what the load of a shared machine does not
    # distort: the work each transform needs.
    cpu_srht, cpu_gauss = best_times_interleaved(
        lambda: est.transform(X), lambda: gauss.transform(X), clock=time.process_time
    )
    ratio_line(
        "SRHT features vs Gaussian (transform only, CPU time)", cpu_srht, cpu_gauss
    )
    # One core each: the work of each transform without the threads' extra
    # cost (the SRHT's reads of X, memory bound, slow down when two threads
    # share the memory bus; the Gaussian product is compute bound).
    with threadpool_limits(1):
        cpu_srht, cpu_gauss = best_times_interleaved(
            lambda: est.transform(X), lambda: gauss.transform(X), clock=time.process_time
        )
    ratio_line(
        "SRHT features vs Gaussian (transform only, one thread each, CPU time)",
        cpu_srht,
        cpu_gauss,
        goal=3,
    )
    # The three transforms of SRHTSketch (transform_kind), one thread each,
    # CPU time, run alternately with the Gaussian.
    kinds = {
        kind: SRHTSketch(m, transform_kind=kind, random_state=0).fit(X)
        for kind in ("fourier", "dct", "hadamard")
    }
    times = {name: [] for name in [*kinds, "Gaussian"]}
    with threadpool_limits(1):
        for _ in range(5):
            for name, sk in [*kinds.items(), ("Gaussian", gauss)]:
                t0 = time.process_time()
                sk.transform(X)
                times[name].append(time.process_time() - t0)
    best = {name: min(t) for name, t in times.items()}
    print(
        "SRHT transform_kind, transform only, one thread each, CPU time: "
        + ", ".join(
            f"{kind} {best[kind]:.3f} s ({best['Gaussian'] / best[kind]:.1f}x)"
            for kind in kinds
        )
        + f"; Gaussian {best['Gaussian']:.3f} s"
    )


def countsketch_sparse(rng):
    n, d, m = 200_000, 500, 2000
    A = sp.random(n, d, density=0.01, format="csr", random_state=0)
    print(f"== CountSketch: sparse {n} x {d}, 1% density, nnz {A.nnz} -> {m} x {d}")
    for fmt in ("csr", "csc"):
        # The same input object (format) to both; the two are timed
        # alternately, best of 9 each, so machine load hits both alike.
        B = A.asformat(fmt)
        ours, theirs = best_times_interleaved(
            lambda B=B: CountSketch(m).sketch(B, random_state=0),
            lambda B=B: clarkson_woodruff_transform(B, m, rng=0),
            repeats=9,
        )
        out_ours = CountSketch(m).sketch(B, random_state=0)
        out_theirs = clarkson_woodruff_transform(B, m, rng=0)
        print(
            f"  ({fmt} in: ours gives {_kind(out_ours)}, scipy gives {_kind(out_theirs)};"
            f" m * d = {m * d}, nnz = {B.nnz})"
        )
        ratio_line(f"CountSketch rows vs scipy clarkson_woodruff ({fmt})", ours, theirs)
    At = sp.csr_matrix(A.T)
    est = CountSketch(m, random_state=0).fit(At)
    feats = best_time(lambda: est.transform(At))
    srp = SparseRandomProjection(m, random_state=0).fit(At)
    ratio_line(
        "CountSketch features vs SparseRandomProjection (sparse transform)",
        feats,
        best_time(lambda: srp.transform(At)),
    )
    dense_mb = m * n * 8 / 2**20
    mb = peak_mb(lambda: CountSketch(m).sketch(A, random_state=0))
    print(
        f"peak memory CountSketch rows: {mb:.0f} MB (an {m} x {n} S: {dense_mb:.0f} MB)"
    )


def distortion(rng):
    n, d, m = 16384, 32, 1024
    Q, _ = np.linalg.qr(rng.standard_normal((n, d)))
    print(f"== distortion max|sigma(SQ) - 1|, Q orthonormal {n} x {d}, m = {m}")
    sketches = {
        "Gaussian": GaussianSketch(m),
        "SRHT (fourier, default)": SRHTSketch(m),
        "SRHT (dct)": SRHTSketch(m, transform_kind="dct"),
        "SRHT (hadamard)": SRHTSketch(m, transform_kind="hadamard"),
        "CountSketch": CountSketch(m),
        "LeverageScore": LeverageScoreSketch(m, alpha=1e-6),
        "Surrogate (uniform base)": SurrogateSketch(m, alpha=1e-6),
    }
    for name, sk in sketches.items():
        SQ = sk.sketch(Q, random_state=0)
        SQ = SQ.toarray() if sp.issparse(SQ) else SQ
        sv = np.linalg.svd(SQ, compute_uv=False)
        print(f"{name:26s} {np.max(np.abs(sv - 1)):.3f}")
    SQ = clarkson_woodruff_transform(Q, m, rng=0)
    sv = np.linalg.svd(SQ, compute_uv=False)
    print(f"{'scipy clarkson_woodruff':26s} {np.max(np.abs(sv - 1)):.3f}")
    print(f"(theory, Gaussian: about sqrt(d/m) = {np.sqrt(d / m):.3f})")


def main():
    rng = np.random.default_rng(0)
    features_direction(rng)
    rows_direction(rng)
    countsketch_sparse(rng)
    distortion(rng)


if __name__ == "__main__":
    main()
