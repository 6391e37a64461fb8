"""Shared scikit-learn shell for every network trained through the lifted model.

Three concerns, three pieces (no optimization code here):

* ``_lifted_solvers.LiftedSolverMixin`` -- which solver runs (by problem
  size and the memory budget, checked before anything is built) and one
  adapter per solver;
* ``_lifted_solvers.certify_network`` -- prune, forward pass, objective and
  certified lower bound of a solver's network, through the estimator's
  neuron set;
* :class:`BaseLiftedNetwork` (here) -- parameters, validation, scale checks and
  preconditioning of the targets, and the all-or-nothing fit: everything is
  computed into a local state and committed to the estimator only when the
  whole fit succeeded, so a failed refit leaves the previous model intact.

Subclasses say which lifted features a sample gives (``_make_blocks``) and
how big they are (``_problem_size``); the mixins at the end add the
regression and classification surfaces.
"""

import contextlib
import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import softmax
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._lifted_solvers import (
    LOWRANK_MIN_TOL,
    SOLVER_NAMES,
    LiftedSolverMixin,
    NetworkFit,
    ProblemSize,
    certify_network,
)
from ._solvers.lifted.certificate import relative_gap
from ._solvers.lifted.lifted import (
    ACTIVATIONS,
    network_forward,
    preactivation_range,
    precondition_scale,
    resolve_activation,
)
from ._solvers.lifted.neuron_sets import Sphere
from ._solvers.lifted.screening import auto_alpha, empty_network
from ._solvers.shared.losses import get_loss
from .exceptions import BadlyScaledDataError, SolverFailedError

#: Feature or target scales outside [1/SCALE_LIMIT, SCALE_LIMIT] are refused:
#: the quadratic activation would overflow or vanish in double precision.
SCALE_LIMIT = 1e100
#: Targets are refused outside [1/TARGET_LIMIT, TARGET_LIMIT]: the
#: objective (degree 2 in y) must stay a normal double.
TARGET_LIMIT = 1e152
#: Regression targets whose scale leaves [1/TARGET_BAND, TARGET_BAND] are
#: rescaled before the solve (the problem is invariant, see ``_target_scaling``).
TARGET_BAND = 1e3

