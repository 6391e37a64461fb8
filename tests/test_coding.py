"""Coded computation: polar codes against brute-force rank tests and the
baselines against their closed forms."""

import itertools

import joblib
import numpy as np
import pytest
from numpy.testing import assert_allclose

from sklearn_convexnn import (
    CodedProducts,
    MDSCode,
    PolarCode,
    ReplicationCode,
    StragglerSimulator,
    UncodedCode,
    coded_matmul,
)
from sklearn_convexnn._solvers.coding.polar import (
    bhattacharyya_parameters,
    sc_decodable,
)
from sklearn_convexnn._solvers.sketch.problems import DataProducts
from sklearn_convexnn.coding import CodedDataProducts
from sklearn_convexnn.exceptions import NotDecodableError, ProblemTooLargeError


def _problem(n_rows=37, n_cols=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_rows, n_cols)), rng.standard_normal(n_cols)


def _check_subset(code, coded, x, exact, subset):
    """Decodable -> exact and full rank; not decodable -> NotDecodableError."""
    results = {i: coded[i] @ x for i in subset}
    full_rank = (
        len(subset) > 0 and np.linalg.matrix_rank(code.generator_[list(subset)]) == code.n_blocks
    )
    if code.is_decodable(subset):
        assert full_rank, f"decodable but rank-deficient: {subset}"
        decoded = code.decode(results)
        assert np.linalg.norm(decoded - exact) <= 1e-10 * np.linalg.norm(exact)
        return True, full_rank
    with pytest.raises(NotDecodableError):
        code.decode(results)
    return False, full_rank


def test_generator_is_rows_of_the_kronecker_power():
    F = np.array([[1.0, 0.0], [1.0, 1.0]])
    G8 = np.kron(np.kron(F, F), F)
    code = PolarCode(8, 3, randomize="none")
    assert_allclose(code.generator_, G8[code.information_positions_].T)
    # encode (by butterflies) applies that generator to the row blocks
    A, _ = _problem(n_rows=12)
    blocks = A.reshape(3, 4, -1)
    assert_allclose(code.encode(A), np.tensordot(code.generator_, blocks, axes=1))
    assert code.is_decodable(np.isin(np.arange(8), [3, 5, 6, 7])) == code.is_decodable([3, 5, 6, 7])


@pytest.mark.parametrize("erasure_prob", [0.2, 0.5, 0.7])
def test_bhattacharyya_recursion_is_the_genie_failure_probability(erasure_prob):
    # With one information position and all others frozen, successive
    # cancellation fails exactly when that synthetic channel is erased;
    # enumerate every erasure pattern of N = 8 workers.
    N = 8
    z = bhattacharyya_parameters(3, erasure_prob)
    for i in range(N):
        info = np.zeros(N, dtype=bool)
        info[i] = True
        p_fail = 0.0
        for pattern in itertools.product([False, True], repeat=N):
            available = np.array(pattern)
            if not sc_decodable(available, info):
                n_erased = N - available.sum()
                p_fail += erasure_prob**n_erased * (1 - erasure_prob) ** (N - n_erased)
        assert p_fail == pytest.approx(z[i], abs=1e-12)


@pytest.mark.parametrize("n_blocks", [1, 2, 3, 4, 5, 7, 8])
def test_polar_n8_every_subset(n_blocks):
    A, x = _problem()
    code = PolarCode(8, n_blocks, random_state=0)
    coded = code.encode(A)
    exact = A @ x
    counts = np.zeros(2, dtype=int)
    for size in range(9):
        for subset in itertools.combinations(range(8), size):
            decodable, full_rank = _check_subset(code, coded, x, exact, list(subset))
            counts += (decodable, full_rank)
    print(f"N=8 K={n_blocks}: SC-decodable {counts[0]} of 256 subsets, full rank {counts[1]}")
    assert 0 < counts[0] <= counts[1]


def test_polar_n64_random_subsets():
    A, x = _problem(n_rows=500, n_cols=3, seed=1)
    rng = np.random.default_rng(2)
    for n_blocks in (16, 32, 48):
        code = PolarCode(64, n_blocks, random_state=0)
        coded = code.encode(A)
        exact = A @ x
        counts = np.zeros(2, dtype=int)
        n_sets = 150
        for _ in range(n_sets):
            size = rng.integers(n_blocks, 65)
            subset = rng.permutation(64)[:size].tolist()
            counts += _check_subset(code, coded, x, exact, subset)
        print(
            f"N=64 K={n_blocks}: SC-decodable {counts[0]} of {n_sets} random "
            f"subsets, full rank {counts[1]}"
        )
        assert 0 < counts[0] <= counts[1]


