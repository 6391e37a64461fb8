"""Distributed Newton sketch with debiased averaging.

Derezinski, Bartan, Pilanci & Mahoney, "Debiasing distributed second order
optimization with surrogate sketching and scaled regularization" (NeurIPS
2020). Every problem here has a Newton system whose coefficient block is a
ridge Hessian::

    H = A^T A + lam I

(ridge: ``A`` the centred design; l2-logistic: ``A = D^{1/2} X`` at the
current iterate, with the unpenalized intercept eliminated, see
:func:`logistic_newton_system`). Worker ``k`` draws its own sketch ``S_k``,
forms ``H_k = (S_k A)^T S_k A + lam' I`` with the shrunk regularization
``lam' = lam (1 - d_lam / m)`` and returns ``H_k^{-1} g`` for the full
gradient ``g``. The master averages and multiplies by ``1 - d_lam / m``.
For a surrogate sketch ``(1 - d_lam/m) E[H_k^{-1}] = H^{-1}`` exactly, so
the averaged direction is unbiased and its error falls like ``1/sqrt(q)``
with the number of workers ``q``; plain averaging (``lam`` kept, no factor)
stalls at its bias.

Everything here works on numpy arrays. The only object that comes in from
outside is the sketch: anything with ``sketch(A, random_state=...)``
returning ``S A`` with ``E[S^T S] = I``.
"""

from collections import namedtuple

import numpy as np
from scipy.special import expit, log_softmax, softmax
from sklearn.utils.parallel import Parallel, delayed

__all__ = [
    "NewtonSystem",
    "average_directions",
    "backtracking_step",
    "debiased_newton_sketch",
    "debiasing_factor",
    "logistic_newton_system",
    "logistic_objective",
    "ridge_newton_system",
    "shrunk_regularization",
    "sketched_newton_directions",
    "worker_seed_sequences",
]

#: A Newton system in ridge form. ``A`` (rows, p) and ``lam``: the Hessian
#: block ``A^T A + lam I`` the workers approximate; ``rhs`` (p, t): the
#: right-hand side (minus the reduced gradient); ``finish``: maps the solved
#: coefficient direction (p, t) to the direction on all parameters;
#: ``gradient``: the objective's gradient on all parameters (line search).
NewtonSystem = namedtuple("NewtonSystem", ["A", "rhs", "lam", "finish", "gradient"])


def shrunk_regularization(lam, effective_dim, sketch_size):
    """The workers' regularization ``lam (1 - d_lam / m)``.

    Parameters
    ----------
    lam : float
        Regularization of the full Hessian ``A^T A + lam I``.
    effective_dim : float
        ``d_lam = tr(A^T A (A^T A + lam I)^{-1})``.
    sketch_size : float
        Expected number of rows ``m`` of each worker's sketch.

    Returns
    -------
    float
    """
    return lam * debiasing_factor(effective_dim, sketch_size)


def debiasing_factor(effective_dim, sketch_size):
    """``1 - d_lam / m``; refuses a sketch no larger than ``d_lam``."""
    if not sketch_size > effective_dim:
        raise ValueError(
            f"Debiased averaging needs a sketch larger than the effective "
            f"dimension: sketch size m={sketch_size} <= d_lambda="
            f"{effective_dim:.4g}. Use a larger sketch (n_components) or "
            f"debias=False."
        )
    return 1.0 - effective_dim / sketch_size


def worker_seed_sequences(seed_sequence, n_workers):
    """Fresh ``SeedSequence`` children, one per worker, for one iteration.

    Each worker's stream depends on its index only, never on how the
    workers are batched into tasks, so the answer is the same for every
    ``n_jobs`` and joblib backend.
    """
    return seed_sequence.spawn(n_workers)


def sketched_newton_directions(A, rhs, lam, sketch, seeds):
    """Newton directions of a batch of workers.

    Parameters
    ----------
    A : ndarray of shape (rows, p)
    rhs : ndarray of shape (p, t)
    lam : float
        The workers' regularization (already shrunk if debiasing).
    sketch : object with a ``sketch(A, random_state=...)`` method
    seeds : list of numpy.random.SeedSequence
        One per worker of the batch.

    Returns
    -------
    ndarray of shape (len(seeds), p, t)
        ``((S_k A)^T S_k A + lam I)^{-1} rhs`` for each worker ``k``.
    """
    p = A.shape[1]
    hessians = np.empty((len(seeds), p, p))
    for k, seed in enumerate(seeds):
        SA = sketch.sketch(A, random_state=np.random.default_rng(seed))
        SA = SA.toarray() if hasattr(SA, "toarray") else np.asarray(SA)
        hessians[k] = SA.T @ SA
    hessians[:, np.arange(p), np.arange(p)] += lam
    # One batched LAPACK call: cheap even for a thousand small workers.
    return np.linalg.solve(hessians, np.broadcast_to(rhs, (len(seeds), *rhs.shape)))


