"""Triangle cuts on the binary relaxation, against independent references.

The references are written here: the tightened relaxation as a cvxpy SDP
with every triangle inequality, the exact optimum over sign-vector networks
by enumerating all 2^d neurons (a cvxpy lasso), and the triangle
inequalities by plain loops.
"""

import itertools
import warnings

import cvxpy as cp
import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from sklearn_convexnn import QuantizedSDPRegressor
from sklearn_convexnn._solvers.lifted.binary_relaxation import solve_binary_relaxation
from sklearn_convexnn._solvers.lifted.lifted import LiftedBlock
from sklearn_convexnn._solvers.lifted.triangle import (
    certified_cut_max,
    cut_multipliers,
    violated_cuts,
)
from sklearn_convexnn._solvers.shared.losses import get_loss
from sklearn_convexnn.datasets import make_planted_quantized

RELU_APPROX = (0.09, 0.5, 0.47)


@pytest.fixture(autouse=True)
def _relaxation_certificate_only(monkeypatch):
    """The estimators here certify by the (cut) relaxation alone: no enumeration."""
    from sklearn_convexnn._solvers.lifted import quantized_fit

    monkeypatch.setattr(quantized_fit, "_ENUMERATE_MAX_DIM", 0)


def triangle_rows(q):
    """Every triangle inequality as (i, j, k, s1, s2, s3), by loops."""
    rows = []
    for i, j, k in itertools.combinations(range(q), 3):
        for s in ((1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)):
            rows.append((i, j, k, *s))
    return rows


def cvxpy_triangle_relaxation(X, y, alpha, act=RELU_APPROX):
    """The binary relaxation with every triangle inequality, squared loss, by cvxpy."""
    n, d = X.shape
    q = d + 1
    a, b, c = act
    Zs = [cp.Variable((q, q), PSD=True) for _ in range(2)]
    icpt = cp.Variable()

    def out(Z):
        return a * cp.sum(cp.multiply(X @ Z[:d, :d], X), axis=1) + b * X @ Z[:d, d] + c * Z[d, d]

    cons = []
    for Z in Zs:
        cons.append(cp.diag(Z) == Z[d, d])
        for i, j, k, s1, s2, s3 in triangle_rows(q):
            cons.append(s1 * Z[i, j] + s2 * Z[j, k] + s3 * Z[i, k] >= -Z[d, d])
    yhat = out(Zs[0]) - out(Zs[1]) + icpt
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(yhat - y) / n
                                  + alpha * (Zs[0][d, d] + Zs[1][d, d])), cons)
    prob.solve(solver="CLARABEL")
    assert prob.status == "optimal", prob.status
    return prob.value


def sign_network_optimum(X, y, alpha, act=RELU_APPROX):
    """min over every sign-vector network of the squared loss + alpha |w|_1 (enumeration)."""
    n, d = X.shape
    U = np.array(list(itertools.product((-1.0, 1.0), repeat=d)))
    T = X @ U.T
    H = act[0] * T**2 + act[1] * T + act[2]
    w, b = cp.Variable(len(U)), cp.Variable()
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(H @ w + b - y) / n
                                  + alpha * cp.norm1(w)))
    prob.solve(solver="CLARABEL")
    assert prob.status == "optimal", prob.status
    return prob.value


def test_violated_cuts_are_exactly_the_violated_triangles():
    rng = np.random.default_rng(0)
    q = 6
    A = rng.normal(size=(q, 2))
    C = A @ A.T
    C = C / np.sqrt(np.outer(np.diag(C), np.diag(C)))  # rank 2: violates some triangles
    expected = {(i, j, k, s1, s2, s3) for i, j, k, s1, s2, s3 in triangle_rows(q)
                if 1 + s1 * C[i, j] + s2 * C[j, k] + s3 * C[i, k] < -1e-6}
    idx, pat = violated_cuts(C)
    found = {(*map(int, r), *map(int, s)) for r, s in zip(idx, pat)}
    assert expected and found == expected
    # Sign vectors satisfy them all.
    v = np.where(rng.normal(size=q) > 0, 1.0, -1.0)
    assert len(violated_cuts(np.outer(v, v))[0]) == 0


