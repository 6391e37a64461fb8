"""The workers of the distributed Newton sketch, and how a round runs them.

* :func:`run_workers` -- one round's ``q`` workers: split into parallel
  tasks by :func:`n_parallel_tasks` (the ``n_jobs`` rule), run inline when
  one task suffices on a local joblib backend, else through joblib;
* :func:`sketched_newton_directions` -- a batch of workers: each draws
  its sketch ``S_k A`` and solves ``((S_k A)^T S_k A + alpha' I) x = rhs``
  in the smaller of its two spaces (:func:`ridge_solve`).

Split from :mod:`~sklearn_convexnn._solvers.sketch.newton_sketch` (the
round loop) because this is the part that would move to the machines of
a cluster: it sees only a sampler holding the factor, a right-hand side
and a regularization, never the problem.
"""

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_factor, cho_solve
from sklearn.utils.parallel import Parallel, delayed

from . import sketch_operators as ops

__all__ = [
    "MIN_FLOPS_PER_TASK",
    "n_parallel_tasks",
    "prepare_sampler",
    "ridge_solve",
    "run_workers",
    "sketched_newton_directions",
    "worker_flops",
    "worker_seed_sequences",
]

#: Work (floating-point operations) one parallel task must carry before the
#: workers of a round are split into several tasks. Measured on the 2-core
#: development machine: a loky round trip for one task (pickling or
#: memory-mapping the factor, scheduling, collecting the result) costs
#: 20-60 ms, during which BLAS does about 1e9 flops; below that a split
#: only adds overhead (``benchmarks/bench_distributed.py`` prints the rule's
#: choice next to the timings).
MIN_FLOPS_PER_TASK = 1e9


def run_workers(sampler, rhs, alpha, seeds, n_jobs, sketch_size):
    """Directions of all workers of a round, shape ``(q, p, t)``.

    Returns ``(directions, n_tasks)``. One task on a local joblib backend
    runs in this process: no pool, no pickling. Otherwise the same
    sampler (holding ``A``) goes to every task: loky memory-maps its
    arrays, the dask backend scatters it once.
    """
    flops = worker_flops(sampler, sketch_size, rhs.shape[0], rhs.shape[1])
    n_tasks = n_parallel_tasks(n_jobs, len(seeds), flops)
    if n_tasks == 1 and _local_backend():
        return sketched_newton_directions(sampler, rhs, alpha, seeds), 1
    batches = np.array_split(np.arange(len(seeds)), n_tasks)
    results = Parallel(n_jobs=n_jobs)(
        delayed(sketched_newton_directions)(sampler, rhs, alpha, [seeds[i] for i in b])
        for b in batches
    )
    return np.concatenate(results), n_tasks


