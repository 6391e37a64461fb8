"""The Woodbury Newton system of the exact interior-point method (p d > n)."""

import numpy as np
import pytest

from sklearn_convexnn._solvers.relu import ipm_woodbury
from sklearn_convexnn._solvers.relu.ipm_woodbury import WoodburySystem, _Factor


def _system(seed, scales):
    rng = np.random.default_rng(seed)
    n, d, p = 30, 4, 12
    X = rng.standard_normal((n, d))
    Mf = (X @ rng.standard_normal((d, p)) >= 0).astype(float)
    C = np.einsum("ij,ia,ib->jab", Mf, X, X)
    A = rng.standard_normal((p, d, d))
    # E_j^-1 with eigenvalues spread over `scales` decades: most directions tiny.
    Q = np.linalg.qr(A)[0]
    e = 10.0 ** rng.uniform(-scales, 0, (p, d))
    Einv = (Q * e[:, None, :]) @ Q.transpose(0, 2, 1)
    kinv = rng.uniform(0.5, 2.0, n)
    # The dense reference: K^-1 + sum_j D_j X E_j^-1 X^T D_j.
    G = Mf[:, :, None] * X[:, None, :]  # (n, p, d)
    dense = np.diag(kinv) + np.einsum("ija,jab,kjb->ik", G, Einv, G)
    return X, Mf, C, Einv, kinv, dense


@pytest.mark.parametrize("scales", [0, 8])
def test_woodbury_solve_matches_the_dense_system(scales):
    X, Mf, C, Einv, kinv, dense = _system(0, scales)
    system = WoodburySystem(X, Mf, C, Einv, kinv)
    if scales:
        assert system.rank < Einv.shape[0] * Einv.shape[1]  # directions were dropped
    r = np.random.default_rng(1).standard_normal(X.shape[0])
    assert np.allclose(system.apply(r), dense @ r, rtol=1e-12, atol=1e-10)
    x = system.solve(r)
    ref = np.linalg.solve(dense, r)
    assert np.linalg.norm(x - ref) <= 1e-9 * np.linalg.norm(ref)


@pytest.mark.parametrize("change", [1.5, 1e6])
def test_woodbury_solve_with_the_previous_preconditioner(change):
    # A kept preconditioner (built for other E_j^-1) still gives the exact
    # solve; one too far off to converge in CG_MAX steps is rebuilt.
    X, Mf, C, Einv, kinv, _ = _system(0, 4)
    old = WoodburySystem(X, Mf, C, Einv, kinv)
    rng = np.random.default_rng(2)
    Einv2 = Einv * rng.uniform(1.0, change, (Einv.shape[0], 1, 1))
    G = Mf[:, :, None] * X[:, None, :]
    dense = np.diag(kinv) + np.einsum("ija,jab,kjb->ik", G, Einv2, G)
    system = WoodburySystem(X, Mf, C, Einv2, kinv, previous=old)
    assert not system.fresh and system.cf is old.cf
    r = rng.standard_normal(X.shape[0])
    x = system.solve(r)
    ref = np.linalg.solve(dense, r)
    assert np.linalg.norm(x - ref) <= 1e-9 * np.linalg.norm(ref)
    if change > 1e3:
        assert system.fresh and system.cf is not old.cf  # rebuilt
        assert np.linalg.norm(system.solve(r) - ref) <= 1e-9 * np.linalg.norm(ref)


@pytest.mark.parametrize("scales", [0, 8])
@pytest.mark.parametrize("rb", [0.0, 3.0])
def test_woodbury_bordered_solve_matches_the_dense_system(scales, rb):
    # The intercept's bordered system [[A, -1], [1^T, 0]] [y; db] = [r; rb],
    # solved by projected conjugate gradients, against a dense solve.
    X, Mf, C, Einv, kinv, dense = _system(3, scales)
    n = X.shape[0]
    r = np.random.default_rng(4).standard_normal(n)
    r_in = r.copy()
    K = np.block([[dense, -np.ones((n, 1))], [np.ones((1, n)), np.zeros((1, 1))]])
    ref = np.linalg.solve(K, np.r_[r, rb])
    for previous in (None, WoodburySystem(X, Mf, C, Einv * 1.7, kinv)):
        system = WoodburySystem(X, Mf, C, Einv, kinv, previous=previous)
        y, db = system.solve(r, rb)
        assert np.array_equal(r, r_in)  # the right-hand side is not modified
        assert np.linalg.norm(y - ref[:n]) <= 1e-9 * np.linalg.norm(ref[:n])
        assert abs(db - ref[n]) <= 1e-9 * abs(ref[n])
        assert abs(y.sum() - rb) <= 1e-9 * max(abs(rb), np.linalg.norm(y))


