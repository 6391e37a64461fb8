"""Randomized sketches, in both directions.

Every sketch is a random operator ``S`` of shape ``(m, n)`` with
``m = n_components``, scaled so that ``E[S^T S] = I_n`` (for the surrogate
sketch, see its docstring). It is used two ways:

* **features** -- a scikit-learn transformer like
  :class:`~sklearn.random_projection.GaussianRandomProjection`: ``fit(X)``
  draws ``S`` for ``n = n_features`` and ``transform(X)`` returns
  ``X @ S.T`` of shape ``(n_samples, m)``, so ``||S x|| ~ ||x||`` per sample.
* **rows** -- ``sketch(A, random_state=None)`` draws a fresh ``S`` for
  ``n = A.shape[0]`` and returns ``S @ A`` of shape ``(m, d)``: the
  compressed data of sketch-and-solve and the Newton sketch. It needs no
  ``fit``.

The maths lives in :mod:`sklearn_convexnn._solvers.sketch.sketch_operators`; this
module holds the thin scikit-learn shells. One base class validates the
input once and calls the private methods each sketch implements:
``_fit_operator`` (draw ``S`` for the features), ``_transform`` and
``_sketch_rows``.
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

__all__ = [
    "CountSketch",
    "GaussianSketch",
    "LeverageScoreSketch",
    "SRHTSketch",
    "SurrogateSketch",
    "effective_dimension",
    "ridge_leverage_scores",
]


def effective_dimension(A, alpha):
    """Effective dimension ``d_alpha = tr(A^T A (A^T A + alpha I)^{-1})``.

    Computed from the eigenvalues of the smaller Gram matrix (``A^T A`` or
    ``A A^T``). ``alpha`` is the ridge added to ``A^T A`` itself (not
    divided by the number of rows). For ``alpha = 0`` it is the numerical
    rank of ``A``.

    Parameters
    ----------
    A : {array-like, sparse matrix} of shape (n, d)
        The data.
    alpha : float >= 0
        The ridge.

    Returns
    -------
    d_alpha : float
        A number in ``[0, min(n, d)]``.

    See Also
    --------
    ridge_leverage_scores : The per-row terms that sum to ``d_alpha``.
    SurrogateSketch : Needs ``n_components > d_alpha``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn.sketching import effective_dimension
    >>> A = np.diag([3.0, 1.0, 0.0])
    >>> round(effective_dimension(A, alpha=1.0), 3)  # 9/10 + 1/2
    1.4
    """
    A = _check_matrix(A)
    return ops.effective_dimension(A, _check_alpha(alpha))


def ridge_leverage_scores(A, alpha):
    """Ridge leverage scores ``diag(A (A^T A + alpha I)^{-1} A^T)``.

    Exact, through the eigen-decomposition of the smaller Gram matrix
    (pseudo-inverse when ``alpha = 0``). They lie in ``[0, 1]`` and sum to
    :func:`effective_dimension`.

    Parameters
    ----------
    A : {array-like, sparse matrix} of shape (n, d)
        The data.
    alpha : float >= 0
        The ridge added to ``A^T A``.

    Returns
    -------
    scores : ndarray of shape (n,)
        The score of each row of ``A``.

    See Also
    --------
    effective_dimension : Their sum.
    LeverageScoreSketch : Row sampling by these scores.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn.sketching import ridge_leverage_scores
    >>> A = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    >>> ridge_leverage_scores(A, alpha=0.0).round(3)
    array([0.5, 0.5, 1. ])
    """
    A = _check_matrix(A)
    return ops.ridge_leverage_scores(A, _check_alpha(alpha))


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

    @property
    def _n_features_out(self):
        return self.n_components_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


class GaussianSketch(_BaseSketch):
    """Dense Gaussian sketch: i.i.d. ``N(0, 1/m)`` entries.

    ``S`` has shape ``(m, n)``, ``m = n_components``; ``E[S^T S] = I_n``.
    In the feature direction this is the same operator as
    :class:`~sklearn.random_projection.GaussianRandomProjection`. In the row
    direction ``S`` is drawn in column blocks, so no more than about 32 MB
    of it exists at a time. Cost ``O(m n d)``; the reference the structured
    sketches are measured against.

    Parameters
    ----------
    n_components : int, default=100
        Sketch size ``m``.
    random_state : int, RandomState, Generator or None, default=None
        Randomness of ``fit`` and (unless overridden) of ``sketch``.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features_in_)
        The operator ``S`` of the feature direction.
    n_components_ : int
        Number of output features.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``, if they are all strings.

    See Also
    --------
    SRHTSketch : Structured, ``O(n d sqrt(m))``, never forms ``S``.
    CountSketch : Sparse, ``O(nnz)``.
    sklearn.random_projection.GaussianRandomProjection : The same operator
        in the feature direction.

    References
    ----------
    .. [1] W. B. Johnson, J. Lindenstrauss. Extensions of Lipschitz mappings
       into a Hilbert space. Contemporary Mathematics 26, 1984.
    .. [2] D. P. Woodruff. Sketching as a tool for numerical linear algebra.
       Foundations and Trends in Theoretical Computer Science 10, 2014.
    .. [3] M. Pilanci, M. J. Wainwright. Newton sketch: a near linear-time
       optimization algorithm with linear-quadratic convergence. SIAM
       Journal on Optimization 27(1), 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn.sketching import GaussianSketch
    >>> X = np.random.default_rng(0).standard_normal((50, 20))
    >>> GaussianSketch(n_components=5, random_state=0).fit_transform(X).shape
    (50, 5)
    >>> GaussianSketch(n_components=10).sketch(X, random_state=0).shape
    (10, 20)
    """

    def _fit_operator(self, X, rng):
        m, n = self.n_components, X.shape[1]
        self.components_ = rng.standard_normal((m, n)) / np.sqrt(m)
        return m

    def _transform(self, X):
        return np.asarray(X @ self.components_.T)

    def _sketch_rows(self, A, rng):
        return ops.gaussian_rows(A, self.n_components, rng)


class SRHTSketch(_BaseSketch):
    """Subsampled randomized Hadamard transform ``S = (1/sqrt(m)) P H D``.

    ``D`` flips the signs of the ``n`` inputs at random, which are zero
    padded to the next power of two ``n_pad``; ``H`` is the (unnormalized,
    +-1) Walsh-Hadamard transform of size ``n_pad`` and ``P`` keeps ``m``
    of its outputs chosen uniformly without replacement (if ``m > n_pad``,
    every output ``m // n_pad`` times plus the rest without replacement).
    ``E[S^T S] = I_n``. Cost ``O(n d sqrt(m))`` flops in a few large BLAS
    calls (only the sampled outputs of the transform are computed; see
    :mod:`sklearn_convexnn._solvers.sketch.sketch_operators`); ``S`` is never
    formed. Sparse input is accepted but densified (in row chunks in the
    feature direction).

    Parameters
    ----------
    n_components : int, default=100
        Sketch size ``m``.
    random_state : int, RandomState, Generator or None, default=None
        Randomness of ``fit`` and (unless overridden) of ``sketch``.

    Attributes
    ----------
    signs_ : ndarray of shape (n_features_in_,)
        The random signs ``D``.
    sample_indices_ : ndarray of shape (n_components,)
        The kept outputs of the padded transform, sorted.
    n_padded_ : int
        The padded size ``n_pad``.
    n_components_ : int
        Number of output features.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``, if they are all strings.

    See Also
    --------
    GaussianSketch : The dense reference operator.
    CountSketch : Sparse, ``O(nnz)``, for sparse data.

    References
    ----------
    .. [1] N. Ailon, B. Chazelle. The fast Johnson-Lindenstrauss transform
       and approximate nearest neighbors. SIAM Journal on Computing 39(1),
       2009.
    .. [2] J. A. Tropp. Improved analysis of the subsampled randomized
       Hadamard transform. Advances in Adaptive Data Analysis 3, 2011.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn.sketching import SRHTSketch
    >>> X = np.random.default_rng(0).standard_normal((50, 20))
    >>> SRHTSketch(n_components=8, random_state=0).fit_transform(X).shape
    (50, 8)
    >>> SRHTSketch(n_components=10).sketch(X, random_state=0).shape
    (10, 20)
    """

    def _fit_operator(self, X, rng):
        self.signs_, self.sample_indices_, self.n_padded_ = ops.draw_srht(
            X.shape[1], self.n_components, rng
        )
        return self.n_components

    def _transform(self, X):
        return ops.srht_columns(X, self.signs_, self.sample_indices_, self.n_padded_)

    def _sketch_rows(self, A, rng):
        signs, rows, n_pad = ops.draw_srht(A.shape[0], self.n_components, rng)
        return ops.srht_rows(A, signs, rows, n_pad)


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


class LeverageScoreSketch(_BaseSketch):
    """Row sampling by ridge leverage scores.

    ``m`` rows are drawn i.i.d. with probabilities ``p_i = l_i / d_alpha``,
    ``l_i`` the ridge leverage scores ``diag(A (A^T A + alpha I)^{-1} A^T)``
    and ``d_alpha`` their sum (the effective dimension); row ``i`` is
    scaled by ``1 / sqrt(m p_i)``. ``E[S^T S] = I_n`` on the rows with
    ``p_i > 0`` (all nonzero rows of ``A``).

    In the feature direction, ``fit`` computes the column ridge leverage
    scores of ``X`` (those of the rows of ``X^T``,
    ``diag(G (G + alpha I)^{-1})`` with ``G = X^T X``) and samples ``m``
    columns by them; ``transform`` returns those columns of ``X``, scaled.

    Parameters
    ----------
    n_components : int, default=100
        Sketch size ``m`` (number of rows drawn, with replacement).
    alpha : float >= 0, default=1.0
        The ridge added to ``A^T A`` (not divided by the number of rows);
        0 gives the ordinary leverage scores.
    scores : {"exact", "sketched"}, default="exact"
        ``"exact"``: through the eigen-decomposition of the smaller Gram
        matrix, ``O(n d min(n, d))``. ``"sketched"``: approximated (within a
        constant factor w.h.p.) from a CountSketch of ``20 d`` rows and
        Gaussian probes, ``O(nnz(A) min(d, 32) + d^3)``, for large ``n``.
        Either way the sampling is exactly unbiased, as rows are scaled by
        the probabilities actually used.
    random_state : int, RandomState, Generator or None, default=None
        Randomness of ``fit`` and (unless overridden) of ``sketch``.

    Attributes
    ----------
    probabilities_ : ndarray of shape (n_features_in_,)
        Column sampling probabilities.
    sample_indices_ : ndarray of shape (n_components,)
        The sampled columns, sorted (with repeats).
    weights_ : ndarray of shape (n_components,)
        Their scaling ``1 / sqrt(m p_j)``.
    n_components_ : int
        Number of output features.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``, if they are all strings.

    See Also
    --------
    SurrogateSketch : Row sampling made unbiased for ridge inverses.
    ridge_leverage_scores : The scores, exactly.

    References
    ----------
    .. [1] A. E. Alaoui, M. W. Mahoney. Fast randomized kernel methods with
       statistical guarantees. NeurIPS 2015.
    .. [2] P. Drineas, M. Magdon-Ismail, M. W. Mahoney, D. P. Woodruff. Fast
       approximation of matrix coherence and statistical leverage. JMLR 13,
       2012.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn.sketching import LeverageScoreSketch
    >>> A = np.random.default_rng(0).standard_normal((500, 10))
    >>> LeverageScoreSketch(n_components=60, alpha=1.0).sketch(A, random_state=0).shape
    (60, 10)
    >>> LeverageScoreSketch(n_components=4, random_state=0).fit_transform(A).shape
    (500, 4)
    """

    _parameter_constraints: ClassVar[dict] = {
        **_BaseSketch._parameter_constraints,
        "alpha": [Interval(Real, 0, None, closed="left")],
        "scores": [StrOptions({"exact", "sketched"})],
    }

    def __init__(
        self, n_components=100, *, alpha=1.0, scores="exact", random_state=None
    ):
        super().__init__(n_components=n_components, random_state=random_state)
        self.alpha = alpha
        self.scores = scores

    def _probabilities(self, A, rng):
        base = "leverage" if self.scores == "exact" else "sketched"
        return ops.sampling_probabilities(A, self.alpha, base, rng)

    def _fit_operator(self, X, rng):
        self.probabilities_ = self._probabilities(_transpose(X), rng)
        self.sample_indices_, self.weights_ = ops.iid_sample(
            self.probabilities_, self.n_components, rng
        )
        return self.n_components

    def _transform(self, X):
        return _sample_columns(X, self.sample_indices_, self.weights_)

    def _sketch_rows(self, A, rng):
        p = self._probabilities(A, rng)
        idx, weights = ops.iid_sample(p, self.n_components, rng)
        return ops.apply_row_sample(A, idx, weights)

    def _prepare_rows(self, A):
        self._validate_params()
        A = _check_matrix(A)
        if self.scores != "exact":  # randomized scores: drawn with each sketch
            return _RowSampler(self, A)
        p = ops.sampling_probabilities(A, self.alpha, "leverage")
        return _RowSampler(self, A, probabilities=p)


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
        m = sketch.n_components
        if isinstance(sketch, GaussianSketch):
            self.flops = 2.0 * m * size
        elif isinstance(sketch, SRHTSketch):
            self.flops = 4.0 * size * np.sqrt(m)
        elif isinstance(sketch, SurrogateSketch):  # the DPP part: rows x d_alpha^2
            self.flops = 4.0 * size * min(A.shape)
        else:  # CountSketch, row sampling: one pass
            self.flops = 2.0 * size

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
