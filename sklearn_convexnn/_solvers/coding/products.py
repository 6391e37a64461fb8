"""Repeated matrix products through coded workers: the coded data passes.

:class:`CodedProducts` (public as ``sklearn_convexnn.coding.CodedProducts``)
encodes a matrix once per orientation and answers every product ``A @ V``
or ``A.T @ R`` exactly from the earliest decodable set of simulated
workers. :class:`CodedDataProducts` runs the Newton solver's data passes
(``_solvers/sketch/problems.DataProducts``) through it. Both sit here, below
the estimators, because two estimator modules use them: ``coding.py``
publishes them and ``distributed.py`` runs its passes through them.

A code is any object with the interface of ``coding.py``'s codes
(``n_workers``, ``n_blocks``, ``encode``, ``decode``, ``is_decodable``).
"""

import copy

import numpy as np
from sklearn.utils.parallel import Parallel, delayed

from ...exceptions import NotDecodableError
from ..sketch.problems import DataProducts
from .stragglers import StragglerSimulator

__all__ = ["CodedDataProducts", "CodedProducts", "check_dense", "earliest_products", "is_code"]

_CODE_INTERFACE = ("n_workers", "n_blocks", "encode", "decode", "is_decodable")


def is_code(obj):
    """Whether ``obj`` has a code's interface (PolarCode, MDSCode, ...)."""
    return all(hasattr(obj, name) for name in _CODE_INTERFACE)


def check_dense(A, name):
    """``A`` as a finite, non-empty, dense float array (1-D or 2-D)."""
    if hasattr(A, "toarray") or hasattr(A, "tocsr"):
        raise TypeError(f"{name} must be a dense array; sparse input is not supported.")
    A = np.asarray(A, dtype=float)
    if A.ndim not in (1, 2) or A.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 1-D or 2-D array; got shape {A.shape}.")
    if not np.all(np.isfinite(A)):
        raise ValueError(f"{name} contains NaN or infinity.")
    return A


def earliest_products(code, coded, B, stragglers, n_jobs=None):
    """Products of the earliest decodable set of simulated workers.

    ``coded`` are the workers' blocks (``code.encode``); ``stragglers``
    draws the finishing times. Returns ``(time, workers, results)``,
    ``results`` mapping each used worker to ``coded[i] @ B`` (what
    ``code.decode`` takes).

    Raises
    ------
    NotDecodableError
        If even all workers do not suffice.
    """
    t, workers = stragglers.completion_time(code)
    if not np.isfinite(t):
        raise NotDecodableError(f"{code!r} cannot decode even from all workers.")
    outputs = Parallel(n_jobs=n_jobs)(delayed(np.matmul)(coded[i], B) for i in workers)
    return t, workers, dict(zip(workers.tolist(), outputs))


