"""Regularization paths of the lifted networks: alpha_max, grids, warm-started paths.

Every network family here is a lasso over infinitely (or finitely) many
neurons, so the network with no neuron (intercept only) is optimal exactly
when the dual check holds at its residual. With ``theta`` the loss gradient
at the best intercept-only fit (for the squared loss the centred target over
n), that is::

    max over neurons u of |theta_o^T sigma(P u)| <= alpha   for every output o

so the smallest such ``alpha``, ``alpha_max``, is that maximum. It depends on
what a neuron may be (the *neuron set*), each with its own small function:

* unit sphere (:class:`ConvexPolyNetRegressor`, the CNN's pooled patches,
  one block per pooling region): a trust-region problem per output and
  block, solved exactly by one eigendecomposition
  (:func:`sphere_alpha_max`);
* sign vectors (:class:`QuantizedSDPRegressor`): the maximum over all
  ``2^d`` sign vectors for small ``d``, else the value of its elliptope
  (SDP) relaxation, an upper bound that is also the exact ``alpha_max`` of
  the relaxed problem (:func:`binary_alpha_max`).

Grids run from ``alpha_max`` down to ``eps * alpha_max`` on a log scale
(:func:`alpha_grid`), and :func:`regularization_path` fits a network at
each, warm-starting every fit from the previous one where the solver can
(the "lowrank" solver of the sphere families), as scikit-learn's
``lasso_path`` does.
"""

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import clone, is_classifier
from sklearn.utils import check_array
from sklearn.utils.validation import _check_sample_weight, column_or_1d

from ._base import encode_classes, resolve_lifted_alpha, screen_empty_network  # noqa: F401
from ._solvers.lifted.lifted import resolve_activation
from ._solvers.lifted.neuron_sets import EXACT_SIGNS_MAX_DIM, Signs, Sphere
from ._solvers.lifted.screening import AUTO_ALPHA_FRACTION, level_blocks, lifted_alpha_max
from ._solvers.shared.intercept import intercept_only_dual, intercept_only_fit
from ._solvers.shared.losses import get_loss

__all__ = [
    "RegularizationPath",
    "alpha_grid",
    "alpha_max",
    "binary_alpha_max",
    "cnn_path",
    "intercept_only_dual",
    "intercept_only_fit",
    "lifted_alpha_max",
    "polynet_path",
    "quantized_path",
    "regularization_path",
    "resolve_alpha",
    "screen_empty_network",
    "sphere_alpha_max",
]

#: Largest number of first-layer weights for which binary_alpha_max
#: enumerates every sign vector instead of bounding by the SDP relaxation
#: (``Signs(exact="auto")``, ``_solvers/lifted/neuron_sets.py``).
EXACT_BINARY_MAX_DIM = EXACT_SIGNS_MAX_DIM

# The maths lives in _solvers: the neuron sets' dual norms and alpha_max
# (``lifted/neuron_sets.py``, ``lifted/screening.py``, which also holds
# AUTO_ALPHA_FRACTION) and the intercept-only fit (``shared/intercept.py``);
# this module keeps the estimator-facing wrappers.


# ------------------------------------------------------------- neuron sets
def sphere_alpha_max(blocks, theta, activation):
    """``max_o max_r max_{||u||=1} |theta_o^T sigma_r(u)|``: alpha_max on the sphere.

    Parameters
    ----------
    blocks : list of LiftedBlock
        Lifted features (one block for a dense network, one per pooling
        region for a CNN).
    theta : ndarray of shape (n_samples, n_outputs)
        Dual point, e.g. from :func:`intercept_only_dual`.
    activation : tuple (a, b, c)

    Returns
    -------
    value : float
        Exact up to rounding: one eigendecomposition and a root find per
        output and block (``trust_region.trust_region_max``, upper side).
    """
    theta = np.asarray(theta, dtype=float).reshape(theta.shape[0], -1)
    return float(np.max(Sphere().dual_norm(blocks, theta, activation), initial=0.0))


