"""alpha_max and alpha grids of the lifted networks; public in :mod:`sklearn_convexnn.paths`.

The maths (the dual check of the empty network, one small function per
neuron set) is described there; the dual norms themselves live in
``_solvers/lifted/neuron_sets.py`` and ``_solvers/lifted/screening.py``.
"""

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone, is_classifier
from sklearn.utils import check_array
from sklearn.utils.validation import _check_sample_weight, column_or_1d

from ._base import encode_classes
from ._base import screen_empty_network as _screen_empty_network
from ._solvers.lifted.lifted import resolve_activation
from ._solvers.lifted.neuron_sets import EXACT_SIGNS_MAX_DIM, Signs, Sphere
from ._solvers.lifted.patches import resolve_geometry
from ._solvers.lifted.screening import AUTO_ALPHA_FRACTION, level_blocks, stable_alpha
from ._solvers.lifted.screening import lifted_alpha_max as _lifted_alpha_max
from ._solvers.shared.intercept import intercept_only_dual as _intercept_only_dual
from ._solvers.shared.intercept import intercept_only_fit as _intercept_only_fit
from ._solvers.shared.losses import get_loss


#: Largest number of first-layer weights for which binary_alpha_max
#: enumerates every sign vector instead of bounding by the SDP relaxation
#: (``Signs(exact="auto")``, ``_solvers/lifted/neuron_sets.py``).
EXACT_BINARY_MAX_DIM = EXACT_SIGNS_MAX_DIM

# The maths lives in _solvers: the neuron sets' dual norms and alpha_max
# (``lifted/neuron_sets.py``, ``lifted/screening.py``, which also holds
# AUTO_ALPHA_FRACTION) and the intercept-only fit (``shared/intercept.py``);
# this module keeps the estimator-facing wrappers (and documents the
# internal ones it re-exports).

_BLOCKS_DOC = """list of LiftedBlock
        Lifted features: the rows ``P`` a neuron sees and how they pool into
        samples (one block with ``P = X`` for a dense network, one per
        pooling region for a CNN); an estimator's own come from its
        ``_make_blocks(X)``."""
_ACTIVATION_DOC = """tuple (a, b, c)
        Coefficients of the quadratic activation ``sigma(t) = a t^2 + b t + c``
        (as ``resolve_activation`` of ``sklearn_convexnn._solvers.lifted.lifted``
        returns them from an estimator's ``activation``)."""
_LOSS_DOC = """Loss
        Loss object, e.g. ``get_loss("squared")`` from
        ``sklearn_convexnn._solvers.shared.losses`` (it carries the sample
        weights, if any)."""
_FIT_INTERCEPT_DOC = """bool, default=True
        Whether the network has an unpenalized output bias (else the
        intercept-only fit is the zero function)."""
_Y_DOC = """ndarray of shape (n_samples, n_outputs)
        Encoded targets: the regression targets as a column per output, or
        the classifiers' encoding of the labels (one column of -1/+1 for
        binary problems, one-hot for multiclass)."""


def _fill(func):
    """Put the shared parameter descriptions into ``func``'s docstring."""
    if func.__doc__:
        func.__doc__ = (func.__doc__.replace("<blocks>", _BLOCKS_DOC)
                        .replace("<activation>", _ACTIVATION_DOC)
                        .replace("<loss>", _LOSS_DOC).replace("<Y>", _Y_DOC)
                        .replace("<fit_intercept>", _FIT_INTERCEPT_DOC))
    return func


# ------------------------------------------------------------- neuron sets
@_fill
def sphere_alpha_max(blocks, theta, activation):
    """``max_o max_r max_{||u||=1} |theta_o^T sigma_r(u)|``: alpha_max on the sphere.

    Parameters
    ----------
    blocks : <blocks>
    theta : ndarray of shape (n_samples, n_outputs)
        Dual point, e.g. from :func:`intercept_only_dual`.
    activation : <activation>

    Returns
    -------
    value : float
        Exact up to rounding: one eigendecomposition and a root find per
        output and block (``trust_region.trust_region_max``, upper side).

    See Also
    --------
    binary_alpha_max : the same maximum over sign vectors.
    lifted_alpha_max : from the targets and the loss instead of ``theta``.

    Examples
    --------
    For the square activation the maximum is the largest eigenvalue of
    ``P^T diag(theta) P`` in absolute value:

    >>> import numpy as np
    >>> from sklearn_convexnn._solvers.lifted.lifted import LiftedBlock
    >>> from sklearn_convexnn.paths import sphere_alpha_max
    >>> rng = np.random.default_rng(0)
    >>> P, theta = rng.normal(size=(20, 3)), rng.normal(size=(20, 1))
    >>> value = sphere_alpha_max([LiftedBlock(P)], theta, (1.0, 0.0, 0.0))
    >>> bool(np.isclose(value, np.abs(np.linalg.eigvalsh(P.T @ (theta * P))).max()))
    True
    """
    theta = np.asarray(theta, dtype=float).reshape(theta.shape[0], -1)
    return float(np.max(Sphere().dual_norm(blocks, theta, activation), initial=0.0))


