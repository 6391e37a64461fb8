"""The exact convex ReLU program solved by ADMM, against independent references.

References: the exact (and gated) program written here in cvxpy from the
issue's statement with the fitted ``gates_``; a dense solve of the ADMM's
linear system; the hand-computed ReLU network of the recovered weights.
"""

import warnings

import cvxpy as cp
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklearn_convexnn import ConvexReLUClassifier, ConvexReLURegressor
from sklearn_convexnn._solvers.relu.admm import _Factor
from sklearn_convexnn.exceptions import ProblemTooLargeError


def _data(n=40, seed=0, d=3):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) * np.linspace(0.5, 3.0, d)
    y = np.maximum(X @ rng.standard_normal(d), 0) - np.maximum(X @ rng.standard_normal(d), 0)
    return X, y + 0.1 * rng.standard_normal(n)


def _cvxpy_value(X, Y, masks, alpha, variant="exact", loss="squared", fit_intercept=True):
    """The convex program of the issue, written directly (one output)."""
    n, d = X.shape
    p = masks.shape[1]
    M = masks.astype(float)
    b = cp.Variable() if fit_intercept else 0.0
    if variant == "gated":
        W = cp.Variable((d, p))
        z = cp.sum(cp.multiply(M, X @ W), axis=1) + b
        pen, cons = cp.sum(cp.norm(W, 2, axis=0)), []
    else:
        U, V = cp.Variable((d, p)), cp.Variable((d, p))
        z = cp.sum(cp.multiply(M, X @ (U - V)), axis=1) + b
        pen = cp.sum(cp.norm(U, 2, axis=0)) + cp.sum(cp.norm(V, 2, axis=0))
        S = 2.0 * M - 1.0
        cons = [cp.multiply(S, X @ U) >= 0, cp.multiply(S, X @ V) >= 0]
    if loss == "squared":
        data = cp.sum_squares(z - Y) / (2 * n)
    else:
        data = cp.sum(cp.logistic(-cp.multiply(Y, z))) / n
    prob = cp.Problem(cp.Minimize(data + alpha * pen), cons)
    prob.solve(solver="CLARABEL")
    assert prob.status == "optimal"
    return prob.value


def _masks(est, X):
    return (X @ est.gates_) >= 0


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_admm_objective_matches_cvxpy(fit_intercept):
    X, y = _data(n=40, seed=1)
    reg = ConvexReLURegressor(alpha=1e-2, n_gates=8, variant="exact", solver="admm", tol=1e-5,
                              max_iter=20000, fit_intercept=fit_intercept,
                              random_state=0).fit(X, y)
    assert reg.solver_ == "admm"
    ref = _cvxpy_value(X, y, _masks(reg, X), 1e-2, fit_intercept=fit_intercept)
    assert reg.objective_ == pytest.approx(ref, rel=1e-4)
    # The certified bound is below the true optimum, not only below objective_.
    assert reg.lower_bound_ <= ref * (1 + 1e-7) + 1e-12
    assert reg.dual_gap_ <= 1e-5 * reg.objective_ * 1.0001


def test_admm_logistic_matches_cvxpy():
    X, y = _data(n=40, seed=2)
    labels = (y > np.median(y)).astype(int)
    clf = ConvexReLUClassifier(alpha=1e-2, n_gates=6, variant="exact", solver="admm", tol=1e-5,
                               max_iter=20000, random_state=0).fit(X, labels)
    ref = _cvxpy_value(X, 2.0 * labels - 1, _masks(clf, X), 1e-2, loss="logistic")
    assert clf.objective_ == pytest.approx(ref, rel=1e-4)
    assert clf.lower_bound_ <= ref * (1 + 1e-7)