def test_certified_cut_max_bounds_the_cut_elliptope_and_is_tight():
    rng = np.random.default_rng(1)
    q = 5
    A = rng.normal(size=(q, q))
    S = A + A.T
    idx = np.array([r[:3] for r in triangle_rows(q)])
    pat = np.array([r[3:] for r in triangle_rows(q)], dtype=float)
    C = cp.Variable((q, q), PSD=True)
    cons = [cp.diag(C) == 1] + [1 + p[0] * C[i, j] + p[1] * C[j, k] + p[2] * C[i, k] >= 0
                                for (i, j, k), p in zip(idx, pat)]
    prob = cp.Problem(cp.Maximize(cp.trace(S @ C)), cons)
    prob.solve(solver="CLARABEL")
    signs = np.array(list(itertools.product((-1.0, 1.0), repeat=q)))
    cut = np.max(np.einsum("ij,jk,ik->i", signs, S, signs))
    assert cut <= prob.value + 1e-7  # sign vectors meet the cuts
    for _ in range(5):  # any multipliers give an upper bound
        bound, _ = certified_cut_max(S, idx, pat, rng.exponential(size=len(idx)))
        assert bound >= prob.value - 1e-7
    best = cut_multipliers(S, idx, pat)
    bound, _ = certified_cut_max(S, idx, pat, best)
    assert bound == pytest.approx(prob.value, rel=1e-5)


@pytest.mark.parametrize("d, seed", [(3, 0), (4, 1), (5, 2)])
def test_cut_relaxation_equals_cvxpy(d, seed):
    X, y = make_planted_quantized(60, d, 3, noise=0.1, random_state=seed)
    alpha = 1e-2
    opt = cvxpy_triangle_relaxation(X, y, alpha)
    rel = solve_binary_relaxation(LiftedBlock(X), y[:, None], get_loss("squared"), RELU_APPROX,
                                  alpha, tol=1e-7, max_iter=6000, cuts="triangle",
                                  max_cut_rounds=40, random_state=seed)
    assert rel.lower_bound <= opt * (1 + 1e-7)
    assert rel.lower_bound == pytest.approx(opt, rel=1e-4)
    assert rel.value == pytest.approx(opt, rel=1e-4)


@pytest.mark.parametrize("seed", range(10))
def test_cut_bound_never_exceeds_the_sign_network_optimum(seed):
    rng = np.random.default_rng(100 + seed)
    d = int(rng.integers(3, 9))
    X, y = make_planted_quantized(60, d, int(rng.integers(1, 4)), noise=0.1,
                                  random_state=seed)
    alpha = float(rng.choice([3e-3, 1e-2, 3e-2]))
    model = QuantizedSDPRegressor(alpha=alpha, cuts="triangle",
                                  max_iter=int(rng.choice([30, 2000])), random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # early-stopped fits included
        model.fit(X, y)
    opt = sign_network_optimum(X, y, alpha)
    assert model.lower_bound_ <= opt * (1 + 1e-6)
    assert opt <= model.objective_ * (1 + 1e-6)


def test_cuts_raise_the_bound_and_need_the_lowrank_solver():
    X, y = make_planted_quantized(80, 6, 3, noise=0.05, random_state=3)
    plain = QuantizedSDPRegressor(alpha=1e-2, random_state=0).fit(X, y)
    cut = QuantizedSDPRegressor(alpha=1e-2, cuts="triangle", random_state=0).fit(X, y)
    opt = sign_network_optimum(X, y, 1e-2)
    assert plain.lower_bound_ <= cut.lower_bound_ * (1 + 1e-9)
    assert cut.lower_bound_ <= opt * (1 + 1e-6)
    with pytest.raises(ValueError, match="cuts='triangle' needs the 'lowrank'"):
        QuantizedSDPRegressor(loss="absolute", cuts="triangle").fit(X, y)


@pytest.mark.parametrize("seed", range(3))
def test_classifier_cut_bound_below_the_logistic_sign_network_optimum(seed):
    from sklearn_convexnn import QuantizedSDPClassifier

    X, y = make_planted_quantized(60, 5, 2, noise=0.1, random_state=seed)
    labels = np.where(y > np.median(y), 1.0, -1.0)
    alpha = 1e-2
    model = QuantizedSDPClassifier(alpha=alpha, cuts="triangle", random_state=seed)
    model.fit(X, labels)
    U = np.array(list(itertools.product((-1.0, 1.0), repeat=5)))
    T = X @ U.T / np.sqrt(5)  # the classifier's default unit_neurons: u / sqrt(d)
    H = RELU_APPROX[0] * T**2 + RELU_APPROX[1] * T + RELU_APPROX[2]
    w, b = cp.Variable(len(U)), cp.Variable()
    prob = cp.Problem(cp.Minimize(cp.sum(cp.logistic(-cp.multiply(labels, H @ w + b)))
                                  / len(labels) + alpha * cp.norm1(w)))
    prob.solve(solver="CLARABEL")
    assert model.lower_bound_ <= prob.value * (1 + 1e-6)
    assert prob.value <= model.objective_ * (1 + 1e-6)
