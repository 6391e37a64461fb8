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
``_sketch_rows``. The base class, :class:`CountSketch` and
:class:`SurrogateSketch` are defined one floor below, in ``_sketch_base.py``,
because the distributed meta-estimators use them as their default sketches;
they are published here with the others.
"""

from numbers import Real
from typing import ClassVar

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions

from ._sketch_base import (
    CountSketch,
    SurrogateSketch,
    _BaseSketch,
    _check_alpha,
    _check_matrix,
    _RowSampler,
    _sample_columns,
    _transpose,
)
from ._solvers.sketch import trig_sketch as trig
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

    def _draw_flops(self, A, size):
        return 2.0 * self.n_components * size

    def _fit_operator(self, X, rng):
        m, n = self.n_components, X.shape[1]
        self.components_ = rng.standard_normal((m, n)) / np.sqrt(m)
        return m

    def _transform(self, X):
        return np.asarray(X @ self.components_.T)

    def _sketch_rows(self, A, rng):
        return ops.gaussian_rows(A, self.n_components, rng)


class SRHTSketch(_BaseSketch):
    """Subsampled randomized fast transform ``S = sqrt(n_pad/m) P T D``.

    ``D`` flips the signs of the ``n`` inputs at random, which are zero
    padded to ``n_pad``; ``T`` is an orthogonal fast transform of size
    ``n_pad`` whose entries all have size ``O(1/sqrt(n_pad))``, and ``P``
    keeps ``m`` of its outputs chosen uniformly without replacement (if
    ``m > n_pad``, every output ``m // n_pad`` times plus the rest without
    replacement). ``E[S^T S] = I_n``; ``S`` is never formed. Three
    transforms (``transform_kind``):

    * ``"fourier"`` (default): the real discrete Fourier transform (the
      cosine and sine parts of the FFT, orthonormally scaled; see
      :mod:`sklearn_convexnn._solvers.sketch.trig_sketch`), by
      ``scipy.fft.rfft``.
    * ``"dct"``: the orthonormal DCT-II, by ``scipy.fft.dct``.
    * ``"hadamard"``: the Walsh-Hadamard transform (the classic SRHT,
      ``T = H / sqrt(n_pad)`` with ``H`` the +-1 Sylvester matrix),
      ``n_pad`` the next power of two; ``O(n d sqrt(m))`` flops in a few
      large BLAS calls (only the sampled outputs are computed; see
      :mod:`sklearn_convexnn._solvers.sketch.sketch_operators`).

    For the two trigonometric transforms ``n_pad`` is the next fast FFT
    length (``n`` itself for most ``n``) and the cost ``O(n d log n)``, in
    one compiled call per block of rows. All three are subsampled
    randomized orthogonal transforms with the same subspace-embedding
    guarantees [2]_ [3]_. The real Fourier transform is the default: it
    took the least CPU time on the features benchmark (about 15-20% less
    than the other two when ``n`` is a power of two; see
    ``benchmarks/bench_sketching.py``), scales better over threads on a
    busy machine (fewer, larger calls), and pads far less than the
    Hadamard transform otherwise (``n = 4097`` pads to 4320 instead of
    8192). Sparse input is accepted but densified (in row chunks in the
    feature direction).

    Parameters
    ----------
    n_components : int, default=100
        Sketch size ``m``.
    transform_kind : {"fourier", "dct", "hadamard"}, default="fourier"
        The orthogonal transform ``T``.
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
    .. [3] F. Woolfe, E. Liberty, V. Rokhlin, M. Tygert. A fast randomized
       algorithm for the approximation of matrices. Applied and
       Computational Harmonic Analysis 25(3), 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn.sketching import SRHTSketch
    >>> X = np.random.default_rng(0).standard_normal((50, 20))
    >>> SRHTSketch(n_components=8, random_state=0).fit_transform(X).shape
    (50, 8)
    >>> SRHTSketch(n_components=10).sketch(X, random_state=0).shape
    (10, 20)
    >>> SRHTSketch(8, random_state=0).fit(X).n_padded_  # 20 is a fast FFT length
    20
    >>> SRHTSketch(8, transform_kind="hadamard", random_state=0).fit(X).n_padded_
    32
    """

    _parameter_constraints: ClassVar[dict] = {
        **_BaseSketch._parameter_constraints,
        "transform_kind": [StrOptions({"fourier", "dct", "hadamard"})],
    }

    def __init__(
        self, n_components=100, *, transform_kind="fourier", random_state=None
    ):
        super().__init__(n_components=n_components, random_state=random_state)
        self.transform_kind = transform_kind

    def _draw_flops(self, A, size):
        if self.transform_kind == "hadamard":
            return 4.0 * size * np.sqrt(self.n_components)
        return 5.0 * size * np.log2(max(A.shape[0], 2))

    def _draw(self, n, rng):
        if self.transform_kind == "hadamard":
            return ops.draw_srht(n, self.n_components, rng)
        return trig.draw_trig(n, self.n_components, rng)

    def _fit_operator(self, X, rng):
        self.signs_, self.sample_indices_, self.n_padded_ = self._draw(X.shape[1], rng)
        return self.n_components

    def _transform(self, X):
        args = (X, self.signs_, self.sample_indices_, self.n_padded_)
        if self.transform_kind == "hadamard":
            return ops.srht_columns(*args)
        return trig.trig_columns(*args, self.transform_kind)

    def _sketch_rows(self, A, rng):
        args = (A, *self._draw(A.shape[0], rng))
        if self.transform_kind == "hadamard":
            return ops.srht_rows(*args)
        return trig.trig_rows(*args, self.transform_kind)


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
