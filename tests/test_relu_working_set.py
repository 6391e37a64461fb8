"""APG's fast gradients over a working set (``gated.WS_MARGIN``).

References: the gated backward product written out with numpy, one pattern
at a time (``(D_j X)^T r``), for the columns a working-set pass computes;
and an independent cvxpy solve of the gated program, which a fit whose
fast passes ran over working sets must reach with a certified bound below
it.
"""

import cvxpy as cp
import numpy as np
import pytest

from sklearn_convexnn._solvers.relu import gated
from sklearn_convexnn._solvers.relu.certificate import DualCertifier
from sklearn_convexnn._solvers.relu.design import MaskedDesign
from sklearn_convexnn._solvers.relu.weighted_losses import get_weighted_loss


def _problem(n=240, d=6, p=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = np.maximum(X @ rng.standard_normal((d, 3)), 0) @ [1.0, -1.0, 0.5]
    y = y + 0.1 * rng.standard_normal(n)
    masks = X @ rng.standard_normal((d, p)) >= 0
    return X, y, masks[:, masks.any(axis=0)]


@pytest.mark.parametrize("fast", [False, True])
def test_backward_over_columns_matches_the_direct_products(fast):
    X, _, masks = _problem()
    rng = np.random.default_rng(1)
    k = 2
    design = MaskedDesign(X, masks, k)
    R = rng.standard_normal((X.shape[0], k))
    cols = np.sort(rng.choice(design.q, 25, replace=False))
    for _ in range(2):  # the second call reuses the gathered patterns
        G = design.backward(R, fast=fast, cols=cols)
        for i in range(design.q):
            j, c = design.gate_of[i], design.output_of[i]
            want = (masks[:, j, None] * X).T @ R[:, c] if i in cols else np.zeros(X.shape[1])
            assert np.allclose(G[:, i], want, rtol=0, atol=(1e-5 if fast else 1e-12)
                               * np.abs(R).sum() * np.abs(X).max())


@pytest.mark.parametrize("fit_intercept", [True, False])
def test_working_set_fit_reaches_the_cvxpy_optimum(fit_intercept, monkeypatch):
    # The fast passes (and so the working sets) on a small problem.
    monkeypatch.setattr(gated, "FAST_MIN_PRODUCT", 0)
    X, y, masks = _problem()
    n, d = X.shape
    pi = np.full(n, 1.0 / n)
    loss = get_weighted_loss("squared", y[:, None], pi)
    design = MaskedDesign(X, masks, 1)
    amax = gated.alpha_max(design, loss, fit_intercept)
    alpha = 0.1 * amax
    narrow = []
    backward = design.backward

    def spy(R, fast=False, cols=None):
        if cols is not None and cols.size < design.q:
            narrow.append(cols.size)
        return backward(R, fast=fast, cols=cols)

    monkeypatch.setattr(design, "backward", spy)
    sol = gated.solve_gated(design, loss, alpha, fit_intercept=fit_intercept, tol=1e-6,
                            max_iter=20000)
    assert sol.status == "optimal"
    assert narrow and min(narrow) < design.q / 2  # working sets were used, and narrow

    W = cp.Variable((d, masks.shape[1]))
    b = cp.Variable() if fit_intercept else 0.0
    pred = cp.sum(cp.multiply(masks.astype(float), X @ W), axis=1) + b
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(pred - y) / n
                                  + alpha * cp.sum(cp.norm(W, 2, axis=0))))
    prob.solve(solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    ref = prob.value
    assert sol.objective == pytest.approx(ref, rel=1e-5)
    assert sol.lower_bound <= ref + 1e-8 * abs(ref)
    # And the certificate is the solver's own: recomputed from its point.
    certifier = DualCertifier(loss, design, alpha, fit_intercept, np.ones(design.q))
    Z = backward.__self__.forward(sol.W) + sol.b
    theta = loss.gradient(Z)
    bound = certifier.bound(theta, backward(theta))
    assert bound <= ref + 1e-8 * abs(ref)
    assert sol.objective - bound <= 2e-6 * abs(sol.objective)
