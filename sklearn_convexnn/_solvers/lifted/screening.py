"""alpha_max of a lifted problem, the empty-network screen and ``alpha="auto"``.

The lifted problem is a lasso over the neurons of a set (``neuron_sets.py``):
the network with no neuron (intercept only, ``shared/intercept.py``) is
optimal exactly when the dual norm of the loss gradient there is at most
``alpha``; that dual norm is ``alpha_max``. Here, once for the estimators
(``_base.py``) and the public path helpers (``paths.py``):

* :func:`level_blocks`: the blocks a neuron of the given level set sees (a
  ternary neuron ``(v + v') / 2`` on ``X`` is a sign vector on ``[X, X] / 2``);
* :func:`lifted_alpha_max`: ``alpha_max`` for the sphere (exact, trust
  region) or the sign vectors (exact enumeration for small ``p``, else the
  elliptope bound, see ``Signs(exact="auto")``);
* :func:`empty_network`: the certified intercept-only fit at ``alpha >=
  alpha_max`` (a safe screening rule), else None;
* :func:`auto_alpha`: ``AUTO_ALPHA_FRACTION`` times ``alpha_max``.
"""

import numpy as np

from ..shared.intercept import intercept_only_fit
from .lifted import LiftedBlock
from .neuron_sets import Signs, Sphere, get_neuron_set

__all__ = ["AUTO_ALPHA_FRACTION", "auto_alpha", "empty_network", "level_blocks",
           "lifted_alpha_max", "problem_neuron_set"]

#: ``alpha="auto"`` means this fraction of alpha_max (the regressors' default;
#: measurements in ``_docstrings.REGRESSOR_ALPHA_DOC``).
AUTO_ALPHA_FRACTION = 5e-2


def problem_neuron_set(neuron_set):
    """The :class:`NeuronSet` whose ``alpha_max`` is the problem's, from its name.

    "sphere" is exact; "binary" (sign vectors) enumerates for small ``p``
    (the quantized problem's own value) and bounds over the elliptope else.
    Any other set comes from the registry (``neuron_sets.get_neuron_set``:
    a ``NeuronSet`` instance or a name of ``NEURON_SETS``).
    """
    if neuron_set == "sphere":
        return Sphere()
    if neuron_set in ("binary", "signs"):
        return Signs(exact="auto")
    return get_neuron_set(neuron_set)


def level_blocks(blocks, neuron_set="sphere", levels="binary"):
    """The blocks whose neuron set is the problem's (sphere or sign vectors)."""
    if neuron_set == "binary" and levels == "ternary":
        # A ternary neuron (v + v') / 2 on X is a binary one on [X, X] / 2.
        return [LiftedBlock(np.hstack([b.P, b.P]) / 2.0, b.pool) for b in blocks]
    return blocks


def lifted_alpha_max(blocks, Y, loss, activation, fit_intercept=True, neuron_set="sphere"):
    """alpha_max of a lifted problem given by its pieces (blocks already at their level).

    Parameters
    ----------
    blocks : list of LiftedBlock
    Y : ndarray of shape (n_samples, n_outputs)
        Encoded targets.
    loss : Loss
    activation : tuple (a, b, c)
    fit_intercept : bool, default=True
    neuron_set : {"sphere", "binary"}, default="sphere"

    Returns
    -------
    alpha_max : float
    """
    return problem_neuron_set(neuron_set).alpha_max(blocks, Y, loss, activation,
                                                    fit_intercept)


def empty_network(blocks, Y, loss, activation, alpha, fit_intercept=True,
                  neuron_set="sphere", levels="binary"):
    """``(intercept, objective)`` of the intercept-only fit when it is optimal, else None.

    Optimal (certified) exactly when ``alpha >= alpha_max``; ``blocks`` are
    the estimator's own (expanded here for ternary levels).
    """
    top = lifted_alpha_max(level_blocks(blocks, neuron_set, levels), Y, loss, activation,
                           fit_intercept, neuron_set)
    if alpha < top:
        return None
    intercept, _ = intercept_only_fit(Y, loss, fit_intercept)
    return intercept, loss.value(np.broadcast_to(intercept, Y.shape), Y)


def auto_alpha(blocks, Y, loss, activation, fit_intercept=True, neuron_set="sphere",
               levels="binary"):
    """``AUTO_ALPHA_FRACTION * alpha_max`` on the estimator's own blocks (0 for constant Y)."""
    top = lifted_alpha_max(level_blocks(blocks, neuron_set, levels), Y, loss, activation,
                           fit_intercept, neuron_set)
    return float(AUTO_ALPHA_FRACTION * top)
