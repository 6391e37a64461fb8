"""Distributed Newton sketch with debiased averaging: the round loop.

Derezinski, Bartan, Pilanci & Mahoney, "Debiasing distributed second order
optimization with surrogate sketching and scaled regularization" (NeurIPS
2020). Every problem here has a Newton system whose coefficient block is a
ridge Hessian::

    H = A^T A + alpha I

(ridge: ``A`` the weighted, centred design; l2-logistic: ``A = D^{1/2} X``
at the current iterate, with the unpenalized intercept eliminated, see
:class:`~sklearn_convexnn._solvers.sketch.problems.LogisticProblem`).
Worker ``k`` draws its own sketch ``S_k``, forms ``H_k = (S_k A)^T S_k A +
alpha' I`` with the shrunk regularization ``alpha' = alpha (1 - d_alpha /
m)`` and returns ``H_k^{-1} g`` for the full gradient ``g``. The master
averages and multiplies by ``1 - d_alpha / m``. For a surrogate sketch
``(1 - d_alpha/m) E[H_k^{-1}] = H^{-1}`` exactly, so the averaged direction
is unbiased and its error falls like ``1/sqrt(q)`` with the number of
workers ``q``; plain averaging (``alpha`` kept, no factor) stalls at its
bias.

The exact step. The master forms the Gram matrix ``A^T A`` from the
``d``-wide data at every round (``2 n p^2`` flops, ``n`` samples): it needs
``d_alpha`` for the debiasing, and takes it from the Cholesky factor of
``H``. The ``q`` workers' local Gram matrices cost ``2 q m p^2`` between
them. When ``q m >= n`` the sketches hold at least as many rows as the data
and buy nothing: with ``newton_step="auto"`` the round then solves with
the factor it already has -- the exact Newton step, which is what the
debiased average estimates without bias -- and says so (``exact`` in the
progress line, ``n_exact_rounds`` in the result). Large ``n`` (``n > q
m``) keeps the sketched workers. Wide data (more features than samples):
no ``p x p`` Gram matrix; ``d_alpha`` comes from the factor's row Gram
matrix and the exact step from the push-through identity
(:func:`~sklearn_convexnn._solvers.sketch.workers.ridge_solve`).

Stopping. After each round the Newton decrement ``lambda^2 = -g^T dx``
(``dx`` the unit step, averaged or exact) estimates twice the distance of
the objective to its minimum; the loop stops once ``lambda^2 / 2 <= tol
max(1, |f|)`` or the step is at most ``tol max(1, ||params||)``.

Layout: :func:`debiased_newton_sketch` (the round loop),
:func:`exact_step_is_cheaper` (the rule above), the debiasing factor and
the line search. The workers and the ``n_jobs`` rule are in
:mod:`~sklearn_convexnn._solvers.sketch.workers`; the problems and every
pass over the data in :mod:`~sklearn_convexnn._solvers.sketch.problems`.
"""

import numpy as np
from scipy.linalg.lapack import dpotrf, dpotrs, dtrtri

from . import sketch_operators as ops
from .workers import (
    MIN_FLOPS_PER_TASK,
    n_parallel_tasks,
    prepare_sampler,
    ridge_solve,
    run_workers,
    sketched_newton_directions,
    worker_seed_sequences,
)

