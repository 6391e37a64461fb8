"""The one cvxpy solve function: options table, status mapping, fallback."""

import warnings

import cvxpy as cp
import numpy as np
import pytest

from sklearn_convexnn import ConvexCNNRegressor, ConvexPolyNetRegressor
from sklearn_convexnn._solvers.shared import cvxpy_solve
from sklearn_convexnn._solvers.shared.cvxpy_solve import SOLVERS, solve_cvxpy, solver_order
from sklearn_convexnn.datasets import make_planted_cnn
from sklearn_convexnn.exceptions import SolverFailedError


def small_qp():
    x = cp.Variable(3)
    target = np.array([1.0, -2.0, 0.5])
    return cp.Problem(cp.Minimize(cp.sum_squares(x - target) + cp.norm1(x))), x


def failing_solve(fail, how="raise"):
    """A ``Problem.solve`` whose listed solvers fail (raise, or end with a bad status)."""
    original = cp.Problem.solve
    tried = []

    def solve(self, *args, **kwargs):
        name = kwargs.get("solver")
        tried.append(name)
        if name in fail:
            if how == "raise":
                raise cp.error.SolverError(f"{name} injected failure")
            original(self, *args, **kwargs)
            self._status = "solver_error"
            return None
        return original(self, *args, **kwargs)

    return solve, tried


@pytest.mark.parametrize("how", ["raise", "status"])
def test_first_solver_fails_second_succeeds(monkeypatch, how):
    prob, x = small_qp()
    solve, tried = failing_solve({"CLARABEL"}, how)
    monkeypatch.setattr(cp.Problem, "solve", solve)
    with pytest.warns(UserWarning, match="solved with SCS instead"):
        out = solve_cvxpy(prob, cone="psd", tol=1e-9)
    assert tried[:2] == ["CLARABEL", "SCS"]
    assert out.solver == "SCS" and out.status == "optimal"
    assert "CLARABEL" in out.log[0]
    # Soft-thresholding: the closed form of this problem.
    np.testing.assert_allclose(x.value, [0.5, -1.5, 0.0], atol=1e-5)


def test_estimator_falls_back_and_says_so(monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = (X @ [0.6, 0.8, 0.0]) ** 2
    ref = ConvexPolyNetRegressor(alpha=1e-2, solver="cvxpy").fit(X, y)
    solve, _ = failing_solve({"CLARABEL"})
    monkeypatch.setattr(cp.Problem, "solve", solve)
    with pytest.warns(UserWarning, match="solved with SCS"):
        est = ConvexPolyNetRegressor(alpha=1e-2, solver="cvxpy", tol=1e-8).fit(X, y)
    assert est.solver_ == "cvxpy/SCS"
    assert est.objective_ == pytest.approx(ref.objective_, rel=1e-4)


def test_relu_relaxation_falls_back(monkeypatch):
    X, y = make_planted_cnn(80, (6, 6), (2, 2), stride=2, random_state=0)
    ref = ConvexCNNRegressor(image_shape=(6, 6), patch_shape=(2, 2), stride=2,
                             pool_regions=(1, 1), formulation="relu-relaxation").fit(X, y)
    solve, tried = failing_solve({"CLARABEL"})
    monkeypatch.setattr(cp.Problem, "solve", solve)
    with pytest.warns(UserWarning, match="Solver fallback"):
        est = ConvexCNNRegressor(image_shape=(6, 6), patch_shape=(2, 2), stride=2,
                                 pool_regions=(1, 1), formulation="relu-relaxation").fit(X, y)
    # An LP: the next solver in the table that takes it (MOSEK is not installed).
    assert tried[1] == solver_order(None, "lp")[1]
    np.testing.assert_allclose(est.filters_, ref.filters_, atol=1e-4)


def test_every_solver_failing_raises_with_each_status(monkeypatch):
    prob, _ = small_qp()
    names = solver_order(None, "psd")
    solve, _ = failing_solve(set(names))
    monkeypatch.setattr(cp.Problem, "solve", solve)
    with pytest.raises(SolverFailedError) as info:
        solve_cvxpy(prob, what="the test problem")
    for name in names:
        assert name in str(info.value)


def test_iteration_limit_is_kept_and_warned():
    prob, _ = small_qp()
    with pytest.warns(Warning, match="user_limit"):
        out = solve_cvxpy(prob, first="CLARABEL", max_iter=1)
    assert out.solver == "CLARABEL" and out.status == "iteration_limit"


def test_terminal_status_is_returned_not_retried():
    x = cp.Variable()
    prob = cp.Problem(cp.Maximize(x), [x >= 0])
    out = solve_cvxpy(prob, cone="lp", terminal=("unbounded",))
    assert out.status == "unbounded" and out.log == []


def test_options_table_speaks_each_solvers_words():
    assert SOLVERS["CLARABEL"].options(7, 1e-6) == {
        "equilibrate_enable": True, "max_iter": 7, "tol_gap_abs": 1e-6, "tol_gap_rel": 1e-6,
        "tol_feas": 1e-6}
    assert SOLVERS["SCS"].options(7, None)["max_iters"] == 700
    assert SOLVERS["ECOS"].options(None, 1e-8) == {"abstol": 1e-8, "reltol": 1e-8,
                                                    "feastol": 1e-8}
    mosek = SOLVERS["MOSEK"].options(10, 1e-7)["mosek_params"]
    assert mosek["MSK_IPAR_INTPNT_MAX_ITERATIONS"] == 10
    assert mosek["MSK_DPAR_INTPNT_CO_TOL_REL_GAP"] == 1e-7
    assert "ECOS" not in solver_order(None, "psd")
    with pytest.raises(ValueError, match="not installed"):
        solver_order("NOT_A_SOLVER")
    # The options really are accepted by the installed solvers.
    for name in solver_order(None, "soc"):
        prob, _ = small_qp()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = solve_cvxpy(prob, first=name, max_iter=200, tol=1e-7, cone="soc")
        assert out.solver == name


def test_preconditioning_hook_builds_per_solver(monkeypatch):
    seen = []

    def build(spec):
        seen.append(spec.name)
        return small_qp()[0]

    solve, _ = failing_solve({"CLARABEL"})
    monkeypatch.setattr(cp.Problem, "solve", solve)
    with pytest.warns(UserWarning):
        out = solve_cvxpy(build)
    assert seen[:2] == ["CLARABEL", "SCS"]
    assert out.problem.value == pytest.approx(small_qp_value(), rel=1e-4)


def small_qp_value():
    # ||x - t||^2 + ||x||_1 at the soft-threshold solution x = (0.5, -1.5, 0).
    return 0.25 + 0.25 + 0.25 + 0.5 + 1.5


def test_module_has_one_fallback_loop():
    """No second copy of the try-solvers-in-order loop in the lifted maths."""
    import inspect

    from sklearn_convexnn._solvers.lifted import cvxpy_backend, relu_relaxation

    for mod in (cvxpy_backend, relu_relaxation):
        assert "for name in solver_order" not in inspect.getsource(mod)
    assert "for name in solver_order" in inspect.getsource(cvxpy_solve)