def test_woodbury_solve_in_double_when_the_factor_overflows_single():
    # K^-1 of 1e80 (a flat logistic loss) leaves a factor beyond single
    # precision's range: the triangular solves stay in double, still exact.
    X, Mf, C, Einv, kinv, _ = _system(5, 4)
    kinv = kinv * 1e80
    G = Mf[:, :, None] * X[:, None, :]
    dense = np.diag(kinv) + np.einsum("ija,jab,kjb->ik", G, Einv, G)
    system = WoodburySystem(X, Mf, C, Einv, kinv)
    assert system.cf.L.dtype == np.float64
    r = np.random.default_rng(6).standard_normal(X.shape[0])
    ref = np.linalg.solve(dense, r)
    assert np.linalg.norm(system.solve(r) - ref) <= 1e-9 * np.linalg.norm(ref)


def test_woodbury_cg_stops_on_a_singular_operator_with_its_range_solution():
    # A singular operator: A = diag(1, ..., 1, 0), identity preconditioner,
    # a right-hand side of small integers (its single-precision solves are
    # exact). From x0 = r the residual is r_n e_n, along which A has no
    # curvature: the step's division by q^T A q = 0 raised
    # ZeroDivisionError. Closed form: x = r solves A x = A r (the right-hand
    # side's part in A's range); the solve is counted as unconverged.
    X, Mf, C, Einv, kinv, _ = _system(7, 0)
    n = X.shape[0]
    system = WoodburySystem(X, Mf, C, Einv, kinv)
    system.cf = _Factor(np.eye(n))
    a = np.r_[np.ones(n - 1), 0.0]
    system.apply = lambda y: a * y
    r = np.random.default_rng(9).integers(-7, 8, n).astype(float)
    r[0], r[-1] = 16.0, 5.0
    x = system.solve(r)
    assert np.array_equal(a * x, a * r)
    assert system.n_unconverged == 1


def test_woodbury_rank_cap_keeps_the_largest_directions_and_the_exact_solve(monkeypatch):
    # RANK_CAP * n directions at most in the preconditioner (its largest
    # eigenvalues); the conjugate gradients still solve the exact system.
    X, Mf, C, Einv, kinv, dense = _system(0, 0)
    kinv = kinv * 1e-6  # DROP_SUM drops nothing: all 48 directions kept
    dense = dense - np.diag(kinv * (1e6 - 1))
    n = X.shape[0]
    assert WoodburySystem(X, Mf, C, Einv, kinv).rank == Einv.shape[0] * Einv.shape[1]
    monkeypatch.setattr(ipm_woodbury, "RANK_CAP", 1)
    system = WoodburySystem(X, Mf, C, Einv, kinv)
    assert system.rank == n
    r = np.random.default_rng(1).standard_normal(n)
    ref = np.linalg.solve(dense, r)
    assert np.linalg.norm(system.solve(r) - ref) <= 1e-9 * np.linalg.norm(ref)


@pytest.mark.parametrize("seed, scales", [(0, 4), (2, 4), (2, 8)])
@pytest.mark.parametrize("rb", [None, 3.0])
def test_woodbury_inexact_solve_error_is_at_most_eta_in_the_operator_norm(seed, scales, rb):
    # An inexact Newton solve (rtol 0.5: stopped after a few steps, A-norm
    # errors of 0.17 to 0.23 of the solution's) goes on until its error is
    # at most INEXACT_ETA of the solution in the operator's norm, against a
    # dense solve of the (bordered) system.
    X, Mf, C, Einv, kinv, dense = _system(seed, scales)
    n = X.shape[0]
    r = np.random.default_rng(1).standard_normal(n)
    system = WoodburySystem(X, Mf, C, Einv, kinv)
    if rb is None:
        ref, x = np.linalg.solve(dense, r), system.solve(r, rtol=0.5)
    else:
        K = np.block([[dense, -np.ones((n, 1))], [np.ones((1, n)), np.zeros((1, 1))]])
        ref = np.linalg.solve(K, np.r_[r, rb])[:n]
        x, _ = system.solve(r, rb, rtol=0.5)
        assert abs(x.sum() - rb) <= 1e-9 * max(abs(rb), np.linalg.norm(x))  # feasible
    e = x - ref
    assert np.sqrt(e @ dense @ e) <= ipm_woodbury.INEXACT_ETA * np.sqrt(ref @ dense @ ref)
    assert system.n_unconverged == 0
