"""Cross-validated estimators: one mixin picks ``alpha`` along a regularization path.

Modelled on scikit-learn's ``LinearModelCV`` (LassoCV): a grid of ``alpha``
from the data's ``alpha_max`` down to ``eps * alpha_max``, one warm-started
path per fold (:func:`sklearn_convexnn.paths.regularization_path`), the score
of every path network on its held-out fold, and a refit at the best alpha on
all the data.

Each CV estimator is a subclass of the mixin and of the estimator it tunes,
so it predicts like it. Its parameters are the tuned estimator's (minus
``alpha`` and ``warm_start``) plus the CV ones; ``__init__`` is built from the
tuned estimator's signature when the class is defined, so a parameter added
to the estimator reaches its CV version without a second edit.
"""

import inspect
import warnings
from numbers import Integral, Real

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import clone, is_classifier
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.utils import _safe_indexing
from sklearn.utils._param_validation import Interval
from sklearn.utils.parallel import Parallel, delayed
from sklearn.utils.validation import _check_sample_weight, check_array, column_or_1d

from ._progress import Progress
from .cnn import ConvexCNNClassifier, ConvexCNNRegressor
from .paths import alpha_grid, fixed_draws, regularization_path
from .polynet import ConvexPolyNetClassifier, ConvexPolyNetRegressor
from .quantized import QuantizedSDPClassifier, QuantizedSDPRegressor
from .relu import ConvexReLUClassifier, ConvexReLURegressor

__all__ = [
    "ConvexCNNClassifierCV",
    "ConvexCNNRegressorCV",
    "ConvexPolyNetClassifierCV",
    "ConvexPolyNetRegressorCV",
    "ConvexReLUClassifierCV",
    "ConvexReLURegressorCV",
    "LiftedNetworkCVMixin",
    "QuantizedSDPClassifierCV",
    "QuantizedSDPRegressorCV",
    "smoothed_scores",
]

#: Parameters of the CV search and their defaults (LassoCV's eps; 20 values,
#: a step of 0.16 decade, fine enough for the smoothing below to act).
CV_DEFAULTS = {
    "alphas": None,
    "n_alphas": 20,
    "eps": 1e-3,
    "cv": None,
    "scoring": None,
    "n_jobs": None,
    "refit": True,
}
#: alpha_ maximizes the mean CV score averaged over the grid values within
#: this many decades of each alpha (its neighbours on the default grid, none
#: on a grid coarser than that): held-out accuracy moves in steps of one
#: sample, and the smoothed curve is less noisy to maximize. Measured by
#: benchmarks/bench_path.py over three outer shuffles (issue 13).
SMOOTH_DECADES = 1 / 6
#: Default number of (stratified) folds of ConvexPolyNetClassifierCV, for
#: 2.4x the CPU time of 5 (one fit on breast_cancer: 9.7 s vs 4.0 s). On
#: breast_cancer, in nested CV over three outer shuffles, outer accuracy
#: minus LogisticRegressionCV's goes from -0.0070/-0.0035/-0.0018 (5 folds)
#: to -0.0035/-0.0000/-0.0018 (10 folds), and 4 of the 6 accuracy-based
#: selection rules replayed by benchmarks/study_cv_selection.py meet issue
#: 13's -0.005 on every shuffle with 10 folds, none with 5 (neg_log_loss
#: does no better). The fold networks see 90% of the rows instead of 80%,
#: closer to the refit.
POLYNET_CLASSIFIER_FOLDS = 10
_POLYNET_CLASSIFIER_FOLDS_DOC = """
        The default of 10 stratified folds (scikit-learn's CV estimators
        take 5) costs 2.4 times the CPU time of 5; it was chosen on
        breast_cancer, where nested CV against LogisticRegressionCV over
        three outer shuffles gains 0.0023 of accuracy on average (the fold
        networks see 90% of the rows instead of 80%; see
        benchmarks/study_cv_selection.py)."""
#: Parameters of the tuned estimator that the CV version does not take.
_NOT_FORWARDED = ("alpha", "warm_start")


