"""Shared scikit-learn shell for every network trained through the lifted model.

Subclasses say which lifted features a sample gives (``_make_blocks``) and
how targets are encoded; this base validates parameters, dispatches to a
solver of ``_solvers``, turns the solution into a plain network and sets the
fitted attributes. No optimization code lives here.
"""

import warnings
from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.extmath import softmax
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._solvers.lifted.certificate import network_from_lifted, sphere_lower_bound
from ._solvers.lifted.cvxpy_backend import estimate_cvxpy_memory, solve_lifted_cvxpy
from ._solvers.lifted.lifted import ACTIVATIONS, network_forward, resolve_activation
from ._solvers.lifted.lowrank import SMOOTH_LOSSES, solve_lifted_lowrank
from ._solvers.shared.losses import get_loss

#: Relative output-weight size below which a recovered neuron is dropped.
PRUNE_RTOL = 1e-7
#: solver="auto" takes the lowrank solver once the lifted data (n * sum p^2 *
#: outputs entries) passes this size; below it cvxpy/Clarabel is as fast
#: (crossover measured by benchmarks/bench_polynet.py).
LOWRANK_CROSSOVER = 2e5
#: The lowrank solver's target relative gap is max(tol, this): below it the
#: certificate sinks into rounding.
LOWRANK_MIN_TOL = 1e-6


@dataclass
class NetworkFit:
    """What a solver hands back to the estimator: a network and its story.

    ``theta`` is the solver's dual point for the certificate (or None);
    ``lower_bound`` the solver's own bound, used where no certificate exists
    for the neuron constraint (the binary relaxation's value).
    """

    neurons: np.ndarray
    weights: np.ndarray
    block_index: np.ndarray
    intercept: np.ndarray
    n_iter: int = 0
    status: str = "optimal"
    solver: str = ""
    theta: object = None
    lower_bound: float = -np.inf


