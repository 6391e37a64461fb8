"""One-hidden-layer convolutional networks trained by convex programs.

A convolutional layer applies each filter ``u`` to every patch ``P_k x`` of
an image, pools the activations of the patch positions of one pooling region
with fixed weights, and the output layer combines the pooled values::

    f(x) = sum_j v_j sum_{k in region(j)} a_k sigma(u_j . P_k x) + b

Two convex formulations:

* :class:`ConvexCNNRegressor` / :class:`ConvexCNNClassifier`: polynomial
  activation ``sigma(t) = a t^2 + b t + c``, unit-norm filters, l1 penalty
  on the output weights ``v``. The training problem equals a semidefinite
  program over one pair of PSD matrices of size ``patch_size + 1`` per
  (output, pooling region) — the lifted model of ``_solvers.lifted.lifted``
  fed the pooled patches — so its global optimum is found and the filters
  are recovered by neural decomposition, with a certified duality gap.
* :class:`ReLURelaxationCNNRegressor` (regression only): one ReLU filter with
  the output weights fixed to the pooling weights. The filters that do not
  overshoot any target form a polyhedron; maximizing a linear anchor over it
  (an LP, or an SOCP with a squared slack for noisy targets) recovers a
  planted filter exactly once ``n / patch_size`` is large enough (Bartan &
  Pilanci, ICASSP 2019).

Images arrive as rows of ``X``: see ``image_shape``.
"""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

from ._base import (
    BaseLiftedNetwork,
    LiftedClassifierMixin,
    LiftedRegressorMixin,
    ProblemSize,
)
from ._docstrings import (
    ALPHA_DOC,
    COMMON_PARAMS_DOC,
    EXTRAPOLATION_DOC,
    REF_CNN_RELAXATION,
    REF_SPECTRAHEDRA,
    REGRESSOR_ALPHA_DOC,
    WARM_START_DOC,
)
from ._solvers.lifted.memory import estimate_relu_relaxation_bytes, format_bytes
from ._solvers.lifted.patches import POOLINGS, patch_blocks, resolve_geometry
from ._solvers.lifted.relu_relaxation import relu_pooled_output, solve_relu_relaxation
from .exceptions import ProblemTooLargeError

__all__ = ["ConvexCNNClassifier", "ConvexCNNRegressor", "ReLURelaxationCNNRegressor"]

_GEOMETRY_DOC = """
    image_shape : tuple (H, W) or (H, W, C), default=None
        How to read a row of X as an image: row-major, channels last (pixel
        ``(h, w, c)`` is column ``(h * W + w) * C + c``; a flattened
        ``(n, H, W)`` or ``(n, H, W, C)`` array). ``H * W * C`` must equal
        ``n_features``. ``None`` reads a row as a single-channel image of one
        row, ``(1, n_features)``: a 1-D signal, so generic tabular input
        works (patches then are windows of adjacent columns).
    patch_shape : tuple (ph, pw), default=None
        Shape of a filter; a filter has ``ph * pw * C`` weights. ``None`` is
        (3, 3) reduced to the image where the image is smaller (so (1, 3)
        for the default 1-row image).
    stride : int or tuple (sh, sw), default=1
        Step between patch positions (no padding).
    pooling : {"average", "sum"}, default="average"
        Fixed pooling weights over the positions of a region: ``1 / size``
        or 1.
    pool_regions : tuple (gh, gw), default=None
        The grid of patch positions is cut into ``gh x gw`` near-equal
        rectangles, each pooled separately (``(1, 1)`` is global pooling,
        blind to where a pattern sits). ``None`` is (2, 2) reduced to the
        grid of positions where it is smaller."""

_FITTED_GEOMETRY_DOC = """
    image_shape_ : tuple (H, W, C)
        The resolved image shape.
    patch_shape_ : tuple (ph, pw)
        The resolved patch shape.
    pool_regions_ : tuple (gh, gw)
        The resolved grid of pooling regions.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of str
        Defined when X has feature names that are all strings."""

