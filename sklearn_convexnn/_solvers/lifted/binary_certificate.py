"""Certified lower bound for networks whose neurons are sign vectors.

The quantized problem is a lasso over the finitely many neurons
``u in {-1, +1}^p``. For a dual point ``Theta`` (n, k) in the conjugate's
domain, centred when the intercept is free, with
``|Theta_o^T sigma_r(u)| <= alpha`` for every sign vector, output and block,
weak duality gives ``optimum >= -loss*(Theta)``.

``Theta_o^T sigma_r(u) = <M, [u; 1][u; 1]^T>`` for the symmetric matrix
``M = [[A, g/2], [g^T/2, c0]]`` of ``LiftedBlock.dual_quadratic``. The exact
maximum over sign vectors is a max-cut problem; it is bounded over the
elliptope (unit-diagonal PSD matrices, which contain every
``[u; 1][u; 1]^T``) by :func:`~.elliptope.elliptope_max`, valid for any
factor it is given, so the bound holds however the solver that proposed
``Theta`` stopped. With the relaxation's optimal dual point and factors the
bound is the relaxation's optimal value. Given triangle cuts with
multipliers (``triangle.py``), the maximum is bounded over the elliptope
cut by them instead (tighter, still valid for every sign vector).
"""

import numpy as np

from ..shared.dual import feasible_dual, rescaled_bound
from .elliptope import elliptope_max as elliptope_max_factored
from .triangle import certified_cut_max, cut_multipliers

__all__ = ["binary_lower_bound", "dual_matrix", "elliptope_max"]


def binary_lower_bound(blocks, Y, loss, activation, alpha, theta, fit_intercept=True, *,
                       factors=None, cuts=None, refine_multipliers=True,
                       return_factors=False, max_sweeps=100):
    """A certified lower bound on the optimum over sign-vector neurons.

    Parameters
    ----------
    blocks, Y, loss, activation, alpha, fit_intercept
        The problem (see ``lifted.py``); a neuron of block r is a sign
        vector of length ``blocks[r].dim``.
    theta : ndarray of shape (n, k)
        Approximate dual point, e.g. the loss gradient at a fitted network
        or at the relaxation's iterate.
    factors : dict or None
        Starting factors for :func:`~.elliptope.elliptope_max`, keyed ``(output, block,
        sign)`` where ``sign`` is +1 for ``max <M, C>`` and -1 for
        ``max <-M, C>``; e.g. the relaxation's own factors. Random if absent.
    cuts : dict or None
        Triangle cuts with multipliers, ``(idx, pat, lam)`` under the same
        keys (see ``triangle.certified_cut_max``); the bound is then over the
        elliptope cut by them. Any ``lam >= 0`` gives a valid bound.
    refine_multipliers : bool, default=True
        With cuts, also try the multipliers that are best for ``theta``
        (``triangle.cut_multipliers``, a small SDP per output and sign) and
        keep the smaller certified maximum.
    return_factors : bool, default=False
        Also return the improved factors (same keys).
    max_sweeps : int, default=100
        Mixing-method sweeps that improve each factor before it is read
        (``elliptope_max``); 0 reads the given factors as they are (cheap,
        still valid, tight when they are optimal).

    Returns
    -------
    bound : float
        Also a lower bound on the binary relaxation's optimum.
    factors : dict, only if ``return_factors``
    """
    # Centred in proportion to the sample weights, zero on rows of zero weight
    # (where the weighted loss's conjugate is finite only at zero).
    theta = feasible_dual(theta, Y, loss, fit_intercept)
    factors = {} if factors is None else factors
    out = {}
    worst = 0.0
    for o in range(theta.shape[1]):
        for r, block in enumerate(blocks):
            M = dual_matrix(block, theta[:, o], activation)
            for sign in (1.0, -1.0):
                key = (o, r, sign)
                if cuts is not None and key in cuts and len(cuts[key][2]):
                    idx, pat, lam = cuts[key]
                    # An upper bound on the maximum over the cut elliptope;
                    # scaling theta by alpha / worst below scales it alike.
                    value, V = certified_cut_max(sign * M, idx, pat, lam, factors.get(key),
                                                 max_sweeps=max_sweeps)
                    if refine_multipliers:
                        # The solver's multipliers need not be the best ones
                        # for this theta (they are not unique): ask the SDP.
                        best = cut_multipliers(sign * M, idx, pat)
                        if best is not None:
                            value = min(value, certified_cut_max(sign * M, idx, pat, best,
                                                                 V)[0])
                else:
                    value, V = elliptope_max_factored(sign * M, factors.get(key),
                                                      max_sweeps=max_sweeps, random_state=0)
                out[(o, r, sign)] = V
                worst = max(worst, value)
    bound, _ = rescaled_bound(theta, worst, alpha, Y, loss)
    return (bound, out) if return_factors else bound


def dual_matrix(block, theta_o, activation):
    """``M`` with ``theta_o^T sigma_block(u) = <M, [u; 1][u; 1]^T>``."""
    A, g, c0 = block.dual_quadratic(theta_o, activation)
    return np.block([[A, g[:, None] / 2], [g[None, :] / 2, np.array([[c0]])]])


def elliptope_max(M):
    """A certified upper bound on ``max <M, C>`` over unit-diagonal PSD matrices C.

    The float of :func:`~.elliptope.elliptope_max` from a seeded random
    start (no cvxpy): ``sum(y) + q lambda_max(M - diag(y))`` with ``y`` read
    off a mixing-method factor; valid for any factor, tight at convergence.
    """
    return elliptope_max_factored(M, random_state=0)[0]
