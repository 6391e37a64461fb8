"""Two-layer polynomial-activation networks trained to global optimality.

The non-convex training problem::

    min_{u_j, alpha_j}  loss(sum_j alpha_j sigma(X u_j) + b) + alpha * sum_j |alpha_j|
    subject to ||u_j||_2 = 1,     sigma(t) = a t^2 + b t + c

equals a semidefinite program over two PSD matrices per output (Bartan &
Pilanci, *Neural Spectrahedra*). The estimators here solve that program and
recover the neurons by neural decomposition, so the fitted model is a plain
network whose optimality is certified by a duality gap.
"""

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import BaseLiftedNetwork, LiftedClassifierMixin, LiftedRegressorMixin
from ._solvers.lifted.lifted import LiftedBlock

__all__ = ["ConvexPolyNetClassifier", "ConvexPolyNetRegressor"]

_COMMON_PARAMS_DOC = """
    alpha : float, default=1e-2
        Regularization strength: the l1 weight on the output layer. The data
        term is an average over samples (as in Lasso), so a good ``alpha``
        does not move with the number of samples.
    activation : {"relu-approx", "square"} or tuple (a, b, c), default="relu-approx"
        The quadratic activation ``sigma(t) = a t^2 + b t + c``. "relu-approx"
        is (0.09, 0.5, 0.47), a quadratic that tracks ReLU on standardized
        data; "square" is (1, 0, 0).
    fit_intercept : bool, default=True
        Fit an unpenalized output bias.
    solver : {"auto", "cvxpy", "lowrank"}, default="auto"
        "cvxpy" solves the SDP exactly through cvxpy (interior point);
        "lowrank" trains explicit neurons by L-BFGS and adds the neuron the
        exact dual check finds until the certified gap closes (smooth losses
        only: squared, huber, logistic; memory linear in the data);
        "auto" takes "lowrank" for smooth losses on problems past a measured
        size (``n_samples * n_features**2 * n_outputs > 2e5``) and "cvxpy"
        otherwise.
    cvxpy_solver : str, default=None
        cvxpy solver to try first ("CLARABEL", "SCS", "MOSEK"); ``None`` means
        Clarabel. When it fails, the other installed SDP solvers are tried and
        a warning names the one that succeeded.
    max_iter : int, default=500
        Iteration limit of the solver (for "lowrank": rounds of L-BFGS
        polishing followed by the certificate).
    tol : float, default=1e-7
        Solver tolerance ("lowrank": target relative certified gap, at least
        1e-6). A ``ConvergenceWarning`` is raised when the certified relative
        gap of the fitted network exceeds ``max(100 * tol, 1e-4)``.
    memory_limit : float, default=4.0
        Memory budget in GiB; a problem estimated to need more is refused
        before it is built, with the size and the alternatives.
    verbose : int, default=0
        1 prints a summary per fit, 2 also the solver's log.
    random_state : int, RandomState instance or None, default=None
        Seeds the randomized parts of the solvers (the exact cvxpy path is
        deterministic), so every fit is reproducible.
    warm_start : bool, default=False
        With the "lowrank" solver, start from the previous fit's network (for
        instance along a path of decreasing ``alpha``); ignored by "cvxpy"."""

_FITTED_DOC = """
    hidden_weights_ : ndarray of shape (n_neurons, n_features)
        First-layer weights, one unit-norm row per neuron.
    n_neurons_ : int
        Number of neurons of the recovered network (at most 2 (d + 1) per
        output).
    objective_ : float
        Training objective of the fitted network (computed from its weights).
    lower_bound_ : float
        Certified lower bound on the optimal objective of any network of this
        kind and any width (weak duality with the exact dual check).
    dual_gap_ : float
        ``objective_ - lower_bound_``.
    n_iter_ : int
        Solver iterations.
    solver_ : str
        The solver that produced the network, e.g. "cvxpy/CLARABEL".
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X has feature names that are all strings."""


class _PolyNetMixin:
    def _make_blocks(self, X):
        return [LiftedBlock(np.asarray(X, dtype=float))]


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
{_COMMON_PARAMS_DOC}

    Attributes
    ----------
    output_weights_ : ndarray of shape (n_neurons,) or (n_neurons, n_outputs)
        Second-layer weights.
    intercept_ : float or ndarray of shape (n_outputs,)
{_FITTED_DOC}

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
        **BaseLiftedNetwork._parameter_constraints,
        "warm_start": ["boolean"],
        "loss": [StrOptions({"squared", "absolute", "huber"})],
        "huber_delta": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, *, loss="squared", alpha=1e-2, activation="relu-approx",
                 fit_intercept=True, huber_delta=1.0, solver="auto", cvxpy_solver=None,
                 max_iter=500, tol=1e-7, memory_limit=4.0, verbose=0, random_state=None,
                 warm_start=False):
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

    def fit(self, X, y):
        """Fit the network to data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)

        Returns
        -------
        self : object
        """
        self._validate_params()
        X, y = self._validate_X_y(X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        y = np.asarray(y, dtype=float)
        self._single_output = y.ndim == 1
        Y = y[:, None] if y.ndim == 1 else y
        return self._fit_network(X, Y, self.loss)


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
{_COMMON_PARAMS_DOC}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    output_weights_ : ndarray of shape (n_neurons,) or (n_neurons, n_classes)
        Second-layer weights (one column per class when there are more than
        two classes).
    intercept_ : float or ndarray of shape (n_classes,)
{_FITTED_DOC}

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
        **BaseLiftedNetwork._parameter_constraints,
        "warm_start": ["boolean"],
        "loss": [StrOptions({"logistic", "hinge", "squared"})],
    }

    def __init__(self, *, loss="logistic", alpha=1e-2, activation="relu-approx",
                 fit_intercept=True, solver="auto", cvxpy_solver=None, max_iter=500,
                 tol=1e-7, memory_limit=4.0, verbose=0, random_state=None,
                 warm_start=False):
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

    def fit(self, X, y):
        """Fit the network to labelled data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : object
        """
        self._validate_params()
        X, y = self._validate_X_y(X, y, dtype=np.float64)
        return self._fit_labels(X, y)
