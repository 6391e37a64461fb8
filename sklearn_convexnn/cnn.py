"""One-hidden-layer convolutional networks trained by convex programs.

A convolutional layer applies each filter ``u`` to every patch ``P_k x`` of
an image, pools the activations of the patch positions of one pooling region
with fixed weights, and the output layer combines the pooled values::

    f(x) = sum_j v_j sum_{k in region(j)} a_k sigma(u_j . P_k x) + b

Two convex formulations:

* ``formulation="sdp"`` (default): polynomial activation ``sigma(t) = a t^2 +
  b t + c``, unit-norm filters, l1 penalty on the output weights ``v``. The
  training problem equals a semidefinite program over one pair of PSD
  matrices of size ``patch_size + 1`` per (output, pooling region) — the
  lifted model of ``_solvers.lifted.lifted`` fed the pooled patches — so its global
  optimum is found and the filters are recovered by neural decomposition,
  with a certified duality gap.
* ``formulation="relu-relaxation"`` (regression only): one ReLU filter with
  the output weights fixed to the pooling weights. The filters that do not
  overshoot any target form a polyhedron; maximizing a linear anchor over it
  (an LP, or an SOCP with a squared slack for noisy targets) recovers a
  planted filter exactly once ``n / patch_size`` is large enough (Bartan &
  Pilanci, ICASSP 2019).

Images arrive as rows of ``X``: see ``image_shape``.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._base import BaseLiftedNetwork, LiftedClassifierMixin, LiftedRegressorMixin
from ._solvers.lifted.patches import POOLINGS, patch_blocks, patch_geometry
from ._solvers.lifted.relu_relaxation import relu_pooled_output, solve_relu_relaxation
from .polynet import _COMMON_PARAMS_DOC

__all__ = ["ConvexCNNClassifier", "ConvexCNNRegressor"]

_CONV_PARAMS_DOC = """
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
        grid of positions where it is smaller.
    formulation : {"sdp", "relu-relaxation"}, default="sdp"
        "sdp": polynomial activation, exact global optimum of the l1-penalized
        problem. "relu-relaxation": one ReLU filter, output weights fixed to
        the pooling weights (1 per region), no intercept, squared slack
        optional (see ``anchor`` and ``slack_weight``); the parameters of the
        SDP (``loss``, ``alpha``, ``activation``, ``fit_intercept``,
        ``solver``) do not apply to it."""

#: The classifier's default alpha: on digits (X/16, 2x2 regions, multinomial
#: loss) 1e-2 gives 0.77 test accuracy, 1e-3 0.93, 1e-4 0.967 (3x3 regions:
#: 0.970); see benchmarks/bench_cnn.py.
_CLASSIFIER_PARAMS_DOC = _COMMON_PARAMS_DOC.replace(
    "alpha : float, default=1e-2", "alpha : float, default=1e-4")

_FITTED_CONV_DOC = """
    filters_ : ndarray of shape (n_filters, patch_size)
        First-layer filters, one unit-norm row per filter in the SDP
        formulation; the recovered filter (any norm) in the ReLU relaxation.
    hidden_weights_ : ndarray of shape (n_filters, patch_size)
        The same array as ``filters_`` (the name the other estimators use).
    filter_regions_ : ndarray of shape (n_filters,)
        Pooling region of each filter (regions are numbered row-major over
        the ``pool_regions`` grid); -1 in the ReLU relaxation, whose single
        filter is pooled over every region.
    n_neurons_ : int
        Number of filters.
    objective_ : float
        Training objective of the fitted network: loss plus ``alpha`` times
        the l1 norm of the output weights (SDP); half the mean squared error
        (ReLU relaxation).
    lower_bound_ : float
        Certified lower bound on the optimal objective over networks of this
        kind and any width (SDP); NaN for the ReLU relaxation.
    dual_gap_ : float
        ``objective_ - lower_bound_`` (NaN for the ReLU relaxation).
    n_iter_ : int
        Solver iterations.
    solver_ : str
        The solver that produced the network, e.g. "cvxpy/CLARABEL".
    image_shape_ : tuple (H, W, C)
    patch_shape_ : tuple (ph, pw)
    pool_regions_ : tuple (gh, gw)
        The resolved geometry (defaults filled in).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Defined when X has feature names that are all strings."""

_CONV_CONSTRAINTS = {
    "image_shape": [tuple, list, None],
    "patch_shape": [tuple, list, None],
    "stride": [Interval(Integral, 1, None, closed="left"), tuple, list],
    "pooling": [StrOptions(set(POOLINGS))],
    "pool_regions": [tuple, list, None],
    "formulation": [StrOptions({"sdp", "relu-relaxation"})],
}


class _ConvexCNNMixin:
    """Geometry, blocks, and the forward pass shared by both CNN estimators."""

    def _resolve_geometry(self, n_features):
        self._geometry = patch_geometry(
            n_features, self.image_shape, self.patch_shape, self.stride, self.pool_regions,
            self.pooling,
        )
        self.image_shape_ = self._geometry.image_shape
        self.patch_shape_ = self._geometry.patch_shape
        self.pool_regions_ = self._geometry.pool_regions

    def _make_blocks(self, X):
        return patch_blocks(X, self._geometry)

    def _set_network(self, neurons, weights, block_index, intercept):
        super()._set_network(neurons, weights, block_index, intercept)
        self.filters_ = self.hidden_weights_
        self.filter_regions_ = np.asarray(block_index, dtype=int)
        self._relu = False

    def _network_output(self, X):
        check_is_fitted(self, "filters_")
        if not self._relu:
            return super()._network_output(X)
        X = validate_data(self, X, reset=False)
        blocks = self._make_blocks(X)
        return relu_pooled_output(blocks[0].P, _summed_pool(blocks), self.filters_[0])[:, None]

    def _fit_relu_relaxation(self, X, y):
        blocks = self._make_blocks(X)
        P, pool = blocks[0].P, _summed_pool(blocks)
        anchor = None if isinstance(self.anchor, str) else self.anchor
        res = solve_relu_relaxation(
            P, pool, y, anchor=anchor, slack_weight=self.slack_weight,
            cvxpy_solver=self.cvxpy_solver, max_iter=self.max_iter, tol=self.tol,
            verbose=self.verbose > 1,
        )
        if self.verbose:
            print(f"[{type(self).__name__}] relu-relaxation/{res.solver}: status "
                  f"{res.status}, value {res.value:.8g}")
        self.filters_ = res.w[None, :]
        self.hidden_weights_ = self.filters_
        self.filter_regions_ = np.array([-1])
        self.output_weights_ = np.ones(1)
        self.intercept_ = 0.0
        self.n_neurons_ = 1
        self.anchor_ = res.anchor
        self.solver_ = f"cvxpy/{res.solver}"
        self.n_iter_ = res.n_iter
        self._relu = True
        resid = relu_pooled_output(P, pool, res.w) - y
        self.objective_ = float(0.5 * np.mean(resid**2))
        self.lower_bound_ = np.nan
        self.dual_gap_ = np.nan
        return self


def _summed_pool(blocks):
    """Pooling weights a_k of the ReLU relaxation: every region, output weight 1."""
    return sum(b.pool for b in blocks).tocsr()


class ConvexCNNRegressor(_ConvexCNNMixin, LiftedRegressorMixin, BaseLiftedNetwork):
    __doc__ = f"""One-hidden-layer convolutional regression network by convex programming.

    ``f(x) = sum_j v_j sum_(k in region j) a_k sigma(u_j . P_k x) + b``:
    filters ``u_j`` slide over the patches ``P_k x`` of the image, the
    activations are pooled with fixed weights ``a_k`` over pooling regions,
    and the output layer ``v`` combines the pooled values. With
    ``formulation="sdp"`` the l1-penalized training problem with polynomial
    activation is solved to global optimality (an SDP, one pair of PSD
    matrices of size ``patch_size + 1`` per pooling region); with
    ``formulation="relu-relaxation"`` one ReLU filter with fixed output
    weights is recovered by an LP (noiseless targets) or SOCP (noisy).

    Parameters
    ----------
    loss : {{"squared", "absolute", "huber"}}, default="squared"
        Data term of the SDP, averaged over samples.
    huber_delta : float, default=1.0
        Threshold of the Huber loss.
{_CONV_PARAMS_DOC}
    anchor : "auto" or array-like of shape (patch_size,), default="auto"
        ReLU relaxation only: the direction maximized over the feasible
        filters. "auto" is the least-squares slope of ``y`` on the pooled
        patch vector ``sum_k a_k P_k x``. For centred Gaussian images of any
        covariance its population value is half the true filter (Stein's
        lemma; the inverse covariance of the pooled patches removes the
        overlap of overlapping patches), so the sample version converges to
        the filter's direction.
    slack_weight : float, default=None
        ReLU relaxation only: ``None`` keeps the hard constraints ``f(x_i) <=
        y_i`` (noiseless targets, an LP; targets must be >= 0); a positive
        value softens them with a one-sided squared slack of that weight (an
        SOCP, for noisy targets). Larger is closer to the hard constraints,
        which under noise pull the filter in; too small lets the anchor
        inflate it (on 9x9 images, 3x3 patches, noise 0.02: filter error 0.53
        at 10, 0.04 at 1e3, 0.25 at 1e5). Choose it by cross-validation.
        The relaxation is solved through cvxpy by ``cvxpy_solver`` (Clarabel by
        default; "ECOS" and "SCS" also take it), with the same fallback.
{_COMMON_PARAMS_DOC}

    Attributes
    ----------
    output_weights_ : ndarray of shape (n_filters,) or (n_filters, n_outputs)
        Second-layer weight of each filter's pooled activation (ones for the
        ReLU relaxation, whose output weights are fixed).
    intercept_ : float or ndarray of shape (n_outputs,)
    anchor_ : ndarray of shape (patch_size,)
        Unit anchor used by the ReLU relaxation (only set by it).
{_FITTED_CONV_DOC}

    See Also
    --------
    ConvexCNNClassifier : the same network for classes (SDP only).
    ConvexPolyNetRegressor : the dense (non-convolutional) network.

    Examples
    --------
    A planted one-filter ReLU network on 6x6 images is recovered exactly:

    >>> import numpy as np
    >>> from sklearn_convexnn import ConvexCNNRegressor
    >>> from sklearn_convexnn.datasets import make_planted_cnn
    >>> X, y, (U, v) = make_planted_cnn(120, (6, 6), (2, 2), stride=2,
    ...                                 random_state=0, return_network=True)
    >>> reg = ConvexCNNRegressor(image_shape=(6, 6), patch_shape=(2, 2), stride=2,
    ...                          pool_regions=(1, 1), formulation="relu-relaxation")
    >>> bool(np.allclose(reg.fit(X, y).filters_, U, atol=1e-5))
    True

    The SDP formulation fits polynomial-activation filters, globally optimal:

    >>> reg = ConvexCNNRegressor(image_shape=(6, 6), patch_shape=(2, 2), alpha=1e-3)
    >>> reg = reg.fit(X[:60], y[:60])
    >>> reg.filters_.shape[1], reg.pool_regions_
    (4, (2, 2))
    >>> bool(reg.objective_ - reg.lower_bound_ < 1e-4 * reg.objective_)
    True
    """

    _parameter_constraints = {
        **BaseLiftedNetwork._parameter_constraints,
        **_CONV_CONSTRAINTS,
        "loss": [StrOptions({"squared", "absolute", "huber"})],
        "huber_delta": [Interval(Real, 0, None, closed="neither")],
        "anchor": [StrOptions({"auto"}), "array-like"],
        "slack_weight": [Interval(Real, 0, None, closed="neither"), None],
    }

    def __init__(self, *, image_shape=None, patch_shape=None, stride=1, pooling="average",
                 pool_regions=None, formulation="sdp", loss="squared", alpha=1e-2,
                 activation="relu-approx", fit_intercept=True, huber_delta=1.0,
                 anchor="auto", slack_weight=None, solver="auto", cvxpy_solver=None,
                 max_iter=500, tol=1e-7, memory_limit=4.0, verbose=0, random_state=None):
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

    def fit(self, X, y):
        """Fit the network to images.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One flattened image per row (see ``image_shape``).
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
            Targets; one output only for the ReLU relaxation.

        Returns
        -------
        self : object
        """
        self._validate_params()
        X, y = self._validate_X_y(X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        self._resolve_geometry(X.shape[1])
        y = np.asarray(y, dtype=float)
        self._single_output = y.ndim == 1
        if self.formulation == "relu-relaxation":
            if y.ndim == 2 and y.shape[1] != 1:
                raise ValueError(
                    f"formulation='relu-relaxation' fits one output; y has {y.shape[1]} "
                    f"columns. Fit one model per output or use formulation='sdp'."
                )
            return self._fit_relu_relaxation(X, y.ravel())
        Y = y[:, None] if y.ndim == 1 else y
        return self._fit_network(X, Y, self.loss)


class ConvexCNNClassifier(_ConvexCNNMixin, LiftedClassifierMixin, BaseLiftedNetwork):
    __doc__ = f"""One-hidden-layer convolutional classification network, globally optimal.

    The network of :class:`ConvexCNNRegressor` (polynomial activation,
    shared filters over patches, pooling over regions) trained by its exact
    SDP, one output per class beyond two: the multinomial logistic loss
    (``loss="logistic"``) or one-vs-rest +-1 outputs (``"hinge"``,
    ``"squared"``). One pair of PSD matrices of size ``patch_size + 1`` per
    (output, pooling region); filters recovered by neural decomposition.

    ``formulation="relu-relaxation"`` is not supported for classification
    (it fixes the output weights and needs real targets >= 0): ``fit``
    raises a ValueError.

    Parameters
    ----------
    loss : {{"logistic", "hinge", "squared"}}, default="logistic"
        Data term averaged over samples. Only "logistic" gives
        ``predict_proba``. "squared" (one-vs-rest) is the fastest for many
        classes.
{_CONV_PARAMS_DOC}
{_CLASSIFIER_PARAMS_DOC}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    output_weights_ : ndarray of shape (n_filters,) or (n_filters, n_classes)
        Second-layer weights (one column per class when there are more than
        two classes; each filter feeds one output).
    intercept_ : float or ndarray of shape (n_classes,)
{_FITTED_CONV_DOC}

    See Also
    --------
    ConvexCNNRegressor : the same network for regression, and the ReLU relaxation.

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

    _parameter_constraints = {
        **BaseLiftedNetwork._parameter_constraints,
        **_CONV_CONSTRAINTS,
        "loss": [StrOptions({"logistic", "hinge", "squared"})],
    }

    def __init__(self, *, image_shape=None, patch_shape=None, stride=1, pooling="average",
                 pool_regions=None, formulation="sdp", loss="logistic", alpha=1e-4,
                 activation="relu-approx", fit_intercept=True, solver="auto",
                 cvxpy_solver=None, max_iter=500, tol=1e-7, memory_limit=4.0, verbose=0,
                 random_state=None):
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

    def fit(self, X, y):
        """Fit the network to labelled images.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            One flattened image per row (see ``image_shape``).
        y : array-like of shape (n_samples,)

        Returns
        -------
        self : object
        """
        self._validate_params()
        if self.formulation != "sdp":
            raise ValueError(
                f"formulation={self.formulation!r} is not supported by ConvexCNNClassifier: "
                f"the ReLU relaxation fixes the output weights and needs real targets >= 0. "
                f"Use formulation='sdp', or ConvexCNNRegressor for the relaxation."
            )
        X, y = self._validate_X_y(X, y, dtype=np.float64)
        self._resolve_geometry(X.shape[1])
        return self._fit_labels(X, y)