class BaseLiftedNetwork(LiftedSolverMixin, BaseEstimator):
    """Parameters, validation and the all-or-nothing fit of the lifted-model estimators."""

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "activation": [StrOptions(set(ACTIVATIONS)), tuple, list, np.ndarray],
        "fit_intercept": ["boolean"],
        "solver": [StrOptions(SOLVER_NAMES)],
        "cvxpy_solver": [str, None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "memory_limit": [Interval(Real, 0, None, closed="neither")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
        "extrapolation": [StrOptions({"clip", "none"})],
    }
    #: The neuron constraint of the lifted problem ("sphere" or "binary").
    _constraint = "sphere"
    #: Warn when the certified gap is large. Off where a gap is expected by
    #: design (rounded quantized networks report it in optimality_gap_).
    _warn_on_gap = True

    def _neuron_set(self):
        """The neuron set certifying the fit, or None when the solver certifies it.

        Sign vectors (``_constraint="binary"``) are certified by their
        estimator's solver, on the blocks it expands for the level set.
        """
        return Sphere() if self._constraint == "sphere" else None

    # ----------------------------------------------------------- subclass hooks
    def _make_blocks(self, X, geometry=None):
        """Lifted blocks (see ``_solvers.lifted.lifted.LiftedBlock``) for samples X."""
        raise NotImplementedError

    def _problem_size(self, X, n_outputs, geometry=None):
        """Sizes of the lifted problem, known before any block is built."""
        return ProblemSize(X.shape[0], X.shape[0], (X.shape[1],), n_outputs)

    # ------------------------------------------------------------------ fitting
    def _fit_network(self, X, Y, loss_name, *, sample_weight=None, geometry=None, **fitted):
        """Solve for encoded targets Y (n, k); commit the network and ``fitted`` on success."""
        state = self._compute_network(X, Y, loss_name, sample_weight=sample_weight,
                                      geometry=geometry)
        state.update(fitted)
        self._commit(state)
        return self

    def _compute_network(self, X, Y, loss_name, *, sample_weight=None, geometry=None):
        """Everything a fit sets, as a dict; the estimator is not touched."""
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        loss = get_loss(loss_name, getattr(self, "huber_delta", 1.0), sample_weight)
        activation = resolve_activation(self.activation)
        solver = self._choose_solver(self._problem_size(X, Y.shape[1], geometry), loss)
        blocks = self._make_blocks(X) if geometry is None else self._make_blocks(
            X, geometry, sample_weight=sample_weight)
        _check_feature_scale(blocks)
        scale, degree = self._target_scaling(Y, loss)
        solve = getattr(self, f"_solve_{solver}")
        alpha = resolve_lifted_alpha(self, blocks, Y, loss, activation)
        # Safe screening: at alpha >= alpha_max the empty network is optimal.
        screened = screen_empty_network(self, blocks, Y, loss, activation, alpha)
        if screened is not None:
            fit, work_loss, work_alpha, scale, degree = screened, loss, alpha, 1.0, 1
        else:
            work_loss, work_alpha = loss, alpha
            if scale != 1.0:
                # loss(s yhat, s y; s delta) = s^degree loss(yhat, y; delta) and the
                # penalty follows with alpha / s^(degree - 1): solve in tame units.
                work_alpha = alpha / scale ** (degree - 1)
                work_loss = get_loss(loss_name, getattr(self, "huber_delta", 1.0) / scale,
                                     sample_weight)
            with _scale_hint(blocks):
                fit = self._solve_to_tol(solve, blocks, Y / scale, work_loss, activation,
                                         work_alpha, scale)
        neurons, weights, index, objective, lower = certify_network(
            fit, blocks, Y / scale, work_loss, activation, work_alpha, self.fit_intercept,
            self._neuron_set(),
        )
        gap = relative_gap(objective, lower)
        if self._warn_on_gap and gap > max(2 * self.tol, LOWRANK_MIN_TOL):
            warnings.warn(
                f"Solver {fit.solver!r} stopped with status {fit.status!r} at a certified "
                f"relative gap of {gap:.2e} (objective {objective * scale**degree:.6g}, lower "
                f"bound {lower * scale**degree:.6g}, tol {self.tol:g}); the network may be "
                f"suboptimal. Increase max_iter or try another solver.",
                ConvergenceWarning,
            )
        intercept = np.asarray(fit.intercept, dtype=float) * scale
        if loss.name == "multinomial":
            # The softmax ignores a shift common to every class, so the
            # intercept is defined only up to one: report the zero-mean one
            # (scikit-learn's symmetric parametrization), so that equal
            # problems give equal decision functions.
            intercept = intercept - intercept.mean()
        return {
            "_network": (neurons, weights * scale, index, intercept),
            "preactivation_range_": preactivation_range(
                blocks, neurons, index, None if sample_weight is None else sample_weight > 0),
            "alpha_": alpha,
            "solver_": fit.solver,
            "objective_": objective * scale**degree,
            "lower_bound_": lower * scale**degree,
            "dual_gap_": (objective - lower) * scale**degree,
            "n_iter_": int(fit.n_iter),
        }

    def _target_scaling(self, Y, loss):
        """``(s, degree)``: regression targets are solved as ``Y / s``.

        The squared and Huber losses are homogeneous of degree 2 (Huber with
        its threshold scaled too), the absolute loss of degree 1, so the
        problem at ``Y / s`` with ``alpha / s^(degree - 1)`` has the optimum
        scaled by ``1 / s^degree`` and output weights by ``1 / s``. Only used
        outside a band of ordinary scales, and only where the solvers take
        ``alpha`` from the caller (the sphere constraint).
        """
        degree = {"squared": 2, "huber": 2, "absolute": 1}.get(loss.name)
        if degree is None or self._constraint != "sphere":
            return 1.0, 1
        Yc = Y - Y.mean(axis=0) if self.fit_intercept else Y
        top = float(np.max(np.abs(Yc), initial=0.0))
        if top == 0.0:
            return 1.0, degree
        s = top * float(np.sqrt(np.mean((Yc / top) ** 2)))
        if not TARGET_LIMIT**-1 <= s <= TARGET_LIMIT:
            raise ValueError(
                f"The targets vary on a scale of {s:.1e}: outside [1e-152, 1e152] the "
                f"objective of the network cannot be represented in double precision. "
                f"Scale y (e.g. divide by its standard deviation) before fitting."
            )
        return (s, degree) if not TARGET_BAND**-1 <= s <= TARGET_BAND else (1.0, degree)

    def _commit(self, state):
        """Set every fitted attribute at once, after the whole fit succeeded."""
        network = state.pop("_network")
        for name, value in state.items():
            setattr(self, name, value)
        self._set_network(*network)

    def _set_network(self, neurons, weights, block_index, intercept):
        self.hidden_weights_ = neurons
        self._block_index = block_index
        self.n_neurons_ = neurons.shape[0]
        if self._single_output:
            self.output_weights_ = weights[:, 0]
            self.intercept_ = float(intercept[0])
        else:
            self.output_weights_ = weights
            self.intercept_ = np.asarray(intercept, dtype=float)

    @contextlib.contextmanager
    def _fit_transaction(self):
        """Restore what input validation set (``n_features_in_``, ...) if the fit fails."""
        saved = {k: self.__dict__[k] for k in ("n_features_in_", "feature_names_in_")
                 if k in self.__dict__}
        try:
            yield
        except BaseException:
            for k in ("n_features_in_", "feature_names_in_"):
                self.__dict__.pop(k, None)
            self.__dict__.update(saved)
            raise

    # --------------------------------------------------------------- predicting
    def _network_output(self, X):
        """Raw network outputs, shape (n, k)."""
        check_is_fitted(self, "hidden_weights_")
        X = _dense(validate_data(self, X, reset=False, accept_sparse=("csr", "csc")))
        W = self.output_weights_
        W = W[:, None] if W.ndim == 1 else W
        clip = getattr(self, "extrapolation", "clip") == "clip"
        return network_forward(
            self._make_blocks(X), self.hidden_weights_, W, self._block_index,
            np.atleast_1d(self.intercept_), resolve_activation(self.activation),
            getattr(self, "preactivation_range_", None) if clip else None,
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def _validate_X_y(self, X, y, **kwargs):
        """Validated ``(X, y)``; sparse X (CSR/CSC) arrives as a dense array.

        The lifted model carries ``p^2`` moments per sample (or per patch)
        whatever the sparsity of X, so every lifted solver works on dense
        rows: a dense copy of X is smaller than what the solver builds from
        it, and ``memory_limit`` counts the lifted data.
        """
        X, y = validate_data(self, X, y, ensure_min_samples=2, accept_sparse=("csr", "csc"),
                             **kwargs)
        return _dense(X), y


def _dense(X):
    return X.toarray() if sp.issparse(X) else X


def _check_feature_scale(blocks):
    s = precondition_scale(blocks)
    if not SCALE_LIMIT**-1 <= s <= SCALE_LIMIT:
        raise ValueError(
            f"The features have a typical row norm of {s:.1e}: outside [1e-100, 1e100] the "
            f"quadratic activation overflows or vanishes in double precision. Scale X "
            f"(e.g. StandardScaler) before fitting."
        )


@contextlib.contextmanager
def _scale_hint(blocks):
    """Turn a solver failure on far-from-unit features into a remedy for the user.

    Solvers fail on legitimate data too, but when the features' typical row
    norm is beyond ``1e±3`` the lifted program (which squares it) is the
    likely cause, and the message says so with the figure and the fix.
    """
    try:
        yield
    except SolverFailedError as exc:
        s = precondition_scale(blocks)
        if 1e-3 <= s <= 1e3:
            raise
        raise BadlyScaledDataError(
            f"{exc} The features have a typical row norm of {s:.1e}, which the lifted "
            f"program squares ({s * s:.1e}): scale X (e.g. StandardScaler) before fitting."
        ) from exc


def encode_classes(y, loss_name):
    """Encode class labels for a classification loss.

    Returns ``(classes, Y, loss)``: ``Y`` is +-1 with one column for two
    classes; for more classes, one-hot rows under the multinomial logistic
    loss, or one +-1 column per class (one-vs-rest) for hinge and squared.
    """
    check_classification_targets(y)
    classes = np.unique(y)
    if classes.shape[0] < 2:
        raise ValueError(
            f"The target has a single class ({classes[0]!r}); a classifier needs at least two."
        )
    if classes.shape[0] == 2:
        Y = np.where(y == classes[1], 1.0, -1.0)[:, None]
        return classes, Y, loss_name
    onehot = LabelBinarizer().fit(classes).transform(y).astype(float)
    if loss_name == "logistic":
        return classes, onehot, "multinomial"
    return classes, 2 * onehot - 1, loss_name


class NetworkRegressorMixin(RegressorMixin):
    """``predict`` and tags of every network regressor (lifted and ReLU).

    Needs ``_network_output(X)`` (n_samples, n_outputs) and the fitted flag
    ``_single_output``.
    """

    def predict(self, X):
        """Network output.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predicted targets.
        """
        out = self._network_output(X)
        return out[:, 0] if self._single_output else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


class LiftedRegressorMixin(NetworkRegressorMixin):
    """Target encoding of the lifted-model regressors."""

    def _fit_targets(self, X, y, sample_weight=None, geometry=None, **fitted):
        """Encode real targets (one or several outputs) and fit the network."""
        y = np.asarray(y, dtype=float)
        Y = y[:, None] if y.ndim == 1 else y
        return self._fit_network(X, Y, self.loss, sample_weight=sample_weight,
                                 geometry=geometry, _single_output=y.ndim == 1, **fitted)


class NetworkClassifierMixin(ClassifierMixin):
    """The prediction surface of every network classifier (lifted and ReLU).

    Needs ``_network_output(X)``, the fitted ``classes_`` and
    ``_single_output``; ``_has_proba()`` says whether the loss is
    probabilistic and ``_multinomial()`` whether several outputs are a
    softmax (else one-vs-rest sigmoids, normalized).
    """

    def _has_proba(self):
        return True

    def _multinomial(self):
        return True

    def decision_function(self, X):
        """Network output.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            One column for two classes (positive favours ``classes_[1]``),
            else one per class.
        """
        out = self._network_output(X)
        return out[:, 0] if self._single_output else out

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Predicted classes.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    @available_if(lambda self: self._has_proba())
    def predict_proba(self, X):
        """Class probabilities (logistic losses only): sigmoid, softmax or normalized
        one-vs-rest sigmoids of the output.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probability of each class, in the order of ``classes_``.
        """
        scores = self.decision_function(X)
        if scores.ndim == 2 and self._multinomial():
            return softmax(scores)
        p = 1.0 / (1.0 + np.exp(-np.clip(scores, -500, 500)))
        if scores.ndim == 1:
            return np.column_stack([1 - p, p])
        return p / np.maximum(p.sum(axis=1, keepdims=True), 1e-300)

    @available_if(lambda self: self._has_proba())
    def predict_log_proba(self, X):
        """Logarithm of ``predict_proba``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probability of each class: ``-inf`` where the probability
            underflows to 0, as in scikit-learn's linear models.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))


class LiftedClassifierMixin(NetworkClassifierMixin):
    """Label encoding of the lifted-model classifiers."""

    def _fit_labels(self, X, y, sample_weight=None, geometry=None, **fitted):
        """Encode ``y`` for ``self.loss`` and fit the network."""
        classes, Y, loss_name = encode_classes(y, self.loss)
        extra = {} if sample_weight is None and geometry is None else {
            "sample_weight": sample_weight, "geometry": geometry}
        return self._fit_network(X, Y, loss_name, classes_=classes,
                                 _single_output=Y.shape[1] == 1, **extra, **fitted)

    def _has_proba(self):
        return self.loss == "logistic"


def screen_empty_network(estimator, blocks, Y, loss, activation, alpha=None):
    """The intercept-only network when it is certified optimal, else None.

    A safe screening rule the estimators apply before solving; documented,
    with its parameters, as the public
    ``sklearn_convexnn.paths.screen_empty_network``.
    """
    empty = empty_network(blocks, Y, loss, activation,
                          estimator.alpha if alpha is None else alpha,
                          bool(estimator.fit_intercept),
                          getattr(estimator, "_constraint", "sphere"),
                          getattr(estimator, "levels", "binary"))
    if empty is None:
        return None
    intercept, value = empty
    p = blocks[0].dim
    return NetworkFit(np.zeros((0, p)), np.zeros((0, Y.shape[1])), np.zeros(0, dtype=int),
                      np.asarray(intercept, dtype=float), n_iter=0, status="optimal",
                      solver="screening", lower_bound=value)


def resolve_lifted_alpha(estimator, blocks, Y, loss, activation):
    """``estimator.alpha`` as a number, on the estimator's own lifted blocks.

    The estimators call this inside ``fit``: ``"auto"`` becomes
    ``AUTO_ALPHA_FRACTION`` times the alpha_max of the encoded targets ``Y``
    (0 when even that is 0: a constant target).
    """
    if not (isinstance(estimator.alpha, str) and estimator.alpha == "auto"):
        return float(estimator.alpha)
    return auto_alpha(blocks, Y, loss, activation, bool(estimator.fit_intercept),
                      getattr(estimator, "_constraint", "sphere"),
                      getattr(estimator, "levels", "binary"))