class LiftedNetworkCVMixin:
    """Cross-validation of ``alpha`` for a lifted-network estimator.

    A subclass lists the mixin first and the tuned estimator second::

        class ConvexPolyNetRegressorCV(LiftedNetworkCVMixin, ConvexPolyNetRegressor):
            ...

    and gets ``__init__`` and ``_parameter_constraints`` from both.
    """

    _cv_parameter_constraints = {
        "alphas": ["array-like", None],
        "n_alphas": [Interval(Integral, 1, None, closed="left")],
        "eps": [Interval(Real, 0, 1, closed="right")],
        "cv": ["cv_object"],
        "scoring": [str, callable, None],
        "n_jobs": [Integral, None],
        "refit": ["boolean"],
    }
    #: A subclass's own defaults for the CV parameters (over CV_DEFAULTS).
    _cv_defaults = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        tuned = cls._tuned_class()
        sig = inspect.signature(tuned.__init__)
        forwarded = {
            name: p.default for name, p in sig.parameters.items()
            if name != "self" and name not in _NOT_FORWARDED
        }
        defaults = {**CV_DEFAULTS, **cls._cv_defaults, **forwarded}
        cls.__init__ = _make_init(cls.__name__, defaults)
        if cls.__doc__ and _FORWARDED in cls.__doc__:
            cls.__doc__ = cls.__doc__.replace(_FORWARDED, _forwarded_doc(tuned, forwarded))
        cls._parameter_constraints = {
            **{k: v for k, v in tuned._parameter_constraints.items() if k in forwarded},
            **cls._cv_parameter_constraints,
        }
        if "sample_weight" not in inspect.signature(tuned.fit).parameters:
            # The tuned estimator has no sample weights yet: neither has its CV.
            def fit(self, X, y):
                return LiftedNetworkCVMixin.fit(self, X, y)

            fit.__doc__ = LiftedNetworkCVMixin.fit.__doc__.split("        sample_weight")[0] \
                + LiftedNetworkCVMixin.fit.__doc__[
                    LiftedNetworkCVMixin.fit.__doc__.index("\n        Returns"):]
            fit.__qualname__ = f"{cls.__name__}.fit"
            cls.fit = fit

    @classmethod
    def _tuned_class(cls):
        """The estimator class this CV version tunes (first non-mixin base)."""
        return next(b for b in cls.__mro__[1:]
                    if b is not LiftedNetworkCVMixin and "fit" in vars(b))

    def _tuned_estimator(self):
        tuned = self._tuned_class()
        names = [n for n in inspect.signature(tuned.__init__).parameters
                 if n != "self" and n not in _NOT_FORWARDED]
        return tuned(**{n: getattr(self, n) for n in names})

    def fit(self, X, y, sample_weight=None):
        """Pick ``alpha`` by cross-validation, then refit on all the data.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training samples.
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets (class labels for a classifier).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the data term, used by every fit, by the default
            grid's alpha_max and by the held-out scores.

        Returns
        -------
        self : object
        """
        self._validate_params()
        classifier = is_classifier(self)
        X, y = self._validate_X_y(
            X, y, dtype=np.float64, multi_output=not classifier, y_numeric=not classifier,
        )
        if getattr(self, "formulation", "sdp") == "relu-relaxation":
            raise ValueError(
                f"{type(self).__name__} tunes alpha, which only formulation='sdp' has; got "
                f"formulation={self.formulation!r}."
            )
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        # One draw of gates / rounding seeds for the whole search.
        base = fixed_draws(self._tuned_estimator())
        if self.alphas is None:
            alphas = alpha_grid(base, X, y, n_alphas=self.n_alphas, eps=self.eps,
                                sample_weight=sample_weight)
        else:
            alphas = np.sort(column_or_1d(check_array(self.alphas, ensure_2d=False,
                                                      dtype=np.float64)))[::-1]
            if alphas.size == 0 or np.any(alphas < 0):
                raise ValueError(
                    f"alphas must be a non-empty list of non-negative floats; got "
                    f"{self.alphas!r}."
                )
        splitter = check_cv(self.cv, y, classifier=classifier)
        folds = list(splitter.split(X, y))
        scorer = check_scoring(base, scoring=self.scoring)
        n_jobs = min(effective_n_jobs(self.n_jobs), len(folds))
        progress = Progress(len(folds), type(self).__name__, "fold",
                            getattr(self, "verbose", 0))
        scores = []
        for fold_scores in Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(_path_scores)(base, X, y, sample_weight, train, test, alphas, scorer)
            for train, test in folds
        ):
            scores.append(fold_scores)
            best_here = int(np.nanargmax(fold_scores)) if np.any(np.isfinite(fold_scores)) \
                else 0
            progress.step(f"best alpha on this fold {alphas[best_here]:.4g} "
                          f"(score {fold_scores[best_here]:.4g})")
        scores = np.array(scores)  # (n_folds, n_alphas)
        mean, std = scores.mean(axis=0), scores.std(axis=0)
        smooth = smoothed_scores(alphas, mean)
        # Ties go to the larger alpha (the first): the simpler network.
        best = int(np.flatnonzero(smooth == np.nanmax(smooth))[0]) \
            if np.any(np.isfinite(smooth)) else 0

        fitted = None
        if self.refit:
            fitted = clone(base).set_params(alpha=float(alphas[best]))
            fitted.fit(X, y, **({} if sample_weight is None else
                                {"sample_weight": sample_weight}))
        if fitted is not None:
            params = set(fitted.get_params())
            for name, value in vars(fitted).items():
                if name not in params:
                    setattr(self, name, value)
        self.alphas_ = alphas
        self.alpha_ = float(alphas[best])
        self.best_index_ = best
        self.best_score_ = float(mean[best])
        self.cv_results_ = {
            "alphas": alphas,
            "mean_test_score": mean,
            "std_test_score": std,
            "smoothed_test_score": smooth,
            "rank_test_score": _rank(smooth),
            **{f"split{i}_test_score": s for i, s in enumerate(scores)},
        }
        self.n_splits_ = len(folds)
        return self