def n_parallel_tasks(n_jobs, n_workers, flops_per_worker):
    """How many parallel tasks the ``n_workers`` of a round are split into.

    The rule: as many as joblib allows (``effective_n_jobs(n_jobs)``, at
    most one per worker), but no more than keeps every task above
    :data:`MIN_FLOPS_PER_TASK` of estimated work; at least one.

    Parameters
    ----------
    n_jobs : int or None
        Joblib ``n_jobs`` (None: joblib's default, 1 unless a
        ``parallel_config`` says otherwise).
    n_workers : int
        Sketched workers in the round.
    flops_per_worker : float
        Estimated work of one worker (sketch, local Hessian, solve).

    Returns
    -------
    int
    """
    from joblib import effective_n_jobs

    by_work = int(n_workers * flops_per_worker // MIN_FLOPS_PER_TASK)
    return max(1, min(effective_n_jobs(n_jobs), n_workers, by_work))


def _local_backend():
    """True for joblib's own backends (loky, threads, processes, serial);
    False for a cluster backend (dask, ray), which gets every round."""
    from joblib.parallel import (
        LokyBackend,
        MultiprocessingBackend,
        SequentialBackend,
        ThreadingBackend,
        get_active_backend,
    )

    backend, _ = get_active_backend()
    local = (LokyBackend, MultiprocessingBackend, SequentialBackend, ThreadingBackend)
    return isinstance(backend, local)


def worker_flops(sampler, m, p, t):
    # The draw (the sampler's estimate; one pass over A if it has none),
    # then the local system in the smaller space (see ridge_solve):
    # 2 m r (p + t) + r^3 / 3 with r = min(m, p).
    A = sampler.A
    draw = getattr(sampler, "flops", 2.0 * (A.nnz if sp.issparse(A) else A.size))
    r = min(m, p)
    return draw + 2.0 * m * r * (p + t) + r**3 / 3.0


def worker_seed_sequences(seed_sequence, n_workers):
    """Fresh ``SeedSequence`` children, one per worker, for one round.

    Each worker's stream depends on its index only, never on how the
    workers are batched into tasks, so the answer is the same for every
    ``n_jobs`` and joblib backend.
    """
    return seed_sequence.spawn(n_workers)


class _SketchCall:
    """A sketch without ``_prepare_rows``: every draw calls ``sketch``."""

    def __init__(self, sketch, A):
        self.sketch, self.A = sketch, A
        self.name = type(sketch).__name__

    def draw(self, rng):
        return self.sketch.sketch(self.A, random_state=rng)


def prepare_sampler(sketch, A):
    prepare = getattr(sketch, "_prepare_rows", None)
    if prepare is None:
        return _SketchCall(sketch, A)
    return prepare(A)


def sketched_newton_directions(sampler, rhs, alpha, seeds):
    """Newton directions of a batch of workers.

    Parameters
    ----------
    sampler : object
        ``sampler.draw(rng)`` returns ``S A`` for a fresh sketch ``S`` (the
        factor ``A`` is held by the sampler); ``sampler.name`` names the
        sketch in error messages.
    rhs : ndarray of shape (p, t)
    alpha : float
        The workers' regularization (already shrunk if debiasing).
    seeds : list of numpy.random.SeedSequence
        One per worker of the batch.

    Returns
    -------
    ndarray of shape (len(seeds), p, t)
        ``((S_k A)^T S_k A + alpha I)^{-1} rhs`` for each worker ``k``.

    Raises
    ------
    FloatingPointError
        If a sketch or a direction is not finite.
    """
    p, t = rhs.shape
    directions = np.empty((len(seeds), p, t))
    for k, seed in enumerate(seeds):
        SA = sampler.draw(np.random.default_rng(seed))
        if sp.issparse(SA):
            SA = SA.toarray()
        SA = np.asarray(SA, dtype=float)
        if not np.all(np.isfinite(SA)):
            raise FloatingPointError(
                f"The sketch {sampler.name} returned non-finite values (NaN or "
                "inf) in a worker's sketched data; a sketch must return finite "
                "S @ A."
            )
        directions[k] = ridge_solve(SA, rhs, alpha)
    if not np.all(np.isfinite(directions)):
        raise FloatingPointError(
            f"A worker's Newton direction with the sketch {sampler.name} is not "
            f"finite (singular local Hessian with alpha' = {alpha:.3g})."
        )
    return directions


def ridge_solve(SA, rhs, alpha):
    """``(SA^T SA + alpha I)^{-1} rhs`` by Cholesky, in the smaller space.

    With fewer sketch rows than columns (``m < p``) the push-through
    identity ``(B^T B + a I)^{-1} = (I - B^T (B B^T + a I)^{-1} B) / a``
    solves an ``m x m`` system instead (``2 m^2 p`` flops for the kernel
    instead of ``2 m p^2`` for the Gram, ``m^3 / 3`` for its factor).
    """
    m, p = SA.shape
    if m < p:
        K = SA @ SA.T
        K[np.diag_indices_from(K)] += alpha
        return (rhs - SA.T @ _cholesky_solve(K, SA @ rhs)) / alpha
    G = SA.T @ SA
    G[np.diag_indices_from(G)] += alpha
    return _cholesky_solve(G, rhs)


def _cholesky_solve(K, b):
    # Factorizations of a few hundred rows gain nothing from BLAS threads
    # and lose much to them on a busy machine (measured 6x slower with 2
    # threads under load); the products around them keep their threads.
    with ops._single_threaded_blas():
        return cho_solve(cho_factor(K, lower=True, check_finite=False), b)