@_fill
def binary_alpha_max(blocks, theta, activation, *, exact="auto"):
    """``max_o max_r max_{u in {-1,+1}^p} |theta_o^T sigma_r(u)|``: alpha_max on sign vectors.

    Parameters
    ----------
    blocks : <blocks>
    theta : ndarray of shape (n_samples, n_outputs)
        Dual point, e.g. from :func:`intercept_only_dual`.
    activation : <activation>
    exact : bool or "auto", default="auto"
        True enumerates all ``2^p`` sign vectors (the quantized problem's own
        alpha_max); False bounds the maximum over the elliptope (the SDP
        relaxation's alpha_max, an upper bound on the quantized one); "auto"
        enumerates when ``p <= EXACT_BINARY_MAX_DIM``.

    Returns
    -------
    value : float
        The maximum (``exact=True``) or its elliptope bound (``exact=False``).

    See Also
    --------
    sphere_alpha_max : the same maximum over the unit sphere.
    lifted_alpha_max : from the targets and the loss instead of ``theta``.

    Examples
    --------
    Against the enumeration of the eight sign vectors of three weights:

    >>> import itertools
    >>> import numpy as np
    >>> from sklearn_convexnn._solvers.lifted.lifted import LiftedBlock
    >>> from sklearn_convexnn.paths import binary_alpha_max
    >>> rng = np.random.default_rng(0)
    >>> P, theta = rng.normal(size=(20, 3)), rng.normal(size=(20, 1))
    >>> blocks, act = [LiftedBlock(P)], (1.0, 0.0, 0.0)
    >>> brute = max(abs(theta[:, 0] @ (P @ np.array(u)) ** 2)
    ...             for u in itertools.product([-1, 1], repeat=3))
    >>> bool(np.isclose(binary_alpha_max(blocks, theta, act, exact=True), brute))
    True
    >>> bool(binary_alpha_max(blocks, theta, act, exact=False) >= brute - 1e-9)
    True
    """
    theta = np.asarray(theta, dtype=float).reshape(theta.shape[0], -1)
    return float(np.max(Signs(exact=exact).dual_norm(blocks, theta, activation), initial=0.0))


@_fill
def lifted_alpha_max(blocks, Y, loss, activation, fit_intercept=True, neuron_set="sphere"):
    """alpha_max of a lifted problem given by its pieces, not by an estimator.

    The dual norm (:func:`sphere_alpha_max` or :func:`binary_alpha_max`) of
    the loss gradient at the best intercept-only fit
    (:func:`intercept_only_dual`). :func:`alpha_max` builds the pieces from
    an estimator and the data and calls this.

    Parameters
    ----------
    blocks : <blocks>
        For ternary quantized networks, the blocks already expanded to
        ``[P, P] / 2``.
    Y : <Y>
    loss : <loss>
    activation : <activation>
    fit_intercept : <fit_intercept>
    neuron_set : {"sphere", "binary"}, default="sphere"
        What a neuron may be: a unit vector or a sign vector.

    Returns
    -------
    alpha_max : float
        The smallest ``alpha`` at which the network with no neuron is
        optimal (see :func:`alpha_max` for when it is exact).

    See Also
    --------
    alpha_max : the same from an estimator and the data.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn._solvers.lifted.lifted import LiftedBlock
    >>> from sklearn_convexnn._solvers.shared.losses import get_loss
    >>> from sklearn_convexnn.paths import (intercept_only_dual, lifted_alpha_max,
    ...                                     sphere_alpha_max)
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(20, 3)), rng.normal(size=(20, 1))
    >>> blocks, loss, act = [LiftedBlock(X)], get_loss("squared"), (1.0, 0.0, 0.0)
    >>> top = lifted_alpha_max(blocks, Y, loss, act)
    >>> bool(np.isclose(top, sphere_alpha_max(blocks, intercept_only_dual(Y, loss), act)))
    True
    """
    return _lifted_alpha_max(blocks, Y, loss, activation, fit_intercept, neuron_set)