def smoothed_scores(alphas, mean, decades=SMOOTH_DECADES):
    """Mean of ``mean`` over the alphas within ``decades`` of each alpha (log scale).

    Parameters
    ----------
    alphas : ndarray of shape (n_alphas,)
        The grid (non-negative).
    mean : ndarray of shape (n_alphas,)
        Mean CV score per alpha (NaN for failed fits, skipped).
    decades : float, default=SMOOTH_DECADES
        Half-width of the window in decades of alpha.

    Returns
    -------
    smoothed : ndarray of shape (n_alphas,)

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn._cv import smoothed_scores
    >>> alphas = np.array([1.0, 0.5, 0.25, 0.01])
    >>> smoothed_scores(alphas, np.array([0.8, 0.9, 1.0, 0.7]), decades=0.31)
    array([0.85, 0.9 , 0.95, 0.7 ])
    """
    logs = np.log10(np.maximum(np.asarray(alphas, dtype=float), np.finfo(float).tiny))
    near = np.abs(logs[:, None] - logs[None, :]) <= decades * (1 + 1e-9)
    values = np.where(near, np.asarray(mean, dtype=float)[None, :], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN window stays NaN
        return np.nanmean(values, axis=1)


def _path_scores(base, X, y, sample_weight, train, test, alphas, scorer):
    """Scores on the held-out rows of every network of the training rows' path."""
    sw_train = sw_test = None
    if sample_weight is not None:
        sw_train, sw_test = sample_weight[train], sample_weight[test]
    path = regularization_path(base, _safe_indexing(X, train), _safe_indexing(y, train),
                               alphas=alphas, sample_weight=sw_train)
    X_test, y_test = _safe_indexing(X, test), _safe_indexing(y, test)
    kwargs = {} if sw_test is None else {"sample_weight": sw_test}
    return [scorer(est, X_test, y_test, **kwargs) for est in path.estimators]


def _rank(mean):
    """Rank 1 for the best mean score (ties share the lowest rank)."""
    order = np.argsort(-np.nan_to_num(mean, nan=-np.inf), kind="stable")
    ranks = np.empty(len(mean), dtype=int)
    ranks[order] = np.arange(1, len(mean) + 1)
    return ranks


def _make_init(class_name, defaults):
    """An ``__init__`` storing ``defaults``'s keyword-only parameters as given.

    scikit-learn reads the parameters from ``inspect.signature(__init__)``,
    which reports the ``__signature__`` set here.
    """

    def __init__(self, **params):
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise TypeError(f"{class_name}.__init__() got unexpected keyword argument(s) "
                            f"{', '.join(map(repr, unknown))}")
        for name, default in defaults.items():
            setattr(self, name, params.get(name, default))

    __init__.__signature__ = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default)
           for name, default in defaults.items()]
    )
    __init__.__qualname__ = f"{class_name}.__init__"
    return __init__