_FITTED_SDP_DOC = """
    filters_ : ndarray of shape (n_filters, patch_size)
        First-layer filters, one unit-norm row per filter.
    hidden_weights_ : ndarray of shape (n_filters, patch_size)
        The same array as ``filters_`` (the name the other estimators use).
    filter_regions_ : ndarray of shape (n_filters,)
        Pooling region of each filter (regions are numbered row-major over
        the ``pool_regions`` grid).
    n_neurons_ : int
        Number of filters.
    objective_ : float
        Training objective of the fitted network: loss plus ``alpha`` times
        the l1 norm of the output weights.
    lower_bound_ : float
        Certified lower bound on the optimal objective over networks of this
        kind and any width.
    dual_gap_ : float
        ``objective_ - lower_bound_``.
    n_iter_ : int
        Solver iterations.
    solver_ : str
        The solver that produced the network, e.g. "cvxpy/CLARABEL".""" + _FITTED_GEOMETRY_DOC

_CONV_CONSTRAINTS = {
    "image_shape": [tuple, list, None],
    "patch_shape": [tuple, list, None],
    "stride": [Interval(Integral, 1, None, closed="left"), tuple, list],
    "pooling": [StrOptions(set(POOLINGS))],
    "pool_regions": [tuple, list, None],
}

_SDP_CONSTRAINTS = {
    **BaseLiftedNetwork._parameter_constraints,
    **_CONV_CONSTRAINTS,
    "warm_start": ["boolean"],
    "random_state": [StrOptions({"deprecated"}), "random_state"],
}


def _geometry_attributes(geometry):
    return {"_geometry": geometry, "image_shape_": geometry.image_shape,
            "patch_shape_": geometry.patch_shape, "pool_regions_": geometry.pool_regions}


class _ConvexCNNMixin:
    """Geometry, blocks and sizes shared by the SDP estimators."""

    def _make_blocks(self, X, geometry=None, sample_weight=None):
        # sample_weight: only the classifier's input_scale="auto" reads it.
        if geometry is None:
            # Prediction: the fitted network reads images times ``input_scale_``
            # (fit hands over the scaled images with their geometry).
            X = X * getattr(self, "input_scale_", 1.0)
            geometry = self._geometry
        return patch_blocks(X, geometry)

    def _problem_size(self, X, n_outputs, geometry=None):
        g = self._geometry if geometry is None else geometry
        return ProblemSize(X.shape[0], X.shape[0] * g.n_positions,
                           (g.patch_size,) * g.n_regions, n_outputs)

    def _set_network(self, neurons, weights, block_index, intercept):
        super()._set_network(neurons, weights, block_index, intercept)
        self.filters_ = self.hidden_weights_
        self.filter_regions_ = np.asarray(block_index, dtype=int)

    def _warn_deprecated(self):
        if not (isinstance(self.random_state, str) and self.random_state == "deprecated"):
            warnings.warn(
                f"random_state has no effect on {type(self).__name__} (its solvers are "
                f"deterministic) and is deprecated; it will be removed in 0.3.",
                FutureWarning, stacklevel=3,
            )


