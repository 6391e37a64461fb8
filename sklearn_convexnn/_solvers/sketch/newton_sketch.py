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
* :class:`RidgeProblem`, :class:`LogisticProblem` -- objective, gradient
  and Newton system of the two problems;
* :class:`DataProducts` -- every pass over the data matrix ``X`` the
  problems make (``X @ W``, ``X^T @ R``, the Hessian factor and its Gram
  matrix). It is the one place a scheme that changes how the data passes
  are computed (e.g. coded computation over stragglers) has to touch.

Everything here works on numpy / scipy arrays. The only object that comes
in from outside is the sketch: anything with ``sketch(A, random_state=...)``
returning ``S A`` with ``E[S^T S] = I``; if it also has
``_prepare_rows(A)`` (the package's own sketches), the part of a draw that
depends on ``A`` only (a spectrum, sampling probabilities) is computed
once per round instead of once per worker.
"""

from collections import namedtuple

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cho_factor, cho_solve, eigh
from scipy.special import expit, log_softmax, softmax
from sklearn.utils.parallel import Parallel, delayed

from . import sketch_operators as ops

__all__ = [
    "MIN_FLOPS_PER_TASK",
    "DataProducts",
    "LogisticProblem",
    "NewtonSystem",
    "RidgeProblem",
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

#: A Newton system in ridge form. ``A`` (rows, p) and ``alpha``: the
#: Hessian block ``A^T A + alpha I`` the workers approximate; ``rhs`` (p, t):
#: the right-hand side (minus the reduced gradient); ``finish``: maps the
#: solved coefficient direction (p, t) to the direction on all parameters;
#: ``gradient``: the objective's gradient on all parameters (line search,
#: stopping); ``gram``: ``A^T A`` if the problem forms it more cheaply than
#: from ``A`` (else None).
NewtonSystem = namedtuple(
    "NewtonSystem",
    ["A", "rhs", "alpha", "finish", "gradient", "gram"],
    defaults=(None,),
)


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


# ---------------------------------------------------------------------------
# Data passes
# ---------------------------------------------------------------------------


class DataProducts:
    """Every product with the data matrix the Newton iteration makes.

    ``forward(W) = X @ W`` (scores), ``backward(R) = X^T @ R``
    (gradients), and the Hessian factor: ``scaled_rows`` (``diag(r) X``),
    ``kronecker_rows`` and ``kronecker_gram`` (the multinomial factor and
    its Gram matrix). Sparse ``X`` stays sparse in ``forward`` and
    ``backward``; the factors are dense (the intercept elimination centres
    them anyway). A scheme that
    computes these differently (distributed, coded against stragglers)
    replaces this one object.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n, d)
    """

    def __init__(self, X):
        self.X = X
        self.shape = X.shape

    def forward(self, W):
        """``X @ W`` for ``W`` of shape (d, t): ndarray (n, t)."""
        return np.asarray(self.X @ W)

    def backward(self, R):
        """``X^T @ R`` for ``R`` of shape (n, t): ndarray (d, t)."""
        return np.asarray(self.X.T @ R)

    def scaled_rows(self, r):
        """``diag(r) X`` as a dense array (the binary / ridge factor)."""
        if sp.issparse(self.X):
            return np.asarray((sp.diags(r) @ self.X).toarray())
        return self.X * r[:, None]

    def kronecker_rows(self, B):
        """Rows ``B_i[a] kron x_i`` for ``B`` (n, k, k): shape (n k, k d)."""
        n, k, _ = B.shape
        X = self.X.toarray() if sp.issparse(self.X) else self.X
        return (B[:, :, :, None] * X[:, None, None, :]).reshape(n * k, k * X.shape[1])

    def kronecker_gram(self, M):
        """``sum_i M_i kron x_i x_i^T`` for ``M`` (n, k, k): shape (k d, k d).

        One product ``X^T [M_i kron x_i]_i``: ``2 n k^2 d^2`` flops, ``k``
        times fewer than the Gram of :meth:`kronecker_rows`.
        """
        n, k, _ = M.shape
        X = self.X.toarray() if sp.issparse(self.X) else self.X
        d = X.shape[1]
        R = (M.reshape(n, k * k)[:, :, None] * X[:, None, :]).reshape(n, k * k * d)
        G = (X.T @ R).reshape(d, k, k, d).transpose(1, 0, 2, 3)  # (a, u, b, v)
        return np.ascontiguousarray(G).reshape(k * d, k * d)


# ---------------------------------------------------------------------------
# Problems
# ---------------------------------------------------------------------------


class RidgeProblem:
    """``1/2 (||sqrt(w) (Y - X W)||^2 + alpha ||W||^2)``.

    ``X`` must already be centred (with the weights) if there is an
    intercept; the intercept is then ``mean_w(Y) - mean_w(X) W``, no part
    of the iteration.

    Parameters
    ----------
    data : DataProducts
    Y : ndarray of shape (n, t)
    alpha : float > 0
    sample_weight : ndarray of shape (n,) or None
    """

    def __init__(self, data, Y, alpha, sample_weight=None):
        self.data, self.Y, self.alpha = data, Y, alpha
        n = Y.shape[0]
        self.w = np.ones(n) if sample_weight is None else sample_weight
        self._A = data.scaled_rows(np.sqrt(self.w))

    def residual(self, W):
        return self.w[:, None] * (self.data.forward(W) - self.Y)

    def objective(self, W):
        R = self.data.forward(W) - self.Y
        return float(0.5 * (np.sum(self.w[:, None] * R * R) + self.alpha * np.sum(W * W)))

    def gradient(self, W):
        return self.data.backward(self.residual(W)) + self.alpha * W

    def newton_system(self, W):
        g = self.gradient(W)
        return NewtonSystem(self._A, -g, self.alpha, _identity, g)


def _identity(dW):
    return dW


class LogisticProblem:
    """``sum_i w_i logloss_i + alpha/2 ||W||^2`` (scikit-learn's objective / C).

    ``Y`` is a 0/1 array of shape (n, 1) for the binary problem (one
    coefficient row) or one-hot (n, K) for the multinomial one. ``params``
    has shape (K', d + fit_intercept) with the intercept last.

    Newton system. Binary: the coefficient Hessian is ``X^T D X + alpha I``
    with ``D = w p (1 - p)``, so ``A = D^{1/2} X``. Multinomial: per sample
    ``w_i (diag(p) - p p^T) = B_i^T B_i`` with ``B_i = sqrt(w_i) (diag(sqrt
    p) - sqrt(p) p^T)``; ``A`` has the ``K`` rows ``B_i kron x_i^T`` per
    sample (shape (n K, K d)). Its Gram matrix is formed from the ``d``-wide
    data (:meth:`DataProducts.kronecker_gram`), ``K`` times cheaper than
    from ``A``.

    The unpenalized intercept is eliminated exactly (Schur complement):
    with ``C`` the intercept columns of the factor, the coefficient block
    of the reduced Hessian is ``A^T (I - P_C) A + alpha I`` -- again a
    ridge Hessian, of the weighted-centred factor ``(I - P_C) A``. So the
    workers sketch that factor and the debiasing identity holds as for
    ridge; the intercept step follows from the coefficient step exactly
    (``finish``). For the multinomial problem the intercept block is
    singular (a common shift changes nothing); the pseudo-inverse keeps
    the intercepts summing to zero, as scikit-learn's do.
    """

    def __init__(self, data, Y, alpha, fit_intercept, sample_weight=None):
        self.data, self.Y, self.alpha = data, Y, alpha
        self.fit_intercept = fit_intercept
        self.binary = Y.shape[1] == 1
        n = Y.shape[0]
        self.w = np.ones(n) if sample_weight is None else sample_weight

    def _scores(self, params):
        W, b = _split(params, self.fit_intercept)
        return self.data.forward(W.T) + b, W

    def objective(self, params):
        Z, W = self._scores(params)
        if self.binary:
            loss = np.logaddexp(0.0, Z) - self.Y * Z
        else:
            loss = -self.Y * log_softmax(Z, axis=1)
        return float(np.sum(self.w[:, None] * loss) + 0.5 * self.alpha * np.sum(W * W))

    def _probabilities(self, Z):
        return expit(Z) if self.binary else softmax(Z, axis=1)

    def _gradient(self, P, W):
        R = self.w[:, None] * (P - self.Y)
        grad_W = self.data.backward(R).T + self.alpha * W  # (k, d)
        if not self.fit_intercept:
            return grad_W, None
        return grad_W, R.sum(axis=0)

    def gradient(self, params):
        Z, W = self._scores(params)
        grad_W, grad_b = self._gradient(self._probabilities(Z), W)
        return grad_W if grad_b is None else np.hstack([grad_W, grad_b[:, None]])

    def newton_system(self, params):
        Z, W = self._scores(params)
        P = self._probabilities(Z)
        grad_W, grad_b = self._gradient(P, W)
        k, d = W.shape
        n = Z.shape[0]
        if self.binary:
            r = np.sqrt(self.w * P[:, 0] * (1.0 - P[:, 0]))
            B = r[:, None, None]  # (n, 1, 1)
            A = self.data.scaled_rows(r)
            gram = None
        else:
            sqrt_p = np.sqrt(P)
            B = (np.sqrt(self.w)[:, None] * sqrt_p)[:, :, None] * (
                np.eye(k)[None] - P[:, None, :]
            )
            A = self.data.kronecker_rows(B)
            M = self.w[:, None, None] * (
                P[:, :, None] * np.eye(k)[None] - P[:, :, None] * P[:, None, :]
            )
            gram = self.data.kronecker_gram(M)
        rhs = -grad_W.reshape(-1, 1)
        if not self.fit_intercept:
            return NewtonSystem(A, rhs, self.alpha, _Reshape(k, d), grad_W, gram)
        rows = B.shape[1]
        C = B.reshape(n * rows, k)
        M_pinv = _intercept_block_inverse(C.T @ C, self.binary)
        if self.binary:
            CtA = C.T @ A  # (1, d)
        else:
            # C^T A = sum_i M_i kron x_i^T from the d-wide data, without a
            # pass over the (n k) x (k d) factor.
            CtA = self.data.backward(M.reshape(n, k * k)).T.reshape(k, k * d)
        A_reduced = A
        A_reduced -= C @ (M_pinv @ CtA)  # A is this round's own array
        if gram is not None:
            gram = gram - CtA.T @ (M_pinv @ CtA)
        rhs = rhs + (CtA.T @ (M_pinv @ grad_b)).reshape(-1, 1)
        gradient = np.hstack([grad_W, grad_b[:, None]])
        finish = _FinishIntercept(k, d, M_pinv, grad_b, CtA)
        return NewtonSystem(A_reduced, rhs, self.alpha, finish, gradient, gram)


class _Reshape:
    def __init__(self, k, d):
        self.k, self.d = k, d

    def __call__(self, dW):
        return dW.reshape(self.k, self.d)


class _FinishIntercept:
    """Intercept step from the coefficient step (the eliminated block)."""

    def __init__(self, k, d, M_pinv, grad_b, CtA):
        self.k, self.d = k, d
        self.M_pinv, self.grad_b, self.CtA = M_pinv, grad_b, CtA

    def __call__(self, dW):
        db = -self.M_pinv @ (self.grad_b + self.CtA @ dW[:, 0])
        return np.hstack([dW.reshape(self.k, self.d), db[:, None]])


def _intercept_block_inverse(M, binary):
    """Inverse of the intercept block; pseudo-inverse for the multinomial one.

    The multinomial block ``sum_i diag(p_i) - p_i p_i^T`` annihilates the
    all-ones vector (a common shift of the intercepts changes nothing).
    Adding ``J / k`` (``J`` all ones) fills that null direction without
    touching the rest, so ``inv(M + J/k) - J/k`` is the exact pseudo-inverse
    and the intercept steps stay orthogonal to ones (intercepts summing to
    zero, as scikit-learn's).
    """
    if binary:
        return 1.0 / np.maximum(M, np.finfo(float).tiny)
    k = M.shape[0]
    J = np.full((k, k), 1.0 / k)
    return np.linalg.inv(M + J) - J


def _split(params, fit_intercept):
    if fit_intercept:
        return params[:, :-1], params[:, -1]
    return params, 0.0

