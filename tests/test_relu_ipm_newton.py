"""The dense Newton system of the exact interior-point method (p d <= n).

Reference: the whole (2pd + 1) x (2pd + 1) system in ``(du, dv, db)``,
``[[M + Bu, -M, G^T k], [-M, M + Bv, -G^T k], [k^T G, -k^T G, sum k]]`` with
``M = G^T diag(k) G``, written here block by block from its definition; the
solver eliminates ``du - dv`` and must give that system's solution.
"""

import numpy as np
import pytest

from sklearn_convexnn._solvers.relu.ipm import _Output
from sklearn_convexnn._solvers.relu.weighted_losses import BoundLoss


def _problem(seed, loss, fit_intercept, spread):
    rng = np.random.default_rng(seed)
    n, d, p = 40, 3, 6
    X = rng.standard_normal((n, d))
    masks = X @ rng.standard_normal((d, p)) >= 0
    y = rng.standard_normal(n) if loss == "squared" else rng.choice([-1.0, 1.0], n)
    alpha = 0.05
    prob = _Output(X, masks, BoundLoss(loss, y[:, None], np.full(n, 1.0 / n)), alpha,
                   fit_intercept)
    assert prob.primal
    W = rng.standard_normal((d, 2 * p))
    W[:, 1] *= 1e-6  # a column at the apex of its cone
    IW = X @ W
    S = rng.uniform(0.1, 1.0, (n, 2 * p))
    # Multipliers over `spread` decades: rows near their boundary dominate.
    Lam = 10.0 ** rng.uniform(-spread, spread, (n, 2 * p))
    z = rng.standard_normal(n) * 0.1
    value, theta, curv = prob.loss_parts(z)
    mu = 1e-3
    parts = (IW, S, z, value, theta, curv, *prob.smooth_norm(W, mu))
    return prob, X, masks, W, S, Lam, curv, parts, mu, alpha


def _full_system(X, masks, W, S, Lam, curv, t, Q, alpha, fit_intercept):
    d = X.shape[1]
    p = masks.shape[1]
    G = np.hstack([masks[:, [j]] * X for j in range(p)])  # [D_1 X, ..., D_p X]
    M = G.T @ np.diag(curv) @ G
    blocks = []
    for c in range(2 * p):
        w = W[:, c]
        blocks.append(X.T @ np.diag(Lam[:, c] / S[:, c]) @ X + alpha / t[c] * np.eye(d)
                      - alpha**2 / (t[c] ** 2 * Q[c]) * np.outer(w, w))
    Bu = np.zeros((p * d, p * d))
    Bv = np.zeros((p * d, p * d))
    for j in range(p):
        Bu[j * d:(j + 1) * d, j * d:(j + 1) * d] = blocks[j]
        Bv[j * d:(j + 1) * d, j * d:(j + 1) * d] = blocks[p + j]
    H = np.block([[M + Bu, -M], [-M, M + Bv]])
    if fit_intercept:
        gk = G.T @ curv
        border = np.r_[gk, -gk]
        H = np.block([[H, border[:, None]], [border[None, :], np.array([[curv.sum()]])]])
    return H


