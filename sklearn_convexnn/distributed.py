"""Distributed meta-estimators: debiased averaging of sketched Newton steps.

A ridge or l2-logistic problem too large for one Hessian solve is split
over ``q`` workers. Each draws its own sketch of the data, solves its local
Newton system with the shrunk regularization ``alpha (1 - d_alpha / m)``
and returns its direction; the master averages and steps. The maths (the
round loop, the two problems, the data passes) is in
:mod:`sklearn_convexnn._solvers.sketch.newton_sketch`; this module holds
the scikit-learn shells.

The workers run through :class:`sklearn.utils.parallel.Parallel`, so any
joblib backend runs them: ``joblib.parallel_config(backend="dask")`` with a
``dask.distributed.Client`` puts them on a Dask cluster.

One name per concept: ``alpha`` is the l2 regularization of the problem
solved, read from the wrapped estimator by :func:`_regularization`
(``Ridge.alpha``; ``1 / C`` for ``LogisticRegression``).
"""

import warnings
from functools import partial
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
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
from sklearn.utils._param_validation import (
    HasMethods,
    Hidden,
    Interval,
    StrOptions,
)
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    _check_sample_weight,
    check_is_fitted,
    validate_data,
)

from ._sketch_base import CountSketch, SurrogateSketch
from ._solvers.coding.products import CodedDataProducts
from ._solvers.sketch.newton_sketch import debiased_newton_sketch
from ._solvers.sketch.problems import DataProducts, LogisticProblem, RidgeProblem

__all__ = ["DebiasedAveragingClassifier", "DebiasedAveragingRegressor"]

_REFERENCE = """M. Derezinski, B. Bartan, M. Pilanci, M. W. Mahoney. Debiasing
       distributed second order optimization with surrogate sketching and
       scaled regularization. Advances in Neural Information Processing
       Systems 33 (NeurIPS 2020)."""

