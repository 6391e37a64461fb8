"""Distributed Newton sketch with debiased averaging.

Derezinski, Bartan, Pilanci & Mahoney, "Debiasing distributed second order
optimization with surrogate sketching and scaled regularization" (NeurIPS
2020). Every problem here has a Newton system whose coefficient block is a
ridge Hessian::

    H = A^T A + alpha I

(ridge: ``A`` the weighted, centred design; l2-logistic: ``A = D^{1/2} X``
at the current iterate, with the unpenalized intercept eliminated, see
:class:`LogisticProblem`). Worker ``k`` draws its own sketch ``S_k``, forms
``H_k = (S_k A)^T S_k A + alpha' I`` with the shrunk regularization
``alpha' = alpha (1 - d_alpha / m)`` and returns ``H_k^{-1} g`` for the
full gradient ``g``. The master averages and multiplies by
``1 - d_alpha / m``. For a surrogate sketch ``(1 - d_alpha/m) E[H_k^{-1}] =
H^{-1}`` exactly, so the averaged direction is unbiased and its error falls
like ``1/sqrt(q)`` with the number of workers ``q``; plain averaging
(``alpha`` kept, no factor) stalls at its bias.

Layout, top-down:

* :func:`debiased_newton_sketch` -- the round loop (system, effective
  dimension, workers, average, line search, stopping test, progress);
* the workers (:func:`sketched_newton_directions`) and the rule that
  decides how many parallel tasks a round is worth
  (:func:`n_parallel_tasks`).

The problems (objective, gradient, Newton system) and the one place every
pass over the data is made are in
:mod:`sklearn_convexnn._solvers.sketch.problems`.

Everything here works on numpy / scipy arrays. The only object that comes
in from outside is the sketch: anything with ``sketch(A, random_state=...)``
returning ``S A`` with ``E[S^T S] = I``; if it also has
``_prepare_rows(A)`` (the package's own sketches), the part of a draw that
depends on ``A`` only (a spectrum, sampling probabilities) is computed
once per round instead of once per worker.
"""


import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_factor, cho_solve, eigh
from sklearn.utils.parallel import Parallel, delayed

from . import sketch_operators as ops