@pytest.mark.parametrize("task", ["squared", "logistic", "multinomial"])
def test_admm_lower_bound_is_below_the_optimum_at_any_iteration(task):
    for seed in range(4):
        X, y = _data(n=30, seed=seed)
        for max_iter in (1, 3, 10, 40):
            kw = dict(alpha=10.0 ** -(1 + seed % 3), n_gates=6, variant="exact", solver="admm",
                      max_iter=max_iter, random_state=seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                if task == "squared":
                    est = ConvexReLURegressor(**kw).fit(X, y)
                else:
                    cuts = [0.5] if task == "logistic" else [1 / 3, 2 / 3]
                    labels = np.digitize(y, np.quantile(y, cuts))
                    est = ConvexReLUClassifier(**kw).fit(X, labels)
            assert np.isfinite(est.lower_bound_)
            assert est.lower_bound_ <= est.objective_
            if task == "squared" and max_iter == 40:
                ref = _cvxpy_value(X, y, _masks(est, X), kw["alpha"])
                assert est.lower_bound_ <= ref * (1 + 1e-7) + 1e-12
                assert est.objective_ >= ref * (1 - 1e-7)


def test_gated_optimum_is_a_lower_bound_for_the_exact_optimum():
    # With w_j = u_j - v_j the exact program's predictions are gated ones and
    # ||u_j|| + ||v_j|| >= ||w_j||: the gated optimum (same gates) is below.
    for seed in range(3):
        X, y = _data(n=30, seed=seed)
        masks = X @ np.random.default_rng(seed).standard_normal((3, 6)) >= 0
        gated = _cvxpy_value(X, y, masks, 1e-2, "gated")
        exact = _cvxpy_value(X, y, masks, 1e-2, "exact")
        assert gated <= exact * (1 + 1e-7)


def test_woodbury_factor_solves_the_admm_system():
    rng = np.random.default_rng(0)
    n, d, p = 25, 3, 4
    X = rng.standard_normal((n, d))
    masks = X @ rng.standard_normal((d, p)) >= 0
    pi = rng.uniform(0.5, 1.5, n)
    pi = (pi / pi.sum())[:, None]
    c, gamma, rho = 0.25, 0.3, 0.7
    fac = _Factor(X, masks, pi, c, gamma, rho)
    F = np.hstack([masks[:, [j]] * X for j in range(p)] + [-(masks[:, [j]] * X) for j in range(p)])
    H = c * F.T @ (pi * F) + rho * np.kron(np.eye(2 * p), np.eye(d) + gamma * X.T @ X)
    R = rng.standard_normal((d, 2 * p))
    # The Woodbury steps of solve_exact_admm's H_solve, written out.
    Y1 = fac.solve_G(R)
    sign = np.r_[np.ones(p), -np.ones(p)]
    t = ((np.tile(masks, 2) * (X @ Y1)) @ sign)[:, None]
    x = fac.solve_S(t)
    half = X.T @ (masks * x)
    W = (Y1 - fac.solve_G(np.hstack([half, -half]))) / rho
    expected = np.linalg.solve(H, R.T.ravel()).reshape(2 * p, d).T
    assert np.allclose(W, expected, rtol=1e-10, atol=1e-12)


def test_admm_refuses_a_problem_whose_factor_does_not_fit():
    X, y = _data(n=300)
    with pytest.raises(ProblemTooLargeError, match="solver='admm'"):
        ConvexReLURegressor(n_gates=10, variant="exact", solver="admm",
                            memory_limit=1e-3).fit(X, y)


def test_admm_solves_only_the_exact_program():
    X, y = _data()
    with pytest.raises(ValueError, match="'admm'"):
        ConvexReLURegressor(solver="admm", variant="gated").fit(X, y)


# ---------------------------------------------------------------- solver="ipm"
def _cone_violation(est, X):
    """Largest violation of ``(2 D_j - I) X h >= 0`` over the neurons, relative."""
    gates = est.gates_[:, est.neuron_gate_index_]
    sign = np.where(X @ gates >= 0, 1.0, -1.0)
    img = X @ est.hidden_weights_.T
    return float(np.max(-sign * img / np.max(np.abs(img), axis=0), initial=0.0))


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("shape", [(40, 3, 8), (30, 3, 15)])  # p d <= n, then p d > n
def test_ipm_objective_matches_cvxpy(fit_intercept, shape):
    # (30, 3, 15): 45 columns per sign above 30 rows, the Woodbury system.
    n, d, p = shape
    X, y = _data(n=n, seed=3, d=d)
    reg = ConvexReLURegressor(alpha=1e-2, n_gates=p, variant="exact", solver="ipm", tol=1e-5,
                              fit_intercept=fit_intercept, random_state=0).fit(X, y)
    assert reg.solver_ == "ipm"
    ref = _cvxpy_value(X, y, _masks(reg, X), 1e-2, fit_intercept=fit_intercept)
    assert reg.objective_ == pytest.approx(ref, rel=1e-4)
    assert reg.lower_bound_ <= ref * (1 + 1e-7) + 1e-12
    assert reg.lower_bound_ <= reg.objective_
    assert reg.dual_gap_ <= 1e-5 * reg.objective_ * 1.0001
    assert _cone_violation(reg, X) <= 1e-10


def test_ipm_many_gates_small_alpha_matches_cvxpy():
    # p d = 300 above n = 150 (the Woodbury system with its preconditioner),
    # alpha as in the benchmark: many neurons, most cone rows far
    # from tight (the weighted barrier).
    X, y = _data(n=150, seed=5, d=5)
    reg = ConvexReLURegressor(alpha=1e-3, n_gates=60, variant="exact", solver="ipm", tol=1e-5,
                              random_state=0).fit(X, y)
    assert reg.solver_ == "ipm"
    assert _masks(reg, X).shape[1] * X.shape[1] > X.shape[0]  # the Woodbury branch
    ref = _cvxpy_value(X, y, _masks(reg, X), 1e-3)
    assert reg.objective_ == pytest.approx(ref, rel=1e-4)
    assert reg.lower_bound_ <= ref * (1 + 1e-7) + 1e-12
    assert reg.dual_gap_ <= 1e-5 * reg.objective_ * 1.0001
    assert _cone_violation(reg, X) <= 1e-10
    # mu goes down to its floor (it was held where a step would cross it, and
    # this fit centred there for 146 iterations).
    assert reg.n_iter_ <= 40


@pytest.mark.parametrize("n, seed, d, n_gates, alpha, tol", [
    (200, 2, 5, 40, 1e-3, 1e-6),   # p d <= n: the dense system's Cholesky failed
    (150, 6, 5, 60, 1e-3, 1e-6),   # p d > n: a singular d x d block (Woodbury)
    (60, 0, 8, 40, 1e-3, 1e-7),
])
def test_ipm_tight_tol_reaches_it_past_singular_newton_matrices(n, seed, d, n_gates, alpha,
                                                                  tol):
    # Near the end rounding left the Newton matrix singular and the fit
    # stopped with 'numerical trouble' short of tol (gaps 1e-5 to 1e-2); the
    # regularized retry goes on to the certified tol, the optimum cvxpy finds.
    X, y = _data(n=n, seed=seed, d=d)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = ConvexReLURegressor(alpha=alpha, n_gates=n_gates, variant="exact", solver="ipm",
                                  tol=tol, max_iter=300, random_state=0).fit(X, y)
    assert reg.dual_gap_ <= tol * reg.objective_ * 1.0001
    ref = _cvxpy_value(X, y, _masks(reg, X), alpha)
    assert reg.lower_bound_ <= ref * (1 + 1e-7) + 1e-12
    assert reg.objective_ == pytest.approx(ref, rel=1e-5)
    assert _cone_violation(reg, X) <= 1e-10


@pytest.mark.parametrize("seed, n, d, n_gates, tol", [(0, 200, 8, 60, 1e-5),
                                                     (5, 300, 10, 60, 1e-4)])
def test_ipm_stuck_woodbury_end_game_reaches_tol_on_the_dense_system(seed, n, d, n_gates, tol):
    # p d > n (Woodbury). At the floor of mu the column blocks' condition
    # reached 1e14..1e16, the Woodbury steps were wrong (Newton residuals
    # several times the right-hand side) and the fit stopped 'stalled' at
    # gaps of 2.9e-5 and 1.4e-4; the dense system takes over and certifies tol.
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal((d, 4)), 0).sum(1) + 0.1 * rng.standard_normal(n)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        reg = ConvexReLURegressor(alpha=1e-3, n_gates=n_gates, variant="exact", solver="ipm",
                                  tol=tol, max_iter=200, random_state=0).fit(X, y)
    assert n_gates * d > n
    assert reg.dual_gap_ <= tol * reg.objective_ * 1.0001
    ref = _cvxpy_value(X, y, _masks(reg, X), 1e-3)
    assert reg.lower_bound_ <= ref * (1 + 1e-7) + 1e-12
    assert reg.objective_ == pytest.approx(ref, rel=tol)
    assert _cone_violation(reg, X) <= 1e-10


