"""Reliability of the lifted-model estimators: memory, failed refits, scale, warnings.

Memory cases run in a subprocess whose address space is capped
(``RLIMIT_AS``), so a native abort fails the test instead of killing the run.
"""

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import cvxpy as cp
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklearn_convexnn import (
    ConvexCNNRegressor,
    ConvexPolyNetClassifier,
    ConvexPolyNetRegressor,
    QuantizedSDPRegressor,
)
from sklearn_convexnn._solvers.lifted.memory import estimate_cvxpy_bytes, format_bytes
from sklearn_convexnn.datasets import make_planted_polynet
from sklearn_convexnn.exceptions import (
    BadlyScaledDataError,
    ProblemTooLargeError,
    SolverFailedError,
)

ROOT = Path(__file__).resolve().parents[1]


def run_capped(code, cap_gib):
    """Run ``code`` in a fresh interpreter limited to ``cap_gib`` of address space."""
    script = textwrap.dedent(f"""
        import resource, sys, warnings
        warnings.simplefilter("ignore")
        cap = int({cap_gib} * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        sys.path.insert(0, {str(ROOT)!r})
        import numpy as np
    """) + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=600)


def test_d250_at_tiny_n_fits_by_lowrank_within_half_a_gib():
    """n=3, d=250, memory_limit=0.5: the interior point would need ~120 GiB (it aborted
    the interpreter); auto takes the lowrank solver and certifies the fit."""
    out = run_capped("""
        from sklearn_convexnn import ConvexPolyNetRegressor
        rng = np.random.default_rng(0)
        X = rng.normal(size=(3, 250)); y = rng.normal(size=3)
        reg = ConvexPolyNetRegressor(memory_limit=0.5).fit(X, y)
        print(reg.solver_, reg.dual_gap_ <= 1e-3 * reg.objective_)
    """, cap_gib=3)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["lowrank", "True"]
    assert estimate_cvxpy_bytes(3, 3, [250], 1) > 100 * 2**30


def test_explicit_cvxpy_at_d250_is_refused_with_figures():
    out = run_capped("""
        from sklearn_convexnn import ConvexPolyNetRegressor
        rng = np.random.default_rng(0)
        X = rng.normal(size=(3, 250)); y = rng.normal(size=3)
        try:
            ConvexPolyNetRegressor(solver="cvxpy", cvxpy_solver="CLARABEL",
                                   memory_limit=0.5).fit(X, y)
        except MemoryError as exc:
            print(type(exc).__name__, exc)
    """, cap_gib=3)
    assert out.returncode == 0, out.stderr[-2000:]
    msg = out.stdout
    assert msg.startswith("ProblemTooLargeError")
    assert "GiB" in msg and "memory_limit=0.5" in msg and "512 MiB" in msg
    assert "solver='lowrank' fits" in msg and "cvxpy_solver='SCS' fits" in msg


def test_d150_at_defaults_fits_in_one_gib():
    out = run_capped("""
        from sklearn_convexnn import ConvexPolyNetRegressor
        rng = np.random.default_rng(1)
        X = rng.normal(size=(5, 150)); y = rng.normal(size=5)
        reg = ConvexPolyNetRegressor().fit(X, y)
        print(reg.solver_)
    """, cap_gib=1.5)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "lowrank"


def test_cnn_700x700_is_refused_before_anything_is_built():
    out = run_capped("""
        from sklearn_convexnn import ConvexCNNRegressor
        X = np.random.default_rng(0).normal(size=(5, 700 * 700)); y = np.arange(5.0)
        try:
            ConvexCNNRegressor(image_shape=(700, 700), memory_limit=0.3).fit(X, y)
        except MemoryError as exc:
            print(type(exc).__name__, exc)
    """, cap_gib=1.5)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("ProblemTooLargeError"), out.stdout
    assert "patch rows" in out.stdout and "memory_limit=" in out.stdout


@pytest.mark.slow
def test_cnn_700x700_at_half_a_gib_fits_within_it():
    out = run_capped("""
        from sklearn_convexnn import ConvexCNNRegressor
        X = np.random.default_rng(0).normal(size=(5, 700 * 700)); y = np.arange(5.0)
        reg = ConvexCNNRegressor(image_shape=(700, 700), memory_limit=0.5).fit(X, y)
        print(reg.dual_gap_ <= 1e-3 * max(reg.objective_, 1e-12))
    """, cap_gib=1.5)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "True"


def test_relu_relaxation_300x300_is_refused():
    out = run_capped("""
        from sklearn_convexnn import ReLURelaxationCNNRegressor
        X = np.abs(np.random.default_rng(0).normal(size=(20, 300 * 300))); y = np.ones(20)
        try:
            ReLURelaxationCNNRegressor(image_shape=(300, 300)).fit(X, y)
        except MemoryError as exc:
            print(type(exc).__name__, exc)
    """, cap_gib=1.5)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("ProblemTooLargeError"), out.stdout


