"""The sketch base class and the sketches another estimator module composes.

:class:`CountSketch` and :class:`SurrogateSketch` are the default sketches of
the distributed meta-estimators (``distributed.py``) as well as members of
the sketching family (``sketching.py``, which publishes them with the
others). They live here, one floor below both estimator modules, so that no
estimator module imports a sibling; they are scikit-learn estimators, so
they stay out of the maths folder (``_solvers/sketch/sketch_operators.py``
holds the operators they draw). See ``sketching.py`` for the two directions
every sketch serves.
"""

import warnings
from numbers import Integral, Real
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import DataDimensionalityWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from ._solvers.sketch import sketch_operators as ops

__all__ = ["CountSketch", "SurrogateSketch"]


class _BaseSketch(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Validation and the two directions shared by every sketch.

    Subclasses implement ``_fit_operator(X, rng)`` (draw ``S`` for
    ``n_features``, set fitted attributes, return the number of output
    features), ``_transform(X)`` (``X @ S.T``) and ``_sketch_rows(A, rng)``
    (``S @ A`` for a fresh ``S``). ``X`` and ``A`` arrive validated: float64,
    finite, 2-D, dense or CSR.
    """

    _parameter_constraints: ClassVar[dict] = {
        "n_components": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state", np.random.Generator],
    }

    def __init__(self, n_components=100, *, random_state=None):
        self.n_components = n_components
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Draw the sketching operator for the features of ``X``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Training data. Only its shape is used by the data-oblivious
            sketches; the data-dependent ones sample columns of ``X``.
        y : None
            Ignored.

        Returns
        -------
        self : object
            The fitted sketch.
        """
        X = validate_data(self, X, accept_sparse=("csr", "csc"), dtype=np.float64)
        if self.n_components > X.shape[1]:
            warnings.warn(
                f"{type(self).__name__}: more output components than input "
                f"features: n_features < n_components ({X.shape[1]} < "
                f"{self.n_components}). The dimensionality of the problem will "
                "not be reduced.",
                DataDimensionalityWarning,
            )
        self.n_components_ = self._fit_operator(X, _as_generator(self.random_state))
        return self

    def transform(self, X):
        """Sketch the features: ``X @ S.T``.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Data to compress.

        Returns
        -------
        X_new : {ndarray, sparse matrix} of shape (n_samples, n_components_)
            Dense, except for sparse input to the sketches that keep
            sparsity (CountSketch and the sampling sketches).
        """
        check_is_fitted(self)
        X = validate_data(
            self, X, accept_sparse=("csr", "csc"), dtype=np.float64, reset=False
        )
        return self._transform(X)

    def sketch(self, A, random_state=None):
        """Sketch the rows: ``S @ A`` for a freshly drawn ``S``.

        ``S`` is scaled so that ``E[S^T S] = I_n`` (see the class docstring
        for the surrogate sketch). Needs no ``fit``; ``A`` is not modified.

        Parameters
        ----------
        A : {array-like, sparse matrix} of shape (n, d)
            Matrix whose rows are compressed.
        random_state : int, RandomState, Generator or None, default=None
            Randomness of this draw; overrides ``self.random_state``. If both
            are None, every call draws anew.

        Returns
        -------
        SA : {ndarray, sparse matrix} of shape (m, d)
            Dense, except for sparse ``A`` with the sketches that keep
            sparsity: CSR from the sampling sketches, and from CountSketch
            when ``m * d > nnz(A)`` (see :class:`CountSketch`).
        """
        self._validate_params()
        A = _check_matrix(A)
        if random_state is None:
            random_state = self.random_state
        return self._sketch_rows(A, _as_generator(random_state))

    def _prepare_rows(self, A):
        """A sampler of ``S @ A`` for many draws on the same ``A``.

        Used by the distributed meta-estimators: whatever a draw computes
        from ``A`` alone (a spectrum, sampling probabilities) is computed
        here once per Newton round, not once per worker. The sampler's
        ``draw(rng)`` returns what ``sketch(A, random_state=rng)`` would.
        """
        self._validate_params()
        return _RowSampler(self, _check_matrix(A))

    def _draw_flops(self, A, size):
        """Estimated flops of one row draw on ``A`` (``size`` its entries or
        nonzeros), for the meta-estimators' ``n_jobs`` rule: one pass here
        (CountSketch, row sampling); the costlier sketches override it."""
        return 2.0 * size

    @property
    def _n_features_out(self):
        return self.n_components_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


class CountSketch(_BaseSketch):
    """CountSketch (Clarkson-Woodruff): one random +-1 per column of ``S``.

    Input ``j`` is added, with a random sign, to a uniformly random one of
    the ``m`` outputs. No scaling is needed: ``E[S^T S] = I_n``. Cost
    ``O(nnz)`` for dense and sparse input alike (one ``bincount`` over the
    nonzeros, no sort); ``S`` is never formed.

    Output type. ``transform`` of sparse ``X`` gives CSR. ``sketch`` of
    sparse ``A`` (CSR or CSC) with ``m * d <= nnz(A)`` gives a dense
    ndarray: ``nnz(A)`` entries hashed into ``m * d`` slots leave the
    result mostly nonzero (a fraction about ``1 - exp(-nnz / (m d))`` for
    spread-out data), so dense storage is then no larger than CSR would be
    and never larger than ``A``'s own data array, and it is several times
    faster to build. With ``m * d > nnz(A)`` it gives CSR. Dense ``A``
    gives an ndarray.

    Parameters
    ----------
    n_components : int, default=100
        Sketch size ``m``.
    random_state : int, RandomState, Generator or None, default=None
        Randomness of ``fit`` and (unless overridden) of ``sketch``.

    Attributes
    ----------
    bucket_indices_ : ndarray of shape (n_features_in_,)
        The output each input feature is added to.
    signs_ : ndarray of shape (n_features_in_,)
        The sign it is added with.
    n_components_ : int
        Number of output features.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``, if they are all strings.

    See Also
    --------
    GaussianSketch : The dense reference operator.
    SRHTSketch : Structured, dense input.
    sklearn.random_projection.SparseRandomProjection : Sparse projection of
        the features.

    References
    ----------
    .. [1] K. L. Clarkson, D. P. Woodruff. Low rank approximation and
       regression in input sparsity time. STOC 2013.
    .. [2] M. Charikar, K. Chen, M. Farach-Colton. Finding frequent items in
       data streams. ICALP 2002.

    Examples
    --------
    >>> import numpy as np
    >>> import scipy.sparse as sp
    >>> from sklearn_convexnn.sketching import CountSketch
    >>> X = sp.random(1000, 50, density=0.05, format="csr", random_state=0)
    >>> CountSketch(n_components=8, random_state=0).fit_transform(X).shape
    (1000, 8)
    >>> SA = CountSketch(n_components=200).sketch(X, random_state=0)
    >>> SA.shape, sp.issparse(SA)  # m * d = 10000 > nnz(X) = 2500
    ((200, 50), True)
    >>> SA = CountSketch(n_components=40).sketch(X, random_state=0)
    >>> SA.shape, sp.issparse(SA)  # m * d = 2000 <= nnz(X) = 2500
    ((40, 50), False)
    """

    def _fit_operator(self, X, rng):
        self.bucket_indices_, self.signs_ = ops.draw_countsketch(
            X.shape[1], self.n_components, rng
        )
        return self.n_components

    def _transform(self, X):
        return ops.countsketch_columns(
            X, self.bucket_indices_, self.signs_, self.n_components_
        )

    def _sketch_rows(self, A, rng):
        buckets, signs = ops.draw_countsketch(A.shape[0], self.n_components, rng)
        return ops.countsketch_rows(A, buckets, signs, self.n_components)


class SurrogateSketch(_BaseSketch):
    """Surrogate sketch: i.i.d. row sampling made unbiased for ridge inverses.

    The sketch of Derezinski, Bartan, Pilanci and Mahoney (NeurIPS 2020).
    With ``m = n_components``, ``d_alpha`` the effective dimension of ``A``
    and ``p`` the base row probabilities (uniform, or ridge leverage
    scores), a draw is the union of

    1. ``Poisson(m - d_alpha)`` rows drawn i.i.d. from ``p``, and
    2. one draw of the L-ensemble DPP with ``L = A A^T / alpha`` (expected
       size ``d_alpha``; sampled spectrally through the ``d x d`` Gram
       matrix, ``O(n d^2)``),

    every chosen row ``i`` scaled by ``1 / sqrt(m p_i)``, as in an i.i.d.
    sketch of size ``m``. The number of rows is random, ``m`` on average.
    Then, with ``alpha' = alpha (1 - d_alpha / m)``, exactly::

        (1 - d_alpha/m) E[((SA)^T SA + alpha' I)^{-1}] = (A^T A + alpha I)^{-1}

    which is what debiased distributed averaging needs. ``E[S^T S] = I_n``
    holds exactly with ``base="leverage"``; with ``base="uniform"`` the
    diagonal of ``E[S^T S]`` is ``1 - d_alpha/m + (n/m) l_i`` (``l_i`` the
    ridge leverage scores), equal to 1 for uniform leverage. Needs
    ``m > d_alpha`` (a ValueError otherwise).

    In the feature direction, ``fit`` draws the surrogate sketch of the
    columns of ``X`` (rows of ``X^T``) and ``transform`` returns the drawn
    columns of ``X``, scaled; ``n_components_`` is their (random) number.

    Parameters
    ----------
    n_components : int, default=100
        Expected sketch size ``m``.
    alpha : float > 0, default=1.0
        The ridge added to ``A^T A`` (not divided by the number of rows).
    base : {"uniform", "leverage"}, default="uniform"
        Base row probabilities ``p``.
    random_state : int, RandomState, Generator or None, default=None
        Randomness of ``fit`` and (unless overridden) of ``sketch``.

    Attributes
    ----------
    effective_dimension_ : float
        ``d_alpha`` of ``X^T`` (the columns of ``X``).
    probabilities_ : ndarray of shape (n_features_in_,)
        Base column probabilities ``p``.
    sample_indices_ : ndarray of shape (n_components_,)
        The drawn columns, sorted (with repeats).
    weights_ : ndarray of shape (n_components_,)
        Their scaling ``1 / sqrt(m p_j)``.
    n_components_ : int
        Number of output features (random, ``m`` on average).
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``, if they are all strings.

    See Also
    --------
    LeverageScoreSketch : Plain i.i.d. row sampling.
    sklearn_convexnn.DebiasedAveragingRegressor : Uses it for every worker.

    References
    ----------
    .. [1] M. Derezinski, B. Bartan, M. Pilanci, M. W. Mahoney. Debiasing
       distributed second order optimization with surrogate sketching and
       scaled regularization. NeurIPS 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn.sketching import SurrogateSketch, effective_dimension
    >>> A = np.random.default_rng(0).standard_normal((200, 6))
    >>> round(effective_dimension(A, alpha=20.0), 2)
    5.42
    >>> SA = SurrogateSketch(n_components=20, alpha=20.0).sketch(A, random_state=0)
    >>> SA.shape[1]
    6
    """

    _parameter_constraints: ClassVar[dict] = {
        **_BaseSketch._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="neither")],
        "base": [StrOptions({"uniform", "leverage"})],
    }

    def __init__(
        self, n_components=100, *, alpha=1.0, base="uniform", random_state=None
    ):
        super().__init__(n_components=n_components, random_state=random_state)
        self.alpha = alpha
        self.base = base

    def _draw(self, A, rng, spectrum=None):
        if spectrum is None:
            spectrum = ops.row_space_eigh(A)
        p = ops.sampling_probabilities(A, self.alpha, self.base, spectrum=spectrum)
        idx, weights, d_alpha = ops.surrogate_sample(
            A, self.n_components, self.alpha, p, rng, spectrum=spectrum
        )
        return p, idx, weights, d_alpha

    def _prepare_rows(self, A):
        self._validate_params()
        A = _check_matrix(A)
        return _RowSampler(self, A, spectrum=ops.row_space_eigh(A))

    def _draw_flops(self, A, size):
        return 4.0 * size * min(A.shape)  # the DPP part: rows x d_alpha^2

    def _fit_operator(self, X, rng):
        p, idx, weights, d_alpha = self._draw(_transpose(X), rng)
        self.probabilities_, self.effective_dimension_ = p, d_alpha
        self.sample_indices_, self.weights_ = idx, weights
        return idx.shape[0]

    def _transform(self, X):
        return _sample_columns(X, self.sample_indices_, self.weights_)

    def _sketch_rows(self, A, rng, spectrum=None):
        _, idx, weights, _ = self._draw(A, rng, spectrum)
        return ops.apply_row_sample(A, idx, weights)


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------


