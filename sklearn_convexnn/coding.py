"""Coded distributed computation: polar codes and their baselines.

A matrix ``A`` is split into ``K`` row blocks and encoded into ``N >= K``
coded blocks, one per worker; each worker applies the same linear map to
its block (``block @ x`` or ``block @ B``). The master decodes ``A @ x``
from whichever workers answer first, so slow workers (stragglers) need not
be waited for. :class:`PolarCode` decodes by successive cancellation over
the reals in ``O(N log N)`` additions and subtractions of blocks;
:class:`MDSCode` from any ``K`` workers by a ``K x K`` solve;
:class:`ReplicationCode` and :class:`UncodedCode` are the simple baselines.
Every code mixes the rows of ``A`` by a random orthogonal map first, so
that :meth:`~PolarCode.anytime_estimate` gives an unbiased estimate of
``A @ x`` with an exact error formula from any set of workers.

:func:`coded_matmul` runs the workers' products on a joblib backend (so on
a Dask cluster under ``joblib.parallel_config(backend="dask")``) and
returns once the arrived set is decodable; :class:`StragglerSimulator`
draws the workers' finishing times. :class:`CodedProducts` runs an
iterative solver's repeated data passes ``A @ v``, ``A.T @ r`` through a
code.

The maths is in :mod:`sklearn_convexnn._solvers.coding`; so are
:class:`StragglerSimulator` and :class:`CodedProducts` (with the coded
Newton passes ``CodedDataProducts``), because ``distributed.py`` runs its
data passes through them: they are published here.
"""

import time
import warnings
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
from sklearn.utils import Bunch, check_random_state
from sklearn.utils.parallel import Parallel, delayed

from ._solvers.coding.anytime import RowMixing, projected_blocks
from ._solvers.coding.mds import gaussian_generator, mds_decode, vandermonde_generator
from ._solvers.coding.polar import (
    information_positions,
    polar_generator,
    polar_transform,
    sc_decodable,
    sc_decode,
)
from ._solvers.coding.products import (
    CodedDataProducts,  # noqa: F401 (distributed.py's passes)
    CodedProducts,
    earliest_products,
)
from ._solvers.coding.products import check_dense as _check_matrix
from ._solvers.coding.stragglers import StragglerSimulator
from .exceptions import NotDecodableError

__all__ = [
    "CodedProducts",
    "MDSCode",
    "PolarCode",
    "ReplicationCode",
    "StragglerSimulator",
    "UncodedCode",
    "coded_matmul",
]

_REFERENCE = """B. Bartan and M. Pilanci. Randomized polar codes for anytime
    distributed machine learning. IEEE Journal on Selected Areas in
    Information Theory, 2023. arXiv:2309.00682."""