class BaseLiftedNetwork(BaseEstimator):
    """Parameters, validation and fitting shared by the lifted-model estimators."""

    _parameter_constraints = {
        "alpha": [Interval(Real, 0, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS)), tuple, list, np.ndarray],
        "fit_intercept": ["boolean"],
        "solver": [StrOptions({"auto", "cvxpy", "lowrank"})],
        "cvxpy_solver": [str, None],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "memory_limit": [Interval(Real, 0, None, closed="neither")],
        "verbose": ["verbose"],
        "random_state": ["random_state"],
    }
    #: The neuron constraint of the lifted problem ("sphere" or "binary").
    _constraint = "sphere"
    #: Warn when the certified gap is large. Off where a gap is expected by
    #: design (rounded quantized networks report it in optimality_gap_).
    _warn_on_gap = True

    # ----------------------------------------------------------- subclass hooks
    def _make_blocks(self, X):
        """Lifted blocks (see ``_solvers.lifted.lifted.LiftedBlock``) for samples X."""
        raise NotImplementedError

    # ------------------------------------------------------------------ fitting
    def _fit_network(self, X, Y, loss_name):
        """Solve the lifted problem for encoded targets Y (n, k); set attributes."""
        loss = get_loss(loss_name, getattr(self, "huber_delta", 1.0))
        activation = resolve_activation(self.activation)
        blocks = self._make_blocks(X)
        solver = self._choose_solver(blocks, Y, loss)
        # Safe screening: at alpha >= alpha_max the empty network is optimal.
        from .paths import screen_empty_network

        fit = screen_empty_network(self, blocks, Y, loss, activation)
        if fit is None:
            fit = getattr(self, f"_solve_{solver}")(blocks, Y, loss, activation)

        big = np.abs(fit.weights).max(axis=1, initial=0.0)
        keep = big > PRUNE_RTOL * big.max(initial=0.0)
        neurons, weights, index = fit.neurons[keep], fit.weights[keep], fit.block_index[keep]
        Yhat = network_forward(blocks, neurons, weights, index, fit.intercept, activation)
        objective = loss.value(Yhat, Y) + self.alpha * float(np.abs(weights).sum())
        if self._constraint == "sphere":
            # Any dual point gives a valid bound: keep the best of the solver's
            # own and the loss gradient at the recovered network.
            duals = [loss.gradient(Yhat, Y)] + ([fit.theta] if fit.theta is not None else [])
            lower = max(
                sphere_lower_bound(blocks, Y, loss, activation, self.alpha, t,
                                   self.fit_intercept)
                for t in duals
            )
        else:
            lower = fit.lower_bound

        self._set_network(neurons, weights, index, fit.intercept)
        self.solver_ = fit.solver
        self.objective_ = float(objective)
        self.lower_bound_ = float(min(lower, objective))
        self.dual_gap_ = float(objective - self.lower_bound_)
        self.n_iter_ = int(fit.n_iter)
        gap = self.dual_gap_ / max(abs(self.objective_), 1e-12)
        if self._warn_on_gap and gap > max(100 * self.tol, 1e-4):
            warnings.warn(
                f"Solver {fit.solver!r} stopped with status {fit.status!r} and a certified "
                f"relative gap of {gap:.2e} (objective {self.objective_:.6g}, lower bound "
                f"{self.lower_bound_:.6g}); the network may be suboptimal. Increase "
                f"max_iter or try another solver.",
                ConvergenceWarning,
            )
        return self

    def _choose_solver(self, blocks, Y, loss=None):
        smooth = loss is not None and loss.name in SMOOTH_LOSSES
        if self.solver == "lowrank":
            if self._constraint != "sphere":
                raise ValueError(
                    f"solver='lowrank' handles the sphere constraint only; "
                    f"{type(self).__name__} needs solver='cvxpy' or 'auto'."
                )
            return "lowrank"
        if self.solver == "auto":
            n, k = Y.shape
            size = n * sum(b.dim**2 for b in blocks) * k
            too_big = estimate_cvxpy_memory(n, [b.dim for b in blocks], k) \
                > self.memory_limit * 2**30
            # Pooled multi-region problems (CNNs) stay with cvxpy while it fits:
            # measured on digits (2x2 regions, 10 outputs, alpha=1e-3), Clarabel
            # took 47 s where lowrank had not finished in 150 s.
            if self._constraint == "sphere" and smooth and size > LOWRANK_CROSSOVER \
                    and (len(blocks) == 1 or too_big):
                return "lowrank"
            return "cvxpy"
        return self.solver

    def _solve_lowrank(self, blocks, Y, loss, activation):
        warm = None
        if getattr(self, "warm_start", False) and hasattr(self, "hidden_weights_") \
                and self.hidden_weights_.shape[1] == blocks[0].dim:
            W = self.output_weights_
            W = W[:, None] if W.ndim == 1 else W
            if W.shape[1] == Y.shape[1]:
                warm = (self.hidden_weights_, W, self._block_index,
                        np.atleast_1d(self.intercept_))
        res = solve_lifted_lowrank(
            blocks, Y, loss, activation, self.alpha, fit_intercept=self.fit_intercept,
            max_iter=self.max_iter, tol=max(self.tol, LOWRANK_MIN_TOL),
            verbose=self.verbose > 1, random_state=self.random_state, warm_start=warm,
        )
        if self.verbose:
            print(f"[{type(self).__name__}] lowrank: status {res.status}, {res.n_rounds} "
                  f"rounds, {res.n_iter} L-BFGS iterations, {res.neurons.shape[0]} neurons, "
                  f"relative gap {res.gap:.2e}")
        return NetworkFit(
            res.neurons, res.weights, res.block_index, res.intercept, n_iter=res.n_rounds,
            # res.theta is the loss gradient at this same network, which
            # _fit_network certifies anyway: passing it would certify twice.
            status=res.status, solver="lowrank", theta=None, lower_bound=res.lower_bound,
        )

    def _solve_cvxpy(self, blocks, Y, loss, activation):
        with warnings.catch_warnings():
            # cvxpy's own "may be inaccurate" notice: the certificate decides.
            warnings.filterwarnings("ignore", message="Solution may be inaccurate")
            if self._constraint == "sphere":
                warnings.filterwarnings("ignore", category=ConvergenceWarning)
            sol = solve_lifted_cvxpy(
                blocks, Y, loss, activation, self.alpha, constraint=self._constraint,
                fit_intercept=self.fit_intercept, cvxpy_solver=self.cvxpy_solver,
                max_iter=self.max_iter, tol=self.tol, verbose=self.verbose > 1,
                memory_limit=self.memory_limit * 2**30,
            )
        if self.verbose:
            print(f"[{type(self).__name__}] cvxpy/{sol.solver}: status {sol.status}, "
                  f"{sol.n_iter} iterations, value {sol.value:.8g}"
                  + (f" (after: {'; '.join(sol.log)})" if sol.log else ""))
        neurons, weights, block_index = network_from_lifted(sol.Z)
        return NetworkFit(
            neurons, weights, block_index, sol.intercept, n_iter=sol.n_iter,
            status=sol.status, solver=f"cvxpy/{sol.solver}", theta=sol.theta,
            lower_bound=sol.value,
        )

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

    # --------------------------------------------------------------- predicting
    def _network_output(self, X):
        """Raw network outputs, shape (n, k)."""
        check_is_fitted(self, "hidden_weights_")
        X = validate_data(self, X, reset=False)
        W = self.output_weights_
        W = W[:, None] if W.ndim == 1 else W
        return network_forward(
            self._make_blocks(X), self.hidden_weights_, W, self._block_index,
            np.atleast_1d(self.intercept_), resolve_activation(self.activation),
        )

    def _validate_X_y(self, X, y, **kwargs):
        return validate_data(self, X, y, ensure_min_samples=2, **kwargs)



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


class LiftedRegressorMixin(RegressorMixin):
    """``predict`` and tags shared by the lifted-model regressors."""

    def predict(self, X):
        """Network output.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,) or (n_samples, n_outputs)
        """
        out = self._network_output(X)
        return out[:, 0] if self._single_output else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


class LiftedClassifierMixin(ClassifierMixin):
    """Label encoding and the prediction surface of the lifted-model classifiers."""

    def _fit_labels(self, X, y):
        """Encode ``y`` for ``self.loss`` and fit the network."""
        self.classes_, Y, loss_name = encode_classes(y, self.loss)
        self._single_output = Y.shape[1] == 1
        return self._fit_network(X, Y, loss_name)

    def decision_function(self, X):
        """Network output: (n_samples,) for two classes, else (n_samples, n_classes)."""
        out = self._network_output(X)
        return out[:, 0] if self._single_output else out

    def predict(self, X):
        """Predicted class labels."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    def _has_proba(self):
        return self.loss == "logistic"

    @available_if(_has_proba)
    def predict_proba(self, X):
        """Class probabilities (logistic loss only): sigmoid or softmax of the output."""
        scores = self.decision_function(X)
        if scores.ndim == 1:
            p = 1.0 / (1.0 + np.exp(-np.clip(scores, -500, 500)))
            return np.column_stack([1 - p, p])
        return softmax(scores)

    @available_if(_has_proba)
    def predict_log_proba(self, X):
        """Logarithm of ``predict_proba``."""
        return np.log(np.clip(self.predict_proba(X), np.finfo(float).tiny, None))
