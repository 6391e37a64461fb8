"""The duality certificate of the lifted model, one routine for every neuron set.

The lifted problem is a lasso over the neurons of a set ``U`` (see
``neuron_sets.py``). For any dual point ``Theta`` (n, k) in the conjugate's
domain, with centred columns when the intercept is free, and with dual norm
``max_{u in U, r} |Theta_o^T sigma_r(u)| <= alpha`` for every output ``o``,
weak duality gives::

    optimum >= -loss*(Theta)

``certified_lower_bound`` turns any approximate dual point (the loss
gradient at a solver's iterate, the dual variable cvxpy returns) into one
that meets these conditions exactly -- centre, pull into the conjugate's
domain, rescale into the dual-norm ball -- so the bound holds however the
solver stopped. Solvers that price neurons themselves (``lowrank``) use the
two halves ``feasible_dual`` (the loss side, ``shared/dual.py``) and
``rescaled_bound`` around their own dual check.
"""

import numpy as np

from ..shared.dual import feasible_dual, into_dual_domain, rescaled_bound
from .decomposition import neural_decomposition
from .neuron_sets import Sphere, get_neuron_set

__all__ = [
    "certified_lower_bound",
    "dual_violation",
    "feasible_dual",
    "into_dual_domain",
    "network_from_lifted",
    "relative_gap",
    "rescaled_bound",
    "sphere_lower_bound",
]


def certified_lower_bound(blocks, Y, loss, activation, alpha, theta, neuron_set="sphere",
                          fit_intercept=True):
    """A certified lower bound on the optimum of the lifted problem.

    Parameters
    ----------
    blocks, Y, loss, activation, alpha, fit_intercept
        The problem (see ``lifted.py``).
    theta : ndarray of shape (n, k)
        Approximate dual point, e.g. the loss gradient at the fitted outputs.
    neuron_set : NeuronSet or str, default="sphere"
        What a neuron may be; its ``dual_norm`` is the dual check.

    Returns
    -------
    bound : float
        For a relaxed set (Signs), a lower bound on the relaxation's optimum
        too.
    """
    theta = feasible_dual(theta, Y, loss, fit_intercept)
    norm = get_neuron_set(neuron_set).dual_norm(blocks, theta, activation)
    return rescaled_bound(theta, float(np.max(norm, initial=0.0)), alpha, Y, loss)[0]


#: Objective and bound both at most this are zero to round-off. The solvers
#: work in units where the loss of the empty network is of order one (the
#: estimators rescale y), so values of a few ulps of 1 are round-off of that
#: loss: e.g. labels of one class, whose logistic loss reaches 1e-16 as the
#: intercept grows while the bound is 0 (a relative gap of 1, or 1e-4 with a
#: 1e-12 floor, where the optimum is found to machine precision).
ROUNDOFF_ZERO = 4 * np.finfo(float).eps


def relative_gap(objective, lower_bound, floor=np.finfo(float).tiny):
    """``(objective - lower_bound) / max(|objective|, floor)``, safe at any scale.

    The default floor is the smallest normal float: a ``1e-12`` floor would
    call any gap of a problem whose objective is below it "closed". Two
    values at round-off of zero (``ROUNDOFF_ZERO``) have gap 0, not 0/0.
    """
    gap = max(objective - lower_bound, 0.0)
    if gap == 0.0 or max(abs(objective), abs(lower_bound)) <= ROUNDOFF_ZERO:
        return 0.0
    return gap / max(abs(objective), floor)


def sphere_lower_bound(blocks, Y, loss, activation, alpha, theta, fit_intercept=True):
    """:func:`certified_lower_bound` for unit-norm neurons."""
    return certified_lower_bound(blocks, Y, loss, activation, alpha, theta, Sphere(),
                                 fit_intercept)


def dual_violation(blocks, theta, activation):
    """Largest ``max_{||u||=1} |theta_o^T sigma_r(u)|`` over outputs and blocks.

    Returns ``(value, u, output, block, sign)`` of the most violating neuron.
    """
    return Sphere().most_violating(blocks, theta, activation)


def network_from_lifted(Z, rtol=1e-9):
    """Neurons of every (output, block) pair of lifted matrices.

    ``Z[o][r] = (Zpos, Zneg)``. Returns ``neurons`` (m, p), ``weights``
    (m, k) with one non-zero per row, and ``block_index`` (m,).
    """
    k = len(Z)
    rows, weights, index = [], [], []
    for o, row in enumerate(Z):
        for r, pair in enumerate(row):
            for sign, Zb in zip((1.0, -1.0), pair):
                U, w = neural_decomposition(Zb, rtol)
                for u, wj in zip(U, w):
                    rows.append(u)
                    wrow = np.zeros(k)
                    wrow[o] = sign * wj
                    weights.append(wrow)
                    index.append(r)
    p = Z[0][0][0].shape[0] - 1
    if not rows:
        return np.zeros((0, p)), np.zeros((0, k)), np.zeros(0, dtype=int)
    return np.array(rows), np.array(weights), np.array(index, dtype=int)
