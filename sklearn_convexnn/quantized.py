"""Two-layer polynomial-activation networks with quantized first-layer weights.

The training problem is the one of :mod:`sklearn_convexnn.polynet` with every
hidden weight vector restricted to a level set instead of the unit sphere::

    min_{u_j, w_j}  loss(sum_j w_j sigma(X u_j) + b) + alpha * sum_j |w_j|
    subject to u_j in {-1, +1}^d,      sigma(t) = a t^2 + b t + c

(Bartan & Pilanci, *Training quantized neural networks to global optimality
via semidefinite programming*, ICML 2021). The lifted matrices
``[u; 1][u; 1]^T`` of sign vectors have an all-ones diagonal; relaxing them
to the elliptope (``diag(Z) = Z4 1``) gives an SDP whose value is a lower
bound on the quantized optimum. Randomized hyperplane rounding of its
solution proposes sign neurons, and a convex refit of the output layer over
them gives the network. ``objective_ - lower_bound_`` bounds how far the
network is from the best quantized network of any width.
"""

import warnings
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions

from ._base import (
    BaseLiftedNetwork,
    LiftedClassifierMixin,
    LiftedRegressorMixin,
    NetworkFit,
)
from ._solvers.lifted.binary_certificate import binary_lower_bound
from ._solvers.lifted.cvxpy_backend import solve_lifted_cvxpy
from ._solvers.lifted.lifted import LiftedBlock, block_outputs
from ._solvers.lifted.rounding import lifted_candidates, refit_output_layer

__all__ = ["QuantizedSDPClassifier", "QuantizedSDPRegressor"]

#: Level sets with a sound relaxation through the binary SDP (see ``_expand``).
LEVELS = {"binary": (-1.0, 1.0), "ternary": (-1.0, 0.0, 1.0)}

_COMMON_PARAMS_DOC = """
    alpha : float, default=1e-2
        Regularization strength: the l1 weight on the output layer. The data
        term is an average over samples (as in Lasso).
    activation : {"relu-approx", "square"} or tuple (a, b, c), default="relu-approx"
        The quadratic activation ``sigma(t) = a t^2 + b t + c``; "relu-approx"
        is (0.09, 0.5, 0.47), "square" is (1, 0, 0). The neurons are not
        normalized: a binary ``u`` has ``||u||^2 = n_features``, so ``x . u``
        is of size ``sqrt(n_features) |x|``.
    levels : {"binary", "ternary"}, default="binary"
        Values a first-layer weight may take: {-1, +1} or {-1, 0, +1}. A
        ternary neuron ``u = (v + v') / 2`` is the average of two sign
        vectors, so the ternary network on X is exactly a binary network on
        ``[X, X] / 2``; its relaxation is the binary SDP of twice the size
        (sound, but looser than a dedicated ternary relaxation).
    n_samples : int, default=200
        Number of sign vectors drawn by the randomized rounding (the
        candidate neurons; duplicates are merged, and each candidate ``u``
        also brings ``-u`` when the activation has a linear term).
    fit_intercept : bool, default=True
        Fit an unpenalized output bias.
    solver : {"auto", "cvxpy"}, default="auto"
        The relaxation is solved through cvxpy (interior point) either way.
    cvxpy_solver : str, default=None
        cvxpy solver to try first ("CLARABEL", "SCS", "MOSEK"); ``None`` means
        Clarabel, with the other installed solvers as fallback.
    max_iter : int, default=500
        Iteration limit of the SDP solver.
    tol : float, default=1e-7
        Tolerance of the SDP solver.
    memory_limit : float, default=4.0
        Memory budget in GiB; a bigger relaxation is refused before it is
        built.
    verbose : int, default=0
        1 prints a summary per fit, 2 also the solver's log.
    random_state : int, RandomState instance or None, default=None
        Seeds the randomized rounding: the same value gives the same
        network."""

_FITTED_DOC = """
    hidden_weights_ : ndarray of shape (n_neurons, n_features)
        First-layer weights, every entry exactly one of the levels.
    n_neurons_ : int
        Number of neurons with a non-zero output weight.
    objective_ : float
        Training objective of the fitted (quantized) network.
    lower_bound_ : float
        Certified lower bound on the objective of every quantized network of
        this kind, of any width: weak duality with the SDP relaxation's dual
        point, checked exactly (so it holds however the solver stopped). For
        an accurate solve it equals the relaxation's optimal value up to the
        solver tolerance; after an inaccurate one (warned) it is lower.
    optimality_gap_ : float
        ``(objective_ - lower_bound_) / objective_``: the network is at most
        this far (relatively) from the quantized optimum.
    dual_gap_ : float
        ``objective_ - lower_bound_``.
    n_iter_ : int
        Iterations of the SDP solver.
    solver_ : str
        The solvers used, e.g. "cvxpy/CLARABEL + refit/CLARABEL".
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X has feature names that are all strings."""


