"""Exact solution of the lifted SDP through cvxpy (interior point or SCS).

``solve_lifted_cvxpy`` builds the problem of ``lifted.py`` for any loss of
``losses.py`` and either neuron constraint, refuses it up front when its
estimated memory exceeds the budget, preconditions it, and tries the
installed conic solvers in turn (``shared.cvxpy_solve``) until one reports
success.
"""

from dataclasses import dataclass, field

import numpy as np

from ...exceptions import ProblemTooLargeError, SolverFailedError
from ..shared.cvxpy_solve import SOLVERS, solve_cvxpy
from ..shared.cvxpy_solve import solver_order as _solver_order
from .lifted import precondition_scale, scale_blocks
from .memory import estimate_cvxpy_bytes, format_bytes
from .neuron_sets import get_neuron_set

__all__ = [
    "LiftedSolution",
    "ProblemTooLargeError",
    "SolverFailedError",
    "cvxpy_solvers_within",
    "estimate_cvxpy_memory",
    "solve_lifted_cvxpy",
]


@dataclass
class LiftedSolution:
    """What a lifted solve returns, in the caller's (unscaled) units.

    ``Z[o][r]`` is the pair ``(Zpos, Zneg)`` for output ``o`` and block
    ``r``; ``theta`` (n, k) is the dual point of the predictions (the loss
    gradient at the optimum), ``value`` the solver's optimal value.
    """

    Z: list
    intercept: np.ndarray
    theta: np.ndarray
    value: float
    status: str
    solver: str
    n_iter: int
    log: list = field(default_factory=list)


def estimate_cvxpy_memory(n_samples, dims, n_outputs, cvxpy_solver=None, n_rows=None):
    """Bytes the cvxpy path allocates (see ``memory.estimate_cvxpy_bytes``)."""
    return estimate_cvxpy_bytes(n_samples, n_samples if n_rows is None else n_rows, dims,
                                n_outputs, cvxpy_solver)


def solve_lifted_cvxpy(blocks, Y, loss, activation, alpha, *, constraint="sphere",
                       fit_intercept=True, cvxpy_solver=None, max_iter=None, tol=1e-7,
                       verbose=False, memory_limit=4 * 2**30):
    """Solve the lifted problem exactly.

    Parameters
    ----------
    blocks : list of LiftedBlock
    Y : ndarray of shape (n, k)
        Encoded targets.
    loss : Loss
    activation : tuple (a, b, c)
    alpha : float
        l1 weight of the output layer.
    constraint : NeuronSet or {"sphere", "signs", "binary"}
        What a neuron may be (``neuron_sets.py``); gives the constraint on
        each lifted matrix.
    fit_intercept : bool
    cvxpy_solver : str or None
        Solver to try first ("CLARABEL", "SCS", "MOSEK", ...). ``None``
        means Clarabel; on failure the other installed SDP solvers follow.
    max_iter, tol : solver limits.
    verbose : bool
    memory_limit : int
        Bytes; only the solvers whose estimate (``memory.py``) fits are
        tried, and a problem no solver fits is refused before it is built.

    Returns
    -------
    LiftedSolution
    """
    import cvxpy as cp

    neuron_set = get_neuron_set(constraint)
    n, k = Y.shape
    dims = [b.dim for b in blocks]
    fitting = cvxpy_solvers_within(n, blocks[0].P.shape[0], dims, k, memory_limit)
    if not fitting:
        need = estimate_cvxpy_memory(n, dims, k, cvxpy_solver, blocks[0].P.shape[0])
        raise ProblemTooLargeError(
            f"The exact SDP for n_samples={n}, lifted size {max(dims) + 1}, {k} output(s) "
            f"and {len(blocks)} block(s) needs about {format_bytes(need)} with "
            f"{(cvxpy_solver or 'CLARABEL').upper()} (interior point: a dense KKT block of "
            f"size (p+1)(p+2)/2 squared per PSD cone), over the memory budget of "
            f"{format_bytes(memory_limit)}, and no installed cvxpy solver fits it. Use "
            f"solver='lowrank' (smooth losses), reduce the features (e.g. SRHTSketch), or "
            f"raise memory_limit."
        )

    s = precondition_scale(blocks)
    a, b, c = activation
    act = (a * s * s, b * s, c)
    scaled = scale_blocks(blocks, 1.0 / s)

    Zvars = [[(cp.Variable((p + 1, p + 1), PSD=True), cp.Variable((p + 1, p + 1), PSD=True))
              for p in dims] for _ in range(k)]
    intercept = cp.Variable(k) if fit_intercept else np.zeros(k)
    Yhat = cp.Variable((n, k))
    constraints = []
    columns = []
    moments = [blk.moments() for blk in scaled]
    for o in range(k):
        col = 0
        for (Q, L, svec), (Zp, Zm), p in zip(moments, Zvars[o], dims):
            D = Zp - Zm
            col = col + act[0] * (Q @ cp.vec(D[:p, :p], order="C")) \
                + act[1] * (L @ D[:p, p]) + act[2] * svec * D[p, p]
            for Z in (Zp, Zm):
                constraints += neuron_set.cvxpy_constraints(Z, p)
        columns.append(col)
    fit = Yhat == cp.vstack(columns).T + (intercept[None, :] if fit_intercept else 0)
    constraints.append(fit)
    penalty = sum(Zp[p, p] + Zm[p, p] for row in Zvars for (Zp, Zm), p in zip(row, dims))
    problem = cp.Problem(cp.Minimize(loss.cvxpy(Yhat, Y) + alpha * penalty), constraints)

    out = solve_cvxpy(
        problem, cone="psd", first=cvxpy_solver, max_iter=max_iter, tol=tol, verbose=verbose,
        check=lambda _: Yhat.value is not None, what="the lifted SDP", stacklevel=3,
        only=fitting,
    )
    Z = [[(Zp.value, Zm.value) for Zp, Zm in row] for row in Zvars]
    # cvxpy's dual for ``Yhat == E`` is minus the loss gradient at the optimum.
    theta = -np.asarray(fit.dual_value, dtype=float).reshape(n, k)
    b0 = np.asarray(intercept.value if fit_intercept else intercept, dtype=float).ravel()
    return LiftedSolution(
        Z=Z, intercept=b0, theta=theta, value=out.value, status=out.cvxpy_status,
        solver=out.solver, n_iter=out.n_iter, log=out.log,
    )


def cvxpy_solvers_within(n_samples, n_rows, dims, n_outputs, memory_limit):
    """Installed SDP solvers whose memory estimate fits ``memory_limit`` bytes."""
    return [name for name in _solver_order(None, "psd")
            if estimate_cvxpy_bytes(n_samples, n_rows, dims, n_outputs, name) <= memory_limit]


def solver_order(first, capable=("CLARABEL", "SCS", "MOSEK")):
    """Deprecated alias kept for callers not yet on ``shared.cvxpy_solve``."""
    order = _solver_order(first, "psd")
    return [s for s in order if s in capable or s == order[0]]


def solver_options(name, max_iter, tol):
    """The iteration limit and tolerance in a solver's own words (see ``SOLVERS``)."""
    return SOLVERS[name].options(max_iter, tol) if name in SOLVERS else {}
