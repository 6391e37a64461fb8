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
(the "lowrank" and "proxgrad" solvers of the sphere families, smooth
losses; "proxgrad" replaces the cold cvxpy solves that ``solver="auto"``
picks for small problems), as scikit-learn's ``lasso_path`` does.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.base import clone
from sklearn.utils import check_array, check_random_state
from sklearn.utils.validation import column_or_1d

# alpha_max and the grids live in _alpha_max.py; they are public here.
from ._alpha_max import (EXACT_BINARY_MAX_DIM, _Problem,  # noqa: F401
                         alpha_grid, alpha_max, binary_alpha_max, intercept_only_dual,
                         intercept_only_fit, lifted_alpha_max, resolve_alpha,
                         screen_empty_network, sphere_alpha_max)
from ._base import resolve_lifted_alpha  # noqa: F401
from ._progress import Progress
from ._solvers.lifted.certificate import relative_gap
from ._solvers.lifted.proxgrad import operator_cache
from ._solvers.lifted.screening import alpha_max_cache

__all__ = [
    "RegularizationPath",
    "alpha_grid",
    "alpha_max",
    "binary_alpha_max",
    "cnn_path",
    "fixed_draws",
    "intercept_only_dual",
    "intercept_only_fit",
    "lifted_alpha_max",
    "polynet_path",
    "quantized_path",
    "regularization_path",
    "relu_path",
    "resolve_alpha",
    "screen_empty_network",
    "sphere_alpha_max",
]

# Documented (and pickled by reference) as this module's own names.
for _func in (alpha_grid, alpha_max, binary_alpha_max, intercept_only_dual, intercept_only_fit,
              lifted_alpha_max, resolve_alpha, screen_empty_network, sphere_alpha_max):
    _func.__module__ = __name__
del _func