class _BaseCode:
    """Encoding, decoding interface and the anytime estimator."""

    def __init__(self, n_workers, n_blocks, *, randomize="sign", random_state=None):
        self.n_workers = _check_int(n_workers, "n_workers", 1)
        self.n_blocks = _check_int(n_blocks, "n_blocks", 1)
        if self.n_blocks > self.n_workers:
            raise ValueError(
                f"n_blocks={n_blocks} exceeds n_workers={n_workers}: a code "
                "needs at least as many workers as data blocks."
            )
        if randomize not in ("sign", "gaussian", "none"):
            raise ValueError(f"randomize must be 'sign', 'gaussian' or 'none'; got {randomize!r}.")
        self.randomize = randomize
        self.random_state = random_state
        self._rng = check_random_state(random_state)

    def encode(self, A):
        """Split ``A`` into row blocks and return the workers' coded blocks.

        The rows are zero-padded to ``n_blocks * block_rows_`` and mixed by
        the random orthogonal map (``randomize``), drawn anew at each call.
        A code object holds one encoded matrix at a time: :meth:`decode`
        and :meth:`anytime_estimate` undo the mixing of the last call, so
        encode each matrix with its own code object (``copy.deepcopy``).

        Parameters
        ----------
        A : array-like of shape (n_rows,) or (n_rows, n_columns)
            Matrix (or vector) to encode, split into ``n_blocks`` row blocks.

        Returns
        -------
        coded : ndarray of shape (n_workers, block_rows_) or (n_workers, block_rows_, n_columns)
            ``coded[i] = sum_k generator_[i, k] A_k``, worker ``i``'s block.
        """
        A = _check_matrix(A, "A")
        n_rows = A.shape[0]
        K = self.n_blocks
        b = -(-n_rows // K)
        padded = np.zeros((K * b, *A.shape[1:]))
        padded[:n_rows] = A
        mixing = RowMixing(K * b, self.randomize, self._rng)
        blocks = mixing.apply(padded).reshape((K, b, *A.shape[1:]))
        self.n_rows_, self.block_rows_, self.mixing_ = n_rows, b, mixing
        return self._encode_blocks(blocks)

    def _encode_blocks(self, blocks):
        return np.tensordot(self.generator_, blocks, axes=1)

    def is_decodable(self, available):
        """Whether :meth:`decode` succeeds from these workers.

        Parameters
        ----------
        available : iterable of int, mapping, or boolean mask of shape (n_workers,)
            The workers whose outputs have arrived.

        Returns
        -------
        bool
        """
        return self._is_decodable(self._workers(available))

    def decode(self, results):
        """The exact product from the workers' outputs.

        Parameters
        ----------
        results : mapping of int to array
            ``{worker: output}``, each output the same linear map of that
            worker's coded block (e.g. ``coded[i] @ x``), first arrived
            first.

        Returns
        -------
        ndarray of shape (n_rows,) or (n_rows, ...)
            The map applied to ``A`` (e.g. ``A @ x``), padding removed.

        Raises
        ------
        NotDecodableError
            If the workers do not suffice for this code's decoder.
        """
        workers, Y = self._results(results)
        U = self._decode_blocks(workers, Y)
        if U is None:
            raise NotDecodableError(
                f"{type(self).__name__}(n_workers={self.n_workers}, n_blocks="
                f"{self.n_blocks}) cannot decode from the {len(workers)} "
                f"workers {sorted(workers.tolist())}."
            )
        return self._unmix(U)

    def anytime_estimate(self, results):
        """Unbiased estimate of the product from any set of workers.

        The arrived outputs determine the projection of the (mixed) data
        blocks on the row space of their generator rows, of rank ``r``;
        scaled by ``n_blocks / r`` and unmixed, it is unbiased over the
        random mixing, with mean squared error exactly
        ``(n_blocks / r - 1) ||A x||^2``. When the set is decodable the
        estimate is the exact product.

        Parameters
        ----------
        results : mapping of int to array
            As for :meth:`decode`.

        Returns
        -------
        estimate : ndarray
            Shaped as the output of :meth:`decode`.
        relative_error : float
            ``sqrt(E ||estimate - A x||^2) / ||A x||`` (padding included):
            ``sqrt(n_blocks / r - 1)``, 0 when decodable, ``inf`` when
            nothing has arrived.
        """
        if self.randomize == "none":
            raise ValueError(
                "anytime_estimate needs a randomized code (randomize='sign' or "
                "'gaussian'): without the random mixing the estimate is biased."
            )
        workers, Y = self._results(results)
        U = self._decode_blocks(workers, Y)
        if U is not None:
            return self._unmix(U), 0.0
        U, rank = projected_blocks(self.generator_, workers, Y)
        if rank == 0:
            return self._unmix(U), np.inf
        ratio = self.n_blocks / rank
        return self._unmix(ratio * U), float(np.sqrt(max(ratio - 1.0, 0.0)))

    # -- shared plumbing ------------------------------------------------------

    def _workers(self, available):
        if isinstance(available, np.ndarray) and available.dtype == bool:
            if available.shape != (self.n_workers,):
                raise ValueError(
                    f"A boolean mask of workers must have shape ({self.n_workers},); "
                    f"got {available.shape}."
                )
            return np.flatnonzero(available)
        workers = np.fromiter(available, dtype=int)
        if workers.size and (workers.min() < 0 or workers.max() >= self.n_workers):
            raise ValueError(
                f"Worker indices must lie in [0, {self.n_workers}); got "
                f"{workers.min()}..{workers.max()}."
            )
        return workers

    def _results(self, results):
        if not hasattr(self, "mixing_"):
            raise ValueError("Call encode(A) before decoding: the code is not set up.")
        if not isinstance(results, Mapping):
            raise TypeError(
                f"results must be a mapping {{worker index: output}}; got {type(results).__name__}."
            )
        workers = self._workers(results.keys())
        if not len(workers):
            return workers, np.zeros((0, self.block_rows_))
        try:
            Y = np.asarray(list(results.values()), dtype=float)
        except ValueError as exc:
            raise ValueError(f"Workers' outputs differ in shape: {exc}") from None
        if Y.shape[1:2] != (self.block_rows_,):
            raise ValueError(
                f"Each output must have {self.block_rows_} rows (one per row of a "
                f"coded block); got shape {Y.shape[1:]}."
            )
        return workers, Y

    def _unmix(self, U):
        flat = U.reshape((-1, *U.shape[2:]))
        return self.mixing_.adjoint(flat)[: self.n_rows_]

    def __repr__(self):
        return f"{type(self).__name__}(n_workers={self.n_workers}, n_blocks={self.n_blocks})"


class PolarCode(_BaseCode):
    """Real-valued polar code with successive-cancellation decoding.

    ``N = n_workers`` (a power of two) coded blocks from ``K = n_blocks``
    data blocks: the message ``u`` has the data blocks at the ``K`` most
    reliable positions of the erasure-channel recursion
    ``z -> (2 z - z^2, z^2)`` and zeros elsewhere, and worker ``j`` holds
    block ``j`` of ``u F^{(x)n}``, ``F = [[1, 0], [1, 1]]``. Successive
    cancellation recovers the data with additions and subtractions only,
    ``O(N log N)`` block operations and no linear solve, so it stays exact
    at sizes where a real MDS decoder is slow or unstable; in exchange it
    needs somewhat more than ``K`` workers.

    Parameters
    ----------
    n_workers : int
        Number ``N`` of workers, a power of two.
    n_blocks : int
        Number ``K <= N`` of data blocks.
    design : {"erasure"}, default="erasure"
        How the information positions are chosen: the erasure-channel
        (Bhattacharyya) recursion.
    erasure_prob : float in (0, 1) or None, default=None
        Straggler probability the code is designed for. None:
        ``1 - K / N``, the capacity-matching design.
    randomize : {"sign", "gaussian", "none"}, default="sign"
        Random orthogonal mixing of the rows before encoding: random signs
        and a random permutation (``O(n)``), or a Haar rotation
        (``O(n^2)``, refused above 2048 rows). Needed by
        :meth:`anytime_estimate`; exact decoding does not depend on it.
    random_state : int, RandomState instance or None, default=None
        Seeds the mixing.

    Attributes
    ----------
    generator_ : ndarray of shape (n_workers, n_blocks)
        Worker ``i`` holds ``sum_k generator_[i, k] A_k`` (0/1 entries).
    information_positions_ : ndarray of shape (n_blocks,)
        Positions of ``u`` carrying the data blocks, in block order.
    n_rows_, block_rows_ : int
        Rows of the last encoded ``A`` and of each block (set by
        :meth:`encode`).

    See Also
    --------
    MDSCode : Decodable from any ``K`` workers, by a linear solve.
    coded_matmul : Runs a code's workers on a joblib backend.

    References
    ----------
    {reference}

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn.coding import PolarCode
    >>> rng = np.random.default_rng(0)
    >>> A, x = rng.standard_normal((100, 5)), rng.standard_normal(5)
    >>> code = PolarCode(n_workers=8, n_blocks=4, random_state=0)
    >>> coded = code.encode(A)
    >>> coded.shape
    (8, 25, 5)
    >>> results = {i: coded[i] @ x for i in [7, 6, 5, 3, 1]}
    >>> code.is_decodable(results)
    True
    >>> bool(np.allclose(code.decode(results), A @ x))
    True
    >>> code.is_decodable([0, 1, 2, 3])
    False
    >>> estimate, relative_error = code.anytime_estimate({7: coded[7] @ x})
    >>> round(relative_error, 3)
    1.732
    """

    def __init__(
        self,
        n_workers,
        n_blocks,
        *,
        design="erasure",
        erasure_prob=None,
        randomize="sign",
        random_state=None,
    ):
        super().__init__(n_workers, n_blocks, randomize=randomize, random_state=random_state)
        n = self.n_workers
        if n & (n - 1):
            raise ValueError(
                f"PolarCode needs n_workers to be a power of two; got {n}. Use "
                f"{1 << (n.bit_length() - 1)} or {1 << n.bit_length()} workers."
            )
        if design != "erasure":
            raise ValueError(f"design must be 'erasure'; got {design!r}.")
        if erasure_prob is None:
            erasure_prob = 1.0 - self.n_blocks / n
        if not (isinstance(erasure_prob, Real) and 0.0 <= erasure_prob <= 1.0):
            raise ValueError(f"erasure_prob must be a float in [0, 1]; got {erasure_prob!r}.")
        self.design = design
        self.erasure_prob = float(erasure_prob)
        self.information_positions_ = information_positions(n, self.n_blocks, erasure_prob)
        self._info_mask = np.zeros(n, dtype=bool)
        self._info_mask[self.information_positions_] = True
        self.generator_ = polar_generator(n, self.information_positions_)

    def _is_decodable(self, workers):
        return sc_decodable(self._mask(workers), self._info_mask)

    def _encode_blocks(self, blocks):
        # u has the data blocks at the information positions, zeros elsewhere;
        # the butterflies give u G_N in O(N log N) block additions.
        u = np.zeros((self.n_workers, *blocks.shape[1:]))
        u[self.information_positions_] = blocks
        return polar_transform(u)

    def _decode_blocks(self, workers, Y):
        full = np.zeros((self.n_workers, *Y.shape[1:]))
        full[workers] = Y
        return sc_decode(full, self._mask(workers), self._info_mask)

    def _mask(self, workers):
        mask = np.zeros(self.n_workers, dtype=bool)
        mask[workers] = True
        return mask


class MDSCode(_BaseCode):
    """Real-valued MDS code: decodable from any ``n_blocks`` workers.

    Parameters
    ----------
    n_workers : int
        Number ``N`` of workers.
    n_blocks : int
        Number ``K <= N`` of data blocks.
    generator : {"gaussian", "vandermonde"}, default="gaussian"
        I.i.d. Gaussian generator, or systematic real Vandermonde on
        Chebyshev nodes (exponentially ill-conditioned as ``N`` grows).
    decoder : {"solve", "lstsq"}, default="solve"
        ``"solve"``: one ``K x K`` LU solve on the first ``K`` workers to
        arrive. ``"lstsq"``: least squares on every arrived worker.
    randomize : {"sign", "gaussian", "none"}, default="sign"
        Random orthogonal mixing of the rows, see :class:`PolarCode`.
    random_state : int, RandomState instance or None, default=None
        Seeds the generator and the mixing.

    Attributes
    ----------
    generator_ : ndarray of shape (n_workers, n_blocks)

    See Also
    --------
    PolarCode : Decodes in ``O(N log N)`` without a solve.

    References
    ----------
    {reference}

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn.coding import MDSCode
    >>> rng = np.random.default_rng(0)
    >>> A, x = rng.standard_normal((40, 3)), rng.standard_normal(3)
    >>> code = MDSCode(n_workers=6, n_blocks=4, random_state=0)
    >>> coded = code.encode(A)
    >>> results = {i: coded[i] @ x for i in [5, 2, 0, 4]}
    >>> bool(np.allclose(code.decode(results), A @ x))
    True
    """

    def __init__(
        self,
        n_workers,
        n_blocks,
        *,
        generator="gaussian",
        decoder="solve",
        randomize="sign",
        random_state=None,
    ):
        super().__init__(n_workers, n_blocks, randomize=randomize, random_state=random_state)
        if generator == "gaussian":
            G = gaussian_generator(self.n_workers, self.n_blocks, self._rng)
        elif generator == "vandermonde":
            G = vandermonde_generator(self.n_workers, self.n_blocks)
        else:
            raise ValueError(f"generator must be 'gaussian' or 'vandermonde'; got {generator!r}.")
        if decoder not in ("solve", "lstsq"):
            raise ValueError(f"decoder must be 'solve' or 'lstsq'; got {decoder!r}.")
        self.generator = generator
        self.decoder = decoder
        self.generator_ = G

    def _is_decodable(self, workers):
        return len(np.unique(workers)) >= self.n_blocks

    def _decode_blocks(self, workers, Y):
        return mds_decode(self.generator_, workers, Y, method=self.decoder)


class ReplicationCode(_BaseCode):
    """Each data block on ``n_workers / n_blocks`` workers.

    Worker ``i`` holds block ``i mod n_blocks``; the product is decodable
    once every block has one copy back.

    Parameters
    ----------
    n_workers : int
        Number ``N`` of workers, a multiple of ``n_blocks``.
    n_blocks : int
        Number ``K`` of data blocks.
    randomize : {"sign", "gaussian", "none"}, default="sign"
        Random orthogonal mixing of the rows, see :class:`PolarCode`.
    random_state : int, RandomState instance or None, default=None
        Seeds the row mixing.

    Attributes
    ----------
    generator_ : ndarray of shape (n_workers, n_blocks)

    See Also
    --------
    PolarCode, MDSCode, UncodedCode

    References
    ----------
    {reference}

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn.coding import ReplicationCode
    >>> A, x = np.arange(12.0).reshape(6, 2), np.ones(2)
    >>> code = ReplicationCode(n_workers=4, n_blocks=2, random_state=0)
    >>> coded = code.encode(A)
    >>> code.decode({2: coded[2] @ x, 1: coded[1] @ x})
    array([ 1.,  5.,  9., 13., 17., 21.])
    """

    def __init__(self, n_workers, n_blocks, *, randomize="sign", random_state=None):
        super().__init__(n_workers, n_blocks, randomize=randomize, random_state=random_state)
        if self.n_workers % self.n_blocks:
            raise ValueError(
                f"ReplicationCode needs n_workers ({n_workers}) to be a multiple "
                f"of n_blocks ({n_blocks})."
            )
        self.generator_ = np.tile(np.eye(self.n_blocks), (self.n_workers // self.n_blocks, 1))

    def _is_decodable(self, workers):
        return len(np.unique(workers % self.n_blocks)) == self.n_blocks

    def _decode_blocks(self, workers, Y):
        blocks, first = np.unique(workers % self.n_blocks, return_index=True)
        if len(blocks) < self.n_blocks:
            return None
        U = np.empty((self.n_blocks, *Y.shape[1:]))
        U[blocks] = Y[first]
        return U


class UncodedCode(ReplicationCode):
    """One data block per worker, no redundancy: every worker is needed.

    Parameters
    ----------
    n_workers : int
        Number of workers, also the number of data blocks.
    n_blocks : int or None, default=None
        Must be None or ``n_workers``.
    randomize : {"sign", "gaussian", "none"}, default="sign"
        Random orthogonal mixing of the rows, see :class:`PolarCode`.
    random_state : int, RandomState instance or None, default=None
        Seeds the row mixing.

    Attributes
    ----------
    generator_ : ndarray of shape (n_workers, n_workers)
        The identity.

    See Also
    --------
    ReplicationCode, PolarCode

    References
    ----------
    {reference}

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn.coding import UncodedCode
    >>> code = UncodedCode(n_workers=3, random_state=0)
    >>> coded = code.encode(np.eye(3))
    >>> code.is_decodable([0, 2]), code.is_decodable([0, 1, 2])
    (False, True)
    """

    def __init__(self, n_workers, n_blocks=None, *, randomize="sign", random_state=None):
        if n_blocks is not None and n_blocks != n_workers:
            raise ValueError(
                f"UncodedCode has one block per worker: n_blocks must be None or "
                f"{n_workers}; got {n_blocks}."
            )
        super().__init__(n_workers, n_workers, randomize=randomize, random_state=random_state)


def coded_matmul(
    A,
    B,
    *,
    n_workers,
    code="polar",
    n_blocks=None,
    backend="simulated",
    stragglers=None,
    time_scale=1.0,
    n_jobs=None,
    random_state=None,
):
    """``A @ B`` by coded workers, done as soon as the arrived set decodes.

    Parameters
    ----------
    A : array-like of shape (n_rows, n_inner)
        Matrix split into the row blocks the workers hold.
    B : array-like of shape (n_inner,) or (n_inner, n_columns)
        Right-hand factor; only ``A`` is split among the workers.
    n_workers : int
        Number of workers ``N``.
    code : {"polar", "mds", "replication", "uncoded"} or code object, default="polar"
        The code; an object is used as given (its ``n_workers`` must match).
    n_blocks : int or None, default=None
        Data blocks ``K``; None: ``n_workers // 2`` (``n_workers`` for
        ``"uncoded"``).
    backend : {"simulated", "joblib"}, default="simulated"
        ``"simulated"``: ``stragglers`` draws the finishing times (loads
        ``1 / K``), the earliest decodable set of workers is found, only
        those workers' products are computed (through joblib) and the
        reported time is the simulated one. ``"joblib"``: every worker's
        product is a joblib task that first sleeps its drawn time
        (``time_scale`` seconds per unit; no sleep without
        ``stragglers``); results are taken as they arrive
        (``return_as="generator_unordered"``) and the remaining tasks are
        abandoned once the arrived set decodes. The time is wall-clock.
        Both run on the active joblib backend (e.g. Dask under
        ``joblib.parallel_config(backend="dask")``).
    stragglers : StragglerSimulator or None, default=None
        None: ``StragglerSimulator(random_state=random_state)`` for
        ``"simulated"``, no injected delay for ``"joblib"``.
    time_scale : float, default=1.0
        Seconds slept per unit of simulated time (``"joblib"`` only).
    n_jobs : int or None, default=None
        Joblib ``n_jobs``.
    random_state : int, RandomState instance or None, default=None
        Seeds the code's mixing (and the default simulator).

    Returns
    -------
    result : Bunch
        ``product`` (``A @ B``), ``workers`` (workers used, in arrival
        order), ``completion_time`` (when the decodable set had arrived),
        ``code`` (the code object).

    Raises
    ------
    NotDecodableError
        If even all workers do not suffice.

    See Also
    --------
    PolarCode, StragglerSimulator

    References
    ----------
    {reference}

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn.coding import StragglerSimulator, coded_matmul
    >>> rng = np.random.default_rng(0)
    >>> A, B = rng.standard_normal((64, 10)), rng.standard_normal((10, 3))
    >>> res = coded_matmul(A, B, n_workers=16, code="polar",
    ...                    stragglers=StragglerSimulator(rate=0.5, random_state=0),
    ...                    random_state=0)
    >>> bool(np.allclose(res.product, A @ B)), len(res.workers) < 16
    (True, True)
    """
    A = _check_matrix(A, "A")
    B = _check_matrix(B, "B")
    if A.ndim != 2 or A.shape[1] != B.shape[0]:
        raise ValueError(
            f"A @ B needs A of shape (n, k) and B of (k, ...); got {A.shape}, {B.shape}."
        )
    code = _make_code(code, n_workers, n_blocks, random_state)
    coded = code.encode(A)
    if backend == "simulated":
        sim = (
            stragglers if stragglers is not None else StragglerSimulator(random_state=random_state)
        )
        t, workers, results = earliest_products(code, coded, B, sim, n_jobs)
    elif backend == "joblib":
        if stragglers is None:
            delays = np.zeros(code.n_workers)
        else:
            delays = time_scale * stragglers.finishing_times(code.n_workers, 1.0 / code.n_blocks)
        start = time.perf_counter()
        results, t = {}, np.inf
        tasks = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
            delayed(_delayed_product)(i, coded[i], B, delays[i]) for i in range(code.n_workers)
        )
        for i, output in tasks:
            results[i] = output
            if code.is_decodable(results):
                t = time.perf_counter() - start
                break
        with warnings.catch_warnings():
            # joblib warns that the abandoned stragglers' work is unused: by design.
            warnings.filterwarnings("ignore", message=r".*(but not used|been cancelled)")
            tasks.close()
        workers = np.fromiter(results, dtype=int)
    else:
        raise ValueError(f"backend must be 'simulated' or 'joblib'; got {backend!r}.")
    return Bunch(product=code.decode(results), workers=workers, completion_time=t, code=code)


def _delayed_product(i, block, B, delay):
    if delay > 0:
        time.sleep(delay)
    return i, block @ B


def _make_code(code, n_workers, n_blocks, random_state):
    if isinstance(code, _BaseCode):
        if code.n_workers != n_workers:
            raise ValueError(f"The code has n_workers={code.n_workers}, but n_workers={n_workers}.")
        return code
    if code == "uncoded":
        return UncodedCode(n_workers, n_blocks, random_state=random_state)
    n_blocks = max(1, n_workers // 2) if n_blocks is None else n_blocks
    makers = {"polar": PolarCode, "mds": MDSCode, "replication": ReplicationCode}
    if code not in makers:
        raise ValueError(
            f"code must be 'polar', 'mds', 'replication', 'uncoded' or a code object; got {code!r}."
        )
    return makers[code](n_workers, n_blocks, random_state=random_state)


def _check_int(value, name, low):
    if not isinstance(value, Integral) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}.")
    return int(value)


for _obj in (
    CodedProducts,
    PolarCode,
    MDSCode,
    ReplicationCode,
    UncodedCode,
    StragglerSimulator,
    coded_matmul,
):
    _obj.__doc__ = _obj.__doc__.replace("{reference}", _REFERENCE)