@pytest.mark.parametrize("alpha", [1e-3, 3e-2])
def test_ipm_logistic_matches_cvxpy(alpha):
    X, y = _data(n=50, seed=4)
    labels = (y > np.median(y)).astype(int)
    clf = ConvexReLUClassifier(alpha=alpha, n_gates=8, variant="exact", solver="ipm", tol=1e-5,
                               random_state=1).fit(X, labels)
    ref = _cvxpy_value(X, 2.0 * labels - 1, _masks(clf, X), alpha, loss="logistic")
    assert clf.objective_ == pytest.approx(ref, rel=1e-4)
    assert clf.lower_bound_ <= ref * (1 + 1e-7)
    assert _cone_violation(clf, X) <= 1e-10


def test_ipm_predicts_the_hand_computed_relu_network():
    X, y = _data(n=60, seed=5)
    reg = ConvexReLURegressor(alpha=3e-3, n_gates=10, variant="exact", random_state=2).fit(X, y)
    assert reg.solver_ == "ipm"  # the default route for the squared loss
    assert 0 < reg.n_neurons_ < 2 * reg.n_gates_  # the interior point's residue dropped
    X_new = np.random.default_rng(9).standard_normal((25, 3)) * 2
    by_hand = np.zeros(25) + reg.intercept_
    for h, a in zip(reg.hidden_weights_, reg.output_weights_):
        by_hand += a * np.maximum(X_new @ h, 0.0)
    assert np.allclose(reg.predict(X_new), by_hand, rtol=1e-12, atol=1e-12)


