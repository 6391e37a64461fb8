"""The gated design's products split over two threads, against direct sums.

References: the gated operator written out with numpy, one pattern at a
time (``sum_j 1[X g_j >= 0] * (X w_j)`` and ``(D_j X)^T r``), and the same
``MaskedDesign`` with ``workers=1``; a whole fit with the split against one
without it.
"""

import multiprocessing
import os

import numpy as np
import pytest

from sklearn_convexnn import ConvexReLURegressor
from sklearn_convexnn._solvers.relu import design as design_module
from sklearn_convexnn._solvers.relu import threads
from sklearn_convexnn._solvers.relu.design import MaskedDesign


def _problem(n=301, d=7, p=13, k=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.array([1.0, 1e2, 1e-2, 1.0, 5.0, 1.0, 1.0])[:d]
    masks = X @ rng.standard_normal((d, p)) >= 0
    W = rng.standard_normal((d, p * k))
    W[:, rng.random(p * k) < 0.4] = 0.0  # some groups inactive
    R = rng.standard_normal((n, k))
    return X, masks, W, R


def _direct_forward(X, masks, W, k):
    p = masks.shape[1]
    Z = np.zeros((X.shape[0], k))
    for c in range(k):
        for j in range(p):
            Z[:, c] += masks[:, j] * (X @ W[:, c * p + j])
    return Z


def _direct_backward(X, masks, R):
    p, k = masks.shape[1], R.shape[1]
    return np.column_stack([X.T @ (masks[:, j] * R[:, c]) for c in range(k) for j in range(p)])


@pytest.mark.parametrize("fast", [False, True])
def test_split_products_equal_serial_and_direct(monkeypatch, fast):
    # Every product split (threshold 0, a core free), odd row and pattern
    # counts so that the halves differ in size; two outputs, some groups inactive.
    monkeypatch.setattr(design_module, "SPLIT_MIN_PRODUCT", 0)
    monkeypatch.setattr(design_module, "core_free", lambda cores: True)
    X, masks, W, R = _problem()
    k = R.shape[1]
    serial, split = MaskedDesign(X, masks, k), MaskedDesign(X, masks, k, workers=2)
    assert split._splits(1) and not serial._splits(masks.shape[1])
    for Wc in (W, np.where(np.arange(W.shape[1]) < masks.shape[1], W, 0.0)):
        Z1, Z2 = serial.forward(Wc, fast=fast), split.forward(Wc, fast=fast)
        G1, G2 = serial.backward(R, fast=fast), split.backward(R, fast=fast)
        # Each entry is the same sum over the same terms (rows for forward,
        # patterns for backward are only partitioned), so equal to rounding.
        np.testing.assert_allclose(Z2, Z1, rtol=1e-12, atol=1e-12 * np.abs(Z1).max())
        np.testing.assert_allclose(G2, G1, rtol=1e-12, atol=1e-12 * np.abs(G1).max())
        rtol = 1e-5 if fast else 1e-10
        Zd, Gd = _direct_forward(X, masks, Wc, k), _direct_backward(X, masks, R)
        assert np.linalg.norm(Z2 - Zd) <= rtol * np.linalg.norm(Zd)
        assert np.linalg.norm(G2 - Gd) <= rtol * np.linalg.norm(Gd)
    assert split.n_passes == serial.n_passes == 4  # a split pass is still one pass


def test_split_propagates_a_failing_half(monkeypatch):
    # The helper thread's error reaches the caller, after both halves ended.
    seen = []

    def half(a, b):
        seen.append((a, b))
        if a > 0:
            raise RuntimeError("second half failed")

    with pytest.raises(RuntimeError, match="second half"):
        threads.split(half, 9)
    assert sorted(seen) == [(0, 4), (4, 9)]


def test_fit_with_split_products_matches_the_serial_fit(monkeypatch):
    # The estimator's policy on a two-core machine (split, one BLAS thread)
    # against one core (no split): same iterates, so the same network.
    monkeypatch.setattr(design_module, "SPLIT_MIN_PRODUCT", 0)
    monkeypatch.setattr(design_module, "core_free", lambda cores: True)
    calls = []
    split = design_module._split
    monkeypatch.setattr(design_module, "_split",
                        lambda fn, size: calls.append(size) or split(fn, size))
    rng = np.random.default_rng(3)
    X = rng.standard_normal((400, 6))
    y = np.maximum(X @ rng.standard_normal(6), 0) + 0.1 * rng.standard_normal(400)
    fits = {}
    for cores in (1, 2):
        monkeypatch.setattr("sklearn_convexnn.relu.usable_cores", lambda cores=cores: cores)
        for solver in ("apg", "newton"):
            fits[cores, solver] = ConvexReLURegressor(
                n_gates=40, alpha=1e-3, solver=solver, tol=1e-4, random_state=0).fit(X, y)
        assert (len(calls) > 0) == (cores == 2)  # the split ran, and only with two cores
    for solver in ("apg", "newton"):
        one, two = fits[1, solver], fits[2, solver]
        assert two.n_iter_ == one.n_iter_
        assert two.lower_bound_ <= two.objective_
        np.testing.assert_allclose(two.objective_, one.objective_, rtol=1e-10)
        np.testing.assert_allclose(two.predict(X), one.predict(X), rtol=1e-8, atol=1e-10)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_split_works_in_a_forked_child():
    # The helper thread does not survive a fork: a child (multiprocessing's
    # "fork" start method) must not wait forever on the parent's dead pool.
    # Reference: the same halves run serially in the parent.
    threads.split(lambda a, b: None, 2)  # the parent's pool exists
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:
        got = pool.apply_async(_halves_in_child, (11,)).get(timeout=60)
    assert got == [(0, 5), (5, 11)]


def _halves_in_child(size):
    seen = []
    threads.split(lambda a, b: seen.append((a, b)), size)
    return sorted(seen)


def test_core_free_reads_the_run_queue(monkeypatch):
    # Reference: the run-queue count handed in (the caller counts itself),
    # looked up again only after LOOK_EVERY seconds; no answer -> split.
    clock = [100.0]
    monkeypatch.setattr(threads.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(threads, "_LOOK", [-1.0, True])
    for running, free in ((1, True), (2, False), (3, False), (None, True)):
        monkeypatch.setattr(threads, "_running", lambda running=running: running)
        clock[0] += 2 * threads.LOOK_EVERY
        assert threads.core_free(2) is free
        monkeypatch.setattr(threads, "_running", lambda: 1)
        assert threads.core_free(2) is free  # cached within LOOK_EVERY
    if os.path.exists("/proc/loadavg"):
        assert threads._running() >= 1  # this thread is running


def test_design_splits_only_while_a_core_is_free(monkeypatch):
    monkeypatch.setattr(design_module, "SPLIT_MIN_PRODUCT", 0)
    X, masks = _problem()[:2]
    design = MaskedDesign(X, masks, 2, workers=2)
    for free in (True, False):
        monkeypatch.setattr(design_module, "core_free", lambda cores, free=free: free)
        assert design._splits(1) is free