_COMMON_PARAMETERS_DOC = """sketch : sketch object, default=None
        Any object with a ``sketch(A, random_state=...)`` method returning
        ``S A`` with ``E[S^T S] = I`` (``GaussianSketch``, ``SRHTSketch``,
        ``CountSketch``, ``LeverageScoreSketch``, ``SurrogateSketch``). Each
        worker draws a fresh sketch from a clone of it; a sketch with an
        ``alpha`` parameter gets the problem's own regularization (the
        meta-estimator owns alpha). Its ``n_components`` is the expected
        sketch size ``m`` of the debiasing factor. None: a sketch of size
        ``min(n_rows, ceil(2 d_alpha) + 10)``, chosen anew at each round:
        a ``SurrogateSketch`` (for which the debiased average is exactly
        unbiased) for ridge and two classes; a ``CountSketch`` for the
        multinomial problem, whose factor has ``n_classes`` rows per sample
        (the surrogate's determinantal part costs ``O(rows d_alpha^2)`` per
        worker there; with a data-oblivious sketch the shrunk alpha is
        the paper's near-unbiased correction).
    n_workers : int, default=16
        Number ``q`` of sketched workers averaged per Newton round.
    debias : bool, default=True
        Shrink the workers' regularization to ``alpha (1 - d_alpha / m)``
        and scale the averaged step by ``1 - d_alpha / m``. Needs
        ``m > d_alpha``. False: plain averaging, whose error stalls at its
        bias as ``q`` grows.
    max_iter : int, default=100
        Maximum number of Newton rounds.
    tol : float or None, default=1e-8
        Stop after a round whose Newton decrement ``lambda^2 = -g^T dx``
        (``g`` the gradient, ``dx`` the unit step) has ``lambda^2 / 2 <= tol
        max(1, |objective|)`` -- the objective is then within about that of
        its minimum, and the step just taken shrinks the gap further -- or
        whose step is at most ``tol * max(1, ||params||)``; a
        :class:`~sklearn.exceptions.ConvergenceWarning` carrying the
        gradient norm is raised if ``max_iter`` rounds do not reach it.
        None: no stopping test and no warning, exactly ``max_iter`` rounds
        (with ``max_iter=1``: the one-round estimate of the paper).
    step : {"auto", "unit", "backtracking"}, default="auto"
        Step rule. ``"unit"``: the debiased unit step (the factor
        ``1 - d_alpha / m`` included). ``"backtracking"``: Armijo
        backtracking on the training objective, starting from the unit
        step. ``"auto"``: unit for ridge, backtracking for logistic.
    newton_step : {"auto", "sketched", "exact"}, default="auto"
        Where each round's step comes from. ``"sketched"``: the debiased
        average of the ``n_workers`` sketched directions, always.
        ``"exact"``: the exact Newton step ``H^{-1} g``, the expectation
        that average estimates. ``"auto"``: with the default sketch
        (``sketch=None``; a sketch you pass is always drawn), exact at a
        round where the workers' sketches would hold no fewer rows than the
        data, ``n_workers * m >= n_samples``: the master forms the exact Hessian from the
        ``n_features``-wide data at every round anyway (for ``d_alpha``),
        so the ``q`` sketched systems would cost more than solving with it
        (e.g. digits: 1257 samples, ``m`` ~ 500); sketched otherwise (large
        ``n_samples``). The rounds that took the exact step are counted in
        ``n_exact_rounds_`` and marked ``newton=exact`` in the verbose
        lines. Use ``"sketched"`` (or pass a sketch) to study the estimator
        itself (e.g. the one-round estimate, ``max_iter=1, tol=None``).
    n_jobs : int, default=None
        Joblib ``n_jobs``: the most tasks the ``q`` workers of a round are
        split into (each task does a batch of workers and gets the data
        once; loky memory-maps it, the dask backend scatters it to the
        cluster once per round). A round is split only into as many tasks
        as carry at least ``MIN_FLOPS_PER_TASK`` (1e9, measured on a
        2-core machine: the cost of a loky round trip) of estimated work
        each (sketch, local system ``2 m r (p + 1) + r^3 / 3``, ``r = min(m, p)``), so
        small problems stay in one task whatever ``n_jobs`` -- run in this
        process, without a pool, on joblib's local backends; a cluster
        backend (dask, ray) still gets it as one task. None: joblib's
        default (1 unless a ``joblib.parallel_config`` says otherwise).
        The result does not depend on ``n_jobs`` or on the backend.
    random_state : int, RandomState instance or None, default=None
        Seeds the workers: worker ``k`` of round ``t`` draws from its own
        child of ``np.random.SeedSequence(random_state).spawn``.
    verbose : int, default=0
        ``>= 1``: one progress line per Newton round (round counter
        ``t/max_iter``, objective, gradient norm, step); ``>= 2`` also the
        effective dimension, sketch size, shrunk alpha and parallel tasks.
    coding : PolarCode, MDSCode, ReplicationCode or UncodedCode, default=None
        Run the master's data passes (``X W`` for scores, ``X^T R`` for
        gradients) through this code against stragglers: ``X`` and ``X^T``
        are split into its row blocks and encoded once, and every pass is
        decoded exactly from the earliest decodable set of simulated
        workers (:class:`~sklearn_convexnn.coding.CodedDataProducts`), so
        the fit equals the uncoded one up to rounding. None: plain products.
    n_iter : int, default="deprecated"
        Deprecated alias of ``max_iter`` (renamed in 0.2, removed in 0.4)."""

_COMMON_ATTRIBUTES_DOC = """n_iter_ : int
        Number of Newton rounds run.
    n_exact_rounds_ : int
        How many of them took the exact Newton step (see ``newton_step``).
    effective_dim_ : float
        ``d_alpha`` of the last round.
    scaled_alpha_ : float
        Regularization the workers used at the last round,
        ``alpha (1 - d_alpha / m)`` if ``debias`` else ``alpha``.
    sketch_size_ : int
        Expected sketch size ``m`` of the last round.
    gradient_norm_ : float
        Norm of the objective's gradient at the returned parameters.
    n_tasks_ : int
        Parallel tasks the workers of the last round were split into (the
        ``n_jobs`` rule's choice; 0 if that round took the exact step).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, if ``X`` had string column
        names."""