def test_ipm_multi_output_is_the_sum_of_the_outputs_programs():
    X, y = _data(n=40, seed=6)
    Y = np.c_[y, np.maximum(X[:, 0], 0) - y]
    reg = ConvexReLURegressor(alpha=1e-2, n_gates=6, variant="exact", solver="ipm", tol=1e-5,
                              random_state=0).fit(X, Y)
    masks = _masks(reg, X)
    # Mean over samples and outputs' sum: each output's program at weight 1/n.
    ref = sum(_cvxpy_value(X, Y[:, c], masks, 1e-2) for c in range(2))
    assert reg.objective_ == pytest.approx(ref, rel=1e-4)
    assert reg.lower_bound_ <= ref * (1 + 1e-7)


def test_ipm_refuses_the_multinomial_loss():
    X, y = _data(n=45)
    labels = np.digitize(y, np.quantile(y, [1 / 3, 2 / 3]))
    with pytest.raises(ValueError, match="'ipm'"):
        ConvexReLUClassifier(variant="exact", solver="ipm", n_gates=4).fit(X, labels)
    auto = ConvexReLUClassifier(variant="exact", n_gates=4, random_state=0).fit(X, labels)
    assert auto.solver_ != "ipm"


@pytest.mark.parametrize("loss", ["squared", "logistic"])
def test_ipm_bound_is_below_the_optimum_at_any_iteration_cap(loss):
    X, y = _data(n=35, seed=7)
    labels = (y > np.median(y)).astype(int)
    for max_iter in (1, 4, 9):
        kw = dict(alpha=3e-3, n_gates=6, variant="exact", solver="ipm", max_iter=max_iter,
                  random_state=3)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if loss == "squared":
                est = ConvexReLURegressor(**kw).fit(X, y)
                ref = _cvxpy_value(X, y, _masks(est, X), 3e-3)
            else:
                est = ConvexReLUClassifier(**kw).fit(X, labels)
                ref = _cvxpy_value(X, 2.0 * labels - 1, _masks(est, X), 3e-3, loss="logistic")
        assert np.isfinite(est.lower_bound_)
        assert est.lower_bound_ <= ref * (1 + 1e-7) + 1e-12
        assert est.objective_ >= ref * (1 - 1e-7)
        assert _cone_violation(est, X) <= 1e-10


@pytest.mark.parametrize("n_gates", [10, 40])  # p d <= n (dense Newton system), > n (Woodbury)
def test_exact_fit_with_a_zero_row_matches_cvxpy(n_gates):
    """Zero rows' cone rows (0 >= 0) hold for every neuron: the interior-point
    method keeps them out of its barrier and solves the program cvxpy solves."""
    X, y = _data(n=60, seed=2)
    X[[5, 17]] = 0.0
    reg = ConvexReLURegressor(alpha=1e-2, n_gates=n_gates, variant="exact", tol=1e-6,
                              random_state=0).fit(X, y)
    assert reg.solver_ == "ipm"
    ref = _cvxpy_value(X, y, _masks(reg, X), 1e-2)
    assert reg.objective_ == pytest.approx(ref, rel=1e-5)
    assert reg.lower_bound_ <= ref * (1 + 1e-7) + 1e-12
    assert reg.objective_ - reg.lower_bound_ <= 1e-6 * reg.objective_
    assert reg.predict(X[5:6])[0] == pytest.approx(reg.intercept_, abs=1e-12)
    assert _cone_violation(reg, X) <= 1e-10