class ConvexCNNRegressor(_ConvexCNNMixin, LiftedRegressorMixin, BaseLiftedNetwork):
    __doc__ = f"""One-hidden-layer convolutional regression network, globally optimal.

    ``f(x) = sum_j v_j sum_(k in region j) a_k sigma(u_j . P_k x) + b``:
    filters ``u_j`` slide over the patches ``P_k x`` of the image, the
    activations are pooled with fixed weights ``a_k`` over pooling regions,
    and the output layer ``v`` combines the pooled values. The l1-penalized
    training problem with polynomial activation is solved to global
    optimality (an SDP, one pair of PSD matrices of size ``patch_size + 1``
    per pooling region and output) and the filters recovered by neural
    decomposition [1]_.

    Parameters
    ----------
{_GEOMETRY_DOC}
    formulation : {{"sdp", "relu-relaxation"}}, default="sdp"
        Deprecated: "relu-relaxation" fits :class:`ReLURelaxationCNNRegressor`
        (with ``anchor`` and ``slack_weight``) and raises a ``FutureWarning``;
        the parameter will be removed in 0.3.
    loss : {{"squared", "absolute", "huber"}}, default="squared"
        Data term, averaged over samples.
    huber_delta : float, default=1.0
        Threshold of the Huber loss.
    anchor : "auto" or array-like of shape (patch_size,), default="auto"
        Deprecated with ``formulation``; see :class:`ReLURelaxationCNNRegressor`.
    slack_weight : float, default=None
        Deprecated with ``formulation``; see :class:`ReLURelaxationCNNRegressor`.
{REGRESSOR_ALPHA_DOC}
{COMMON_PARAMS_DOC}
{WARM_START_DOC}
{EXTRAPOLATION_DOC}

    Attributes
    ----------
    output_weights_ : ndarray of shape (n_filters,) or (n_filters, n_outputs)
        Second-layer weight of each filter's pooled activation.
    intercept_ : float or ndarray of shape (n_outputs,)
        Output bias.
{_FITTED_SDP_DOC}

    See Also
    --------
    ConvexCNNClassifier : The same network for classes.
    ReLURelaxationCNNRegressor : One ReLU filter with fixed output weights, by an LP.
    ConvexPolyNetRegressor : The dense (non-convolutional) network.

    References
    ----------
{REF_SPECTRAHEDRA}

    Examples
    --------
    >>> from sklearn_convexnn import ConvexCNNRegressor
    >>> from sklearn_convexnn.datasets import make_planted_cnn
    >>> X, y = make_planted_cnn(60, (6, 6), (2, 2), stride=2, random_state=0)
    >>> reg = ConvexCNNRegressor(image_shape=(6, 6), patch_shape=(2, 2), alpha=1e-3)
    >>> reg = reg.fit(X, y)
    >>> reg.filters_.shape[1], reg.pool_regions_
    (4, (2, 2))
    >>> bool(reg.objective_ - reg.lower_bound_ < 1e-4 * reg.objective_)
    True
    """

    _parameter_constraints = {
        **_SDP_CONSTRAINTS,
        "formulation": [StrOptions({"sdp", "relu-relaxation"})],
        "loss": [StrOptions({"squared", "absolute", "huber"})],
        "huber_delta": [Interval(Real, 0, None, closed="neither")],
        "anchor": [StrOptions({"auto"}), "array-like"],
        "slack_weight": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(self, *, image_shape=None, patch_shape=None, stride=1, pooling="average",
                 pool_regions=None, formulation="sdp", loss="squared", huber_delta=1.0,
                 anchor="auto", slack_weight=None, alpha="auto", activation="relu-approx",
                 fit_intercept=True, solver="auto", cvxpy_solver=None,
                 max_iter=500, tol=1e-4, memory_limit=4.0, verbose=0,
                 random_state="deprecated", warm_start=False, extrapolation="clip"):
        self.image_shape = image_shape
        self.patch_shape = patch_shape
        self.stride = stride
        self.pooling = pooling
        self.pool_regions = pool_regions
        self.formulation = formulation
        self.loss = loss
        self.alpha = alpha
        self.activation = activation
        self.fit_intercept = fit_intercept
        self.huber_delta = huber_delta
        self.anchor = anchor
        self.slack_weight = slack_weight
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
        """Fit the network to images.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One flattened image per row (see ``image_shape``).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample's loss term.

        Returns
        -------
        self : object
            The fitted estimator. A failed fit leaves the previous model
            (or the unfitted estimator) untouched.
        """
        self._warn_deprecated()
        if self.formulation == "relu-relaxation":
            return self._fit_deprecated_relaxation(X, y, sample_weight)
        with self._fit_transaction():
            X, y = self._validate_X_y(X, y, multi_output=True, y_numeric=True,
                                      dtype=np.float64)
            geometry = resolve_geometry(self, X.shape[1])
            return self._fit_targets(X, y, sample_weight, geometry=geometry,
                                     _relaxation=None, **_geometry_attributes(geometry))

    def _fit_deprecated_relaxation(self, X, y, sample_weight):
        warnings.warn(
            "formulation='relu-relaxation' is deprecated and will be removed in 0.3; use "
            "ReLURelaxationCNNRegressor (same geometry, anchor and slack_weight).",
            FutureWarning, stacklevel=3,
        )
        relaxation = ReLURelaxationCNNRegressor(
            image_shape=self.image_shape, patch_shape=self.patch_shape, stride=self.stride,
            pooling=self.pooling, pool_regions=self.pool_regions, anchor=self.anchor,
            slack_weight=self.slack_weight, cvxpy_solver=self.cvxpy_solver,
            max_iter=self.max_iter, memory_limit=self.memory_limit, verbose=self.verbose,
        ).fit(X, y, sample_weight)
        # The old attribute surface of the relaxation, for the deprecation window.
        state = {k: v for k, v in vars(relaxation).items() if k.endswith("_")
                 or k == "_geometry"}
        state.update(hidden_weights_=relaxation.filters_, filter_regions_=np.array([-1]),
                     output_weights_=np.ones(1), intercept_=0.0, n_neurons_=1,
                     lower_bound_=np.nan, dual_gap_=np.nan, _relaxation=relaxation,
                     _single_output=True, _block_index=np.zeros(1, dtype=int))
        for name, value in state.items():
            setattr(self, name, value)
        return self

    def _network_output(self, X):
        check_is_fitted(self, "filters_")
        if getattr(self, "_relaxation", None) is not None:
            validate_data(self, X, reset=False)
            return self._relaxation.predict(X)[:, None]
        return super()._network_output(X)


def _replace_param(doc, name, new):
    """``doc`` with the numpydoc entry of parameter ``name`` replaced by ``new``."""
    lines = doc.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(f"    {name} :"))
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].startswith("    ") and not lines[i].startswith("     ")),
               len(lines))
    return "\n".join(lines[:start] + new.strip("\n").split("\n") + lines[end:])


