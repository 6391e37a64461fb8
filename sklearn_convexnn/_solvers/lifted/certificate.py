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


def relative_gap(objective, lower_bound):
    """``(objective - lower_bound) / |objective|``, safe at any scale.

    No floor on the denominator beyond the smallest normal float: a
    ``1e-12`` floor would call any gap of a problem whose objective is
    below it "closed".
    """
    gap = max(objective - lower_bound, 0.0)
    if gap == 0.0:
        return 0.0
    return gap / max(abs(objective), np.finfo(float).tiny)


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
