"""Certified lower bound for networks whose neurons are sign vectors.

The quantized problem is a lasso over the finitely many neurons
``u in {-1, +1}^p``. For a dual point ``Theta`` (n, k) in the conjugate's
domain, centred when the intercept is free, with
``|Theta_o^T sigma_r(u)| <= alpha`` for every sign vector, output and block,
weak duality gives ``optimum >= -loss*(Theta)``.

``Theta_o^T sigma_r(u) = <M, [u; 1][u; 1]^T>`` for the symmetric matrix
``M = [[A, g/2], [g^T/2, c0]]`` of ``LiftedBlock.dual_quadratic``. The exact
maximum over sign vectors is a max-cut problem; we bound it over the
elliptope (unit-diagonal PSD matrices C, which contain every
``[u; 1][u; 1]^T``): for any vector y,
``<M, C> <= sum(y) + (p + 1) lambda_max(M - diag(y))``, since
``<M - diag(y), C> <= lambda_max tr(C)``. Any y is valid, so the bound holds
however inaccurately the small SDP that proposes y was solved; the best y
makes it the relaxation's value, so the bound matches the binary SDP's
optimum when ``Theta`` is its dual solution.
"""

import warnings

import numpy as np

from .certificate import into_dual_domain

__all__ = ["binary_lower_bound", "elliptope_max"]


def binary_lower_bound(blocks, Y, loss, activation, alpha, theta, fit_intercept=True):
    """A certified lower bound on the optimum over sign-vector neurons.

    Parameters
    ----------
    blocks, Y, loss, activation, alpha, fit_intercept
        The problem (see ``lifted.py``); a neuron of block r is a sign
        vector of length ``blocks[r].dim``.
    theta : ndarray of shape (n, k)
        Approximate dual point, e.g. the dual solution of the binary SDP or
        the loss gradient at a fitted network.

    Returns
    -------
    bound : float
        Also a lower bound on the binary relaxation's optimum.
    """
    theta = np.array(theta, dtype=float)
    if fit_intercept:
        theta -= theta.mean(axis=0, keepdims=True)
    theta = into_dual_domain(theta, Y, loss)
    worst = 0.0
    for o in range(theta.shape[1]):
        for block in blocks:
            A, g, c0 = block.dual_quadratic(theta[:, o], activation)
            M = np.block([[A, g[:, None] / 2], [g[None, :] / 2, np.array([[c0]])]])
            worst = max(worst, elliptope_max(M), elliptope_max(-M))
    if worst > alpha:
        theta *= alpha / worst
    return -loss.conjugate(theta, Y)


def elliptope_max(M):
    """An upper bound on ``max <M, C>`` over unit-diagonal PSD matrices C.

    ``sum(y) + q lambda_max(M - diag(y))`` with y from the small max-cut
    dual SDP ``min sum(y) s.t. diag(y) >= M`` (cvxpy); valid for any y,
    tight for the SDP's optimal y. Falls back to ``y = diag(M)`` if the SDP
    cannot be solved.
    """
    M = 0.5 * (M + M.T)
    q = M.shape[0]
    y = _maxcut_dual(M)
    if y is None:
        y = np.diag(M).copy()
    return float(np.sum(y) + q * np.linalg.eigvalsh(M - np.diag(y))[-1])


def _maxcut_dual(M):
    import cvxpy as cp

    scale = max(float(np.abs(M).max()), 1e-300)
    y = cp.Variable(M.shape[0])
    problem = cp.Problem(cp.Minimize(cp.sum(y)), [cp.diag(y) - M / scale >> 0])
    for name in ("CLARABEL", "SCS"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                problem.solve(solver=name)
        except cp.error.SolverError:
            continue
        if y.value is not None and np.all(np.isfinite(y.value)):
            return np.asarray(y.value) * scale
    return None