@dataclass
class RegularizationPath:
    """Networks fitted along a decreasing grid of ``alpha``.

    What :func:`regularization_path` and the family paths return; every
    parameter is stored as an attribute of the same name.

    Parameters
    ----------
    alphas : ndarray of shape (n_alphas,)
        The grid, decreasing.
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
        Solver iterations of each fit (0 when screening found the empty
        network optimal).

    Attributes
    ----------
    relative_gap : ndarray of shape (n_alphas,)
        ``dual_gap / |objective|``.

    See Also
    --------
    regularization_path : computes it.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn.paths import polynet_path
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(40, 3))
    >>> path = polynet_path(X, X[:, 0] ** 2, n_alphas=3)
    >>> len(path.estimators), path.n_neurons.shape
    (3, (3,))
    >>> bool(np.allclose(path.dual_gap, path.objective - path.lower_bound))
    True
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
        Training samples.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets (class labels for a classifier).
    alphas : array-like, default=None
        The grid (sorted decreasing before use). ``None``: :func:`alpha_grid`.
    n_alphas : int, default=30
        Number of values of the default grid (ignored when ``alphas`` is given).
    eps : float, default=1e-3
        Ratio of the smallest to the largest value of the default grid.
    warm_start : bool, default=True
        Start each fit from the previous network where the solver can: the
        "lowrank" and "proxgrad" solvers (sphere families, smooth losses).
        Where ``solver="auto"`` would pick cvxpy (small problems), which has
        no warm start, the path runs "proxgrad" instead (every network is
        still certified to ``tol``; ``solver_`` of each network says which
        solver ran); an explicit ``solver`` is kept.
    sample_weight : array-like of shape (n_samples,), default=None
        Passed to every fit (and to the default grid's alpha_max).

    Returns
    -------
    path : RegularizationPath
        The fitted networks and their objectives, bounds and widths.

    See Also
    --------
    polynet_path, quantized_path, cnn_path, relu_path : the same for one family, from
        parameters.

    Notes
    -----
    A ``random_state`` of None (or a ``RandomState``) is replaced by one
    integer drawn from it (:func:`fixed_draws`), so every network of the
    path sees the same random draws: the same gates for the convex ReLU
    networks, the same rounding draws for the quantized ones.

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
    estimator = fixed_draws(estimator)
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
        solver = _warm_solver(est, X, y, sample_weight)
        if solver is not None:
            est.set_params(solver=solver)
    estimators = []
    progress = Progress(len(alphas), f"{type(est).__name__} path", "alpha",
                        getattr(est, "verbose", 0))
    # The proxgrad operator (lifted features, preconditioner) and the
    # screen's alpha_max are computed once.
    with operator_cache(), alpha_max_cache():
        for a in alphas:
            if not warm:
                est = clone(est)
            est.set_params(alpha=float(a))
            est.fit(X, y) if sample_weight is None else est.fit(X, y,
                                                                sample_weight=sample_weight)
            estimators.append(_snapshot(est))
            progress.step(f"alpha {a:.4g}: objective {est.objective_:.6g}, relative gap "
                          f"{relative_gap(est.objective_, est.lower_bound_):.1e}, "
                          f"{est.n_neurons_} neurons")
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
        Training samples.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets (class labels with ``classifier=True``).
    alphas : array-like, default=None
        Decreasing grid; ``None`` is ``n_alphas`` values from alpha_max down
        to ``eps * alpha_max``.
    n_alphas : int, default=30
        Number of values of the default grid.
    eps : float, default=1e-3
        Ratio of the smallest to the largest value of the default grid.
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
        The fitted networks and their objectives, bounds and widths.

    See Also
    --------
    regularization_path : the same from an estimator instance.
    quantized_path, cnn_path : the other families.

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
        Training samples.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets (class labels with ``classifier=True``).
    alphas : array-like, default=None
        Decreasing grid; ``None`` is ``n_alphas`` values from alpha_max down
        to ``eps * alpha_max``.
    n_alphas : int, default=30
        Number of values of the default grid.
    eps : float, default=1e-3
        Ratio of the smallest to the largest value of the default grid.
    classifier : bool, default=False
        Use :class:`QuantizedSDPClassifier` instead of the regressor.
    **params
        Other parameters of the estimator.

    Returns
    -------
    path : RegularizationPath
        The fitted networks and their objectives, bounds and widths.

    See Also
    --------
    regularization_path : the same from an estimator instance.
    polynet_path, cnn_path : the other families.

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
        Targets (class labels with ``classifier=True``).
    alphas : array-like, default=None
        Decreasing grid; ``None`` is ``n_alphas`` values from alpha_max down
        to ``eps * alpha_max``.
    n_alphas : int, default=30
        Number of values of the default grid.
    eps : float, default=1e-3
        Ratio of the smallest to the largest value of the default grid.
    classifier : bool, default=False
        Use :class:`ConvexCNNClassifier` instead of the regressor.
    warm_start : bool, default=True
        See :func:`regularization_path`.
    **params
        Other parameters of the estimator (``image_shape``, ``patch_shape``, ...).

    Returns
    -------
    path : RegularizationPath
        The fitted networks and their objectives, bounds and widths.

    See Also
    --------
    regularization_path : the same from an estimator instance.
    polynet_path, quantized_path : the other families.

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


def relu_path(X, y, *, alphas=None, n_alphas=30, eps=1e-3, classifier=False, **params):
    """Regularization path of the convex ReLU network, on one draw of gates.

    Parameters
    ----------
    X : {array-like, sparse matrix} of shape (n_samples, n_features)
        Training samples.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Targets (class labels with ``classifier=True``).
    alphas : array-like, default=None
        Decreasing grid; ``None`` is ``n_alphas`` values from alpha_max (the
        largest gate-wise dual norm) down to ``eps * alpha_max``.
    n_alphas : int, default=30
        Number of values of the default grid.
    eps : float, default=1e-3
        Ratio of the smallest to the largest value of the default grid.
    classifier : bool, default=False
        Use :class:`~sklearn_convexnn.ConvexReLUClassifier` instead of the
        regressor.
    **params
        Other parameters of the estimator (``n_gates``, ``variant``,
        ``random_state``, ...). Every alpha uses the same gates.

    Returns
    -------
    path : RegularizationPath
        The fitted networks and their objectives, bounds and widths.

    See Also
    --------
    regularization_path : the same from an estimator instance.
    polynet_path, quantized_path, cnn_path : the other families.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn.paths import relu_path
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 3))
    >>> path = relu_path(X, np.maximum(X[:, 0], 0), n_alphas=4, n_gates=20, random_state=0)
    >>> int(path.n_neurons[0]), bool(path.n_neurons[-1] > 0)
    (0, True)
    """
    from .relu import ConvexReLUClassifier, ConvexReLURegressor

    cls = ConvexReLUClassifier if classifier else ConvexReLURegressor
    return regularization_path(cls(**params), X, y, alphas=alphas, n_alphas=n_alphas,
                               eps=eps)


# ------------------------------------------------------------------ helpers
def _warm_solver(est, X, y, sample_weight):
    """"proxgrad" where ``solver="auto"`` would run cvxpy (no warm start) and
    proxgrad takes the problem (sphere, smooth loss, within the memory
    budget); else None (the estimator's own choice stands)."""
    from ._lifted_solvers import ProblemSize
    from ._solvers.lifted.proxgrad import PROXGRAD_LOSSES
    from .exceptions import ProblemTooLargeError

    if est.get_params().get("solver") != "auto" or \
            getattr(est, "_constraint", None) != "sphere":
        return None
    try:
        pb = _Problem.from_estimator(est, X, y, sample_weight)
    except ValueError:
        return None  # bad input: the fit itself says what is wrong
    if pb.loss.name not in PROXGRAD_LOSSES or len({b.dim for b in pb.blocks}) != 1:
        return None
    size = ProblemSize(pb.Y.shape[0], pb.blocks[0].P.shape[0],
                       tuple(b.dim for b in pb.blocks), pb.Y.shape[1])
    try:
        if not est._choose_solver(size, pb.loss).startswith("cvxpy"):
            return None
        return clone(est).set_params(solver="proxgrad")._choose_solver(size, pb.loss)
    except (ValueError, ProblemTooLargeError):
        return None


def fixed_draws(estimator):
    """``estimator``, or a clone whose ``random_state`` is one integer drawn from it.

    A path or a CV search fits the same estimator at many alphas; with
    ``random_state=None`` each fit would draw afresh (other gates for the
    convex ReLU networks, so alpha_max and the warm starts would belong to
    other programs). An integer or an estimator without ``random_state`` is
    returned as it is.

    Parameters
    ----------
    estimator : estimator instance
        An estimator of this package (never modified).

    Returns
    -------
    estimator : estimator instance
        ``estimator`` itself, or a clone with an integer ``random_state``.

    See Also
    --------
    regularization_path : applies it before the first fit.

    Examples
    --------
    >>> from sklearn_convexnn import ConvexReLURegressor
    >>> from sklearn_convexnn.paths import fixed_draws
    >>> isinstance(fixed_draws(ConvexReLURegressor()).random_state, int)
    True
    >>> fixed_draws(ConvexReLURegressor(random_state=3)).random_state
    3
    """
    state = estimator.get_params().get("random_state", 0)
    if state is None or isinstance(state, np.random.RandomState):
        seed = int(check_random_state(state).randint(0, 2**31 - 1))
        return clone(estimator).set_params(random_state=seed)
    return estimator


def _snapshot(est):
    """An independent copy of a fitted estimator (the path keeps refitting ``est``)."""
    from copy import deepcopy

    return deepcopy(est)