__all__ = [
    "MIN_FLOPS_PER_TASK",
    "average_directions",
    "backtracking_step",
    "debiased_newton_sketch",
    "debiasing_factor",
    "n_parallel_tasks",
    "shrunk_regularization",
    "sketched_newton_directions",
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

def debiased_newton_sketch(
    problem,
    params,
    sketch_at,
    sketch_size_at,
    *,
    n_workers,
    debias=True,
    max_iter=1,
    tol=None,
    line_search=True,
    n_jobs=None,
    seed_sequence=None,
    verbose=0,
):
    """Distributed Newton iterations with (debiased) averaged sketched steps.

    Parameters
    ----------
    problem : RidgeProblem or LogisticProblem
        Anything with ``newton_system(params)``, ``objective(params)`` and
        ``gradient(params)``.
    params : ndarray
        Starting point (any shape; ``finish`` returns that shape).
    sketch_at : callable
        ``sketch_at(alpha, sketch_size) -> sketch`` to draw from at this
        round (the meta-estimator sets the sketch's ``alpha``).
    sketch_size_at : callable
        ``sketch_size_at(effective_dim, n_rows) -> m``, the expected sketch
        size used in the debiasing.
    n_workers : int
        Number of sketched workers ``q``.
    debias : bool, default=True
        Shrink the workers' regularization and scale the averaged step by
        ``1 - d_alpha / m``; if False, plain averaging.
    max_iter : int, default=1
        Maximum number of Newton rounds.
    tol : float or None, default=None
        Stop once a step is at most ``tol * max(1, ||params||)``. None: run
        ``max_iter`` rounds, no stopping test.
    line_search : bool, default=True
        Shorten each step by Armijo backtracking on the objective from the
        (debiased) unit step; if False the unit step is taken.
    n_jobs : int or None
        Joblib ``n_jobs``: the most tasks the workers of a round are split
        into; :func:`n_parallel_tasks` decides how many are worth it.
    seed_sequence : numpy.random.SeedSequence
        Root of the workers' random streams.
    verbose : int
        ``>= 1``: one line per round (round counter, objective, gradient
        norm, step); ``>= 2`` also the effective dimension, sketch size and
        the number of parallel tasks.

    Returns
    -------
    params : ndarray
    info : dict
        ``n_iter``, ``converged``, ``effective_dim``, ``scaled_alpha``,
        ``sketch_size``, ``n_tasks`` (those of the last round) and
        ``gradient_norm`` (at the returned ``params``).

    Raises
    ------
    FloatingPointError
        If a worker's sketch or direction is not finite.
    """
    seed_sequence = seed_sequence or np.random.SeedSequence()
    params = np.array(params, dtype=float)
    info = {"converged": False, "n_iter": 0}
    parallel = Parallel(n_jobs=n_jobs)
    for it in range(1, max_iter + 1):
        system = problem.newton_system(params)
        p = system.A.shape[1]
        d_alpha = _effective_dimension(system)
        m = sketch_size_at(d_alpha, system.A.shape[0])
        if debias:
            factor = debiasing_factor(d_alpha, m)
            alpha_workers = shrunk_regularization(system.alpha, d_alpha, m)
        else:
            factor, alpha_workers = 1.0, system.alpha
        sketch = sketch_at(system.alpha, m)
        sampler = _prepare(sketch, system.A)
        seeds = worker_seed_sequences(seed_sequence, n_workers)
        flops = _worker_flops(sampler, m, p, system.rhs.shape[1])
        n_tasks = n_parallel_tasks(parallel.n_jobs, n_workers, flops)
        batches = np.array_split(np.arange(n_workers), n_tasks)
        if n_tasks == 1 and _local_backend():
            # No process pool, no pickling: one task runs in this process.
            results = [
                sketched_newton_directions(sampler, system.rhs, alpha_workers, seeds)
            ]
        else:
            # The same sampler (holding A) goes to every task: loky
            # memory-maps its arrays, the dask backend scatters it once.
            results = parallel(
                delayed(sketched_newton_directions)(
                    sampler, system.rhs, alpha_workers, [seeds[i] for i in b]
                )
                for b in batches
            )
        direction = system.finish(average_directions(np.concatenate(results), factor))
        step_length = 1.0
        if line_search:
            step_length = backtracking_step(
                problem.objective, params, direction, np.sum(system.gradient * direction)
            )
        step = step_length * direction
        params = params + step
        step_norm = float(np.linalg.norm(step))
        info.update(
            n_iter=it,
            effective_dim=d_alpha,
            scaled_alpha=alpha_workers,
            sketch_size=m,
            n_tasks=n_tasks,
        )
        converged = tol is not None and step_norm <= tol * max(
            1.0, float(np.linalg.norm(params))
        )
        if verbose:
            _print_round(problem, params, it, max_iter, step_length, step_norm, info, verbose)
        if converged:
            info["converged"] = True
            break
    if not np.all(np.isfinite(params)):
        raise FloatingPointError(
            "The debiased Newton iteration produced non-finite parameters; "
            "check the data scale and the sketch."
        )
    info["gradient_norm"] = float(np.linalg.norm(problem.gradient(params)))
    return params, info


def _print_round(problem, params, it, max_iter, step_length, step_norm, info, verbose):
    line = (
        f"[DebiasedAveraging] round {it}/{max_iter}  "
        f"objective={problem.objective(params):.10g}  "
        f"|gradient|={np.linalg.norm(problem.gradient(params)):.3e}  "
        f"step={step_length:.3g}  |dparams|={step_norm:.3e}"
    )
    if verbose >= 2:
        line += (
            f"  d_alpha={info['effective_dim']:.4g}  m={info['sketch_size']}  "
            f"alpha'={info['scaled_alpha']:.4g}  tasks={info['n_tasks']}"
        )
    print(line, flush=True)


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


def _worker_flops(sampler, m, p, t):
    # The draw (the sampler's estimate; one pass over A if it has none),
    # then the local system in the smaller space (see _ridge_solve):
    # 2 m r (p + t) + r^3 / 3 with r = min(m, p).
    A = sampler.A
    draw = getattr(sampler, "flops", 2.0 * (A.nnz if sp.issparse(A) else A.size))
    r = min(m, p)
    return draw + 2.0 * m * r * (p + t) + r**3 / 3.0


def _effective_dimension(system):
    if system.gram is None:
        return float(ops.effective_dimension(system.A, system.alpha))
    with ops._single_threaded_blas():  # as in _cholesky_solve
        s = eigh(system.gram, eigvals_only=True, driver="evd")
    s = s[s > ops._eigen_tol(s, system.A.shape)]
    return float(np.sum(s / (s + system.alpha)))


def shrunk_regularization(alpha, effective_dim, sketch_size):
    """The workers' regularization ``alpha (1 - d_alpha / m)``.

    Parameters
    ----------
    alpha : float
        Regularization of the full Hessian ``A^T A + alpha I``.
    effective_dim : float
        ``d_alpha = tr(A^T A (A^T A + alpha I)^{-1})``.
    sketch_size : float
        Expected number of rows ``m`` of each worker's sketch.

    Returns
    -------
    float
    """
    return alpha * debiasing_factor(effective_dim, sketch_size)


def debiasing_factor(effective_dim, sketch_size):
    """``1 - d_alpha / m``; refuses a sketch no larger than ``d_alpha``."""
    if not sketch_size > effective_dim:
        raise ValueError(
            f"Debiased averaging needs a sketch larger than the effective "
            f"dimension: sketch size m={sketch_size} <= d_alpha="
            f"{effective_dim:.4g}. Use a larger sketch (n_components) or "
            f"debias=False."
        )
    return 1.0 - effective_dim / sketch_size


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


def _prepare(sketch, A):
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
        directions[k] = _ridge_solve(SA, rhs, alpha)
    if not np.all(np.isfinite(directions)):
        raise FloatingPointError(
            f"A worker's Newton direction with the sketch {sampler.name} is not "
            f"finite (singular local Hessian with alpha' = {alpha:.3g})."
        )
    return directions


def _ridge_solve(SA, rhs, alpha):
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


def average_directions(directions, factor=1.0):
    """``factor`` times the mean of the workers' directions (axis 0)."""
    return factor * np.mean(directions, axis=0)


def backtracking_step(objective, params, direction, slope, shrink=0.5, c=1e-4):
    """Armijo backtracking from the unit step along ``direction``.

    Returns the step length ``t`` (``0.0`` if ``direction`` does not
    descend: ``slope = grad . direction >= 0``, e.g. at the optimum).
    """
    f0 = objective(params)
    if not slope < 0:
        return 0.0
    # Slack of a few rounding errors of f0: near the optimum the decrease is
    # below the objective's resolution and the unit step must still pass.
    slack = 16 * np.finfo(float).eps * abs(f0)
    t = 1.0
    for _ in range(60):
        if objective(params + t * direction) <= f0 + c * t * slope + slack:
            return t
        t *= shrink
    return 0.0
