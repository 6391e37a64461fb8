"""Distributed meta-estimators: debiased averaging of sketched Newton steps.

A ridge or l2-logistic problem too large for one Hessian solve is split
over ``q`` workers. Each draws its own sketch of the data, solves its local
Newton system with the shrunk regularization ``lambda (1 - d_lambda / m)``
and returns its direction; the master averages and steps. See
:mod:`sklearn_convexnn._solvers.sketch.newton_sketch` for the maths.

The workers run through :class:`sklearn.utils.parallel.Parallel`, so any
joblib backend runs them: ``joblib.parallel_config(backend="dask")`` with a
``dask.distributed.Client`` puts them on a Dask cluster.
"""

import warnings
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
from scipy.special import expit, log_expit, log_softmax, softmax
from sklearn.base import (
    BaseEstimator,
    ClassifierMixin,
    RegressorMixin,
    _fit_context,
    clone,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, Ridge
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from ._solvers.sketch.newton_sketch import (
    debiased_newton_sketch,
    logistic_newton_system,
    logistic_objective,
    ridge_newton_system,
)
from .sketching import SurrogateSketch, effective_dimension

__all__ = ["DebiasedAveragingClassifier", "DebiasedAveragingRegressor"]


_COMMON_PARAMETERS_DOC = """sketch : sketch object, default=None
        Any object with a ``sketch(A, random_state=...)`` method returning
        ``S A`` with ``E[S^T S] = I`` (``GaussianSketch``, ``SRHTSketch``,
        ``CountSketch``, ``LeverageScoreSketch``, ``SurrogateSketch``). Each
        worker draws a fresh sketch from a clone of it; a sketch with an
        ``alpha`` parameter gets the problem's own regularization (the
        meta-estimator owns lambda). Its ``n_components`` is the expected
        sketch size ``m`` of the debiasing factor. None: a
        ``SurrogateSketch`` (for which the debiased average is exactly
        unbiased) of size ``min(n_rows, ceil(2 d_lambda) + 10)``, chosen
        anew at each iteration.
    n_workers : int, default=16
        Number ``q`` of sketched workers averaged per Newton iteration.
    debias : bool, default=True
        Shrink the workers' regularization to ``lambda (1 - d_lambda / m)``
        and scale the averaged step by ``1 - d_lambda / m``. Needs
        ``m > d_lambda``. False: plain averaging, whose error stalls at its
        bias as ``q`` grows.
    tol : float, default=1e-6
        Stop once a step is at most ``tol * max(1, ||params||)``.
    step : {"auto", "unit", "backtracking"}, default="auto"
        Step rule. ``"unit"``: the debiased unit step (the factor
        ``1 - d_lambda / m`` included). ``"backtracking"``: Armijo
        backtracking on the training objective, starting from the unit
        step. ``"auto"``: unit for ridge, backtracking for logistic.
    n_jobs : int, default=None
        Joblib ``n_jobs``. The ``q`` workers are split into that many tasks
        (each task does a batch of workers and gets the data once; loky
        memory-maps it, the dask backend scatters it to the cluster once
        per iteration). The result does not depend on ``n_jobs`` or on the
        backend.
    random_state : int, RandomState instance or None, default=None
        Seeds the workers: worker ``k`` of iteration ``t`` draws from its
        own child of ``np.random.SeedSequence(random_state).spawn``.
    verbose : int, default=0
        Print one line per Newton iteration if positive."""

_COMMON_ATTRIBUTES_DOC = """n_iter_ : int
        Number of Newton iterations run.
    effective_dim_ : float
        ``d_lambda`` of the last iteration.
    scaled_alpha_ : float
        Regularization the workers used at the last iteration,
        ``lambda (1 - d_lambda / m)`` if ``debias`` else ``lambda``.
    sketch_size_ : int
        Expected sketch size ``m`` of the last iteration.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, if ``X`` had string column
        names."""


_NOTES_DOC = """Each worker forms and solves a ``p x p`` system from its own sketch.
    Two computations are not sketched: ``d_lambda``, computed exactly by the
    master at every iteration from the eigenvalues of ``A^T A``
    (``O(n p^2)``), and, with a surrogate sketch, the DPP part of each draw,
    for which the worker eigen-decomposes ``A^T A`` too. Gaussian, SRHT and
    CountSketch workers avoid the latter. The data travel once per
    iteration and task: the same array object goes to every task of a
    ``Parallel`` call, which loky memory-maps and the dask backend scatters
    once."""


class _BaseDebiasedAveraging(BaseEstimator):
    """Parameters, sketch set-up and the call into the Newton solver."""

    _parameter_constraints: ClassVar[dict] = {
        "estimator": [HasMethods(["fit", "get_params"]), None],
        "sketch": [HasMethods(["sketch"]), None],
        "n_workers": [Interval(Integral, 1, None, closed="left")],
        "debias": ["boolean"],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "step": [StrOptions({"auto", "unit", "backtracking"})],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def _solve(self, system_at, params0, objective):
        if self.step == "unit":
            objective = None
        params, info = debiased_newton_sketch(
            system_at,
            params0,
            self._sketch_at,
            self._sketch_size_at,
            effective_dimension,
            n_workers=self.n_workers,
            debias=self.debias,
            n_iter=self.n_iter,
            tol=self.tol,
            objective=objective,
            n_jobs=self.n_jobs,
            seed_sequence=_seed_sequence(self.random_state),
            verbose=self.verbose,
        )
        self.n_iter_ = info["n_iter"]
        self.effective_dim_ = info["effective_dim"]
        self.scaled_alpha_ = info["scaled_lam"]
        self.sketch_size_ = info["sketch_size"]
        return params, info

    def _sketch_at(self, lam, sketch_size):
        if self.sketch is None:
            return SurrogateSketch(n_components=sketch_size, alpha=lam)
        sketch = clone(self.sketch)
        if "alpha" in sketch.get_params(deep=False):
            sketch.set_params(alpha=lam)
        return sketch

    def _sketch_size_at(self, effective_dim, n_rows):
        if self.sketch is None:
            return int(min(n_rows, np.ceil(2 * effective_dim) + 10))
        m = getattr(self.sketch, "n_components", None)
        if self.debias and (not isinstance(m, Real) or isinstance(m, bool)):
            raise ValueError(
                "debias=True needs the sketch's expected size: the sketch "
                f"{type(self.sketch).__name__} has no numeric n_components "
                f"(got {m!r})."
            )
        return m

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = False
        return tags


class DebiasedAveragingRegressor(RegressorMixin, _BaseDebiasedAveraging):
    """Ridge regression by debiased averaging of sketched Newton steps.

    Solves the problem of the wrapped :class:`~sklearn.linear_model.Ridge`,
    ``min ||y - X w - b||^2 + alpha ||w||^2``, without ever solving with its
    Hessian ``H = X^T X + alpha I`` (``X`` centred if ``fit_intercept``).
    Each of ``n_workers`` workers sketches the data, forms its local Hessian
    with the shrunk ``alpha (1 - d_alpha / m)``, ``d_alpha`` the effective
    dimension and ``m`` the sketch size, and returns its Newton direction
    for the full gradient; the directions are averaged and the factor
    ``1 - d_alpha / m`` goes into the step. With a surrogate sketch the
    averaged step is unbiased, so the error falls like ``1/sqrt(q)`` with
    the number of workers; plain averaging stalls at its bias.

    From zero one step solves the problem up to the averaging error; more
    iterations (``n_iter``) shrink that error geometrically, at one
    communication round each.

    Parameters
    ----------
    estimator : Ridge, default=None
        The problem to solve: its ``alpha`` (a positive scalar) and
        ``fit_intercept`` are read. ``positive=True`` and per-target alphas
        are refused; ``solver``, ``tol``, ``max_iter`` say how Ridge itself
        would solve and are ignored. None means ``Ridge()``.
    %(common_parameters)s
    n_iter : int, default=1
        Maximum number of Newton iterations.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        Weights, shaped as ``Ridge.coef_``.
    intercept_ : float or ndarray of shape (n_targets,)
        Intercept (0.0 if ``fit_intercept=False``).
    %(common_attributes)s

    Notes
    -----
    %(notes)s

    See Also
    --------
    DebiasedAveragingClassifier : The same for l2-logistic regression.
    sklearn.linear_model.Ridge : The exact solver of the same problem.

    References
    ----------
    M. Derezinski, B. Bartan, M. Pilanci, M. W. Mahoney. Debiasing
    distributed second order optimization with surrogate sketching and
    scaled regularization. NeurIPS 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_convexnn import DebiasedAveragingRegressor
    >>> X, y = make_regression(n_samples=500, n_features=10, noise=1.0,
    ...                        random_state=0)
    >>> reg = DebiasedAveragingRegressor(Ridge(alpha=10.0), n_workers=32,
    ...                                  n_iter=10, random_state=0).fit(X, y)
    >>> exact = Ridge(alpha=10.0).fit(X, y)
    >>> bool(np.allclose(reg.coef_, exact.coef_, rtol=1e-4))
    True
    >>> round(reg.score(X, y), 3)
    1.0
    """

    def __init__(
        self,
        estimator=None,
        *,
        sketch=None,
        n_workers=16,
        debias=True,
        n_iter=1,
        tol=1e-6,
        step="auto",
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.sketch = sketch
        self.n_workers = n_workers
        self.debias = debias
        self.n_iter = n_iter
        self.tol = tol
        self.step = step
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit the wrapped ridge problem by distributed sketched Newton steps.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_targets)

        Returns
        -------
        self : DebiasedAveragingRegressor
        """
        alpha, fit_intercept = _ridge_problem(self.estimator)
        X, y = validate_data(
            self, X, y, dtype=np.float64, multi_output=True, y_numeric=True
        )
        Y = y.reshape(len(y), -1).astype(np.float64)
        if fit_intercept:
            X_offset, Y_offset = X.mean(axis=0), Y.mean(axis=0)
            X, Y = X - X_offset, Y - Y_offset
        W, _ = self._solve(
            ridge_newton_system(X, Y, alpha),
            np.zeros((X.shape[1], Y.shape[1])),
            objective=None,
        )
        intercept = Y_offset - X_offset @ W if fit_intercept else np.zeros(Y.shape[1])
        if y.ndim == 1:
            self.coef_, self.intercept_ = W[:, 0], float(intercept[0])
        else:
            self.coef_, self.intercept_ = W.T, intercept
        return self

    def predict(self, X):
        """Predict with the fitted linear model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_targets)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X @ self.coef_.T + self.intercept_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class DebiasedAveragingClassifier(ClassifierMixin, _BaseDebiasedAveraging):
    """l2-logistic regression by debiased averaging of sketched Newton steps.

    Solves the problem of the wrapped
    :class:`~sklearn.linear_model.LogisticRegression` (l2 penalty),
    ``min C sum_i logloss_i + 1/2 ||W||^2`` with an unpenalized intercept,
    by Newton iterations whose steps are averages over ``n_workers``
    sketched workers. At the current iterate the coefficient Hessian is
    ``A^T A + lambda I`` with ``A = D^{1/2} X`` and ``lambda = 1 / C``;
    each worker sketches ``A`` afresh, solves with the shrunk
    ``lambda (1 - d_lambda / m)``, and the master averages, scales by
    ``1 - d_lambda / m`` and backtracks on the objective.

    The intercept is eliminated exactly: its Schur complement turns the
    coefficient block into the ridge Hessian of the weighted-centred factor
    ``(I - P) A`` (``P`` the projection on the intercept columns), which
    the workers sketch, so the debiasing holds as for ridge; the intercept
    step follows from the averaged coefficient step.

    Two classes: one coefficient row, as ``LogisticRegression``. More
    classes: the multinomial (softmax) loss, as ``LogisticRegression`` in
    scikit-learn >= 1.8 (not one-vs-rest); the factor ``A`` then has
    ``n_classes`` rows per sample (``n_samples * n_classes`` by
    ``n_classes * n_features``) and the intercepts sum to zero.

    Parameters
    ----------
    estimator : LogisticRegression, default=None
        The problem to solve: ``C`` (finite) and ``fit_intercept`` are read.
        Refused: l1 or elastic-net penalty (``l1_ratio > 0``), no penalty
        (``C=inf`` / ``penalty=None``), ``class_weight``, the
        ``liblinear`` solver (it penalizes the intercept: another problem),
        ``LogisticRegressionCV``. ``tol``, ``max_iter``, other solvers
        are ignored. None means ``LogisticRegression()``.
    %(common_parameters)s
    n_iter : int, default=30
        Maximum number of Newton iterations; a :class:`ConvergenceWarning`
        is raised if ``tol`` is not reached.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights, shaped as ``LogisticRegression.coef_``.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts (zeros if ``fit_intercept=False``).
    %(common_attributes)s

    Notes
    -----
    %(notes)s

    See Also
    --------
    DebiasedAveragingRegressor : The same for ridge regression.
    sklearn.linear_model.LogisticRegression : Exact solver of the problem.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_convexnn import DebiasedAveragingClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = DebiasedAveragingClassifier(LogisticRegression(C=1.0),
    ...                                   n_workers=8, random_state=0)
    >>> clf.fit(X, y).score(X, y) > 0.98
    True
    >>> exact = LogisticRegression(C=1.0, tol=1e-10, max_iter=10000).fit(X, y)
    >>> bool(np.allclose(clf.coef_, exact.coef_, rtol=1e-3, atol=1e-4))
    True
    """

    def __init__(
        self,
        estimator=None,
        *,
        sketch=None,
        n_workers=16,
        debias=True,
        n_iter=30,
        tol=1e-6,
        step="auto",
        n_jobs=None,
        random_state=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.sketch = sketch
        self.n_workers = n_workers
        self.debias = debias
        self.n_iter = n_iter
        self.tol = tol
        self.step = step
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y):
        """Fit the wrapped logistic problem by distributed Newton sketch.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : DebiasedAveragingClassifier
        """
        C, fit_intercept = _logistic_problem(self.estimator)
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        n_classes = len(self.classes_)
        if n_classes < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data, "
                f"but the data contains only one class: {self.classes_[0]!r}."
            )
        if n_classes == 2:
            Y = (y_index == 1).astype(np.float64)[:, None]
        else:
            Y = np.eye(n_classes)[y_index]
        n_rows = Y.shape[1]
        lam = 1.0 / C
        params, info = self._solve(
            logistic_newton_system(X, Y, lam, fit_intercept),
            np.zeros((n_rows, X.shape[1] + fit_intercept)),
            objective=logistic_objective(X, Y, lam, fit_intercept),
        )
        n_features = X.shape[1]
        self.coef_ = params[:, :n_features]
        self.intercept_ = params[:, n_features] if fit_intercept else np.zeros(n_rows)
        if not info["converged"]:
            warnings.warn(
                f"DebiasedAveragingClassifier did not reach tol={self.tol} in "
                f"n_iter={self.n_iter} Newton iterations; increase n_iter or "
                "n_workers.",
                ConvergenceWarning,
            )
        return self

    def decision_function(self, X):
        """Linear scores ``X coef_^T + intercept_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, the score of ``classes_[1]``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        scores = X @ self.coef_.T + self.intercept_
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X):
        """Most probable class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        scores = self.decision_function(X)
        index = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[index]

    def predict_proba(self, X):
        """Class probabilities (sigmoid for two classes, softmax else).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            p = expit(scores)
            return np.column_stack([1.0 - p, p])
        return softmax(scores, axis=1)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed stably.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return np.column_stack([log_expit(-scores), log_expit(scores)])
        return log_softmax(scores, axis=1)


for _cls in (DebiasedAveragingRegressor, DebiasedAveragingClassifier):
    _cls.__doc__ = _cls.__doc__ % {
        "common_parameters": _COMMON_PARAMETERS_DOC,
        "common_attributes": _COMMON_ATTRIBUTES_DOC,
        "notes": _NOTES_DOC,
    }


def _ridge_problem(estimator):
    """``(alpha, fit_intercept)`` of the wrapped Ridge, or a clear error."""
    estimator = Ridge() if estimator is None else estimator
    if not isinstance(estimator, Ridge):
        raise TypeError(
            "DebiasedAveragingRegressor wraps sklearn.linear_model.Ridge; got "
            f"{type(estimator).__name__}. Use DebiasedAveragingClassifier for "
            "LogisticRegression."
        )
    params = estimator.get_params(deep=False)
    if params.get("positive", False):
        raise ValueError(
            "Ridge(positive=True) is not supported: a sign-constrained problem "
            "has no Newton system to sketch."
        )
    alpha = params["alpha"]
    if np.ndim(alpha) != 0:
        raise ValueError(
            "Per-target alpha arrays are not supported; give Ridge one scalar "
            f"alpha (got shape {np.shape(alpha)})."
        )
    if not alpha > 0:
        raise ValueError(
            f"Ridge alpha must be > 0 for debiased averaging (got {alpha}): the "
            "debiasing shrinks the ridge term."
        )
    return float(alpha), bool(params["fit_intercept"])


def _logistic_problem(estimator):
    """``(C, fit_intercept)`` of the wrapped LogisticRegression, or an error."""
    estimator = LogisticRegression() if estimator is None else estimator
    name = type(estimator).__name__
    if not isinstance(estimator, LogisticRegression) or isinstance(
        estimator, LogisticRegressionCV
    ):
        raise TypeError(
            "DebiasedAveragingClassifier wraps sklearn.linear_model."
            f"LogisticRegression; got {name}. Use DebiasedAveragingRegressor "
            "for Ridge."
        )
    params = estimator.get_params(deep=False)
    penalty = params.get("penalty", "l2")
    l1_ratio = params.get("l1_ratio")
    C = params["C"]
    if penalty == "deprecated":  # scikit-learn >= 1.8: the penalty is l1_ratio
        penalty = "l2" if not l1_ratio else "l1" if l1_ratio == 1 else "elasticnet"
    if penalty is None or not np.isfinite(C):
        raise ValueError(
            "Unpenalized LogisticRegression (penalty=None or C=inf) is not "
            "supported: debiased averaging needs an l2 term (finite C)."
        )
    if penalty != "l2":
        raise ValueError(
            f"Only the l2 penalty is supported; the wrapped LogisticRegression "
            f"has penalty {penalty!r} (l1_ratio={l1_ratio}). An l1 term has no "
            "Hessian to sketch."
        )
    if params.get("class_weight") is not None:
        raise ValueError("LogisticRegression(class_weight=...) is not supported.")
    if params.get("solver") == "liblinear":
        raise ValueError(
            "LogisticRegression(solver='liblinear') penalizes the intercept, a "
            "different problem; use another solver setting (e.g. the default "
            "'lbfgs'), which only names how LogisticRegression itself solves."
        )
    if params.get("multi_class", "auto") == "ovr":
        raise ValueError(
            "multi_class='ovr' is not supported: more than two classes are "
            "fitted with the multinomial loss."
        )
    return float(C), bool(params["fit_intercept"])


def _seed_sequence(random_state):
    """Root ``SeedSequence`` of the workers' streams."""
    if random_state is None:
        return np.random.SeedSequence()
    if isinstance(random_state, Integral):
        return np.random.SeedSequence(int(random_state))
    return np.random.SeedSequence(
        int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    )