def binary_alpha_max(blocks, theta, activation, *, exact="auto"):
    """``max_o max_r max_{u in {-1,+1}^p} |theta_o^T sigma_r(u)|``: alpha_max on sign vectors.

    Parameters
    ----------
    blocks : list of LiftedBlock
    theta : ndarray of shape (n_samples, n_outputs)
    activation : tuple (a, b, c)
    exact : bool or "auto", default="auto"
        True enumerates all ``2^p`` sign vectors (the quantized problem's own
        alpha_max); False bounds the maximum over the elliptope (the SDP
        relaxation's alpha_max, an upper bound on the quantized one); "auto"
        enumerates when ``p <= EXACT_BINARY_MAX_DIM``.

    Returns
    -------
    value : float
    """
    theta = np.asarray(theta, dtype=float).reshape(theta.shape[0], -1)
    return float(np.max(Signs(exact=exact).dual_norm(blocks, theta, activation), initial=0.0))


# --------------------------------------------------------------- estimators
def alpha_max(estimator, X, y, sample_weight=None):
    """Smallest ``alpha`` at which the network with no neuron is optimal.

    Parameters
    ----------
    estimator : estimator instance
        An (unfitted) lifted-network estimator of this package: its ``loss``,
        ``activation``, ``fit_intercept`` and neuron set (sphere, sign
        vectors, pooled patches) define the problem; its ``alpha`` is
        ignored.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
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
        :func:`intercept_only_dual`). Zero when the targets are constant.

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
    pb = _Problem.from_estimator(estimator, X, y, sample_weight)
    return lifted_alpha_max(pb.blocks, pb.Y, pb.loss, pb.activation, pb.fit_intercept,
                            pb.neuron_set)


def alpha_grid(estimator, X, y, *, n_alphas=30, eps=1e-3, sample_weight=None):
    """``n_alphas`` values from ``alpha_max`` down to ``eps * alpha_max``, log-spaced.

    Parameters
    ----------
    estimator : estimator instance
        See :func:`alpha_max`.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    n_alphas : int, default=30
    eps : float, default=1e-3
        Ratio of the smallest to the largest value.
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    alphas : ndarray of shape (n_alphas,)
        Decreasing. When every target is the same (alpha_max is 0), the grid
        is anchored at 1 instead: every alpha then gives the same network.
    """
    _check_grid_params(n_alphas, eps)
    top = alpha_max(estimator, X, y, sample_weight)
    if not np.isfinite(top) or top <= 0:
        top = 1.0
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
    estimator : estimator instance
        See :func:`alpha_max`.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)

    Returns
    -------
    alpha : float
    """
    if isinstance(alpha, str):
        if alpha != "auto":
            raise ValueError(f"alpha must be a non-negative float or 'auto'; got {alpha!r}.")
        top = alpha_max(estimator, X, y)
        return float(AUTO_ALPHA_FRACTION * top) if top > 0 else 1.0
    return float(alpha)


@dataclass
class RegularizationPath:
    """Networks fitted along a decreasing grid of ``alpha``.

    Attributes
    ----------
    alphas : ndarray of shape (n_alphas,)
    estimators : list of fitted estimators
        One per alpha; each is a plain fitted network (``predict``,
        ``hidden_weights_``, ...).
    objective : ndarray of shape (n_alphas,)
        Training objective of each network.
    lower_bound : ndarray of shape (n_alphas,)
        Certified lower bound on each problem's optimum.
    dual_gap : ndarray of shape (n_alphas,)
        ``objective - lower_bound``.
    n_neurons : ndarray of shape (n_alphas,)
        Width of each network.
    n_iter : ndarray of shape (n_alphas,)
    """

    alphas: np.ndarray
    estimators: list
    objective: np.ndarray
    lower_bound: np.ndarray
    dual_gap: np.ndarray
    n_neurons: np.ndarray
    n_iter: np.ndarray

    @property
    def relative_gap(self):
        """``dual_gap / |objective|`` per alpha."""
        return self.dual_gap / np.maximum(np.abs(self.objective), 1e-300)