def test_memory_messages_use_real_figures():
    assert format_bytes(0.3 * 2**30) == "307 MiB"
    assert format_bytes(7.6 * 2**30) == "7.6 GiB"
    X = np.zeros((5000, 60))
    with pytest.raises(ProblemTooLargeError) as info:
        ConvexPolyNetRegressor(solver="cvxpy", memory_limit=0.05).fit(X, np.zeros(5000))
    assert "0.0 GiB" not in str(info.value) and "51 MiB" in str(info.value)


# ------------------------------------------------------------ failed refits
def broken_solve(self, *args, **kwargs):
    raise cp.error.SolverError("injected failure")


@pytest.mark.parametrize("Est", [ConvexPolyNetClassifier, ConvexPolyNetRegressor])
def test_failed_refit_leaves_previous_model_intact(Est, monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int) if Est is ConvexPolyNetClassifier else X[:, 0] ** 2
    model = Est(solver="cvxpy").fit(X, y)
    before = {k: v for k, v in vars(model).items() if k.endswith("_") or k.startswith("_")}
    pred = model.predict(X)
    # A refit on other data (new labels, more features) whose solver fails.
    X2 = rng.normal(size=(30, 5))
    y2 = rng.integers(0, 3, 30) if Est is ConvexPolyNetClassifier else X2[:, 1]
    monkeypatch.setattr(cp.Problem, "solve", broken_solve)
    with pytest.raises(SolverFailedError):
        model.fit(X2, y2)
    after = {k: v for k, v in vars(model).items() if k.endswith("_") or k.startswith("_")}
    assert after.keys() == before.keys()
    for k in before:
        np.testing.assert_array_equal(np.asarray(after[k], dtype=object),
                                      np.asarray(before[k], dtype=object), err_msg=k)
    np.testing.assert_array_equal(model.predict(X), pred)


@pytest.mark.parametrize("Est", [ConvexPolyNetRegressor, QuantizedSDPRegressor])
def test_solver_failure_surfaces_status(Est, monkeypatch):
    X, y = make_planted_polynet(120, 4, 3, noise=0.05, random_state=0)

    def broken(self, *args, **kwargs):
        raise cp.error.SolverError("simulated numerical breakdown")

    monkeypatch.setattr(cp.Problem, "solve", broken)
    with pytest.raises(SolverFailedError, match="CLARABEL: simulated numerical breakdown"):
        Est(solver="cvxpy").fit(X, y)


def test_failed_first_fit_leaves_estimator_unfitted(monkeypatch):
    X, y = make_planted_polynet(30, 3, 2, random_state=0)
    monkeypatch.setattr(cp.Problem, "solve", broken_solve)
    model = ConvexPolyNetRegressor(solver="cvxpy")
    with pytest.raises(SolverFailedError):
        model.fit(X, y)
    assert not [k for k in vars(model) if k.endswith("_")]


# -------------------------------------------------------------------- scale
def test_tiny_targets_fit_as_well_as_unit_ones():
    X, y = make_planted_polynet(80, 3, 2, noise=0.05, random_state=0)
    ref = ConvexPolyNetRegressor(alpha=1e-2).fit(X, y)
    for s, solver in [(1e-150, "cvxpy"), (1e-150, "lowrank"), (1e80, "cvxpy")]:
        reg = ConvexPolyNetRegressor(alpha=1e-2 * s, solver=solver).fit(X, y * s)
        assert reg.score(X, y * s) == pytest.approx(ref.score(X, y), abs=1e-4)
        assert reg.objective_ == pytest.approx(ref.objective_ * s**2, rel=1e-4)
        assert reg.lower_bound_ <= reg.objective_
        assert reg.dual_gap_ <= 1e-3 * reg.objective_


@pytest.mark.parametrize("factor", [1e150, 1e-150])
def test_extreme_feature_scales_are_refused_with_advice(factor):
    X, y = make_planted_polynet(40, 3, 2, random_state=0)
    with pytest.raises(ValueError, match="Scale X"):
        ConvexPolyNetRegressor().fit(X * factor, y)
    with pytest.raises(ValueError, match="Scale X"):
        ConvexPolyNetClassifier().fit(X * factor, y > np.median(y))
    with pytest.raises(ValueError, match="Scale y"):
        ConvexPolyNetRegressor().fit(X, y * factor * (1e20 if factor > 1 else 1e-20))


@pytest.mark.parametrize("factor", [1.0, 1e8, 1e-8])
def test_solver_failure_on_far_from_unit_features_names_the_scale(factor, monkeypatch):
    """A solver failure on features at 1e8 (or 1e-8) says: scale X; at unit scale it does not."""
    X, y = make_planted_polynet(40, 3, 2, random_state=0)
    monkeypatch.setattr(cp.Problem, "solve", broken_solve)
    with pytest.raises(SolverFailedError) as info:
        ConvexPolyNetRegressor(solver="cvxpy").fit(X * factor, y)
    assert "injected failure" in str(info.value)
    if factor == 1.0:
        assert not isinstance(info.value, ValueError)
    else:
        assert isinstance(info.value, BadlyScaledDataError)
        assert isinstance(info.value, ValueError)
        assert "typical row norm" in str(info.value) and "StandardScaler" in str(info.value)