# ------------------------------------------------------------- the classes
#: Placeholder in a CV class docstring, replaced at class creation by the
#: tuned estimator's own Parameters entries for the forwarded parameters.
_FORWARDED = "    <forwarded parameters>\n"


def _parameter_entries(doc):
    """``{name: entry text}`` of the Parameters section of a numpydoc docstring.

    The entry text is the ``name : type`` line and its description, without
    indentation of the first level (as ``inspect.cleandoc`` gives it).
    """
    if not doc:
        return {}
    lines = inspect.cleandoc(doc).splitlines()
    try:
        start = next(i for i in range(len(lines) - 1)
                     if lines[i].strip() == "Parameters" and set(lines[i + 1].strip()) == {"-"})
    except StopIteration:
        return {}
    entries, name = {}, None
    for i in range(start + 2, len(lines)):
        line = lines[i]
        if i + 1 < len(lines) and line.strip() and set(lines[i + 1].strip()) == {"-"} \
                and not line.startswith(" "):
            break  # the next section
        if line.strip() and not line.startswith(" "):
            name = line.split(":")[0].strip()
            entries[name] = [line]
        elif name is not None and line.strip():
            entries[name].append(line)
    return {k: "\n".join(v) for k, v in entries.items()}


def _forwarded_doc(tuned, forwarded):
    """The Parameters entries of ``forwarded`` (name -> default), from ``tuned``'s docstring.

    A parameter the tuned docstring does not describe gets a pointer to it,
    so the section always lists exactly the forwarded parameters.
    """
    entries = _parameter_entries(tuned.__doc__)
    out = []
    for name, default in forwarded.items():
        entry = entries.get(name) or (
            f"{name} : object, default={default!r}\n    See :class:`{tuned.__name__}`."
        )
        out.extend("    " + line for line in entry.splitlines())
    return "\n".join(out) + "\n"

_CV_PARAMS_DOC = """
    Parameters
    ----------
    alphas : array-like, default=None
        Values of ``alpha`` to try. ``None``: ``n_alphas`` values from the
        data's alpha_max (the smallest alpha whose network has no neuron,
        :func:`sklearn_convexnn.paths.alpha_max`) down to
        ``eps * alpha_max``, log-spaced, so the grid follows the scale of
        the targets and the loss.
    n_alphas : int, default=20
        Number of values in the default grid (ignored when ``alphas`` is
        given).
    eps : float, default=1e-3
        Ratio of the smallest to the largest alpha of the default grid.
    cv : int, cross-validation generator or iterable, default={cv_default}
        As in :func:`sklearn.model_selection.check_cv`: an int is that many
        folds, ``None`` 5 (stratified for classifiers).{cv_reason}
    scoring : str or callable, default=None
        Score to maximize on the held-out folds; ``None`` is the
        estimator's ``score`` ({score}).
    n_jobs : int, default=None
        Folds run in parallel through joblib.
    refit : bool, default=True
        Refit the network at the best alpha on all the data (needed to
        predict).
{forwarded}
    Attributes
    ----------
    alpha_ : float
        The chosen alpha: best mean score once averaged with the grid
        values within ``SMOOTH_DECADES`` (1/6) decade of it (the neighbours
        on the default grid; no smoothing on grids coarser than that), which
        damps the one-sample steps of held-out accuracy; ties go to the
        larger alpha.
    alphas_ : ndarray of shape (n_alphas,)
        The grid, decreasing.
    cv_results_ : dict of ndarrays
        ``alphas``, ``mean_test_score``, ``std_test_score``,
        ``smoothed_test_score`` (what ``alpha_`` maximizes),
        ``rank_test_score`` (by the smoothed score) and
        ``split{{i}}_test_score``, one entry per alpha.
    best_index_ : int
        Index of ``alpha_`` in ``alphas_``.
    best_score_ : float
        Mean cross-validated score at ``alpha_``.
    n_splits_ : int
    hidden_weights_, output_weights_, intercept_, n_neurons_, objective_, lower_bound_ : \
see :class:`{tuned}`
        The refitted network's attributes (with ``refit=True``), and the
        others of :class:`{tuned}` ({extra}``dual_gap_``, ``n_iter_``,
        ``solver_``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X has feature names that are all strings.

    See Also
    --------
    {tuned} : the network at one alpha.
    sklearn_convexnn.paths.regularization_path : the path each fold computes.
    sklearn.linear_model.LassoCV : the same search for the lasso.

    References
    ----------
    {reference}
"""