#: The classifier's defaults, measured on digits by benchmarks/bench_cnn.py
#: (2x2 regions, multinomial loss, 3 split seeds x {X/16, StandardScaler}):
#: alpha=1e-4 (about 3e-4 of alpha_max at input_scale="auto"; measured at
#: input RMS 1 only: 3e-4 lost 0.5 point of accuracy on average, 1e-5 gained
#: 0.3 point at up to 4x the time); tol=1e-3 (the test accuracies at 1e-3
#: and 1e-4 were identical on all six cases, at input RMS 1 and 2; the last
#: decade of the gap took 43% of the polish evaluations on split seed 1,
#: StandardScaler, at RMS 1).
_CLASSIFIER_TOL_DOC = """
    tol : float, default=1e-3
        Target certified relative gap ``(objective_ - lower_bound_) /
        objective_`` (like Lasso's ``tol`` on its duality gap); the
        first-order solver stops as soon as it is reached. A
        ``ConvergenceWarning`` carrying the gap is raised when the fitted
        network's certified gap exceeds ``2 * tol``. The classifier's default
        is looser than the regressor's 1e-4: on digits the test accuracies
        at 1e-3 and 1e-4 were identical on six splits (input RMS 1 and 2),
        and the last decade of the gap took 43% of the polish evaluations
        (1 057 instead of 1 862 on one of them). Below 1e-6 (where the
        certificates stop resolving progress) the solver stops at 1e-6 and
        Newton's method on the network's support takes it to the optimum to
        rounding, certified: weighted and repeated rows, or two solvers,
        then give the same network, not two points of the objective's flat
        bottom."""
_CLASSIFIER_PARAMS_DOC = ALPHA_DOC.replace("default=1e-2", "default=1e-4") + \
    _replace_param(COMMON_PARAMS_DOC, "tol", _CLASSIFIER_TOL_DOC)

_INPUT_SCALE_DOC = """
    input_scale : "auto", float or None, default="auto"
        The network reads ``input_scale * x``: the filters have unit norm and
        the activation is a fixed quadratic, so the scale of the pixels is
        part of the model (it sets how far into the activation's curve a
        patch reaches, i.e. the weight of the quadratic features against the
        linear ones). "auto" is ``2 / sqrt(mean(X ** 2))`` over the training
        images, unweighted (root-mean-square pixel 2): the fitted model is
        then the same for ``X``, ``X / 16`` or ``3 * X``. ``None`` reads the
        pixels as given. The value 2 is where held-out accuracy on digits
        plateaus: mean test accuracy over 3 split seeds x {X/16,
        StandardScaler} 0.963 at RMS 0.5, 0.972 at 1, 0.982 at 2, 0.981 at 3
        (MLPClassifier 0.976); on five further split seeds, not used to
        choose it, see the user guide."""