def test_polar_large_block_products_and_matrix_outputs():
    rng = np.random.default_rng(3)
    A, B = rng.standard_normal((3000, 6)), rng.standard_normal((6, 2))
    code = PolarCode(1024, 512, random_state=0)
    coded = code.encode(A)
    order = rng.permutation(1024)
    n = next(k for k in range(512, 1025) if code.is_decodable(order[:k]))
    decoded = code.decode({i: coded[i] @ B for i in order[:n]})
    assert np.linalg.norm(decoded - A @ B) <= 1e-10 * np.linalg.norm(A @ B)
    assert not code.is_decodable(order[: n - 1])


def test_polar_large_half_fully_arrived():
    # The lower half of the top node all arrived (512 known, a count that
    # overflows small integer types) plus a random part of the upper half.
    rng = np.random.default_rng(11)
    A, x = rng.standard_normal((1024, 3)), rng.standard_normal(3)
    code = PolarCode(1024, 256, random_state=0)
    coded = code.encode(A)
    for size in (100, 300):
        available = [*range(512, 1024), *rng.permutation(512)[:size]]
        if code.is_decodable(available):
            decoded = code.decode({i: coded[i] @ x for i in available})
            assert np.linalg.norm(decoded - A @ x) <= 1e-10 * np.linalg.norm(A @ x)
        else:
            assert np.linalg.matrix_rank(code.generator_[available]) <= 256


@pytest.mark.parametrize(
    "code",
    [
        MDSCode(7, 4, random_state=0),
        MDSCode(7, 4, generator="vandermonde"),
        MDSCode(7, 4, decoder="lstsq", random_state=0),
        ReplicationCode(6, 3, random_state=0),
        UncodedCode(4, random_state=0),
    ],
    ids=repr,
)
def test_baselines_decode_exactly_when_full_rank(code):
    A, x = _problem()
    coded = code.encode(A)
    exact = A @ x
    for size in range(code.n_workers + 1):
        for subset in itertools.combinations(range(code.n_workers), size):
            decodable, full_rank = _check_subset(code, coded, x, exact, list(subset))
            # Every baseline decodes exactly the full-rank sets (ML decoding).
            assert decodable == full_rank


@pytest.mark.parametrize("randomize", ["sign", "gaussian"])
def test_anytime_estimate_is_unbiased_and_improves_as_workers_arrive(randomize):
    rng = np.random.default_rng(4)
    A, x = rng.standard_normal((48, 5)), rng.standard_normal(5)
    exact = A @ x
    order = rng.permutation(16)
    n_seeds = 300
    mse, bound, mean_estimate = [], [], []
    prefixes = [1, 2, 3, 4, 6, 8, 10, 12, 14, 16]
    for k in prefixes:
        errors, estimates = [], []
        for seed in range(n_seeds):
            code = PolarCode(16, 8, randomize=randomize, random_state=seed)
            coded = code.encode(A)
            estimate, rel = code.anytime_estimate({i: coded[i] @ x for i in order[:k]})
            errors.append(np.sum((estimate - exact) ** 2))
            estimates.append(estimate)
        mse.append(np.mean(errors))
        bound.append(rel**2 * np.sum(exact**2))
        mean_estimate.append(np.mean(estimates, axis=0))
    mse, bound = np.array(mse), np.array(bound)
    # The error falls (in expectation) as workers arrive, to zero at the end.
    assert np.all(np.diff(mse) <= 0.15 * mse[:-1] + 1e-12)
    assert mse[0] > 2 * mse[4]
    assert mse[-1] < 1e-20
    # The reported error is the exact expected error (padding excluded here,
    # so the measured error may only be smaller) ...
    finite = np.isfinite(bound)
    assert np.all(mse[finite] <= 1.2 * bound[finite] + 1e-12)
    assert np.all(mse[finite] >= 0.6 * bound[finite] - 1e-12)
    # ... and the estimate is unbiased: its mean over seeds is within a few
    # standard errors of the product.
    for error, mean in zip(mse, mean_estimate):
        standard_error = np.sqrt(error / n_seeds)
        assert np.linalg.norm(mean - exact) <= 4 * standard_error + 1e-12