_NOTES_DOC = """Each worker forms and solves a ``p x p`` system from its own sketch.
    Two computations are not sketched: ``d_alpha``, computed exactly by the
    master at every round from the Cholesky factor of ``A^T A + alpha I``
    (``A^T A`` formed from the ``n_features``-wide data, ``O(n p^2)``; for
    the multinomial problem by its block structure, without the
    ``n n_classes``-row factor), and, with a surrogate sketch, the spectrum
    its DPP part needs, computed once per round and shared by the workers.
    Gaussian, SRHT and CountSketch workers avoid the latter. The data
    travel once per round and task. Since the master holds that factor,
    a round whose ``q`` sketches would hold at least ``n_samples`` rows
    solves with it directly (``newton_step="auto"``, see there): on small
    data (digits) every round does, and the fit is Newton's method on the
    wrapped problem; the sketched workers run where ``n_samples`` exceeds
    ``q m``.

    ``sample_weight`` multiplies each sample's loss term (weights equal to
    repetition). Sparse ``X`` (CSR/CSC) is accepted: the data passes
    (scores, gradients) use it as is; the factor the workers sketch is
    dense, as the intercept elimination centres it."""


class _BaseDebiasedAveraging(BaseEstimator):
    """Parameters, validation and the call into the Newton-sketch solver.

    Subclasses build their problem (``newton_sketch.RidgeProblem`` or
    ``LogisticProblem``) and call :meth:`_solve`, which returns the
    parameters and the attributes to set; ``fit`` assigns everything at
    the end, so a failed fit leaves the estimator as it was.
    """

    _parameter_constraints: ClassVar[dict] = {
        "estimator": [HasMethods(["fit", "get_params"]), None],
        "sketch": [HasMethods(["sketch"]), None],
        "n_workers": [Interval(Integral, 1, None, closed="left")],
        "debias": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left"), None],
        "step": [StrOptions({"auto", "unit", "backtracking"})],
        "newton_step": [StrOptions({"auto", "sketched", "exact"})],
        "n_jobs": [Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "coding": [HasMethods(["encode", "decode", "is_decodable"]), None],
        "n_iter": [
            Interval(Integral, 1, None, closed="left"),
            Hidden(StrOptions({"deprecated"})),
        ],
    }

    def _max_iter(self):
        if self.n_iter == "deprecated":
            return self.max_iter
        warnings.warn(
            "n_iter was renamed max_iter in 0.2 and will be removed in 0.4; "
            "use max_iter.",
            FutureWarning,
        )
        return self.n_iter

    def _validate_fit_data(self, X, y, sample_weight, **kwargs):
        X, y = validate_data(
            self, X, y, accept_sparse=("csr", "csc"), dtype=np.float64, **kwargs
        )
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True
        )
        return X, y, sample_weight

    @staticmethod
    def _check_scale(X, w, Y=None):
        """ValueError if the Newton system would overflow float64.

        Its Hessian holds sums ``sum_i w_i x_ij^2`` (and, for ridge, the
        gradient ``sum_i w_i x_ij y_i``); data whose entries make those
        overflow (e.g. ``X * 1e150`` with a few hundred samples) cannot be
        fitted in floating point, so it is refused up front rather than
        through a cascade of overflow warnings.
        """
        values = X.data if sp.issparse(X) else X
        x_max = float(np.max(np.abs(values), initial=0.0))
        y_max = 1.0 if Y is None else float(np.max(np.abs(Y), initial=0.0))
        total = float(np.sum(w))
        limit = np.sqrt(np.finfo(np.float64).max) * 1e-4  # ~1e150
        for name, a, b in (("X", x_max, x_max), ("X and y", x_max, y_max)):
            if a > 0 and b > 0 and (
                np.log(a) + np.log(b) + np.log(max(total, 1.0)) > 2 * np.log(limit)
            ):
                raise ValueError(
                    f"{name} too large for the Newton system in float64: entries "
                    f"up to {x_max:.3g} (|y| up to {y_max:.3g}) over "
                    f"{total:.4g} weighted samples overflow its Hessian and "
                    "gradient sums. Rescale the data (e.g. StandardScaler)."
                )

    def _data_products(self, X):
        """The data passes: plain, or through ``coding`` (exact either way)."""
        if self.coding is None:
            return DataProducts(X)
        return CodedDataProducts(X, self.coding, n_jobs=self.n_jobs)

    def _solve(self, problem, params0, line_search, default_sketch=SurrogateSketch):
        """Run the solver; returns ``(params, fitted)``, ``fitted`` the
        attributes to set (nothing is set here)."""
        max_iter = self._max_iter()
        if self.step != "auto":
            line_search = self.step == "backtracking"
        params, info = debiased_newton_sketch(
            problem,
            params0,
            partial(self._sketch_at, default_sketch),
            self._sketch_size_at,
            n_workers=self.n_workers,
            debias=self.debias,
            max_iter=max_iter,
            tol=self.tol,
            line_search=line_search,
            # "auto" only ever replaces the default sketch: a sketch the
            # user chose is drawn.
            newton_step=(
                "sketched"
                if self.newton_step == "auto" and self.sketch is not None
                else self.newton_step
            ),
            n_jobs=self.n_jobs,
            seed_sequence=_seed_sequence(self.random_state),
            verbose=self.verbose,
        )
        if self.tol is not None and not info["converged"]:
            warnings.warn(
                f"{type(self).__name__} did not reach tol={self.tol} in "
                f"max_iter={max_iter} Newton rounds (gradient norm "
                f"{info['gradient_norm']:.3e}); increase max_iter or n_workers.",
                ConvergenceWarning,
            )
        fitted = {
            "n_iter_": info["n_iter"],
            "n_exact_rounds_": info["n_exact_rounds"],
            "effective_dim_": info["effective_dim"],
            "scaled_alpha_": info["scaled_alpha"],
            "sketch_size_": info["sketch_size"],
            "gradient_norm_": info["gradient_norm"],
            "n_tasks_": info["n_tasks"],
        }
        return params, fitted

    def _sketch_at(self, default_sketch, alpha, sketch_size):
        if self.sketch is None:
            sketch = default_sketch(n_components=sketch_size)
            if "alpha" in sketch.get_params(deep=False):
                sketch.set_params(alpha=alpha)
            return sketch
        sketch = clone(self.sketch)
        if "alpha" in sketch.get_params(deep=False):
            sketch.set_params(alpha=alpha)
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
        tags.input_tags.sparse = True
        return tags