def regularization_path(estimator, X, y, *, alphas=None, n_alphas=30, eps=1e-3,
                        warm_start=True, sample_weight=None):
    """Fit ``estimator`` at every alpha of a decreasing grid, warm-starting each fit.

    Parameters
    ----------
    estimator : estimator instance
        A lifted-network estimator of this package; cloned, never modified.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    alphas : array-like, default=None
        The grid (sorted decreasing before use). ``None``: :func:`alpha_grid`.
    n_alphas : int, default=30
    eps : float, default=1e-3
    warm_start : bool, default=True
        Start each fit from the previous network where the solver can: the
        "lowrank" solver (sphere families, smooth losses; what
        ``solver="auto"`` picks for large problems). The estimator's solver
        choice is kept, so a small problem is solved cold by cvxpy at every
        alpha (more robust there than many short warm-started runs).
    sample_weight : array-like of shape (n_samples,), default=None
        Passed to every fit (and to the default grid's alpha_max).

    Returns
    -------
    path : RegularizationPath

    See Also
    --------
    polynet_path, quantized_path, cnn_path : the same for one family, from parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn import ConvexPolyNetRegressor
    >>> from sklearn_convexnn.paths import regularization_path
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 3))
    >>> y = (X @ [0.6, 0.8, 0.0]) ** 2
    >>> path = regularization_path(ConvexPolyNetRegressor(), X, y, n_alphas=5)
    >>> int(path.n_neurons[0]), bool(path.n_neurons[-1] > 0)
    (0, True)
    >>> bool(np.all(np.diff(path.objective) < 0))
    True
    """
    if alphas is None:
        alphas = alpha_grid(estimator, X, y, n_alphas=n_alphas, eps=eps,
                            sample_weight=sample_weight)
    else:
        alphas = np.sort(column_or_1d(check_array(alphas, ensure_2d=False)))[::-1]
        if np.any(alphas < 0):
            raise ValueError("alphas must be non-negative.")
    est = clone(estimator)
    warm = warm_start and "warm_start" in est.get_params()
    if warm:
        est.set_params(warm_start=True)
    estimators = []
    for a in alphas:
        if not warm:
            est = clone(est)
        est.set_params(alpha=float(a))
        est.fit(X, y) if sample_weight is None else est.fit(X, y, sample_weight=sample_weight)
        estimators.append(_snapshot(est))
    return RegularizationPath(
        alphas=np.asarray(alphas, dtype=float),
        estimators=estimators,
        objective=np.array([e.objective_ for e in estimators]),
        lower_bound=np.array([e.lower_bound_ for e in estimators]),
        dual_gap=np.array([e.dual_gap_ for e in estimators]),
        n_neurons=np.array([e.n_neurons_ for e in estimators]),
        n_iter=np.array([e.n_iter_ for e in estimators]),
    )


def polynet_path(X, y, *, alphas=None, n_alphas=30, eps=1e-3, classifier=False,
                 warm_start=True, **params):
    """Regularization path of the two-layer polynomial network.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    alphas : array-like, default=None
        Decreasing grid; ``None`` is ``n_alphas`` values from alpha_max down
        to ``eps * alpha_max``.
    n_alphas : int, default=30
    eps : float, default=1e-3
    classifier : bool, default=False
        Use :class:`ConvexPolyNetClassifier` (labels ``y``) instead of the
        regressor.
    warm_start : bool, default=True
        See :func:`regularization_path`.
    **params
        Other parameters of the estimator (``loss``, ``activation``, ...).

    Returns
    -------
    path : RegularizationPath

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn.paths import polynet_path
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(80, 3))
    >>> path = polynet_path(X, X[:, 0] ** 2, n_alphas=4)
    >>> path.alphas.shape, int(path.n_neurons[0])
    ((4,), 0)
    """
    from .polynet import ConvexPolyNetClassifier, ConvexPolyNetRegressor

    cls = ConvexPolyNetClassifier if classifier else ConvexPolyNetRegressor
    return regularization_path(cls(**params), X, y, alphas=alphas, n_alphas=n_alphas,
                               eps=eps, warm_start=warm_start)