class _RowSampler:
    """``draw(rng)``: the sketch of a fixed ``A``, reusing what was precomputed.

    ``probabilities`` (row sampling) or ``spectrum`` (surrogate) are the
    parts of a draw that depend on ``A`` only.
    """

    def __init__(self, sketch, A, *, probabilities=None, spectrum=None):
        self.sketch, self.A = sketch, A
        self.probabilities, self.spectrum = probabilities, spectrum
        self.name = type(sketch).__name__
        # Estimated flops of one draw (for the meta-estimators' n_jobs rule).
        size = A.nnz if sp.issparse(A) else A.size
        self.flops = sketch._draw_flops(A, size)

    def draw(self, rng):
        if self.probabilities is not None:
            idx, weights = ops.iid_sample(
                self.probabilities, self.sketch.n_components, rng
            )
            return ops.apply_row_sample(self.A, idx, weights)
        if self.spectrum is not None:
            return self.sketch._sketch_rows(self.A, rng, spectrum=self.spectrum)
        return self.sketch._sketch_rows(self.A, rng)


def _as_generator(random_state):
    """A numpy Generator from None / int / RandomState / Generator.

    A RandomState (as scikit-learn passes around) seeds a Generator with one
    draw, so it advances and the next call gets fresh randomness.
    """
    if isinstance(random_state, np.random.Generator):
        return random_state
    if random_state is None:
        return np.random.default_rng()
    rs = check_random_state(random_state)
    return np.random.default_rng(rs.randint(np.iinfo(np.int32).max))


def _check_matrix(A):
    return check_array(
        A, accept_sparse=("csr", "csc"), dtype=np.float64, input_name="A"
    )


def _check_alpha(alpha):
    if not (isinstance(alpha, Real) and np.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}.")
    return float(alpha)


def _transpose(X):
    return X.T.tocsr() if sp.issparse(X) else X.T


def _sample_columns(X, idx, weights):
    if sp.issparse(X):
        return sp.csr_matrix(X[:, idx] @ sp.diags(weights))
    return X[:, idx] * weights


# Published by ``sketching.py``: documented, pickled and shown under that name.
for _cls in (CountSketch, SurrogateSketch):
    _cls.__module__ = "sklearn_convexnn.sketching"
