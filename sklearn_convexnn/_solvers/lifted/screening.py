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
* :func:`auto_alpha`: ``AUTO_ALPHA_FRACTION`` times ``alpha_max``;
* :func:`stable_alpha`: a value derived from ``alpha_max`` rounded to
  ``ALPHA_DIGITS`` significant digits, for the grids and ``alpha="auto"``;
* :func:`alpha_max_cache`: inside it (a regularization path fits one
  problem at many alphas) the estimators' screen computes ``alpha_max``
  once instead of at every fit.
"""

from contextlib import contextmanager

import numpy as np

from ..shared.intercept import intercept_only_fit
from ..shared.scoped_cache import ScopedCache
from .lifted import LiftedBlock
from .neuron_sets import Signs, Sphere, get_neuron_set

__all__ = ["ALPHA_DIGITS", "AUTO_ALPHA_FRACTION", "alpha_max_cache", "auto_alpha",
           "empty_network", "level_blocks", "lifted_alpha_max", "problem_neuron_set",
           "stable_alpha"]

#: ``alpha="auto"`` means this fraction of alpha_max (the regressors' default;
#: measurements in ``_docstrings.REGRESSOR_ALPHA_DOC``).
AUTO_ALPHA_FRACTION = 5e-2

#: Significant digits kept of alpha_max where it sets another alpha (grids,
#: "auto"). alpha_max is a dual norm of a sum over the rows, so its last bits
#: depend on the summation order: weights 2 and a duplicated row give values
#: one ulp apart, and an alpha one ulp apart can end at another point of a
#: flat optimal face (the quantized relaxation's, then other rounded neurons).
#: 12 digits stay far above that noise (1e-16 relative) and far below any
#: solver tolerance.
ALPHA_DIGITS = 12


def stable_alpha(top, fraction=1.0):
    """``fraction * top`` with ``top`` rounded to ``ALPHA_DIGITS`` significant digits.

    Values of ``top`` a few ulps apart give the same result (unless they
    straddle a rounding boundary, which a 13th significant digit of 5 marks).
    For ``fraction=1`` (the top of a grid) the rounded value is raised by a
    relative ``10 ** (1 - ALPHA_DIGITS)`` (more than the rounding error), so it
    is never below ``top``: the empty-network screen still holds there.
    """
    top = float(top)
    if not np.isfinite(top) or top <= 0:
        return float(fraction * top)
    rounded = float(f"{top:.{ALPHA_DIGITS - 1}e}")
    if fraction == 1.0:
        return rounded * (1.0 + 10.0 ** (1 - ALPHA_DIGITS))
    return float(fraction * rounded)


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


#: Inside ``alpha_max_cache``: the last alpha_max computed and what it was
#: computed from (None outside).
_CACHE = ScopedCache()


@contextmanager
def alpha_max_cache():
    """Keep the last ``alpha_max`` of :func:`empty_network` and :func:`auto_alpha`.

    A regularization path fits the same problem at every alpha, and every
    fit screens first (one dual-norm computation over the data). Inside
    this context the value is reused when the blocks are made of the very
    row arrays of the cached entry (held alive by it, so the arrays must not
    change in place inside the context) and the targets, sample weights,
    loss, activation, intercept and neuron set are equal; anything else is
    computed afresh and replaces the entry.
    """
    with _CACHE.scope():
        yield


def _alpha_max(blocks, Y, loss, activation, fit_intercept, neuron_set):
    """``lifted_alpha_max``, through ``alpha_max_cache`` when one is open."""
    if _CACHE.store is None:
        return lifted_alpha_max(blocks, Y, loss, activation, fit_intercept, neuron_set)
    key = (tuple(float(v) for v in activation), bool(fit_intercept), loss.name,
           float(loss.delta), neuron_set if isinstance(neuron_set, str) else id(neuron_set))
    entry = _CACHE.store.get("entry")
    if entry is not None and entry["key"] == key and len(entry["rows"]) == len(blocks) \
            and all(P is blk.P and pool is blk.pool
                    for (P, pool), blk in zip(entry["rows"], blocks)) \
            and entry["Y"].shape == np.shape(Y) and np.array_equal(entry["Y"], Y) \
            and _same_weights(entry["weights"], loss.weights):
        return entry["value"]
    value = lifted_alpha_max(blocks, Y, loss, activation, fit_intercept, neuron_set)
    _CACHE.store["entry"] = {"key": key, "rows": [(blk.P, blk.pool) for blk in blocks],
                       "Y": np.array(Y, dtype=float), "value": value,
                       "weights": None if loss.weights is None else np.array(loss.weights),
                       "set": neuron_set}
    return value


def _same_weights(a, b):
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(np.array_equal(a, b))


def empty_network(blocks, Y, loss, activation, alpha, fit_intercept=True,
                  neuron_set="sphere", levels="binary"):
    """``(intercept, objective)`` of the intercept-only fit when it is optimal, else None.

    Optimal (certified) exactly when ``alpha >= alpha_max``; ``blocks`` are
    the estimator's own (expanded here for ternary levels).
    """
    top = _alpha_max(level_blocks(blocks, neuron_set, levels), Y, loss, activation,
                     fit_intercept, neuron_set)
    if alpha < top:
        return None
    intercept, _ = intercept_only_fit(Y, loss, fit_intercept)
    return intercept, loss.value(np.broadcast_to(intercept, Y.shape), Y)


def auto_alpha(blocks, Y, loss, activation, fit_intercept=True, neuron_set="sphere",
               levels="binary"):
    """``AUTO_ALPHA_FRACTION * alpha_max`` on the estimator's own blocks (0 for constant Y).

    alpha_max is rounded first (:func:`stable_alpha`).
    """
    top = _alpha_max(level_blocks(blocks, neuron_set, levels), Y, loss, activation,
                     fit_intercept, neuron_set)
    return stable_alpha(top, AUTO_ALPHA_FRACTION)