class CodedProducts:
    """Repeated products ``A @ V`` and ``A.T @ R`` through coded workers.

    ``A`` is encoded once per orientation (by copies of ``code``; the
    object passed in is not modified); every product then draws the
    workers' finishing times, computes the products of the earliest
    decodable set of workers through joblib and decodes. The answer is the
    exact product whatever the stragglers do; only which workers were used
    and when changes. This is how an iterative solver runs its data passes
    through a code.

    Parameters
    ----------
    A : array-like of shape (n_rows, n_columns)
        Matrix split into row blocks (and its transpose, for :meth:`rmatmul`).
    code : PolarCode, MDSCode, ReplicationCode or UncodedCode
        Template code; ``A`` is split into its ``n_blocks`` row blocks,
        ``A.T`` likewise.
    stragglers : StragglerSimulator or None, default=None
        None: ``StragglerSimulator(random_state=random_state)``.
    n_jobs : int or None, default=None
        Joblib ``n_jobs`` for the workers' products.
    random_state : int, RandomState instance or None, default=None
        Seeds the codes' row mixing and the default simulator.
        Seeds the default simulator.

    Attributes
    ----------
    n_passes_ : int
        Products computed so far.
    completion_time_ : float
        Sum of the simulated completion times of those products.
    workers_used_ : list of ndarray
        Workers used by each product, in arrival order.

    See Also
    --------
    coded_matmul : One product, on a simulated or real joblib backend.
    StragglerSimulator : The default model of when each worker answers.

    References
    ----------
    {reference}

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn.coding import CodedProducts, PolarCode
    >>> rng = np.random.default_rng(0)
    >>> A, v = rng.standard_normal((30, 4)), rng.standard_normal(4)
    >>> products = CodedProducts(A, PolarCode(8, 4), random_state=0)
    >>> bool(np.allclose(products.matmul(v), A @ v))
    True
    >>> r = rng.standard_normal(30)
    >>> bool(np.allclose(products.rmatmul(r), A.T @ r)), products.n_passes_
    (True, 2)
    """

    def __init__(self, A, code, *, stragglers=None, n_jobs=None, random_state=None):
        if not is_code(code):
            raise TypeError(
                "code must be a PolarCode, MDSCode, ReplicationCode or UncodedCode; "
                f"got {type(code).__name__}."
            )
        A = check_dense(A, "A")
        if A.ndim != 2:
            raise ValueError(f"A must be 2-D; got shape {A.shape}.")
        self.code = code
        self.stragglers = (
            stragglers if stragglers is not None else StragglerSimulator(random_state=random_state)
        )
        self.n_jobs = n_jobs
        self._A = A
        self._encoded = {}
        self.n_passes_, self.completion_time_, self.workers_used_ = 0, 0.0, []

    def matmul(self, V):
        """``A @ V``, decoded from the earliest decodable set of workers.

        Parameters
        ----------
        V : array-like of shape (n_columns,) or (n_columns, k)
            Right-hand side of the product.

        Returns
        -------
        ndarray of shape (n_rows,) or (n_rows, k)
        """
        return self._product("forward", V)

    def rmatmul(self, R):
        """``A.T @ R``, decoded from the earliest decodable set of workers.

        Parameters
        ----------
        R : array-like of shape (n_rows,) or (n_rows, k)
            Right-hand side of the adjoint product.

        Returns
        -------
        ndarray of shape (n_columns,) or (n_columns, k)
        """
        return self._product("adjoint", R)

    def _product(self, side, V):
        if side not in self._encoded:
            code = copy.deepcopy(self.code)
            matrix = self._A if side == "forward" else self._A.T
            self._encoded[side] = (code, code.encode(matrix))
        code, coded = self._encoded[side]
        V = np.asarray(V, dtype=float)
        t, workers, results = earliest_products(code, coded, V, self.stragglers, self.n_jobs)
        self.n_passes_ += 1
        self.completion_time_ += t
        self.workers_used_.append(workers)
        return code.decode(results)


class CodedDataProducts(DataProducts):
    """The Newton solver's data passes, ``X @ W`` and ``X^T @ R``, coded.

    A drop-in for the solver's one object of data passes
    (:class:`~sklearn_convexnn._solvers.sketch.problems.DataProducts`):
    scores and gradients go through :class:`CodedProducts` (decoded
    exactly from the earliest decodable simulated workers), the Hessian
    factors the sketching workers use are the uncoded ones. Sparse ``X`` is
    densified for the coded copies (coded blocks mix rows).

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n, d)
    code : PolarCode, MDSCode, ReplicationCode or UncodedCode
        Template code (copied, never modified).
    n_jobs : int or None, default=None
        Joblib ``n_jobs`` of the workers' products.
    random_state : int, RandomState instance or None, default=0
        Seeds the code's row mixing and the straggler simulator.
        Seeds the straggler draws (which change only the workers used).
    """

    def __init__(self, X, code, *, n_jobs=None, random_state=0):
        super().__init__(X)
        dense = X.toarray() if hasattr(X, "toarray") else X
        self.products = CodedProducts(dense, code, n_jobs=n_jobs, random_state=random_state)

    def forward(self, W):
        """``X @ W`` through the code."""
        return self.products.matmul(W)

    def backward(self, R):
        """``X^T @ R`` through the code."""
        return self.products.rmatmul(R)


# Published by ``coding.py``: documented, pickled and shown under that name.
CodedProducts.__module__ = "sklearn_convexnn.coding"