_LIFTED_REFERENCE = """Bartan, B. and Pilanci, M. (2021). Neural Spectrahedra and Semidefinite
    Lifts: Global Convex Optimization of Polynomial Activation Neural
    Networks in Fully Polynomial-Time. arXiv:2101.02429."""
_RELU_REFERENCE = """Pilanci, M. and Ergen, T. (2020). Neural Networks are Convex
    Regularizers: Exact Polynomial-time Convex Optimization Formulations for
    Two-layer Networks. ICML 2020."""


def _doc(title, tuned, score, extra, example, reference=_LIFTED_REFERENCE, cv_default=None,
         cv_reason=""):
    return f"""{title}

    ``alpha`` is chosen among a grid running down from the data's alpha_max
    by k-fold cross-validation: on every fold a warm-started regularization
    path is fitted and each of its networks scored on the held-out rows; the
    alpha with the best mean score (smoothed over its neighbours on the log
    grid) is refitted on all the data.

    The other parameters are those of :class:`{tuned}` except ``alpha``
    and ``warm_start``, with the same defaults and meaning; each is used for
    every fit.
{_CV_PARAMS_DOC.format(tuned=tuned, score=score, extra=extra, forwarded=_FORWARDED,
                       reference=reference, cv_default=cv_default, cv_reason=cv_reason)}
    Examples
    --------
{example}"""


class ConvexPolyNetRegressorCV(LiftedNetworkCVMixin, ConvexPolyNetRegressor):
    __doc__ = _doc(
        "Two-layer polynomial regression network with alpha chosen by cross-validation.",
        "ConvexPolyNetRegressor", "R^2", "",
        """    >>> from sklearn.datasets import load_diabetes
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_convexnn import ConvexPolyNetRegressorCV
    >>> X, y = load_diabetes(return_X_y=True)
    >>> model = make_pipeline(StandardScaler(), ConvexPolyNetRegressorCV(n_alphas=5, cv=3))
    >>> bool(cross_val_score(model, X[:150], y[:150], cv=3).mean() > 0.3)
    True
    >>> reg = model.fit(X[:150], y[:150])[-1]
    >>> bool(reg.alphas_[-1] <= reg.alpha_ <= reg.alphas_[0])
    True
""")


class ConvexPolyNetClassifierCV(LiftedNetworkCVMixin, ConvexPolyNetClassifier):
    _cv_defaults = {"cv": POLYNET_CLASSIFIER_FOLDS}
    __doc__ = _doc(
        "Two-layer polynomial classification network with alpha chosen by cross-validation.",
        "ConvexPolyNetClassifier", "accuracy", "``classes_``, ",
        """    >>> from sklearn.datasets import load_iris
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_convexnn import ConvexPolyNetClassifierCV
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = make_pipeline(StandardScaler(), ConvexPolyNetClassifierCV(n_alphas=5, cv=3))
    >>> bool(clf.fit(X, y).score(X, y) > 0.9)
    True
    >>> clf[-1].cv_results_["mean_test_score"].shape
    (5,)
""", cv_default=POLYNET_CLASSIFIER_FOLDS, cv_reason=_POLYNET_CLASSIFIER_FOLDS_DOC)


class QuantizedSDPRegressorCV(LiftedNetworkCVMixin, QuantizedSDPRegressor):
    __doc__ = _doc(
        "Quantized-weight regression network with alpha chosen by cross-validation.",
        "QuantizedSDPRegressor", "R^2", "``optimality_gap_``, ",
        """    >>> from sklearn_convexnn import QuantizedSDPRegressorCV
    >>> from sklearn_convexnn.datasets import make_planted_quantized
    >>> X, y = make_planted_quantized(80, 4, n_neurons=2, random_state=0)
    >>> reg = QuantizedSDPRegressorCV(n_alphas=4, cv=3, random_state=0).fit(X, y)
    >>> bool(reg.score(X, y) > 0.9)
    True
""")


