"""Two-layer polynomial-activation networks trained to global optimality.

The non-convex training problem::

    min_{u_j, alpha_j}  loss(sum_j alpha_j sigma(X u_j) + b) + alpha * sum_j |alpha_j|
    subject to ||u_j||_2 = 1,     sigma(t) = a t^2 + b t + c

equals a semidefinite program over two PSD matrices per output (Bartan &
Pilanci, *Neural Spectrahedra*). The estimators here solve that program and
recover the neurons by neural decomposition, so the fitted model is a plain
network whose optimality is certified by a duality gap.
"""

import warnings
from numbers import Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaseLiftedNetwork, LiftedClassifierMixin, LiftedRegressorMixin
from ._docstrings import (
    ALPHA_DOC,
    COMMON_PARAMS_DOC,
    EXTRAPOLATION_DOC,
    FITTED_DOC,
    REF_SPECTRAHEDRA,
    REGRESSOR_ALPHA_DOC,
    WARM_START_DOC,
)
from ._solvers.lifted.lifted import LiftedBlock

__all__ = ["ConvexPolyNetClassifier", "ConvexPolyNetRegressor"]

# Kept for callers of the old private name; the fragments live in _docstrings.
_COMMON_PARAMS_DOC = COMMON_PARAMS_DOC + WARM_START_DOC
_FITTED_DOC = FITTED_DOC

_SEE_ALSO_REG = """
    ConvexPolyNetClassifier : The same network for classes.
    QuantizedSDPRegressor : The same network with first-layer weights in {-1, +1}.
    ConvexCNNRegressor : Filters shared over image patches, pooled by region."""

_SEE_ALSO_CLF = """
    ConvexPolyNetRegressor : The same network for real targets.
    QuantizedSDPClassifier : The same network with first-layer weights in {-1, +1}.
    ConvexCNNClassifier : Filters shared over image patches, pooled by region."""


class _PolyNetMixin:
    """Dense lifted features, and the parameters deprecated on the dense nets."""

    _parameter_constraints = {
        **BaseLiftedNetwork._parameter_constraints,
        "warm_start": ["boolean"],
        "random_state": [StrOptions({"deprecated"}), "random_state"],
    }

    def _make_blocks(self, X, geometry=None):
        return [LiftedBlock(np.asarray(X, dtype=float))]

    def _warn_deprecated(self):
        _warn_random_state(self)


def _warn_random_state(estimator):
    if not (isinstance(estimator.random_state, str) and estimator.random_state == "deprecated"):
        warnings.warn(
            f"random_state has no effect on {type(estimator).__name__} (its solvers are "
            f"deterministic) and is deprecated; it will be removed in 0.3.",
            FutureWarning, stacklevel=3,
        )