@pytest.mark.parametrize("loss", ["squared", "logistic"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("spread", [0, 6])
def test_reduced_newton_step_solves_the_whole_system(loss, fit_intercept, spread):
    prob, X, masks, W, S, Lam, curv, parts, mu, alpha = _problem(0, loss, fit_intercept,
                                                                 spread)
    Q, t = parts[7:]
    H = _full_system(X, masks, W, S, Lam, curv, t, Q, alpha, fit_intercept)
    solve = prob.factor(W, parts, Lam)
    rng = np.random.default_rng(1)
    p, d = masks.shape[1], X.shape[1]
    ru, rv = rng.standard_normal((p, d)), rng.standard_normal((p, d))
    rb = float(rng.standard_normal()) if fit_intercept else 0.0
    dW, db = solve(ru, rv, rb)
    x = np.r_[dW[:, :p].T.ravel(), dW[:, p:].T.ravel()] + 0.0
    if fit_intercept:
        x = np.r_[x, db]
    rhs = np.r_[ru.ravel(), rv.ravel()] if not fit_intercept else np.r_[ru.ravel(), rv.ravel(),
                                                                          rb]
    # Backward error of the step in the whole system (the elimination may not
    # lose what a factorization of the whole system keeps).
    resid = np.linalg.norm(H @ x - rhs) / (np.linalg.norm(H, 2) * np.linalg.norm(x)
                                           + np.linalg.norm(rhs))
    assert resid <= 1e-13
    if spread == 0:  # well conditioned: the solutions themselves agree
        ref = np.linalg.solve(H, rhs)
        assert np.allclose(x, ref, rtol=1e-9, atol=1e-12 * np.abs(ref).max())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_stable_harmonic_matches_the_closed_form_of_commuting_blocks(seed):
    """``(Bu^-1 + Bv^-1)^-1`` for blocks sharing eigenvectors ``Q`` is ``Q diag(a
    b / (a + b)) Q^T``. With eigenvalues over 15 decades (the rows' weights
    near the end) the retry's form is symmetric, positive semidefinite and
    exact to the rounding of the block's largest entries (``Bu (Bu + Bv)^-1
    Bv`` is off by 1e-6 of them there, with negative eigenvalues)."""
    from sklearn_convexnn._solvers.relu.ipm_dense import stable_harmonic

    rng = np.random.default_rng(seed)
    p, d = 50, 5
    Q = np.linalg.qr(rng.standard_normal((p, d, d)))[0]
    a = 10.0 ** rng.uniform(-3, 12, (p, d))
    b = 10.0 ** rng.uniform(-3, 12, (p, d))
    Bu = (Q * a[:, None, :]) @ np.swapaxes(Q, 1, 2)
    Bv = (Q * b[:, None, :]) @ np.swapaxes(Q, 1, 2)
    scale = (a + b).max(axis=1)
    E = stable_harmonic(Bu, Bv)
    assert np.all(np.abs(E - np.swapaxes(E, 1, 2)).max(axis=(1, 2)) <= 1e-15 * scale)
    assert np.all(np.linalg.eigvalsh(E).min(axis=1) >= -1e-15 * scale)
    D = np.swapaxes(Q, 1, 2) @ E @ Q  # diagonal in the common eigenbasis
    assert np.all(np.abs(D - (a * b / (a + b))[:, :, None] * np.eye(d)).max(axis=(1, 2))
                  <= 1e-13 * scale)


def test_spd_inverse_matches_numpy_inv_with_its_lu_fallback(monkeypatch):
    """Cholesky inverses of positive definite blocks against ``np.linalg.inv``;
    an indefinite block (whose factorization fails) and one whose condition
    estimate exceeds SPD_COND_MAX go to LU, so they equal ``np.linalg.inv``'s
    result exactly (as before the Cholesky path)."""
    from sklearn_convexnn._solvers.relu import ipm_dense
    from sklearn_convexnn._solvers.relu.ipm_dense import spd_inverse

    rng = np.random.default_rng(0)
    k, d = 40, 6
    Q = np.linalg.qr(rng.standard_normal((k, d, d)))[0]
    e = 10.0 ** rng.uniform(-2, 3, (k, d))
    e[1] = [1e-9, 1, 1, 1, 1, 1e4]  # cond 1e13: beyond SPD_COND_MAX
    e[2, 0] = -0.5  # indefinite
    B = (Q * e[:, None, :]) @ np.swapaxes(Q, 1, 2)
    B = 0.5 * (B + np.swapaxes(B, 1, 2))
    lu_calls = []
    inv = np.linalg.inv
    monkeypatch.setattr(ipm_dense.np.linalg, "inv", lambda A: lu_calls.append(len(A)) or inv(A))
    out = spd_inverse(B)
    ref = inv(B)
    assert lu_calls == [2]  # the two blocks above, in one batched call
    assert np.array_equal(out[1:3], ref[1:3])
    for j in [0, *range(3, k)]:
        err = np.abs(out[j] - ref[j]).max() / np.abs(ref[j]).max()
        assert err <= 1e-11
        assert np.array_equal(out[j], out[j].T)


def test_newton_rtol_is_exact_near_the_target_and_capped_far_from_it():
    from sklearn_convexnn._solvers.relu.ipm import CERTIFY_START
    from sklearn_convexnn._solvers.relu.ipm_woodbury import CG_TOL, NEWTON_RTOL_MAX, newton_rtol

    assert newton_rtol(CERTIFY_START, CERTIFY_START) == CG_TOL  # the certificate's phase
    assert newton_rtol(0.5, CERTIFY_START) == CG_TOL
    assert newton_rtol(10.0, CERTIFY_START) == pytest.approx(CG_TOL * 100.0, rel=1e-12)
    assert newton_rtol(1e6, CERTIFY_START) == NEWTON_RTOL_MAX