@pytest.mark.parametrize(
    "make_code",
    [
        lambda seed: MDSCode(8, 5, random_state=seed),
        lambda seed: ReplicationCode(8, 4, random_state=seed),
    ],
    ids=["mds", "replication"],
)
def test_anytime_estimate_of_baselines_matches_its_error_formula(make_code):
    rng = np.random.default_rng(12)
    A, x = rng.standard_normal((30, 3)), rng.standard_normal(3)
    exact = A @ x
    arrived = [6, 1]  # rank 2 for both codes: not decodable
    errors, estimates, bounds = [], [], []
    for seed in range(400):
        code = make_code(seed)
        coded = code.encode(A)
        estimate, rel = code.anytime_estimate({i: coded[i] @ x for i in arrived})
        errors.append(np.sum((estimate - exact) ** 2))
        estimates.append(estimate)
        bounds.append(rel**2 * np.sum(exact**2))
    mse = np.mean(errors)
    assert 0.6 * np.mean(bounds) <= mse <= 1.2 * np.mean(bounds)
    assert np.linalg.norm(np.mean(estimates, axis=0) - exact) <= 4 * np.sqrt(mse / 400)


def test_anytime_estimate_needs_randomization_and_reports_nothing_arrived():
    A, _x = _problem()
    code = PolarCode(8, 4, random_state=0)
    code.encode(A)
    estimate, rel = code.anytime_estimate({})
    assert rel == np.inf and estimate.shape == (A.shape[0],)
    plain = PolarCode(8, 4, randomize="none")
    plain.encode(A)
    with pytest.raises(ValueError, match="randomized"):
        plain.anytime_estimate({})


def test_shifted_exponential_completion_matches_order_statistics():
    # E[k-th smallest of N Exp(rate)] = (H_N - H_{N-k}) / rate.
    N, K, rate = 32, 12, 0.5
    harmonic = np.concatenate(([0.0], np.cumsum(1.0 / np.arange(1, N + 1))))
    sim = StragglerSimulator(rate=rate, random_state=0)
    for code in (MDSCode(N, K, random_state=0), UncodedCode(N)):
        k = code.n_blocks
        expected = (1.0 / k) * (1.0 + (harmonic[N] - harmonic[N - k]) / rate)
        measured = [sim.completion_time(code)[0] for _ in range(3000)]
        standard_error = np.std(measured) / np.sqrt(len(measured))
        assert abs(np.mean(measured) - expected) <= 4 * standard_error


def test_pareto_times_and_seeding():
    sim = StragglerSimulator("pareto", shift=2.0, shape=3.0, random_state=0)
    times = sim.finishing_times(20000, load=0.5)
    assert times.min() >= 1.0
    # Pareto(shape, x_m = shift) has mean shape x_m / (shape - 1).
    assert np.mean(times) == pytest.approx(0.5 * 3.0 * 2.0 / 2.0, rel=0.05)
    again = StragglerSimulator("pareto", shift=2.0, shape=3.0, random_state=0)
    assert_allclose(again.finishing_times(20000, load=0.5), times)


def test_completion_uses_the_earliest_decodable_prefix():
    sim = StragglerSimulator(rate=0.5, random_state=1)
    code = PolarCode(32, 16)
    for _ in range(20):
        _t, workers = sim.completion_time(code)
        assert code.is_decodable(workers)
        assert not code.is_decodable(workers[:-1])


@pytest.mark.parametrize("code", ["polar", "mds", "replication", "uncoded"])
def test_coded_matmul_simulated(code):
    rng = np.random.default_rng(5)
    A, B = rng.standard_normal((70, 6)), rng.standard_normal((6, 3))
    res = coded_matmul(
        A,
        B,
        n_workers=16,
        code=code,
        stragglers=StragglerSimulator(rate=0.5, random_state=0),
        random_state=0,
    )
    assert_allclose(res.product, A @ B, rtol=1e-9, atol=1e-9)
    assert res.code.is_decodable(res.workers)
    assert not res.code.is_decodable(res.workers[:-1])
    assert np.isfinite(res.completion_time)