def quantized_path(X, y, *, alphas=None, n_alphas=30, eps=1e-3, classifier=False, **params):
    """Regularization path of the quantized network (cold fits: the SDP has no warm start).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    alphas : array-like, default=None
    n_alphas : int, default=30
    eps : float, default=1e-3
    classifier : bool, default=False
        Use :class:`QuantizedSDPClassifier` instead of the regressor.
    **params
        Other parameters of the estimator.

    Returns
    -------
    path : RegularizationPath

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn.paths import quantized_path
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3))
    >>> path = quantized_path(X, X.sum(axis=1) ** 2, n_alphas=3, random_state=0)
    >>> int(path.n_neurons[0])
    0
    """
    from .quantized import QuantizedSDPClassifier, QuantizedSDPRegressor

    cls = QuantizedSDPClassifier if classifier else QuantizedSDPRegressor
    return regularization_path(cls(**params), X, y, alphas=alphas, n_alphas=n_alphas,
                               eps=eps, warm_start=False)


def cnn_path(X, y, *, alphas=None, n_alphas=30, eps=1e-3, classifier=False,
             warm_start=True, **params):
    """Regularization path of the convolutional network (SDP formulation).

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Flattened images (see ``image_shape``).
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
    alphas : array-like, default=None
    n_alphas : int, default=30
    eps : float, default=1e-3
    classifier : bool, default=False
        Use :class:`ConvexCNNClassifier` instead of the regressor.
    warm_start : bool, default=True
        See :func:`regularization_path`; the CNN estimators have no warm
        start today, so their fits are cold.
    **params
        Other parameters of the estimator (``image_shape``, ``patch_shape``, ...).

    Returns
    -------
    path : RegularizationPath

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn.paths import cnn_path
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 16))
    >>> path = cnn_path(X, X[:, :4].sum(axis=1) ** 2, n_alphas=3, image_shape=(4, 4),
    ...                 patch_shape=(2, 2), stride=2)
    >>> int(path.n_neurons[0])
    0
    """
    from .cnn import ConvexCNNClassifier, ConvexCNNRegressor

    cls = ConvexCNNClassifier if classifier else ConvexCNNRegressor
    return regularization_path(cls(**params), X, y, alphas=alphas, n_alphas=n_alphas,
                               eps=eps, warm_start=warm_start)


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
        if hasattr(est, "image_shape"):
            from .cnn import _resolve_geometry

            blocks = est._make_blocks(X, _resolve_geometry(est, X.shape[1]))
        else:
            blocks = est._make_blocks(X)
        blocks = level_blocks(blocks, getattr(est, "_constraint", "sphere"),
                              getattr(est, "levels", "binary"))
        neuron_set = getattr(est, "_constraint", "sphere")
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        loss = get_loss(loss_name, getattr(est, "huber_delta", 1.0), sample_weight)
        return cls(blocks, Y, loss,
                   resolve_activation(est.activation), bool(est.fit_intercept), neuron_set)


def _snapshot(est):
    """An independent copy of a fitted estimator (the path keeps refitting ``est``)."""
    from copy import deepcopy

    return deepcopy(est)


def _check_grid_params(n_alphas, eps):
    if not isinstance(n_alphas, Integral) or n_alphas < 1:
        raise ValueError(f"n_alphas must be a positive integer; got {n_alphas!r}.")
    if not isinstance(eps, Real) or not 0 < eps <= 1:
        raise ValueError(f"eps must be in (0, 1]; got {eps!r}.")