class _QuantizedMixin:
    """Relax, round, refit: the fitting path shared by both estimators."""

    _constraint = "binary"
    # The gap between the rounded network and the relaxation is expected:
    # it is reported in optimality_gap_, not warned about.
    _warn_on_gap = False
    _quantized_constraints: ClassVar[dict] = {
        "levels": [StrOptions(set(LEVELS))],
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "solver": [StrOptions({"auto", "cvxpy"})],
    }

    def _make_blocks(self, X):
        return [LiftedBlock(np.asarray(X, dtype=float))]

    def _fit_network(self, X, Y, loss_name, **fitted):
        super()._fit_network(X, Y, loss_name, **fitted)
        self.optimality_gap_ = self.dual_gap_ / max(abs(self.objective_), 1e-300)
        if self.verbose:
            print(f"[{type(self).__name__}] {self.n_neurons_} neurons, objective "
                  f"{self.objective_:.8g}, lower bound {self.lower_bound_:.8g}, relative gap "
                  f"{self.optimality_gap_:.2e}")
        return self

    def _solve_cvxpy(self, blocks, Y, loss, activation):
        relaxed = [_expand(block, self.levels) for block in blocks]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sol = solve_lifted_cvxpy(
                relaxed, Y, loss, activation, self.alpha, constraint="binary",
                fit_intercept=self.fit_intercept, cvxpy_solver=self.cvxpy_solver,
                max_iter=self.max_iter, tol=self.tol, verbose=self.verbose > 1,
                memory_limit=self.memory_limit * 2**30,
            )
        for w in caught:
            if "Solution may be inaccurate" in str(w.message):
                continue
            if issubclass(w.category, ConvergenceWarning):
                warnings.warn(
                    f"The SDP relaxation ended with status {sol.status!r} "
                    f"(cvxpy/{sol.solver}): the rounded network may be poor. lower_bound_ "
                    f"stays certified (from the solver's approximate dual point) but may be "
                    f"loose; compare it with objective_ (optimality_gap_).",
                    ConvergenceWarning, stacklevel=4,
                )
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

        rng = check_random_state(self.random_state)
        b = activation[1]
        Zs = [Z for row in sol.Z for pair in row for Z in pair]
        V = lifted_candidates(Zs, self.n_samples, rng, negations=b != 0)
        U = _decode(V, self.levels, canonical=b == 0)
        H = block_outputs(blocks[0], U, activation)
        refit = refit_output_layer(H, Y, loss, self.alpha, fit_intercept=self.fit_intercept,
                                   cvxpy_solver=None)
        if self.verbose:
            print(f"[{type(self).__name__}] relaxation cvxpy/{sol.solver}: status "
                  f"{sol.status}, value {sol.value:.8g}; {len(U)} candidate neurons, refit "
                  f"{refit.solver}: status {refit.status}, value {refit.value:.8g}")
        neurons = U[refit.support]
        # Certified whatever the solver's accuracy: the SDP's dual point and
        # the loss gradient at the rounded network both give a bound.
        Yhat = H[:, refit.support] @ refit.weights + refit.intercept
        lower = max(
            binary_lower_bound(relaxed, Y, loss, activation, self.alpha, theta,
                               self.fit_intercept)
            for theta in (sol.theta, loss.gradient(Yhat, Y))
        )
        if self.verbose:
            print(f"[{type(self).__name__}] certified lower bound {lower:.8g} (relaxation "
                  f"value {sol.value:.8g})")
        return NetworkFit(
            neurons, refit.weights, np.zeros(len(neurons), dtype=int), refit.intercept,
            n_iter=sol.n_iter, status=sol.status,
            solver=f"cvxpy/{sol.solver} + refit/{refit.solver}", lower_bound=lower,
        )


def _expand(block, levels):
    """The block whose binary neurons are the level set's neurons on ``block``.

    Ternary: ``x . (v + v') / 2 = [x, x] / 2 . [v; v']``, and every
    ``u in {-1, 0, 1}^d`` is ``(v + v') / 2`` for some sign vectors v, v'.
    """
    if levels == "binary":
        return block
    return LiftedBlock(np.hstack([block.P, block.P]) / 2.0, block.pool)


def _decode(V, levels, canonical):
    """Map binary neurons of the expanded block back to level-set neurons."""
    if levels == "ternary":
        d = V.shape[1] // 2
        V = (V[:, :d] + V[:, d:]) / 2.0
    if canonical:
        # sigma(-t) = sigma(t) when b = 0: keep one of u, -u (first non-zero > 0).
        nz = V != 0
        first = np.where(nz.any(axis=1), nz.argmax(axis=1), 0)
        V = V * np.where(V[np.arange(len(V)), first] < 0, -1.0, 1.0)[:, None]
    _, idx = np.unique(V, axis=0, return_index=True)
    return V[np.sort(idx)] + 0.0  # + 0.0 turns -0.0 into 0.0