class _LinearPredictMixin:
    """``X coef_^T + intercept_`` on validated input."""

    def _linear_scores(self, X):
        check_is_fitted(self)
        X = validate_data(
            self, X, accept_sparse=("csr", "csc"), dtype=np.float64, reset=False
        )
        return np.asarray(X @ self.coef_.T) + self.intercept_


class DebiasedAveragingRegressor(_LinearPredictMixin, RegressorMixin, _BaseDebiasedAveraging):
    """Ridge regression by debiased averaging of sketched Newton steps.

    Solves the problem of the wrapped :class:`~sklearn.linear_model.Ridge`,
    ``min sum_i w_i (y_i - x_i^T w - b)^2 + alpha ||w||^2``, without ever
    solving with its Hessian ``H = X^T W X + alpha I`` (``X`` centred if
    ``fit_intercept``). Each of ``n_workers`` workers sketches the data,
    forms its local Hessian with the shrunk ``alpha (1 - d_alpha / m)``,
    ``d_alpha`` the effective dimension and ``m`` the sketch size, and
    returns its Newton direction for the full gradient; the directions are
    averaged and the factor ``1 - d_alpha / m`` goes into the step. With a
    surrogate sketch the averaged step is unbiased, so the error of one
    round falls like ``1/sqrt(q)`` with the number of workers; plain
    averaging stalls at its bias.

    From zero one round solves the problem up to the averaging error
    (``max_iter=1, tol=None``: the paper's one-round estimate); more rounds
    shrink that error geometrically, at one communication round each, to
    the exact Ridge solution. On small data (``n_workers * m >=
    n_samples``) the default ``newton_step="auto"`` solves with the exact
    Hessian instead, which the master forms anyway: one round then gives
    the exact solution (see ``newton_step``).

    Parameters
    ----------
    estimator : Ridge, default=None
        The problem to solve: its ``alpha`` (a positive scalar) and
        ``fit_intercept`` are read. ``positive=True`` and per-target alphas
        are refused; ``solver``, ``tol``, ``max_iter`` say how Ridge itself
        would solve and are ignored. None means ``Ridge()``.
    %(common_parameters)s

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,) or (n_targets, n_features)
        Weights, shaped as ``Ridge.coef_``.
    intercept_ : float or ndarray of shape (n_targets,)
        Intercept (0.0 if ``fit_intercept=False``).
    %(common_attributes)s

    See Also
    --------
    DebiasedAveragingClassifier : The same for l2-logistic regression.
    SurrogateSketch : The default sketch, exactly unbiased here.
    sklearn.linear_model.Ridge : The exact solver of the same problem.

    Notes
    -----
    %(notes)s

    References
    ----------
    .. [1] %(reference)s

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn_convexnn import DebiasedAveragingRegressor
    >>> X, y = make_regression(n_samples=500, n_features=10, noise=1.0,
    ...                        random_state=0)
    >>> reg = DebiasedAveragingRegressor(Ridge(alpha=10.0), n_workers=32,
    ...                                  random_state=0).fit(X, y)
    >>> exact = Ridge(alpha=10.0).fit(X, y)
    >>> bool(np.allclose(reg.coef_, exact.coef_, rtol=1e-6))
    True
    >>> one_round = DebiasedAveragingRegressor(Ridge(alpha=10.0), max_iter=1,
    ...                                        tol=None, random_state=0)
    >>> round(one_round.fit(X, y).score(X, y), 3)
    1.0
    """

    def __init__(
        self,
        estimator=None,
        *,
        sketch=None,
        n_workers=16,
        debias=True,
        max_iter=100,
        tol=1e-8,
        step="auto",
        newton_step="auto",
        n_jobs=None,
        random_state=None,
        verbose=0,
        coding=None,
        n_iter="deprecated",
    ):
        self.estimator = estimator
        self.sketch = sketch
        self.n_workers = n_workers
        self.debias = debias
        self.max_iter = max_iter
        self.tol = tol
        self.step = step
        self.newton_step = newton_step
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.coding = coding
        self.n_iter = n_iter

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Fit the wrapped ridge problem by distributed sketched Newton steps.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_targets)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample's squared error (equal to repeating it).

        Returns
        -------
        self : DebiasedAveragingRegressor
            The fitted estimator.
        """
        alpha, fit_intercept = _ridge_problem(self.estimator)
        X, y, w = self._validate_fit_data(
            X, y, sample_weight, multi_output=True, y_numeric=True
        )
        Y = y.reshape(len(y), -1).astype(np.float64)
        self._check_scale(X, w, Y)
        if fit_intercept:
            total = w.sum()
            if not total > 0:
                raise ValueError("The sample weights sum to zero.")
            X_offset = np.asarray(X.T @ w).ravel() / total
            Y_offset = w @ Y / total
            X = (X.toarray() if sp.issparse(X) else X) - X_offset
            Y = Y - Y_offset
        problem = RidgeProblem(self._data_products(X), Y, alpha, w)
        W, fitted = self._solve(
            problem, np.zeros((X.shape[1], Y.shape[1])), line_search=False
        )
        intercept = Y_offset - X_offset @ W if fit_intercept else np.zeros(Y.shape[1])
        if y.ndim == 1:
            self.coef_, self.intercept_ = W[:, 0], float(intercept[0])
        else:
            self.coef_, self.intercept_ = W.T, intercept
        for name, value in fitted.items():
            setattr(self, name, value)
        return self

    def predict(self, X):
        """Predict with the fitted linear model.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_targets)
            Predicted values.
        """
        return self._linear_scores(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class DebiasedAveragingClassifier(_LinearPredictMixin, ClassifierMixin, _BaseDebiasedAveraging):
    """L2-logistic regression by debiased averaging of sketched Newton steps.

    Solves the problem of the wrapped
    :class:`~sklearn.linear_model.LogisticRegression` (l2 penalty),
    ``min C sum_i w_i logloss_i + 1/2 ||W||^2`` with an unpenalized
    intercept, i.e. ``alpha = 1 / C`` in ridge form, by Newton rounds whose
    steps are averages over ``n_workers`` sketched workers. At the current
    iterate the coefficient Hessian is ``A^T A + alpha I`` with
    ``A = D^{1/2} X``; each worker sketches ``A`` afresh, solves with the
    shrunk ``alpha (1 - d_alpha / m)``, and the master averages, scales by
    ``1 - d_alpha / m`` and backtracks on the objective.

    The intercept is eliminated exactly: its Schur complement turns the
    coefficient block into the ridge Hessian of the weighted-centred factor
    ``(I - P) A`` (``P`` the projection on the intercept columns), which
    the workers sketch, so the debiasing holds as for ridge; the intercept
    step follows from the averaged coefficient step.

    Two classes: one coefficient row, as ``LogisticRegression``. More
    classes: the multinomial (softmax) loss, as ``LogisticRegression`` in
    scikit-learn >= 1.8 (not one-vs-rest), in one vectorized Newton
    system per round: the factor ``A`` has ``n_classes`` rows per sample
    (``n_samples * n_classes`` by ``n_classes * n_features``), its Gram
    matrix (for ``d_alpha``) is formed from the ``n_features``-wide data
    by the Hessian's block structure, and the intercepts sum to zero.

    Small data: when the workers' sketches would together hold at least
    ``n_samples`` rows, a round takes the exact Newton step from the
    Hessian the master has formed anyway (``newton_step="auto"``; on
    digits every round does, and the fit is Newton's method on the wrapped
    problem, marked ``newton=exact`` in the verbose lines and counted in
    ``n_exact_rounds_``). The sketched workers run on large data, or
    always with ``newton_step="sketched"`` or a ``sketch`` of your own.

    Parameters
    ----------
    estimator : LogisticRegression, default=None
        The problem to solve: ``C`` (finite, > 0) and ``fit_intercept`` are
        read. Refused: l1 or elastic-net penalty (``l1_ratio > 0``), no
        penalty (``C=inf`` / ``penalty=None``), ``C <= 0``,
        ``class_weight``, the ``liblinear`` solver (it penalizes the
        intercept: another problem), ``LogisticRegressionCV``. ``tol``,
        ``max_iter``, other solvers are ignored. None means
        ``LogisticRegression()``.
    %(common_parameters)s

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Weights, shaped as ``LogisticRegression.coef_``.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts (zeros if ``fit_intercept=False``).
    %(common_attributes)s

    See Also
    --------
    DebiasedAveragingRegressor : The same for ridge regression.
    SurrogateSketch : The default sketch, exactly unbiased here.
    sklearn.linear_model.LogisticRegression : Exact solver of the problem.

    Notes
    -----
    %(notes)s

    References
    ----------
    .. [1] %(reference)s

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
        max_iter=100,
        tol=1e-8,
        step="auto",
        newton_step="auto",
        n_jobs=None,
        random_state=None,
        verbose=0,
        coding=None,
        n_iter="deprecated",
    ):
        self.estimator = estimator
        self.sketch = sketch
        self.n_workers = n_workers
        self.debias = debias
        self.max_iter = max_iter
        self.tol = tol
        self.step = step
        self.newton_step = newton_step
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.coding = coding
        self.n_iter = n_iter

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, sample_weight=None):
        """Fit the wrapped logistic problem by distributed Newton sketch.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample's log-loss term (equal to repeating it).

        Returns
        -------
        self : DebiasedAveragingClassifier
            The fitted estimator.
        """
        alpha, fit_intercept = _logistic_problem(self.estimator)
        X, y, w = self._validate_fit_data(X, y, sample_weight)
        check_classification_targets(y)
        self._check_scale(X, w)
        classes, y_index = np.unique(y, return_inverse=True)
        n_classes = len(classes)
        if n_classes < 2:
            raise ValueError(
                "This solver needs samples of at least 2 classes in the data, "
                f"but the data contains only one class: {classes[0]!r}."
            )
        if n_classes == 2:
            Y = (y_index == 1).astype(np.float64)[:, None]
        else:
            Y = np.eye(n_classes)[y_index]
        n_rows, n_features = Y.shape[1], X.shape[1]
        problem = LogisticProblem(self._data_products(X), Y, alpha, fit_intercept, w)
        params, fitted = self._solve(
            problem,
            np.zeros((n_rows, n_features + fit_intercept)),
            line_search=True,
            default_sketch=SurrogateSketch if n_classes == 2 else CountSketch,
        )
        self.classes_ = classes
        self.coef_ = params[:, :n_features]
        self.intercept_ = params[:, n_features] if fit_intercept else np.zeros(n_rows)
        for name, value in fitted.items():
            setattr(self, name, value)
        return self

    def decision_function(self, X):
        """Linear scores ``X coef_^T + intercept_``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, the score of ``classes_[1]``.
        """
        scores = self._linear_scores(X)
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def predict(self, X):
        """Most probable class.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Predicted class labels.
        """
        scores = self.decision_function(X)
        index = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        return self.classes_[index]

    def predict_proba(self, X):
        """Class probabilities (sigmoid for two classes, softmax else).

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities, columns in the order of ``classes_``.
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
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities, columns in the order of ``classes_``.
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
        "reference": _REFERENCE,
    }


def _regularization(estimator):
    """The l2 strength ``alpha`` of a wrapped Ridge or LogisticRegression.

    The one place the wrapped estimator's own name for it (``alpha`` or
    ``C``) is read: ``Ridge.alpha`` as is, ``1 / C`` for
    ``LogisticRegression``. Refuses values with no ridge Hessian
    (``alpha <= 0``, ``C <= 0``, ``C = inf``) with a ValueError.
    """
    params = estimator.get_params(deep=False)
    if isinstance(estimator, Ridge):
        alpha = params["alpha"]
        if np.ndim(alpha) != 0:
            raise ValueError(
                "Per-target alpha arrays are not supported; give Ridge one "
                f"scalar alpha (got shape {np.shape(alpha)})."
            )
        if not (np.isfinite(alpha) and alpha > 0):
            raise ValueError(
                f"Ridge alpha must be > 0 and finite for debiased averaging (got "
                f"{alpha}): the debiasing shrinks the ridge term."
            )
        return float(alpha)
    C = params["C"]
    if not np.isfinite(C):
        raise ValueError(
            "Unpenalized LogisticRegression (penalty=None or C=inf) is not "
            "supported: debiased averaging needs an l2 term (finite C)."
        )
    if not C > 0:
        raise ValueError(
            f"LogisticRegression C must be > 0 (got C={C}); the l2 strength "
            "is alpha = 1 / C."
        )
    return 1.0 / float(C)


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
    return _regularization(estimator), bool(params["fit_intercept"])


def _logistic_problem(estimator):
    """``(alpha, fit_intercept)`` of the wrapped LogisticRegression (``alpha =
    1 / C``), or an error."""
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
    if penalty == "deprecated":  # scikit-learn >= 1.8: the penalty is l1_ratio
        penalty = "l2" if not l1_ratio else "l1" if l1_ratio == 1 else "elasticnet"
    if penalty is None or not np.isfinite(params["C"]):
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
    return _regularization(estimator), bool(params["fit_intercept"])


def _seed_sequence(random_state):
    """Root ``SeedSequence`` of the workers' streams."""
    if random_state is None:
        return np.random.SeedSequence()
    if isinstance(random_state, Integral):
        return np.random.SeedSequence(int(random_state))
    return np.random.SeedSequence(
        int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    )
