"""Coded computation side by side: decoding cost, accuracy, completion time.

Run ``python benchmarks/bench_coded.py``. One process, every contender on
the same data and the same arrival orders.

1. Decoding, ``N = 64, 256, 1024`` workers, ``K = N / 2`` data blocks of
   ``A`` (16 rows each): matrix-vector products ``A @ x`` (each worker
   returns 16 numbers; the goal line) and products with ``B`` of 8 columns
   (16 x 8 per worker: the polar decoder's work grows with the output
   size, the MDS solve's ``O(K^3)`` factorization does not). The arrival
   order is a random permutation; the polar code decodes from the shortest
   decodable prefix of it (successive cancellation), the MDS codes from
   its first ``K`` workers (one ``K x K`` solve, LU with partial
   pivoting). BLAS is limited to one thread (the machine is shared; the
   polar decoder does not use BLAS). Two timings, both alternating the
   contenders: warm (7 rounds, in each a contender decodes 5 times back
   to back; best of all; the goal line) and cold (15 single decodes
   alternating, best; on this shared machine each then starts with caches
   another process has used, which costs the polar decoder's many small
   operations about half again, the MDS factorization little). The
   decode error is ``||decoded - A @ B|| / ||A @ B||``; for the systematic
   Vandermonde code it is printed for the solve on ``K`` workers and for
   least squares on as many workers as the polar code used.

2. Completion time. Model (Lee et al. 2018): the data matrix has ``n``
   rows; a code with ``K`` data blocks gives every worker a block of
   ``n / K`` rows, and a worker with load ``1 / K`` finishes at
   ``(1 / K) (shift + E / rate)``, ``E ~ Exp(1)`` i.i.d. across workers
   (shifted exponential: the deterministic part and the slow-down both
   scale with the work). The master finishes when the arrived set first
   becomes decodable. Uncoded: ``K = N`` blocks of ``n / N`` rows, all
   needed. Replication, MDS, polar: ``K = N / 2`` blocks, twice the work per
   worker. Decoding time is not included here (part 1 gives it). Times are
   in units of ``n`` rows' work (shift = 1 per row-fraction), mean over
   2000 draws with ``N = 256``; the goals are stated at ``rate = 0.5``
   (mean slow-down twice the work), other rates are printed beside.

3. The same with a Pareto slow-down (``load * P``, ``P`` Pareto of
   index 2, so infinite variance), no goal: for information.
"""

import time

import numpy as np
from threadpoolctl import threadpool_limits

from sklearn_convexnn.coding import (
    MDSCode,
    PolarCode,
    ReplicationCode,
    StragglerSimulator,
    UncodedCode,
)


def best_time(f, repeats=7):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def decode_part():
    rng = np.random.default_rng(0)
    print("1. Decoding from the first decodable arrivals, K = N/2")
    for N in (64, 256, 1024):
        for n_cols in (None, 8):
            _decode_case(rng, N, n_cols)