class QuantizedSDPRegressor(_QuantizedMixin, LiftedRegressorMixin, BaseLiftedNetwork):
    __doc__ = f"""Two-layer quadratic-activation regression network with binary weights.

    Fits ``f(x) = sum_j w_j sigma(u_j . x) + b`` with every ``u_j`` in
    {{-1, +1}}^d (or {{-1, 0, +1}}^d): SDP relaxation, randomized rounding of
    its solution into candidate neurons, convex refit of the output layer.
    ``lower_bound_`` (the relaxation's value) certifies how close the
    network is to the best quantized network. Works best on standardized
    features.

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

    See Also
    --------
    ConvexPolyNetRegressor : the same network with unit-norm real weights.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn import QuantizedSDPRegressor
    >>> from sklearn_convexnn.datasets import make_planted_quantized
    >>> X, y = make_planted_quantized(100, 5, n_neurons=2, random_state=0)
    >>> reg = QuantizedSDPRegressor(alpha=1e-3, random_state=0).fit(X, y)
    >>> sorted(set(reg.hidden_weights_.ravel().tolist()))
    [-1.0, 1.0]
    >>> bool(reg.score(X, y) > 0.99)
    True
    >>> bool(reg.lower_bound_ <= reg.objective_ and reg.optimality_gap_ < 0.05)
    True
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseLiftedNetwork._parameter_constraints,
        **_QuantizedMixin._quantized_constraints,
        "loss": [StrOptions({"squared", "absolute", "huber"})],
        "huber_delta": [Interval(Real, 0, None, closed="neither")],
    }

    def __init__(self, *, loss="squared", alpha=1e-2, activation="relu-approx",
                 levels="binary", n_samples=200, fit_intercept=True, huber_delta=1.0,
                 solver="auto", cvxpy_solver=None, max_iter=500, tol=1e-7, memory_limit=4.0,
                 verbose=0, random_state=None):
        self.loss = loss
        self.alpha = alpha
        self.activation = activation
        self.levels = levels
        self.n_samples = n_samples
        self.fit_intercept = fit_intercept
        self.huber_delta = huber_delta
        self.solver = solver
        self.cvxpy_solver = cvxpy_solver
        self.max_iter = max_iter
        self.tol = tol
        self.memory_limit = memory_limit
        self.verbose = verbose
        self.random_state = random_state

    def fit(self, X, y):
        """Fit the quantized network to data.

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


class QuantizedSDPClassifier(_QuantizedMixin, LiftedClassifierMixin, BaseLiftedNetwork):
    __doc__ = f"""Two-layer quadratic-activation classification network with binary weights.

    Binary problems use one output; multiclass problems use the multinomial
    logistic loss on one output per class (``loss="logistic"``) or
    one-vs-rest outputs (``loss="hinge"`` or ``"squared"`` on +-1 targets).
    All outputs share one pool of quantized neurons: SDP relaxation,
    randomized rounding, convex refit of the output layer.

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

    See Also
    --------
    ConvexPolyNetClassifier : the same network with unit-norm real weights.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_convexnn import QuantizedSDPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(),
    ...                     QuantizedSDPClassifier(alpha=1e-2, random_state=0)).fit(X, y)
    >>> bool(clf.score(X, y) > 0.9)
    True
    >>> clf.predict_proba(X[:2]).shape
    (2, 3)
    >>> sorted(set(clf[-1].hidden_weights_.ravel().tolist()))
    [-1.0, 1.0]
    """

    _parameter_constraints: ClassVar[dict] = {
        **BaseLiftedNetwork._parameter_constraints,
        **_QuantizedMixin._quantized_constraints,
        "loss": [StrOptions({"logistic", "hinge", "squared"})],
    }

    def __init__(self, *, loss="logistic", alpha=1e-2, activation="relu-approx",
                 levels="binary", n_samples=200, fit_intercept=True, solver="auto",
                 cvxpy_solver=None, max_iter=500, tol=1e-7, memory_limit=4.0, verbose=0,
                 random_state=None):
        self.loss = loss
        self.alpha = alpha
        self.activation = activation
        self.levels = levels
        self.n_samples = n_samples
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.cvxpy_solver = cvxpy_solver
        self.max_iter = max_iter
        self.tol = tol
        self.memory_limit = memory_limit
        self.verbose = verbose
        self.random_state = random_state

    def fit(self, X, y):
        """Fit the quantized network to labelled data.

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
