"""Maths layer: neural decomposition, trust-region pricing, certificates, losses."""

import numpy as np
import pytest
from scipy.optimize import approx_fprime

from sklearn_convexnn._solvers.lifted.decomposition import (
    neural_decomposition,
    rank_one_decomposition,
)
from sklearn_convexnn._solvers.lifted.trust_region import trust_region_max
from sklearn_convexnn._solvers.shared.losses import LOSSES, get_loss


def random_feasible_Z(d, rank, rng):
    """Random PSD (d+1)x(d+1) with tr(Z1) = Z4, built without rank-one structure."""
    M = rng.normal(size=(d + 1, rank))
    Z = M @ M.T
    gap = np.trace(Z[:d, :d]) - Z[d, d]
    # Add to the corner (gap > 0) or to a block direction (gap < 0): stays PSD.
    if gap > 0:
        Z[d, d] += gap
    else:
        v = rng.normal(size=d)
        v /= np.linalg.norm(v)
        Z[:d, :d] += -gap * np.outer(v, v)
    return Z


@pytest.mark.parametrize("d, rank", [(3, 1), (4, 2), (6, 4), (10, 11)])
def test_neural_decomposition_reconstructs(d, rank):
    rng = np.random.default_rng(d * 100 + rank)
    Z = random_feasible_Z(d, rank, rng)
    Ys = rank_one_decomposition(Z)
    assert Ys.shape[0] <= np.linalg.matrix_rank(Z)
    np.testing.assert_allclose(Ys.T @ Ys, Z, atol=1e-8 * np.abs(Z).max())
    gvals = np.sum(Ys[:, :d] ** 2, axis=1) - Ys[:, d] ** 2
    np.testing.assert_allclose(gvals, 0, atol=1e-8 * np.abs(Z).max())
    U, w = neural_decomposition(Z)
    np.testing.assert_allclose(np.linalg.norm(U, axis=1), 1, atol=1e-12)
    lifted = np.hstack([U, np.ones((len(w), 1))])
    np.testing.assert_allclose((lifted.T * w) @ lifted, Z, atol=1e-8 * np.abs(Z).max())


def test_neural_decomposition_tolerates_tiny_negative_eigenvalues():
    rng = np.random.default_rng(1)
    Z = random_feasible_Z(5, 2, rng)
    noisy = Z - 1e-11 * np.eye(6)
    U, w = neural_decomposition(noisy)
    assert len(w) <= np.linalg.matrix_rank(Z)
    lifted = np.hstack([U, np.ones((len(w), 1))])
    np.testing.assert_allclose((lifted.T * w) @ lifted, Z, atol=1e-8)


def _brute_max(A, g, rng, n=400_000):
    U = rng.normal(size=(n, len(g)))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    return np.max(np.einsum("ij,jk,ik->i", U, A, U) + U @ g)


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("case", ["easy", "no_linear", "hard", "near_hard"])
def test_trust_region_max_matches_brute_force(d, case):
    rng = np.random.default_rng(7 + d)
    A = rng.normal(size=(d, d))
    A = A + A.T
    _, V = np.linalg.eigh(A)
    g = {"easy": rng.normal(size=d), "no_linear": np.zeros(d),
         # g orthogonal to the top eigenvector, small: the hard case.
         "hard": 0.05 * V[:, 0], "near_hard": 0.05 * V[:, 0] + 1e-9 * V[:, -1]}[case]
    value, u, upper = trust_region_max(A, g)
    brute = _brute_max(A, g, rng)
    assert np.linalg.norm(u) == pytest.approx(1.0, abs=1e-12)
    assert value == pytest.approx(u @ A @ u + g @ u, abs=1e-12)
    assert value >= brute - 1e-10
    assert value <= brute + 1e-3 * max(1, abs(brute))  # brute force is a fine grid
    assert upper >= value - 1e-12 and upper - value <= 1e-8 * max(1, abs(value))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_loss_gradient_and_conjugate(name):
    rng = np.random.default_rng(0)
    n, k = 7, 3
    loss = get_loss(name, delta=0.7)
    if loss.target == "regression":
        Y = rng.normal(size=(n, k))
    elif loss.target == "binary":
        Y = rng.choice([-1.0, 1.0], size=(n, k))
    else:
        Y = np.eye(k)[rng.integers(0, k, n)]
    Z = rng.normal(size=(n, k))
    if loss.smooth:
        num = approx_fprime(Z.ravel(), lambda z: loss.value(z.reshape(n, k), Y), 1e-7)
        np.testing.assert_allclose(loss.gradient(Z, Y).ravel(), num, atol=1e-5)
    # Fenchel-Young: loss(Z) + loss*(Theta) >= <Theta, Z>, equality at the
    # gradient (smooth) -- an independent check of the conjugate's formula.
    theta = loss.gradient(Z, Y)
    assert loss.in_domain(theta, Y, tol=1e-12)
    fy = loss.value(Z, Y) + loss.conjugate(theta, Y) - np.sum(theta * Z)
    assert fy == pytest.approx(0.0, abs=1e-10)
    for _ in range(20):
        other = loss.interior_dual(Y) * rng.uniform(0, 1)
        assert loss.in_domain(other, Y)
        assert loss.value(Z, Y) + loss.conjugate(other, Y) >= np.sum(other * Z) - 1e-12
    np.testing.assert_allclose(loss.interior_dual(Y).sum(axis=0), 0, atol=1e-14)