def _decode_case(rng, N, n_cols):
    K = N // 2
    A = rng.standard_normal((16 * K, 12))
    B = rng.standard_normal(12) if n_cols is None else rng.standard_normal((12, n_cols))
    exact = A @ B
    order = rng.permutation(N)
    polar = PolarCode(N, K, random_state=0)
    coded = polar.encode(A)
    n_polar = next(k for k in range(K, N + 1) if polar.is_decodable(order[:k]))
    polar_results = {i: coded[i] @ B for i in order[:n_polar]}
    mds = {}
    for kind in ("gaussian", "vandermonde"):
        code = MDSCode(N, K, generator=kind, random_state=0)
        c = code.encode(A)
        mds[kind] = (code, {i: c[i] @ B for i in order[:K]})
    # Vandermonde by least squares on as many workers as the polar code used.
    code = MDSCode(N, K, generator="vandermonde", decoder="lstsq")
    c = code.encode(A)
    mds["vandermonde-lstsq"] = (code, {i: c[i] @ B for i in order[:n_polar]})
    code, res = mds["gaussian"]
    # Warm: each contender decodes 5 times back to back (the best of those
    # counts), the contenders alternating in rounds. Cold: single decodes
    # alternating, so each starts after the other has run (on this shared
    # machine that also means after other processes had the core).
    warm = {"polar": [], "mds": []}
    cold = {"polar": [], "mds": []}
    for _ in range(7):
        warm["polar"].append(best_time(lambda: polar.decode(polar_results), 5))
        warm["mds"].append(best_time(lambda: code.decode(res), 5))
    for _ in range(15):
        cold["polar"].append(best_time(lambda: polar.decode(polar_results), 1))
        cold["mds"].append(best_time(lambda: code.decode(res), 1))
    t_polar, t_mds = min(warm["polar"]), min(warm["mds"])
    c_polar, c_mds = min(cold["polar"]), min(cold["mds"])

    def rel(decoded):
        return np.linalg.norm(decoded - exact) / np.linalg.norm(exact)

    err_polar = rel(polar.decode(polar_results))
    err = {k: rel(c.decode(r)) for k, (c, r) in mds.items()}
    what = "A @ x, 16 numbers/worker " if n_cols is None else "A @ B, 16x8 per worker  "
    goal = " (goal >= 10x)" if N == 1024 and n_cols is None else ""
    print(
        f"  N={N:5d} {what}: polar {1e3 * t_polar:7.3f} ms from {n_polar} workers, "
        f"MDS {1e3 * t_mds:8.3f} ms from {K}: speed-up {t_mds / t_polar:5.1f}x{goal}"
    )
    print(
        f"{'':33}cold single calls: polar {1e3 * c_polar:7.3f} ms, MDS "
        f"{1e3 * c_mds:8.3f} ms: speed-up {c_mds / c_polar:5.1f}x"
    )
    print(
        f"{'':33}decode error polar {err_polar:.1e} (goal <= 1e-8) | "
        f"MDS gaussian {err['gaussian']:.1e} | MDS vandermonde {err['vandermonde']:.1e}"
        f" (lstsq on {n_polar} workers: {err['vandermonde-lstsq']:.1e})"
    )


def completion_part():
    N, K, n_trials = 256, 128, 2000
    print(f"2. Expected completion time, shifted exponential, N={N}, K={K}")
    for rate in (0.25, 0.5, 1.0, 2.0):
        codes = {
            "uncoded": UncodedCode(N),
            "replication": ReplicationCode(N, K),
            "mds": MDSCode(N, K, random_state=0),
            "polar": PolarCode(N, K),
        }
        mean = {
            name: StragglerSimulator(rate=rate, random_state=1).expected_completion_time(
                code, n_trials
            )
            for name, code in codes.items()
        }
        goals = rate == 0.5
        print(
            f"  rate={rate:4.2f}: uncoded {mean['uncoded']:.4f}  replication "
            f"{mean['replication']:.4f}  MDS {mean['mds']:.4f}  polar {mean['polar']:.4f}"
        )
        print(
            f"             polar/uncoded {mean['polar'] / mean['uncoded']:.2f}x"
            + (" (goal <= 0.5x)" if goals else "")
            + f"  polar/MDS {mean['polar'] / mean['mds']:.2f}x"
            + (" (goal <= 1.3x)" if goals else "")
        )


def pareto_part():
    N, K, n_trials = 256, 128, 2000
    print(f"3. Expected completion time, Pareto slow-down (shape 2, heavy tail), N={N}, K={K}")
    codes = {
        "uncoded": UncodedCode(N),
        "replication": ReplicationCode(N, K),
        "mds": MDSCode(N, K, random_state=0),
        "polar": PolarCode(N, K),
    }
    sim = StragglerSimulator("pareto", shape=2.0, random_state=2)
    mean = {name: sim.expected_completion_time(code, n_trials) for name, code in codes.items()}
    print(
        f"  uncoded {mean['uncoded']:.4f}  replication {mean['replication']:.4f}  "
        f"MDS {mean['mds']:.4f}  polar {mean['polar']:.4f}  polar/uncoded "
        f"{mean['polar'] / mean['uncoded']:.2f}x  polar/MDS {mean['polar'] / mean['mds']:.2f}x"
    )


if __name__ == "__main__":
    with threadpool_limits(limits=1, user_api="blas"):
        decode_part()
    completion_part()
    pareto_part()
