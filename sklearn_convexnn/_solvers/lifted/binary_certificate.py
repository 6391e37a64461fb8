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

import itertools

import numpy as np

from ..shared.dual import feasible_dual, rescaled_bound
from .elliptope import elliptope_max as elliptope_max_factored
from .triangle import certified_cut_max, cut_multipliers

__all__ = ["binary_lower_bound", "dual_matrix", "elliptope_max", "enumerated_extremes",
           "enumerated_lower_bound"]


#: Relative accuracy of the weight that mixes a dual point into the loss's domain.
_MIX_RTOL = 1e-6


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
    # (where the weighted loss's conjugate is finite only at zero); the mixing
    # weight to 1e-6 relative (the sphere's certificate, ``sphere_dual.py``,
    # takes 1e-3): ~20 domain checks instead of 60, which were a fifth of the
    # relaxation's time on breast_cancer. 1e-3 cost the relaxation 10 more
    # iterations there (its bound fell just short of tol).
    theta = feasible_dual(theta, Y, loss, fit_intercept, rtol=_MIX_RTOL)
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


def enumerated_extremes(A, g, c0, top=0):
    """Exact max and min of ``u^T A u + g^T u + c0`` over every sign vector ``u``.

    The ``2^p`` sign vectors are split in two halves, ``u = (v, w)``: the
    value is ``q1(v) + q2(w) + 2 v^T A12 w + c0``, one ``2^(p/2) x 2^(p - p/2)``
    matrix built by a single product (``2^p * p / 2`` multiply-adds; 10 ms at
    p = 20). Exact, so the dual check it feeds is the quantized problem's own.

    Parameters
    ----------
    A : ndarray of shape (p, p), symmetric
    g : ndarray of shape (p,)
    c0 : float
    top : int, default=0
        Also return this many maximizers and minimizers.

    Returns
    -------
    high, low : float
        The maximum and the minimum.
    U_high, U_low : ndarray of shape (top, p)
        Sign vectors attaining the ``top`` largest / smallest values, best first.
    """
    p = len(g)
    h = p // 2
    U1, U2 = _all_signs(h), _all_signs(p - h)
    q1 = np.einsum("ij,jk,ik->i", U1, A[:h, :h], U1) + U1 @ g[:h]
    q2 = np.einsum("ij,jk,ik->i", U2, A[h:, h:], U2) + U2 @ g[h:]
    T = (U1 @ (2.0 * A[:h, h:])) @ U2.T
    T += q1[:, None]
    T += q2[None, :] + c0
    flat = T.ravel()
    out = [float(flat.max()), float(flat.min())]
    for sign in (1.0, -1.0):
        m = min(int(top), flat.size)
        if m <= 0:
            out.append(np.zeros((0, p)))
            continue
        idx = np.argpartition(-sign * flat, m - 1)[:m]
        idx = idx[np.argsort(-sign * flat[idx])]
        i, j = np.divmod(idx, U2.shape[0])
        out.append(np.hstack([U1[i], U2[j]]))
    return tuple(out)


def enumerated_lower_bound(block, Y, loss, activation, alpha, theta, fit_intercept=True,
                           top=0):
    """The quantized problem's own dual bound at ``theta``, its check by enumeration.

    Like :func:`binary_lower_bound` for one block, with the exact maximum over
    sign vectors (:func:`enumerated_extremes`) in place of the elliptope
    bound: never looser, and tight at the quantized optimum's dual point.
    Also returns, per output and sign, the ``top`` sign vectors that violate
    the check most (scores above ``alpha``): the neurons that would lower the
    objective when added.

    Returns
    -------
    bound : float
    violators : ndarray of shape (m, block.dim)
    """
    theta = feasible_dual(theta, Y, loss, fit_intercept)
    worst = 0.0
    found = [np.zeros((0, block.dim))]
    for o in range(theta.shape[1]):
        A, g, c0 = block.dual_quadratic(theta[:, o], activation)
        high, low, U_high, U_low = enumerated_extremes(A, g, c0, top)
        worst = max(worst, high, -low)
        for U, sign in ((U_high, 1.0), (U_low, -1.0)):
            if len(U):
                score = sign * (np.einsum("ij,jk,ik->i", U, A, U) + U @ g + c0)
                found.append(U[score > alpha * (1 + 1e-9)])
    bound, _ = rescaled_bound(theta, worst, alpha, Y, loss)
    return bound, np.vstack(found)


_SIGNS = {}


def _all_signs(p):
    if p not in _SIGNS:
        _SIGNS[p] = (np.array(list(itertools.product((-1.0, 1.0), repeat=p))) if p
                     else np.ones((1, 0)))
    return _SIGNS[p]