class _FixedDelays:
    """Straggler stub: workers 2 and 3 are slow, 0 and 1 answer at once."""

    def finishing_times(self, n_workers, load):
        return np.array([0.0, 0.0, 1.0, 1.0])


def test_coded_matmul_joblib_threads_skips_injected_stragglers():
    rng = np.random.default_rng(6)
    A, x = rng.standard_normal((40, 5)), rng.standard_normal(5)
    code = ReplicationCode(4, 2, random_state=0)
    with joblib.parallel_config(backend="threading"):
        res = coded_matmul(
            A,
            x,
            n_workers=4,
            code=code,
            backend="joblib",
            stragglers=_FixedDelays(),
            time_scale=0.5,
            n_jobs=4,
        )
    assert_allclose(res.product, A @ x, rtol=1e-10)
    # Workers 0 and 1 hold the two blocks; the slow copies are never used.
    assert sorted(res.workers.tolist()) == [0, 1]


class _SlowWorkers:
    """Straggler stub: the given workers take 1 time unit, the others none."""

    def __init__(self, slow):
        self.slow = slow

    def finishing_times(self, n_workers, load):
        return np.isin(np.arange(n_workers), self.slow).astype(float)


def test_coded_matmul_on_dask_cluster_with_injected_stragglers():
    distributed = pytest.importorskip("distributed")
    rng = np.random.default_rng(7)
    A, B = rng.standard_normal((50, 4)), rng.standard_normal((4, 2))
    code = PolarCode(8, 4, random_state=0)
    fast = [1, 3, 5, 6, 7]
    assert code.is_decodable(fast)
    with (
        distributed.LocalCluster(
            processes=False, n_workers=1, threads_per_worker=8, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        with (
            distributed.get_task_stream(client) as stream,
            joblib.parallel_config(backend="dask"),
        ):
            res = coded_matmul(
                A,
                B,
                n_workers=8,
                code=code,
                backend="joblib",
                stragglers=_SlowWorkers([0, 2, 4]),
                time_scale=1.0,
                n_jobs=8,
            )
        assert len(stream.data) >= 1
    assert_allclose(res.product, A @ B, rtol=1e-10)
    assert code.is_decodable(res.workers)
    assert set(res.workers.tolist()) <= set(fast)


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="power of two"):
        PolarCode(12, 4)
    with pytest.raises(ValueError, match="exceeds n_workers"):
        PolarCode(8, 9)
    with pytest.raises(ValueError, match="multiple"):
        ReplicationCode(8, 3)
    with pytest.raises(ValueError, match="n_blocks must be None"):
        UncodedCode(4, 2)
    code = PolarCode(8, 4)
    with pytest.raises(ValueError, match="encode"):
        code.decode({0: np.zeros(3)})
    with pytest.raises(ValueError, match="NaN"):
        code.encode(np.array([[np.nan, 1.0]]))
    code.encode(np.ones((8, 2)))
    with pytest.raises(ValueError, match="rows"):
        code.decode({0: np.zeros(5)})
    with pytest.raises(ValueError, match=r"\[0, 8\)"):
        code.is_decodable([9])
    with pytest.raises(TypeError, match="mapping"):
        code.decode([np.zeros(2)])
    with pytest.raises(ValueError, match="backend"):
        coded_matmul(np.ones((4, 2)), np.ones(2), n_workers=4, backend="spark")


def test_dense_rotation_refused_before_it_is_built():
    with pytest.raises(ProblemTooLargeError, match="randomize='sign'"):
        PolarCode(8, 4, randomize="gaussian").encode(np.ones((5000, 2)))


def test_encode_does_not_modify_input():
    A, _ = _problem()
    copy = A.copy()
    PolarCode(8, 4, randomize="gaussian", random_state=0).encode(A)
    assert_allclose(A, copy)


@pytest.mark.parametrize(
    "code", [PolarCode(8, 4), MDSCode(8, 5, random_state=0), ReplicationCode(8, 4)], ids=repr
)
def test_coded_products_are_the_exact_products(code):
    rng = np.random.default_rng(8)
    A = rng.standard_normal((45, 7))
    products = CodedProducts(
        A, code, stragglers=StragglerSimulator(rate=0.5, random_state=0), random_state=0
    )
    V, R = rng.standard_normal((7, 2)), rng.standard_normal(45)
    assert_allclose(products.matmul(V), A @ V, rtol=1e-10, atol=1e-12)
    assert_allclose(products.rmatmul(R), A.T @ R, rtol=1e-10, atol=1e-12)
    assert products.n_passes_ == 2
    assert not hasattr(code, "mixing_")  # the template is not touched
    for workers in products.workers_used_:
        assert len(workers) <= code.n_workers


def test_coded_data_products_match_the_plain_ones():
    import scipy.sparse as sp

    rng = np.random.default_rng(9)
    X = rng.standard_normal((60, 5))
    X[X < 0.5] = 0.0
    W, R = rng.standard_normal((5, 2)), rng.standard_normal((60, 3))
    for data in (X, sp.csr_matrix(X)):
        plain = DataProducts(data)
        coded = CodedDataProducts(data, PolarCode(16, 8))
        assert_allclose(coded.forward(W), plain.forward(W), rtol=1e-10, atol=1e-12)
        assert_allclose(coded.backward(R), plain.backward(R), rtol=1e-10, atol=1e-12)
        r = np.arange(60.0)
        assert_allclose(coded.scaled_rows(r), plain.scaled_rows(r))
        assert coded.products.n_passes_ == 2


def _count_passes(monkeypatch):
    """Count the plain and the coded data passes made from now on."""
    counts = {"plain": 0, "coded": 0}
    for name in ("forward", "backward"):
        original = getattr(DataProducts, name)

        def plain(self, M, _original=original):
            counts["plain"] += 1
            return _original(self, M)

        monkeypatch.setattr(DataProducts, name, plain)
    original_product = CodedProducts._product

    def coded(self, side, V):
        counts["coded"] += 1
        return original_product(self, side, V)

    monkeypatch.setattr(CodedProducts, "_product", coded)
    return counts


@pytest.mark.parametrize(
    "code", [PolarCode(16, 8), MDSCode(12, 6, random_state=0)], ids=["polar", "mds"]
)
def test_debiased_averaging_regressor_through_a_code_equals_the_uncoded_fit(code, monkeypatch):
    from sklearn.linear_model import Ridge

    from sklearn_convexnn import DebiasedAveragingRegressor

    rng = np.random.default_rng(10)
    X = rng.standard_normal((120, 6))
    Y = X @ rng.standard_normal((6, 2)) + 0.1 * rng.standard_normal((120, 2))
    params = dict(n_workers=4, max_iter=4, tol=None, random_state=0)
    counts = _count_passes(monkeypatch)
    plain = DebiasedAveragingRegressor(Ridge(alpha=3.0), **params).fit(X, Y)
    n_plain = counts["plain"]
    coded = DebiasedAveragingRegressor(Ridge(alpha=3.0), coding=code, **params).fit(X, Y)
    assert_allclose(coded.coef_, plain.coef_, rtol=1e-10, atol=1e-12)
    assert_allclose(coded.intercept_, plain.intercept_, rtol=1e-10, atol=1e-12)
    # Every data pass of the uncoded fit went through the code in the coded one.
    assert n_plain >= 2 * plain.n_iter_
    assert counts["coded"] == n_plain and counts["plain"] == n_plain
    assert not hasattr(code, "mixing_")  # the parameter itself is not modified


@pytest.mark.parametrize("n_classes", [2, 3])
def test_debiased_averaging_classifier_through_a_code_equals_the_uncoded_fit(
    n_classes, monkeypatch
):
    from sklearn.linear_model import LogisticRegression

    from sklearn_convexnn import DebiasedAveragingClassifier

    rng = np.random.default_rng(13)
    X = rng.standard_normal((150, 4))
    y = np.argmax(X[:, :n_classes] + 0.5 * rng.standard_normal((150, n_classes)), axis=1)
    params = dict(n_workers=4, max_iter=5, tol=None, random_state=0)
    counts = _count_passes(monkeypatch)
    plain = DebiasedAveragingClassifier(LogisticRegression(C=1.0), **params).fit(X, y)
    n_plain = counts["plain"]
    coded = DebiasedAveragingClassifier(
        LogisticRegression(C=1.0), coding=PolarCode(8, 4), **params
    ).fit(X, y)
    assert_allclose(coded.coef_, plain.coef_, rtol=1e-9, atol=1e-11)
    assert_allclose(coded.intercept_, plain.intercept_, rtol=1e-9, atol=1e-11)
    assert counts["coded"] == n_plain > 0