class ConvexPolyNetRegressor(_PolyNetMixin, LiftedRegressorMixin, BaseLiftedNetwork):
    __doc__ = f"""Two-layer quadratic-activation regression network, globally optimal.

    Trains ``f(x) = sum_j w_j sigma(u_j . x) + b`` with unit-norm ``u_j`` by
    solving the equivalent convex (semidefinite) program, then recovers the
    neurons by neural decomposition. Works best on standardized features.

    Parameters
    ----------
    loss : {{"squared", "absolute", "huber"}}, default="squared"
        Data term, averaged over samples; "squared" is ``(f - y)^2 / 2``.
    huber_delta : float, default=1.0
        Threshold of the Huber loss.
{REGRESSOR_ALPHA_DOC}
{COMMON_PARAMS_DOC}
{WARM_START_DOC}
{EXTRAPOLATION_DOC}

    Attributes
    ----------
    output_weights_ : ndarray of shape (n_neurons,) or (n_neurons, n_outputs)
        Second-layer weights.
    intercept_ : float or ndarray of shape (n_outputs,)
        Output bias.
{FITTED_DOC}

    See Also
    --------
{_SEE_ALSO_REG}

    References
    ----------
{REF_SPECTRAHEDRA}

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn import ConvexPolyNetRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 3))
    >>> y = (X @ [0.6, 0.8, 0.0]) ** 2 - 0.5 * X[:, 2]
    >>> reg = ConvexPolyNetRegressor(alpha=1e-3).fit(X, y)
    >>> reg.hidden_weights_.shape[1]
    3
    >>> bool(reg.score(X, y) > 0.99)
    True
    >>> bool(reg.objective_ - reg.lower_bound_ < 1e-4 * reg.objective_)
    True
    """

    _parameter_constraints = {
        **_PolyNetMixin._parameter_constraints,
        "loss": [StrOptions({"squared", "absolute", "huber"})],
        "huber_delta": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, *, loss="squared", huber_delta=1.0, alpha="auto",
                 activation="relu-approx", fit_intercept=True, solver="auto", cvxpy_solver=None,
                 max_iter=500, tol=1e-4, memory_limit=4.0, verbose=0, random_state="deprecated",
                 warm_start=False, extrapolation="clip"):
        self.loss = loss
        self.alpha = alpha
        self.activation = activation
        self.fit_intercept = fit_intercept
        self.huber_delta = huber_delta
        self.solver = solver
        self.cvxpy_solver = cvxpy_solver
        self.max_iter = max_iter
        self.tol = tol
        self.memory_limit = memory_limit
        self.verbose = verbose
        self.random_state = random_state
        self.warm_start = warm_start
        self.extrapolation = extrapolation

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample's loss term (a weight of 2 is a repeated
            row, 0 a removed one).

        Returns
        -------
        self : object
            The fitted estimator. A failed fit leaves the previous model
            (or the unfitted estimator) untouched.
        """
        self._warn_deprecated()
        with self._fit_transaction():
            X, y = self._validate_X_y(X, y, multi_output=True, y_numeric=True,
                                      dtype=np.float64)
            return self._fit_targets(X, y, sample_weight)


class ConvexPolyNetClassifier(_PolyNetMixin, LiftedClassifierMixin, BaseLiftedNetwork):
    __doc__ = f"""Two-layer quadratic-activation classification network, globally optimal.

    Binary problems use one output; multiclass problems use the multinomial
    logistic loss on one output per class (``loss="logistic"``) or one-vs-rest
    outputs (``loss="hinge"`` or ``"squared"`` on +-1 targets). The convex
    program is solved exactly and the neurons recovered by neural
    decomposition.

    Parameters
    ----------
    loss : {{"logistic", "hinge", "squared"}}, default="logistic"
        Data term averaged over samples. Only "logistic" gives
        ``predict_proba``.
{ALPHA_DOC}
{COMMON_PARAMS_DOC}
{WARM_START_DOC}
{EXTRAPOLATION_DOC}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    output_weights_ : ndarray of shape (n_neurons,) or (n_neurons, n_classes)
        Second-layer weights (one column per class when there are more than
        two classes).
    intercept_ : float or ndarray of shape (n_classes,)
        Output bias.
{FITTED_DOC}

    See Also
    --------
{_SEE_ALSO_CLF}

    References
    ----------
{REF_SPECTRAHEDRA}

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_convexnn import ConvexPolyNetClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), ConvexPolyNetClassifier(alpha=1e-2)).fit(X, y)
    >>> bool(clf.score(X, y) > 0.95)
    True
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    """

    _parameter_constraints = {
        **_PolyNetMixin._parameter_constraints,
        "loss": [StrOptions({"logistic", "hinge", "squared"})],
    }

    def __init__(self, *, loss="logistic", alpha=1e-2, activation="relu-approx",
                 fit_intercept=True, solver="auto", cvxpy_solver=None, max_iter=500,
                 tol=1e-4, memory_limit=4.0, verbose=0, random_state="deprecated",
                 warm_start=False, extrapolation="clip"):
        self.loss = loss
        self.alpha = alpha
        self.activation = activation
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.cvxpy_solver = cvxpy_solver
        self.max_iter = max_iter
        self.tol = tol
        self.memory_limit = memory_limit
        self.verbose = verbose
        self.random_state = random_state
        self.warm_start = warm_start
        self.extrapolation = extrapolation

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to labelled data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples.
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample's loss term (a weight of 2 is a repeated
            row, 0 a removed one).

        Returns
        -------
        self : object
            The fitted estimator. A failed fit leaves the previous model
            (or the unfitted estimator) untouched.
        """
        self._warn_deprecated()
        with self._fit_transaction():
            X, y = self._validate_X_y(X, y, dtype=np.float64)
            return self._fit_labels(X, y, sample_weight)