#: Root-mean-square pixel the classifier's input_scale="auto" aims at (the
#: plateau of held-out accuracy on digits, see _INPUT_SCALE_DOC).
_AUTO_INPUT_RMS = 2.0


def _input_scale(input_scale, X, sample_weight=None):
    """The scalar the classifier multiplies its images by.

    "auto" takes the root-mean-square pixel over the samples weighted by
    ``sample_weight`` (a weight of 2 counts as a repeated image, a weight of
    0 as a removed one), so weighted and repeated data get the same scale.
    """
    if input_scale is None:
        return 1.0
    if isinstance(input_scale, str):
        if not X.size:
            return 1.0
        row_mean = np.asarray(np.mean(np.square(X), axis=1), dtype=float).ravel()
        if sample_weight is None:
            rms = float(np.sqrt(np.mean(row_mean)))
        else:
            w = np.asarray(sample_weight, dtype=float).ravel()
            w = np.broadcast_to(w, row_mean.shape)
            total = float(w.sum())
            rms = float(np.sqrt(w @ row_mean / total)) if total > 0 else 0.0
        return _AUTO_INPUT_RMS / rms if rms > 0 and np.isfinite(rms) else 1.0
    return float(input_scale)


class ConvexCNNClassifier(_ConvexCNNMixin, LiftedClassifierMixin, BaseLiftedNetwork):
    __doc__ = f"""One-hidden-layer convolutional classification network, globally optimal.

    The network of :class:`ConvexCNNRegressor` (polynomial activation,
    shared filters over patches, pooling over regions) trained by its exact
    SDP [1]_, one output per class beyond two: the multinomial logistic loss
    (``loss="logistic"``) or one-vs-rest +-1 outputs (``"hinge"``,
    ``"squared"``). One pair of PSD matrices of size ``patch_size + 1`` per
    (output, pooling region); filters recovered by neural decomposition.

    Parameters
    ----------
{_GEOMETRY_DOC}
    formulation : "sdp", default="deprecated"
        Deprecated (it had one allowed value); will be removed in 0.3.
        Setting it raises a ``FutureWarning``.
    loss : {{"logistic", "hinge", "squared"}}, default="logistic"
        Data term averaged over samples. Only "logistic" gives
        ``predict_proba``. "squared" (one-vs-rest) is the fastest for many
        classes.
{_CLASSIFIER_PARAMS_DOC}
{WARM_START_DOC}
{EXTRAPOLATION_DOC}{_INPUT_SCALE_DOC}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    output_weights_ : ndarray of shape (n_filters,) or (n_filters, n_classes)
        Second-layer weights (one column per class when there are more than
        two classes; each filter feeds one output).
    intercept_ : float or ndarray of shape (n_classes,)
        Output bias.
    input_scale_ : float
        The scalar the images are multiplied by before the filters (see
        ``input_scale``); ``filters_`` and ``preactivation_range_`` refer
        to the scaled images.
{_FITTED_SDP_DOC}

    See Also
    --------
    ConvexCNNRegressor : The same network for regression.
    ConvexPolyNetClassifier : The dense (non-convolutional) network.

    Notes
    -----
    The defaults are chosen to match ``MLPClassifier()`` on small images,
    each by a rule checked on several splits of digits (70/30, split seeds
    0-2 x {{X/16, StandardScaler}}, ``benchmarks/bench_cnn.py``), never one:
    3x3 filters and a 2x2 grid of pooling regions (the coarsest grid that
    sees where a stroke is); ``input_scale="auto"`` at root-mean-square pixel
    2, where held-out accuracy plateaus (mean 0.972 at RMS 1, 0.982 at 2,
    0.981 at 3; MLPClassifier 0.976; on five further split seeds 0.981
    against the MLP's 0.981); ``alpha=1e-4``, about 3e-4 of ``alpha_max``
    (3e-4 lost half a point, 1e-5 gained 0.3 point at up to 4x the time,
    both at RMS 1); ``tol=1e-3`` on the certified gap (test accuracies
    identical to 1e-4 on all six cases, at RMS 1 and 2; 1 057 polish
    evaluations instead of 1 862 on split seed 1, StandardScaler, at RMS
    1). The user guide has the tables.

    References
    ----------
{REF_SPECTRAHEDRA}

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_convexnn import ConvexCNNClassifier
    >>> X, y = load_digits(n_class=2, return_X_y=True)
    >>> clf = ConvexCNNClassifier(image_shape=(8, 8), patch_shape=(3, 3), stride=2,
    ...                           loss="squared", alpha=1e-3)
    >>> clf = clf.fit(X[:100] / 16, y[:100])
    >>> bool(clf.score(X[100:] / 16, y[100:]) > 0.95)
    True
    >>> clf.filters_.shape[1], clf.pool_regions_
    (9, (2, 2))
    """

    #: The first-order solver runs 50 FISTA iterations (not proxgrad's 100)
    #: before the L-BFGS polish: on digits (defaults, split seeds 0-4 x {X/16,
    #: StandardScaler}) 16 300 data passes in all against 19 200, the slowest
    #: case 2200 passes against 4300 (seed 0, X/16 went from 4300 to 1800),
    #: four of the ten cases up to 25% slower.
    _proxgrad_options = {"polish_after": 50}
    #: Below tol=1e-6 the network is refined by Newton on its support (see
    #: ``_solvers/lifted/refine.py``): the optimum to rounding, so weighted and
    #: repeated data give the same classifier.
    _refine_tight = True

    _parameter_constraints = {
        **_SDP_CONSTRAINTS,
        "formulation": [StrOptions({"sdp", "deprecated"})],
        "loss": [StrOptions({"logistic", "hinge", "squared"})],
        "input_scale": [StrOptions({"auto"}), Interval(Real, 0, None, closed="neither"),
                        None],
    }

    def __init__(self, *, image_shape=None, patch_shape=None, stride=1, pooling="average",
                 pool_regions=None, formulation="deprecated", loss="logistic", alpha=1e-4,
                 activation="relu-approx", fit_intercept=True, solver="auto",
                 cvxpy_solver=None, max_iter=500, tol=1e-3, memory_limit=4.0, verbose=0,
                 random_state="deprecated", warm_start=False, extrapolation="clip",
                 input_scale="auto"):
        self.image_shape = image_shape
        self.patch_shape = patch_shape
        self.stride = stride
        self.pooling = pooling
        self.pool_regions = pool_regions
        self.formulation = formulation
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
        self.input_scale = input_scale

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Fit the network to labelled images.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One flattened image per row (see ``image_shape``).
        y : array-like of shape (n_samples,)
            Class labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weight of each sample's loss term.

        Returns
        -------
        self : object
            The fitted estimator. A failed fit leaves the previous model
            (or the unfitted estimator) untouched.
        """
        self._warn_deprecated()
        if self.formulation != "deprecated":
            warnings.warn(
                "formulation is deprecated on ConvexCNNClassifier (its only value is "
                "'sdp') and will be removed in 0.3.", FutureWarning, stacklevel=2,
            )
        with self._fit_transaction():
            X, y = self._validate_X_y(X, y, dtype=np.float64)
            geometry = resolve_geometry(self, X.shape[1])
            # _make_blocks scales the images itself (so does every caller that
            # builds this estimator's problem, e.g. paths.alpha_max).
            return self._fit_labels(X, y, sample_weight, geometry=geometry,
                                    input_scale_=_input_scale(self.input_scale, X,
                                                              sample_weight),
                                    **_geometry_attributes(geometry))

    def _make_blocks(self, X, geometry=None, sample_weight=None):
        if geometry is not None:
            # The training problem (fit, the path helpers): the images as the
            # network reads them, times the scale "auto" takes from this
            # (weighted) X.
            X = X * _input_scale(self.input_scale, X, sample_weight)
        return super()._make_blocks(X, geometry)


class ReLURelaxationCNNRegressor(RegressorMixin, BaseEstimator):
    __doc__ = f"""One ReLU filter with fixed output weights, recovered by a convex relaxation.

    The network ``f(x) = sum_k a_k relu(w . P_k x)`` pools one ReLU filter
    ``w`` over every patch ``P_k x`` with the fixed pooling weights ``a_k``
    (the pooling weights of every region, output weight 1 each, no
    intercept). It is convex in ``w``, so the filters that do not overshoot
    any target form a polyhedron; maximizing a linear anchor over it (an LP,
    or an SOCP with a one-sided squared slack for noisy targets) recovers a
    planted filter exactly once ``n_samples / patch_size`` is large enough
    [2]_. It is a recovery method for data from such a network, not a
    general regressor: on other data the anchor is often unbounded over the
    feasible filters and ``fit`` raises ``RelaxationUnboundedError``.

    Parameters
    ----------
{_GEOMETRY_DOC}
    anchor : "auto" or array-like of shape (patch_size,), default="auto"
        The direction maximized over the feasible filters. "auto" is the
        least-squares slope of ``y`` on the pooled patch vector
        ``sum_k a_k P_k x``. For centred Gaussian images of any covariance
        its population value is half the true filter (Stein's lemma; the
        inverse covariance of the pooled patches removes the overlap of
        overlapping patches), so the sample version converges to the
        filter's direction.
    slack_weight : float, default=None
        ``None`` keeps the hard constraints ``f(x_i) <= y_i`` (noiseless
        targets, an LP; targets must be >= 0); a positive value softens them
        with a one-sided squared slack of that weight (an SOCP, for noisy
        targets). Larger is closer to the hard constraints, which under
        noise pull the filter in; too small lets the anchor inflate it (on
        9x9 images, 3x3 patches, noise 0.02: filter error 0.53 at 10, 0.04
        at 1e3, 0.25 at 1e5). Choose it by cross-validation.
    cvxpy_solver : str, default=None
        The cvxpy solver to try first (Clarabel by default; "ECOS" and "SCS"
        also take it); on failure the other installed solvers follow.
    max_iter : int, default=None
        Iteration limit of the cvxpy solver (None: its default).
    memory_limit : float, default=4.0
        Memory budget in GiB: the relaxation's constraint matrix (one row
        per patch position and sample) is estimated before it is built, and
        a larger problem is refused with a ``ProblemTooLargeError``.
    verbose : int, default=0
        1 prints a summary of the fit, 2 also the solver's log.

    Attributes
    ----------
    filters_ : ndarray of shape (1, patch_size)
        The recovered filter (any norm).
    anchor_ : ndarray of shape (patch_size,)
        Unit anchor the relaxation maximized.
    objective_ : float
        Half the (weighted) mean squared error of the fitted network.
    n_iter_ : int
        Solver iterations.
    solver_ : str
        The solver that produced the filter, e.g. "cvxpy/CLARABEL".
{_FITTED_GEOMETRY_DOC}

    See Also
    --------
    ConvexCNNRegressor : Polynomial-activation filters, l1 output layer, exact SDP.

    References
    ----------
{REF_CNN_RELAXATION}

    Examples
    --------
    A planted one-filter ReLU network on 6x6 images is recovered exactly:

    >>> import numpy as np
    >>> from sklearn_convexnn import ReLURelaxationCNNRegressor
    >>> from sklearn_convexnn.datasets import make_planted_cnn
    >>> X, y, (U, v) = make_planted_cnn(120, (6, 6), (2, 2), stride=2,
    ...                                 random_state=0, return_network=True)
    >>> reg = ReLURelaxationCNNRegressor(image_shape=(6, 6), patch_shape=(2, 2), stride=2,
    ...                                  pool_regions=(1, 1), slack_weight=None)
    >>> bool(np.allclose(reg.fit(X, y).filters_, U, atol=1e-5))
    True
    """

    _parameter_constraints = {
        **_CONV_CONSTRAINTS,
        "anchor": [StrOptions({"auto"}), "array-like"],
        "slack_weight": [Interval(Real, 0, None, closed="neither"), None],
        "cvxpy_solver": [str, None],
        "max_iter": [Interval(Integral, 1, None, closed="left"), None],
        "memory_limit": [Interval(Real, 0, None, closed="neither")],
        "verbose": ["verbose"],
    }

    def __init__(self, *, image_shape=None, patch_shape=None, stride=1, pooling="average",
                 pool_regions=None, anchor="auto", slack_weight=None, cvxpy_solver=None,
                 max_iter=None, memory_limit=4.0, verbose=0):
        self.image_shape = image_shape
        self.patch_shape = patch_shape
        self.stride = stride
        self.pooling = pooling
        self.pool_regions = pool_regions
        self.anchor = anchor
        self.slack_weight = slack_weight
        self.cvxpy_solver = cvxpy_solver
        self.max_iter = max_iter
        self.memory_limit = memory_limit
        self.verbose = verbose

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, sample_weight=None):
        """Recover the filter from images and targets.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One flattened image per row (see ``image_shape``).
        y : array-like of shape (n_samples,)
            Targets (>= 0 with hard constraints).
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the slack terms; with hard constraints a zero weight
            drops the sample.

        Returns
        -------
        self : object
            The fitted estimator. A failed fit leaves the previous model
            (or the unfitted estimator) untouched.
        """
        saved = {k: self.__dict__[k] for k in ("n_features_in_", "feature_names_in_")
                 if k in self.__dict__}
        try:
            X, y = validate_data(self, X, y, ensure_min_samples=2, multi_output=True,
                                 y_numeric=True, dtype=np.float64)
            state = self._fit_state(X, y, sample_weight)
        except BaseException:
            for k in ("n_features_in_", "feature_names_in_"):
                self.__dict__.pop(k, None)
            self.__dict__.update(saved)
            raise
        for name, value in state.items():
            setattr(self, name, value)
        return self

    def _fit_state(self, X, y, sample_weight):
        y = np.asarray(y, dtype=float)
        if y.ndim == 2 and y.shape[1] != 1:
            raise ValueError(
                f"{type(self).__name__} fits one output; y has {y.shape[1]} columns. Fit "
                f"one model per output or use ConvexCNNRegressor."
            )
        y = y.ravel()
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64)
        geometry = resolve_geometry(self, X.shape[1])
        n_rows = X.shape[0] * geometry.n_positions
        need = estimate_relu_relaxation_bytes(n_rows, geometry.patch_size)
        if need > self.memory_limit * 2**30:
            raise ProblemTooLargeError(
                f"{type(self).__name__}: the relaxation's constraints (one per patch "
                f"position and sample: {n_rows} rows of {geometry.patch_size} entries) need "
                f"about {format_bytes(need)} through cvxpy, over memory_limit="
                f"{self.memory_limit:g} GiB ({format_bytes(self.memory_limit * 2**30)}). "
                f"memory_limit={need / 2**30 * 1.1:.3g} would let it run; a larger stride "
                f"or fewer samples shrink it."
            )
        blocks = patch_blocks(X, geometry)
        P, pool = blocks[0].P, _summed_pool(blocks)
        anchor = None if isinstance(self.anchor, str) else self.anchor
        res = solve_relu_relaxation(
            P, pool, y, anchor=anchor, slack_weight=self.slack_weight,
            cvxpy_solver=self.cvxpy_solver, max_iter=self.max_iter,
            verbose=self.verbose > 1, sample_weight=sample_weight,
        )
        if self.verbose:
            print(f"[{type(self).__name__}] {res.solver}: status {res.status}, value "
                  f"{res.value:.8g}")
        resid = relu_pooled_output(P, pool, res.w) - y
        c = np.full(len(y), 1.0 / len(y)) if sample_weight is None \
            else sample_weight / sample_weight.sum()
        return {
            "filters_": res.w[None, :], "anchor_": res.anchor,
            "objective_": float(0.5 * c @ resid**2), "n_iter_": res.n_iter,
            "solver_": f"cvxpy/{res.solver}", **_geometry_attributes(geometry),
        }

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # The network only outputs values >= 0.
        tags.target_tags.positive_only = True
        return tags

    def predict(self, X):
        """Network output ``sum_k a_k relu(w . P_k x)``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One flattened image per row.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Predicted targets.
        """
        check_is_fitted(self, "filters_")
        X = validate_data(self, X, reset=False)
        blocks = patch_blocks(X, self._geometry)
        return relu_pooled_output(blocks[0].P, _summed_pool(blocks), self.filters_[0])


def _summed_pool(blocks):
    """Pooling weights a_k of the ReLU relaxation: every region, output weight 1."""
    return sum(b.pool for b in blocks).tocsr()