@_fill
def intercept_only_fit(Y, loss, fit_intercept=True):
    """Best constant prediction and the loss (sub)gradient there.

    Closed forms (weighted mean, log-odds, log class frequency, weighted
    median, the heavier class for the hinge loss) and a bisection for the
    Huber loss; sample weights carried by ``loss`` are honoured.

    Parameters
    ----------
    Y : <Y>
    loss : <loss>
    fit_intercept : <fit_intercept>

    Returns
    -------
    intercept : ndarray of shape (n_outputs,)
        The best constant (zeros when ``fit_intercept=False``).
    theta : ndarray of shape (n_samples, n_outputs)
        The loss (sub)gradient there, as :func:`intercept_only_dual`
        returns it.

    See Also
    --------
    intercept_only_dual : only the gradient.

    Examples
    --------
    For the squared loss the best constant is the mean and the gradient the
    centred targets over n:

    >>> import numpy as np
    >>> from sklearn_convexnn._solvers.shared.losses import get_loss
    >>> from sklearn_convexnn.paths import intercept_only_fit
    >>> Y = np.array([[1.0], [2.0], [6.0]])
    >>> intercept, theta = intercept_only_fit(Y, get_loss("squared"))
    >>> intercept
    array([3.])
    >>> bool(np.allclose(theta, (3.0 - Y) / 3))
    True
    """
    return _intercept_only_fit(Y, loss, fit_intercept)


@_fill
def intercept_only_dual(Y, loss, fit_intercept=True):
    """Loss gradient at the best intercept-only fit: the dual point of alpha_max.

    Parameters
    ----------
    Y : <Y>
    loss : <loss>
    fit_intercept : <fit_intercept>

    Returns
    -------
    theta : ndarray of shape (n_samples, n_outputs)
        For smooth losses the gradient (columns sum to zero when the
        intercept is fitted), so the alpha_max it gives is exact. For the
        absolute and hinge losses a subgradient with zero-sum columns (ties
        share the slack equally): the alpha_max it gives is sufficient for
        the empty network to be optimal, possibly not the smallest such.

    See Also
    --------
    intercept_only_fit : the constant as well.
    sphere_alpha_max, binary_alpha_max : its dual norms.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn._solvers.shared.losses import get_loss
    >>> from sklearn_convexnn.paths import intercept_only_dual
    >>> Y = np.array([[1.0], [3.0], [5.0], [100.0]])
    >>> theta = intercept_only_dual(Y, get_loss("absolute"))
    >>> float(abs(theta.sum())) < 1e-12
    True
    """
    return _intercept_only_dual(Y, loss, fit_intercept)


@_fill
def screen_empty_network(estimator, blocks, Y, loss, activation, alpha=None):
    """The intercept-only network when it is certified optimal, else None.

    A safe screening rule: at ``alpha >= alpha_max`` no neuron can lower the
    objective, so the solver is not needed (an interior-point solver would
    return neurons of weight ~1e-6 there, at its own accuracy). The
    estimators call this before solving.

    Parameters
    ----------
    estimator : estimator instance
        Supplies ``alpha``, ``fit_intercept`` and the neuron set.
    blocks : <blocks>
    Y : <Y>
    loss : <loss>
    activation : <activation>
    alpha : float, default=None
        The regularization to screen at; ``None`` means ``estimator.alpha``.

    Returns
    -------
    fit : NetworkFit or None
        The network with no neuron, its intercept and its objective as the
        certified lower bound, when ``alpha >= alpha_max``; else None.

    See Also
    --------
    lifted_alpha_max : the threshold.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn import ConvexPolyNetRegressor
    >>> from sklearn_convexnn._solvers.lifted.lifted import LiftedBlock
    >>> from sklearn_convexnn._solvers.shared.losses import get_loss
    >>> from sklearn_convexnn.paths import lifted_alpha_max, screen_empty_network
    >>> rng = np.random.default_rng(0)
    >>> X, Y = rng.normal(size=(20, 3)), rng.normal(size=(20, 1))
    >>> blocks, loss, act = [LiftedBlock(X)], get_loss("squared"), (1.0, 0.0, 0.0)
    >>> top = lifted_alpha_max(blocks, Y, loss, act)
    >>> est = ConvexPolyNetRegressor(activation="square")
    >>> fit = screen_empty_network(est, blocks, Y, loss, act, alpha=top)
    >>> fit.neurons.shape, bool(np.isclose(fit.intercept[0], Y.mean()))
    ((0, 3), True)
    >>> screen_empty_network(est, blocks, Y, loss, act, alpha=0.5 * top) is None
    True
    """
    return _screen_empty_network(estimator, blocks, Y, loss, activation, alpha)