def average_directions(directions, factor=1.0):
    """``factor`` times the mean of the workers' directions (axis 0)."""
    return factor * np.mean(directions, axis=0)


def debiased_newton_sketch(
    system_at,
    params,
    sketch_at,
    sketch_size_at,
    effective_dimension,
    *,
    n_workers,
    debias=True,
    n_iter=1,
    tol=0.0,
    objective=None,
    n_jobs=None,
    seed_sequence=None,
    verbose=0,
):
    """Distributed Newton iterations with (debiased) averaged sketched steps.

    Parameters
    ----------
    system_at : callable
        ``system_at(params) -> NewtonSystem`` at the current iterate.
    params : ndarray
        Starting point (any shape; ``finish`` returns that shape).
    sketch_at : callable
        ``sketch_at(lam, sketch_size) -> sketch`` to draw from at this
        iteration (the meta-estimator sets the sketch's ``alpha`` to ``lam``).
    sketch_size_at : callable
        ``sketch_size_at(effective_dim, n_rows) -> m``, the expected sketch
        size used in the debiasing.
    effective_dimension : callable
        ``effective_dimension(A, lam) -> d_lam``.
    n_workers : int
        Number of sketched workers ``q``.
    debias : bool, default=True
        Shrink the workers' regularization and scale the averaged step by
        ``1 - d_lam / m``; if False, plain averaging.
    n_iter : int, default=1
        Maximum number of Newton iterations.
    tol : float, default=0.0
        Stop once the step is at most ``tol * max(1, ||params||)``.
    objective : callable or None
        ``objective(params) -> float``. If given, each step is shortened by
        backtracking (Armijo) from the (debiased) unit step; if None the
        unit step is taken.
    n_jobs : int or None
        Joblib ``n_jobs``; the ``q`` workers are split into that many tasks.
    seed_sequence : numpy.random.SeedSequence
        Root of the workers' random streams.
    verbose : int
        Print one line per iteration if positive.

    Returns
    -------
    params : ndarray
    info : dict
        ``n_iter``, ``converged``, ``effective_dim``, ``scaled_lam``,
        ``sketch_size`` (those of the last iteration).
    """
    seed_sequence = seed_sequence or np.random.SeedSequence()
    params = np.array(params, dtype=float)
    info = {"converged": False}
    parallel = Parallel(n_jobs=n_jobs)
    n_tasks = max(1, min(n_workers, _effective_n_tasks(parallel)))
    for it in range(1, n_iter + 1):
        system = system_at(params)
        d_lam = float(effective_dimension(system.A, system.lam))
        m = sketch_size_at(d_lam, system.A.shape[0])
        if debias:
            factor = debiasing_factor(d_lam, m)
            lam_workers = system.lam * factor
        else:
            factor, lam_workers = 1.0, system.lam
        sketch = sketch_at(system.lam, m)
        seeds = worker_seed_sequences(seed_sequence, n_workers)
        batches = [b for b in np.array_split(np.arange(n_workers), n_tasks) if len(b)]
        # The same A object goes to every task: loky memory-maps it, the dask
        # backend scatters it to the cluster once per call.
        results = parallel(
            delayed(sketched_newton_directions)(
                system.A, system.rhs, lam_workers, sketch, [seeds[i] for i in b]
            )
            for b in batches
        )
        direction = system.finish(average_directions(np.concatenate(results), factor))
        step_length = 1.0
        if objective is not None:
            step_length = backtracking_step(
                objective, params, direction, np.sum(system.gradient * direction)
            )
        step = step_length * direction
        params = params + step
        info.update(
            n_iter=it, effective_dim=d_lam, scaled_lam=lam_workers, sketch_size=m
        )
        step_norm = float(np.linalg.norm(step))
        if verbose:
            line = (
                f"[DebiasedAveraging] iter {it:3d}  d_lambda={d_lam:.4g}  m={m}  "
                f"lambda'={lam_workers:.4g}  step={step_length:.3g}  "
                f"|dparams|={step_norm:.3e}"
            )
            if objective is not None:
                line += f"  objective={objective(params):.10g}"
            print(line)
        if step_norm <= tol * max(1.0, float(np.linalg.norm(params))):
            info["converged"] = True
            break
    return params, info


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