def test_large_feature_scale_fits_through_preconditioning():
    """X * 1e20 and the activation (a, b, c) -> (a / s^2, b / s, c): the same network."""
    X, y = make_planted_polynet(60, 3, 2, noise=0.05, random_state=1)
    s = 1e20
    ref = ConvexPolyNetRegressor(activation=(0.09, 0.5, 0.47), alpha=1e-2).fit(X, y)
    reg = ConvexPolyNetRegressor(activation=(0.09 / s**2, 0.5 / s, 0.47),
                                 alpha=1e-2).fit(X * s, y)
    assert reg.objective_ == pytest.approx(ref.objective_, rel=1e-4)
    np.testing.assert_allclose(reg.predict(X * s), ref.predict(X), atol=1e-3)


# ------------------------------------------------------------ warnings, log
def test_max_iter_stop_warns_with_the_gap():
    X, y = make_planted_polynet(200, 6, 4, noise=0.05, random_state=0)
    with pytest.warns(ConvergenceWarning, match=r"relative gap of \d\.\d\de[-+]\d\d"):
        reg = ConvexPolyNetRegressor(alpha=1e-3, solver="lowrank", max_iter=1).fit(X, y)
    assert reg.dual_gap_ > 2 * reg.tol * reg.objective_
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = ConvexPolyNetRegressor(alpha=1e-3, solver="lowrank").fit(X, y)
    assert reg.dual_gap_ <= 2e-4 * reg.objective_  # the default tol, 1e-4


def test_verbose_prints_a_line_per_iteration(capsys):
    X, y = make_planted_polynet(100, 4, 3, noise=0.05, random_state=0)
    reg = ConvexPolyNetRegressor(alpha=1e-3, solver="lowrank", verbose=1).fit(X, y)
    lines = [ln for ln in capsys.readouterr().out.splitlines()
             if ln.startswith("[lowrank] iteration")]
    assert len(lines) == reg.n_iter_
    for word in ("objective", "bound", "gap", "width"):
        assert word in lines[-1]


def test_random_state_is_deprecated():
    X, y = make_planted_polynet(30, 3, 2, random_state=0)
    with pytest.warns(FutureWarning, match="random_state has no effect"):
        ConvexPolyNetRegressor(random_state=0).fit(X, y)
    with pytest.warns(FutureWarning, match="random_state"):
        ConvexCNNRegressor(random_state=0).fit(X, y)


def test_sample_weight_two_equals_a_repeated_row():
    X, y = make_planted_polynet(40, 3, 2, noise=0.1, random_state=3)
    w = np.random.default_rng(0).integers(0, 3, 40).astype(float)
    Xd, yd = np.repeat(X, w.astype(int), axis=0), np.repeat(y, w.astype(int))
    for solver in ("cvxpy", "lowrank"):
        a = ConvexPolyNetRegressor(solver=solver, tol=1e-8).fit(X, y, sample_weight=w)
        b = ConvexPolyNetRegressor(solver=solver, tol=1e-8).fit(Xd, yd)
        assert a.objective_ == pytest.approx(b.objective_, rel=1e-6)
        np.testing.assert_allclose(a.predict(X), b.predict(X), atol=1e-4)


def test_zero_weights_keep_the_certificate_tight():
    """Rows of zero weight: the solver's dual rounding there must not spoil the bound."""
    X, y = make_planted_polynet(45, 3, 2, noise=0.1, random_state=4)
    labels = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    w = np.random.default_rng(0).integers(0, 3, 45).astype(float)
    clf = ConvexPolyNetClassifier(loss="hinge", solver="cvxpy", tol=1e-8).fit(
        X, labels, sample_weight=w)
    assert clf.dual_gap_ <= 1e-4 * clf.objective_


def test_decomposition_survives_huge_entries():
    from sklearn_convexnn._solvers.lifted.decomposition import rank_one_decomposition

    rng = np.random.default_rng(0)
    U = rng.normal(size=(3, 4))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    lifted = np.hstack([U, np.ones((3, 1))])
    Z = 1e200 * (lifted.T * [1.0, 2.0, 3.0]) @ lifted
    with np.errstate(over="raise"):
        Ys = rank_one_decomposition(Z)
    np.testing.assert_allclose(Ys.T @ Ys, Z, rtol=1e-8, atol=1e-8 * np.abs(Z).max())


def test_cnn_warm_start_continues_from_the_previous_network():
    from sklearn_convexnn.datasets import make_planted_cnn

    X, y = make_planted_cnn(80, (6, 6), (2, 2), stride=2, random_state=0)
    kw = {"image_shape": (6, 6), "patch_shape": (2, 2), "stride": 2, "solver": "lowrank",
          "tol": 1e-6}
    cold = ConvexCNNRegressor(alpha=5e-3, **kw).fit(X, y)
    warm = ConvexCNNRegressor(alpha=1e-2, warm_start=True, **kw).fit(X, y)
    warm.set_params(alpha=5e-3).fit(X, y)
    assert warm.objective_ == pytest.approx(cold.objective_, rel=1e-5)
    assert warm.n_iter_ <= cold.n_iter_