__all__ = [
    "MIN_FLOPS_PER_TASK",
    "average_directions",
    "backtracking_step",
    "debiased_newton_sketch",
    "debiasing_factor",
    "exact_step_is_cheaper",
    "n_parallel_tasks",
    "shrunk_regularization",
    "sketched_newton_directions",
    "worker_seed_sequences",
]


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
    newton_step="auto",
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
        Stop once the Newton decrement ``lambda^2 / 2 <= tol max(1, |f|)``
        or a step is at most ``tol * max(1, ||params||)``. None: run
        ``max_iter`` rounds, no stopping test.
    line_search : bool, default=True
        Shorten each step by Armijo backtracking on the objective from the
        (debiased) unit step; if False the unit step is taken.
    newton_step : {"auto", "sketched", "exact"}, default="auto"
        ``"sketched"``: always the workers' average; ``"exact"``: always
        the exact step; ``"auto"``: :func:`exact_step_is_cheaper` decides
        at each round.
    n_jobs : int or None
        Joblib ``n_jobs``: the most tasks the workers of a round are split
        into; :func:`n_parallel_tasks` decides how many are worth it.
    seed_sequence : numpy.random.SeedSequence
        Root of the workers' random streams.
    verbose : int
        ``>= 1``: one line per round (round counter, objective, gradient
        norm, decrement, step, exact or sketched); ``>= 2`` also the
        effective dimension, sketch size and the number of parallel tasks.

    Returns
    -------
    params : ndarray
    info : dict
        ``n_iter``, ``converged``, ``n_exact_rounds``, ``effective_dim``,
        ``scaled_alpha``, ``sketch_size``, ``n_tasks`` (those of the last
        round) and ``gradient_norm`` (at the returned ``params``).

    Raises
    ------
    FloatingPointError
        If a worker's sketch or direction, or the iterate, is not finite.
    """
    seed_sequence = seed_sequence or np.random.SeedSequence()
    params = np.array(params, dtype=float)
    info = {"converged": False, "n_iter": 0, "n_exact_rounds": 0}
    for it in range(1, max_iter + 1):
        system = problem.newton_system(params)
        if system.gram is None:  # wide data: from the factor (row Gram)
            L = None
            d_alpha = float(ops.effective_dimension(system.A, system.alpha))
            m = sketch_size_at(d_alpha, system.n_rows)
            exact = newton_step == "exact" or (
                newton_step == "auto"
                and exact_step_is_cheaper(n_workers, m, system.gram_rows)
            )
        else:
            L = _cholesky(system.gram, system.alpha)
            d_alpha = None
            exact = newton_step == "exact" or (
                newton_step == "auto"
                and exact_step_is_cheaper(
                    n_workers,
                    sketch_size_at(
                        _effective_dimension_lower_bound(system.gram, system.alpha),
                        system.n_rows,
                    ),
                    system.gram_rows,
                )
            )
            if not exact:
                d_alpha = _effective_dimension(L, system.alpha)
                m = sketch_size_at(d_alpha, system.n_rows)
                exact = newton_step == "auto" and exact_step_is_cheaper(
                    n_workers, m, system.gram_rows
                )
        seeds = worker_seed_sequences(seed_sequence, n_workers)  # drawn always:
        # a round's seeds do not depend on which rounds were exact
        if exact:
            alpha_workers, n_tasks = system.alpha, 0
            if L is None:
                unit = ridge_solve(system.A, system.rhs, system.alpha)
            else:
                unit, _ = dpotrs(L, system.rhs, lower=1)
        else:
            if debias:
                factor = debiasing_factor(d_alpha, m)
                alpha_workers = shrunk_regularization(system.alpha, d_alpha, m)
            else:
                factor, alpha_workers = 1.0, system.alpha
            sampler = prepare_sampler(sketch_at(system.alpha, m), system.A)
            directions, n_tasks = run_workers(
                sampler, system.rhs, alpha_workers, seeds, n_jobs, m
            )
            unit = average_directions(directions, factor)
        direction = system.finish(unit)
        slope = float(np.sum(system.gradient * direction))
        step_length = 1.0
        if line_search:
            step_length = backtracking_step(
                problem.objective, params, direction, slope, f0=system.objective
            )
        step = step_length * direction
        params = params + step
        step_norm = float(np.linalg.norm(step))
        decrement = max(-slope, 0.0)  # lambda^2 of the unit step
        info.update(n_iter=it, scaled_alpha=alpha_workers, n_tasks=n_tasks)
        info["n_exact_rounds"] += exact
        last = (L, system.alpha, system.n_rows, d_alpha)
        if verbose >= 2 or not exact:
            info.update(_sizes(sketch_size_at, *last), sizes_of_round=it)
        if verbose:
            _print_round(
                problem, params, it, max_iter, step_length, step_norm, decrement,
                exact and newton_step, info, verbose,
            )
        if tol is not None and (
            0.5 * decrement <= tol * max(1.0, abs(system.objective))
            or step_norm <= tol * max(1.0, float(np.linalg.norm(params)))
        ):
            info["converged"] = True
            break
    if not np.all(np.isfinite(params)):
        raise FloatingPointError(
            "The debiased Newton iteration produced non-finite parameters; "
            "check the data scale and the sketch."
        )
    if info.pop("sizes_of_round", 0) != info["n_iter"]:  # an exact last round
        info.update(_sizes(sketch_size_at, *last))
    info["gradient_norm"] = float(np.linalg.norm(problem.gradient(params)))
    return params, info


def _sizes(sketch_size_at, L, alpha, n_rows, d_alpha=None):
    """``effective_dim`` and ``sketch_size`` of a round (computed lazily:
    an exact round needs neither)."""
    if d_alpha is None:
        d_alpha = _effective_dimension(L, alpha)
    return {"effective_dim": d_alpha, "sketch_size": sketch_size_at(d_alpha, n_rows)}


def _print_round(
    problem, params, it, max_iter, step_length, step_norm, decrement, exact, info,
    verbose,
):
    kind = {
        False: "sketched",
        "exact": "exact",
        "auto": "exact (auto: q m >= n_samples, sketches would cost more)",
    }[exact]
    line = (
        f"[DebiasedAveraging] round {it}/{max_iter}  "
        f"objective={problem.objective(params):.10g}  "
        f"|gradient|={np.linalg.norm(problem.gradient(params)):.3e}  "
        f"decrement={decrement:.3e}  step={step_length:.3g}  "
        f"|dparams|={step_norm:.3e}  newton={kind}"
    )
    if verbose >= 2:
        line += (
            f"  d_alpha={info['effective_dim']:.4g}  m={info['sketch_size']}  "
            f"alpha'={info['scaled_alpha']:.4g}  tasks={info['n_tasks']}"
        )
    print(line, flush=True)


def exact_step_is_cheaper(n_workers, sketch_size, gram_rows):
    """The ``newton_step="auto"`` rule: ``q m >= n``.

    The master forms ``A^T A`` from ``n = gram_rows`` rows of data anyway
    (for ``d_alpha``); the ``q`` workers' local Gram matrices hold ``q m``
    rows between them. When that is no fewer, sketching saves nothing and
    the exact step (the expectation the debiased average estimates) is
    taken instead.

    Parameters
    ----------
    n_workers : int
        Workers ``q`` of the round.
    sketch_size : float
        Expected sketch size ``m``.
    gram_rows : int
        Rows of the master's Gram data pass (the number of samples).

    Returns
    -------
    bool
    """
    return n_workers * sketch_size >= gram_rows


def _cholesky(gram, alpha):
    """Lower Cholesky factor of ``gram + alpha I`` (upper triangle zero).

    If ``alpha`` is too small for the factorization in floating point, the
    smallest shift that makes it positive is used instead.
    """
    if not np.all(np.isfinite(gram)):
        raise FloatingPointError(
            "The Hessian of the Newton system is not finite (overflow); check "
            "the data scale."
        )
    p = gram.shape[0]
    scale = max(float(np.max(np.abs(np.diag(gram)), initial=0.0)), 1.0)
    with ops._single_threaded_blas():
        for shift in (alpha, max(alpha, 1e3 * p * np.finfo(float).eps * scale)):
            H = gram.T.copy(order="K")  # Fortran order: LAPACK works in place
            H.flat[:: p + 1] += shift
            L, info = dpotrf(H, lower=1, clean=1, overwrite_a=1)
            if info == 0:
                return L
    raise FloatingPointError("The Hessian of the Newton system is not positive.")


def _effective_dimension(L, alpha):
    """``d_alpha = tr(G (G + alpha I)^{-1}) = p - alpha ||L^{-1}||_F^2``, ``L``
    the Cholesky factor of ``G + alpha I``: one triangular inverse
    (``p^3 / 3`` flops) instead of an eigendecomposition."""
    with ops._single_threaded_blas():
        L_inv, info = dtrtri(L, lower=1)
    if info != 0:
        raise FloatingPointError("Singular Cholesky factor of the Newton system.")
    return float(max(L.shape[0] - alpha * np.sum(L_inv * L_inv), 0.0))


def _effective_dimension_lower_bound(gram, alpha):
    """``tr(G)^2 / (||G||_F^2 + alpha tr(G)) <= d_alpha`` in ``O(p^2)``.

    Cauchy-Schwarz on the eigenvalues: ``sum s / (s + alpha) >= (sum
    s)^2 / sum s (s + alpha)``. Enough for the ``"auto"`` rule to choose
    the exact step without the triangular inverse when the workers are
    many (digits, 16 workers: bound 52, ``d_alpha`` 402).
    """
    trace = float(np.trace(gram))
    if not trace > 0:
        return 0.0
    # trace / (||G||_F^2 / trace + alpha): no square of the trace to overflow
    return trace / (float(np.vdot(gram, gram)) / trace + alpha)


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


def average_directions(directions, factor=1.0):
    """``factor`` times the mean of the workers' directions (axis 0)."""
    return factor * np.mean(directions, axis=0)


def backtracking_step(
    objective, params, direction, slope, shrink=0.5, c=1e-4, f0=None
):
    """Armijo backtracking from the unit step along ``direction``.

    Returns the step length ``t`` (``0.0`` if ``direction`` does not
    descend: ``slope = grad . direction >= 0``, e.g. at the optimum).
    ``f0``: the objective at ``params`` if known.
    """
    f0 = objective(params) if f0 is None else f0
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