class QuantizedSDPClassifierCV(LiftedNetworkCVMixin, QuantizedSDPClassifier):
    __doc__ = _doc(
        "Quantized-weight classification network with alpha chosen by cross-validation.",
        "QuantizedSDPClassifier", "accuracy", "``classes_``, ``optimality_gap_``, ",
        """    >>> from sklearn.datasets import load_iris
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_convexnn import QuantizedSDPClassifierCV
    >>> X, y = load_iris(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = QuantizedSDPClassifierCV(n_alphas=3, cv=3, loss="squared", random_state=0)
    >>> bool(clf.fit(X, y).score(X, y) > 0.8)
    True
""")


class ConvexCNNRegressorCV(LiftedNetworkCVMixin, ConvexCNNRegressor):
    __doc__ = _doc(
        "Convolutional regression network (SDP formulation) with alpha chosen by "
        "cross-validation.",
        "ConvexCNNRegressor", "R^2", "``filters_``, ``filter_regions_``, ",
        """    >>> from sklearn_convexnn import ConvexCNNRegressorCV
    >>> from sklearn_convexnn.datasets import make_planted_cnn
    >>> X, y = make_planted_cnn(60, (4, 4), (2, 2), stride=2, random_state=0)
    >>> reg = ConvexCNNRegressorCV(image_shape=(4, 4), patch_shape=(2, 2), stride=2,
    ...                            n_alphas=3, cv=3).fit(X, y)
    >>> reg.filters_.shape[1]
    4
""")


class ConvexCNNClassifierCV(LiftedNetworkCVMixin, ConvexCNNClassifier):
    __doc__ = _doc(
        "Convolutional classification network (SDP formulation) with alpha chosen by "
        "cross-validation.",
        "ConvexCNNClassifier", "accuracy", "``classes_``, ``filters_``, ",
        """    >>> from sklearn.datasets import load_digits
    >>> from sklearn_convexnn import ConvexCNNClassifierCV
    >>> X, y = load_digits(n_class=2, return_X_y=True)
    >>> clf = ConvexCNNClassifierCV(image_shape=(8, 8), patch_shape=(3, 3), stride=3,
    ...                             pool_regions=(1, 1), loss="squared", n_alphas=3, cv=2)
    >>> bool(clf.fit(X[:60] / 16, y[:60]).score(X[60:120] / 16, y[60:120]) > 0.9)
    True
""")


class ConvexReLURegressorCV(LiftedNetworkCVMixin, ConvexReLURegressor):
    __doc__ = _doc(
        "Convex ReLU regression network with alpha chosen by cross-validation.",
        "ConvexReLURegressor", "R^2", "``gates_``, ",
        """    >>> import numpy as np
    >>> from sklearn_convexnn import ConvexReLURegressorCV
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((120, 3))
    >>> y = np.maximum(X @ [1.0, -2.0, 0.5], 0) + 0.1 * rng.standard_normal(120)
    >>> reg = ConvexReLURegressorCV(n_gates=30, n_alphas=5, cv=3, random_state=0).fit(X, y)
    >>> bool(reg.alphas_[-1] <= reg.alpha_ <= reg.alphas_[0])
    True
    >>> bool(reg.score(X, y) > 0.9)
    True
""", _RELU_REFERENCE)


class ConvexReLUClassifierCV(LiftedNetworkCVMixin, ConvexReLUClassifier):
    __doc__ = _doc(
        "Convex ReLU classification network with alpha chosen by cross-validation.",
        "ConvexReLUClassifier", "accuracy", "``classes_``, ``gates_``, ",
        """    >>> from sklearn.datasets import load_iris
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_convexnn import ConvexReLUClassifierCV
    >>> X, y = load_iris(return_X_y=True)
    >>> X = StandardScaler().fit_transform(X)
    >>> clf = ConvexReLUClassifierCV(n_gates=20, n_alphas=4, eps=1e-2, cv=3,
    ...                              random_state=0)
    >>> bool(clf.fit(X, y).score(X, y) > 0.9)
    True
""", _RELU_REFERENCE)