def ridge_newton_system(X, Y, lam):
    """Newton system of ``1/2 (||Y - X W||^2 + lam ||W||^2)``.

    ``X`` must already be centred if there is an intercept (the intercept
    is then ``mean(Y) - mean(X) W``, no part of the iteration).

    Returns
    -------
    callable
        ``params (p, t) -> NewtonSystem``.
    """

    def system_at(W):
        rhs = X.T @ (Y - X @ W) - lam * W
        return NewtonSystem(X, rhs, lam, lambda dW: dW, -rhs)

    return system_at


def logistic_objective(X, Y, lam, fit_intercept):
    """``sum_i logloss_i + lam/2 ||W||^2``, i.e. scikit-learn's objective /C.

    ``Y`` is a 0/1 vector of shape (n, 1) for the binary problem (one
    coefficient row) or a one-hot matrix (n, K) for the multinomial one.
    ``params`` has shape (K', d + fit_intercept) with the intercept last.
    """
    binary = Y.shape[1] == 1

    def objective(params):
        W, b = _split(params, fit_intercept)
        Z = X @ W.T + b
        if binary:
            loss = np.sum(np.logaddexp(0.0, Z) - Y * Z)
        else:
            loss = -np.sum(Y * log_softmax(Z, axis=1))
        return float(loss + 0.5 * lam * np.sum(W * W))

    return objective


def logistic_newton_system(X, Y, lam, fit_intercept):
    """Newton system of the l2-penalized logistic loss, ridge form.

    Binary (``Y`` of shape (n, 1), 0/1): the Hessian of the coefficient
    block is ``X^T D X + lam I`` with ``D = p (1 - p)``, so ``A = D^{1/2} X``.
    Multinomial (``Y`` one-hot (n, K)): per sample ``diag(p) - p p^T =
    B^T B`` with ``B = diag(sqrt p) - sqrt(p) p^T``; ``A`` has the K rows
    ``B kron x_i^T`` per sample (shape (n K, K d)).

    The unpenalized intercept is eliminated exactly (Schur complement):
    with ``C`` the intercept columns of the factor, the coefficient block
    of the reduced Hessian is ``A^T (I - P_C) A + lam I`` -- again a ridge
    Hessian, of the weighted-centred factor ``(I - P_C) A``. So the
    workers sketch that factor and the debiasing identity holds as for
    ridge; the intercept step follows from the coefficient step exactly
    (``finish``). For the multinomial problem the intercept block is
    singular (a common shift changes nothing); the pseudo-inverse keeps
    the intercepts summing to zero, as scikit-learn's do.

    Returns
    -------
    callable
        ``params (K', d + fit_intercept) -> NewtonSystem``.
    """
    n, d = X.shape
    binary = Y.shape[1] == 1

    def system_at(params):
        W, b = _split(params, fit_intercept)
        k = W.shape[0]
        Z = X @ W.T + b
        if binary:
            P = expit(Z)
            B = np.sqrt(P * (1.0 - P))[:, :, None]  # (n, 1, 1)
        else:
            P = softmax(Z, axis=1)
            sqrt_p = np.sqrt(P)
            B = sqrt_p[:, :, None] * (np.eye(k)[None] - P[:, None, :])
        R = P - Y
        grad_W = R.T @ X + lam * W  # (k, d)
        rows = B.shape[1]
        A = (B[:, :, :, None] * X[:, None, None, :]).reshape(n * rows, k * d)
        rhs = -grad_W.reshape(-1, 1)
        if not fit_intercept:
            return NewtonSystem(A, rhs, lam, lambda dW: dW.reshape(k, d), grad_W)
        grad_b = R.sum(axis=0)  # (k,)
        C = B.reshape(n * rows, k)
        M_pinv = _intercept_block_inverse(C.T @ C, binary)
        CtA = C.T @ A  # (k, k d)
        A_reduced = A - C @ (M_pinv @ CtA)
        rhs = rhs + (CtA.T @ (M_pinv @ grad_b)).reshape(-1, 1)

        def finish(dW):
            db = -M_pinv @ (grad_b + CtA @ dW[:, 0])
            return np.hstack([dW.reshape(k, d), db[:, None]])

        gradient = np.hstack([grad_W, grad_b[:, None]])
        return NewtonSystem(A_reduced, rhs, lam, finish, gradient)

    return system_at


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


def _effective_n_tasks(parallel):
    from joblib import effective_n_jobs

    return effective_n_jobs(parallel.n_jobs)