def test_exact_fit_with_a_row_orthogonal_to_the_gates_falls_back_and_matches_cvxpy():
    """A nonzero row with ``x . g_j = 0`` exactly (data gates differ in the
    first coordinate only): that cone has no interior at its gate, the IPM
    declines and the default route falls back (here to cvxpy)."""
    rng = np.random.default_rng(0)
    X = np.c_[rng.standard_normal(60), np.ones(60)]
    X[5] = [0.0, 1.0]
    y = np.maximum(X[:, 0], 0) + 0.1 * rng.standard_normal(60)
    reg = ConvexReLURegressor(alpha=1e-2, n_gates=10, variant="exact", tol=1e-6,
                              gate_sampling="data", random_state=0).fit(X, y)
    assert np.any(X[5] @ reg.gates_ == 0)
    assert reg.solver_ != "ipm"
    ref = _cvxpy_value(X, y, _masks(reg, X), 1e-2)
    assert reg.objective_ == pytest.approx(ref, rel=1e-5)
    assert reg.lower_bound_ <= ref * (1 + 1e-7) + 1e-12


@pytest.mark.parametrize("gap, n_kept", [(0.0, 3), (4e-5, 3), (9.9e-5, 4), (2e-4, 6)])
def test_drop_residue_spends_at_most_half_the_room_below_tol(gap, n_kept):
    """Worked by hand: dropping the columns below 1e-5 costs their norms,
    2.051e-6, below 1e-6 costs 5.1e-8, below 1e-3 costs 7.2e-5. Half the room
    below tol is 5e-5 (gap 0), 3e-5 (gap 4e-5), 5e-7 (gap 9.9e-5) and nothing
    once the gap exceeds tol: so 3, 3, 4 and all 6 columns stay."""
    from sklearn_convexnn._solvers.relu.ipm_outputs import _drop_residue

    norms = np.array([1.0, 3e-3, 7e-5, 2e-6, 5e-8, 1e-9])
    W = np.vstack([norms, np.zeros_like(norms)])
    obj, tol = 1.0, 1e-4
    bound = obj - gap

    def objective(W0):
        return obj + float(np.sum(norms[np.all(W0 == 0, axis=0)]))

    got, got_obj = _drop_residue(W, obj, objective, bound, tol)
    assert np.array_equal(got[:, :n_kept], W[:, :n_kept])
    assert not np.any(got[:, n_kept:])
    assert got_obj == objective(got)
    if gap <= tol:
        assert got_obj - bound <= tol * obj


def test_ipm_inexact_newton_steps_reach_tol_and_the_cvxpy_optimum(monkeypatch):
    # Inexact Newton steps (loose conjugate gradients far from the target),
    # here forced on a small Woodbury problem (p d = 300 > n = 150): the fit
    # still certifies tol, at cvxpy's optimum.
    from sklearn_convexnn._solvers.relu import ipm, ipm_woodbury

    monkeypatch.setattr(ipm, "INEXACT_MIN_WORK", 0)
    rtols = []
    solve = ipm_woodbury.WoodburySystem.solve

    def recorded(self, r, rb=None, rtol=ipm_woodbury.CG_TOL):
        rtols.append(rtol)
        return solve(self, r, rb, rtol)

    monkeypatch.setattr(ipm_woodbury.WoodburySystem, "solve", recorded)
    X, y = _data(n=150, seed=5, d=5)
    reg = ConvexReLURegressor(alpha=1e-3, n_gates=60, variant="exact", solver="ipm", tol=1e-5,
                              random_state=0).fit(X, y)
    assert max(rtols) == ipm_woodbury.NEWTON_RTOL_MAX and min(rtols) == ipm_woodbury.CG_TOL
    ref = _cvxpy_value(X, y, _masks(reg, X), 1e-3)
    assert reg.objective_ == pytest.approx(ref, rel=1e-5)
    assert reg.lower_bound_ <= ref * (1 + 1e-7) + 1e-12
    assert reg.dual_gap_ <= 1e-5 * reg.objective_ * 1.0001
    assert _cone_violation(reg, X) <= 1e-10