# --------------------------------------------------------------- estimators
def alpha_max(estimator, X, y, sample_weight=None):
    """Smallest ``alpha`` at which the network with no neuron is optimal.

    Parameters
    ----------
    estimator : estimator instance
        An (unfitted) network estimator of this package: its ``loss``,
        ``activation``, ``fit_intercept`` and neuron set (sphere, sign
        vectors, pooled patches) define the problem; its ``alpha`` is
        ignored. For the convex ReLU estimators the problem is the one on
        the gates their ``random_state`` draws (pass an integer to get the
        gates of a later fit).
    X : array-like of shape (n_samples, n_features)
        Training samples (flattened images for the CNN estimators).
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets (class labels for a classifier).
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the data term (as in the estimators' ``fit``).

    Returns
    -------
    alpha_max : float
        For smooth losses on the sphere families: exact. For the quantized
        family: exact over sign vectors when the neuron has at most
        ``EXACT_BINARY_MAX_DIM`` weights, else the SDP relaxation's value
        (an upper bound, at which the relaxation already has no neuron).
        For the absolute and hinge losses: sufficient (see
        :func:`intercept_only_dual`). For the convex ReLU networks: the
        largest gate-wise dual norm (:func:`~sklearn_convexnn.relu.relu_alpha_max`),
        exact for the gated program. Zero when the targets are constant.

    See Also
    --------
    alpha_grid : the log grid below it.
    regularization_path : fits along that grid.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn import ConvexPolyNetRegressor
    >>> from sklearn_convexnn.paths import alpha_max
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(50, 3))
    >>> y = 10 * (X[:, 0] ** 2 + X[:, 1])
    >>> top = alpha_max(ConvexPolyNetRegressor(), X, y)
    >>> ConvexPolyNetRegressor(alpha=top).fit(X, y).n_neurons_
    0
    >>> ConvexPolyNetRegressor(alpha=0.9 * top).fit(X, y).n_neurons_ > 0
    True
    """
    if hasattr(estimator, "_path_alpha_max"):
        return estimator._path_alpha_max(X, y, sample_weight)
    pb = _Problem.from_estimator(estimator, X, y, sample_weight)
    return _lifted_alpha_max(pb.blocks, pb.Y, pb.loss, pb.activation, pb.fit_intercept,
                            pb.neuron_set)


def alpha_grid(estimator, X, y, *, n_alphas=30, eps=1e-3, sample_weight=None):
    """``n_alphas`` values from ``alpha_max`` down to ``eps * alpha_max``, log-spaced.

    Parameters
    ----------
    estimator : estimator instance
        See :func:`alpha_max`.
    X : array-like of shape (n_samples, n_features)
        Training samples.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets (class labels for a classifier).
    n_alphas : int, default=30
        Number of values.
    eps : float, default=1e-3
        Ratio of the smallest to the largest value.
    sample_weight : array-like of shape (n_samples,), default=None
        Weights of the data term, used for ``alpha_max``.

    Returns
    -------
    alphas : ndarray of shape (n_alphas,)
        Decreasing. The top is alpha_max rounded to 12 significant digits and
        raised by 1e-11 relative (never below alpha_max), so that weighted
        and repeated rows, whose alpha_max differ in the last bits, get the
        same grid. When every target is the same (alpha_max is 0), the grid
        is anchored at 1 instead: every alpha then gives the same network.

    See Also
    --------
    alpha_max : the top of the grid.
    regularization_path : fits a network at every value.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn import ConvexPolyNetRegressor
    >>> from sklearn_convexnn.paths import alpha_grid, alpha_max
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 3))
    >>> y = X[:, 0] ** 2
    >>> grid = alpha_grid(ConvexPolyNetRegressor(), X, y, n_alphas=4, eps=1e-2)
    >>> grid.shape
    (4,)
    >>> bool(np.isclose(grid[0], alpha_max(ConvexPolyNetRegressor(), X, y)))
    True
    >>> bool(np.isclose(grid[-1], 1e-2 * grid[0]))
    True
    """
    _check_grid_params(n_alphas, eps)
    top = alpha_max(estimator, X, y, sample_weight)
    top = stable_alpha(top) if np.isfinite(top) and top > 0 else 1.0
    return np.geomspace(top, eps * top, int(n_alphas))


def resolve_alpha(alpha, estimator, X, y):
    """The numeric ``alpha`` an estimator should use.

    ``alpha="auto"`` is ``AUTO_ALPHA_FRACTION`` (5e-2) times
    :func:`alpha_max` of the data, so the regularization follows the scale
    of the targets and of the loss (a raw target in thousands needs an
    alpha a million times larger than a standardized one for the squared
    loss). A number is returned as it is.

    Parameters
    ----------
    alpha : float or "auto"
        The estimator's ``alpha`` parameter.
    estimator : estimator instance
        See :func:`alpha_max`.
    X : array-like of shape (n_samples, n_features)
        Training samples.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets (class labels for a classifier).

    Returns
    -------
    alpha : float
        ``alpha`` itself when it is a number; for "auto" the fraction of
        alpha_max above (0 when alpha_max is 0: constant targets), the
        value the estimators use inside ``fit``.

    See Also
    --------
    alpha_max : the scale "auto" follows.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn import ConvexPolyNetRegressor
    >>> from sklearn_convexnn.paths import alpha_max, resolve_alpha
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(30, 3))
    >>> y = X[:, 0] ** 2
    >>> est = ConvexPolyNetRegressor()
    >>> bool(np.isclose(resolve_alpha("auto", est, X, y), 0.05 * alpha_max(est, X, y)))
    True
    >>> resolve_alpha(0.3, est, X, y)
    0.3
    """
    if isinstance(alpha, str):
        if alpha != "auto":
            raise ValueError(f"alpha must be a non-negative float or 'auto'; got {alpha!r}.")
        # The value the estimator itself uses inside fit (0 for a constant target).
        return stable_alpha(alpha_max(estimator, X, y), AUTO_ALPHA_FRACTION)
    return float(alpha)


# ------------------------------------------------------------------ helpers
@dataclass
class _Problem:
    """The lifted problem an estimator would solve on (X, y), without solving it."""

    blocks: list
    Y: np.ndarray
    loss: object
    activation: tuple
    fit_intercept: bool
    neuron_set: str

    @classmethod
    def from_estimator(cls, estimator, X, y, sample_weight=None):
        est = clone(estimator)
        if getattr(est, "formulation", "sdp") == "relu-relaxation" \
                or not hasattr(est, "alpha"):
            raise ValueError(
                f"alpha_max is defined for the l1-penalized SDP formulation; "
                f"{type(estimator).__name__} with formulation="
                f"{getattr(est, 'formulation', None)!r} has no alpha."
            )
        X = check_array(X, dtype=np.float64, accept_sparse=("csr", "csc"))
        if sp.issparse(X):
            X = X.toarray()  # the lifted blocks hold dense rows either way
        y = np.asarray(y)
        if y.shape[0] != X.shape[0]:
            raise ValueError(
                f"X has {X.shape[0]} samples but y has {y.shape[0]}; they must match."
            )
        if is_classifier(est):
            _, Y, loss_name = encode_classes(column_or_1d(y, warn=True), est.loss)
        else:
            Y = np.asarray(y, dtype=float)
            Y = Y[:, None] if Y.ndim == 1 else Y
            loss_name = est.loss
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        if hasattr(est, "image_shape"):
            blocks = est._make_blocks(X, resolve_geometry(est, X.shape[1]),
                                      sample_weight=sample_weight)
        else:
            blocks = est._make_blocks(X)
        blocks = level_blocks(blocks, getattr(est, "_constraint", "sphere"),
                              getattr(est, "levels", "binary"))
        neuron_set = getattr(est, "_constraint", "sphere")
        loss = get_loss(loss_name, getattr(est, "huber_delta", 1.0), sample_weight)
        return cls(blocks, Y, loss,
                   resolve_activation(est.activation), bool(est.fit_intercept), neuron_set)


def _check_grid_params(n_alphas, eps):
    if not isinstance(n_alphas, Integral) or n_alphas < 1:
        raise ValueError(f"n_alphas must be a positive integer; got {n_alphas!r}.")
    if not isinstance(eps, Real) or not 0 < eps <= 1:
        raise ValueError(f"eps must be in (0, 1]; got {eps!r}.")
