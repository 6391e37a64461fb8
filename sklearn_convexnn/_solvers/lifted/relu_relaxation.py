"""Convex relaxation of a one-filter ReLU CNN (Bartan & Pilanci, ICASSP 2019).

The network ``f(x) = sum_k a_k relu(w . P_k x)`` with fixed pooling weights
``a_k >= 0`` is convex in the filter ``w``, so the set of filters that do not
overshoot any target, ``{w : f(x_i) <= y_i for all i}``, is convex; with
epigraph variables it is the polyhedron::

    t_ik >= 0,   t_ik >= w . P_k x_i,   sum_k a_k t_ik <= y_i.

The true filter lies on its boundary (every constraint is tight there).
Maximizing a linear *anchor* ``<w0, w>`` over the polyhedron is an LP whose
solution is the true filter once ``w0`` lies in the cone of the constraints'
subgradients at it, which happens with high probability once
``n / patch_size`` passes a threshold: a phase transition.

For noisy targets the hard constraints become a one-sided squared slack,
``sum_k a_k t_ik <= y_i + xi_i``, and the program
``max <w0, w> - slack_weight / (2 n) ||xi||^2`` is an SOCP.

The anchor ``"auto"`` is the least-squares slope of ``y`` on the pooled
patch vector ``s_i = sum_k a_k P_k x_i``: for Gaussian inputs with mean zero
and any covariance, Stein's lemma gives ``E[y (s - Es)] = Cov(s) w / 2``
(each ``relu'`` has mean 1/2 and ``sum_k a_k Cov(s, P_k x) = Cov(s)``), so
``Cov(s)^{-1} Cov(s, y)`` points at the true filter; for non-overlapping
patches of white inputs ``Cov(s)`` is a multiple of the identity, and for
overlapping ones the inverse removes the patch cross-covariance.
"""

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ...exceptions import RelaxationUnboundedError
from ..shared.cvxpy_solve import solve_cvxpy

__all__ = [
    "RelaxationUnboundedError",
    "ReluRelaxationResult",
    "relu_anchor",
    "relu_pooled_output",
    "solve_relu_relaxation",
]


@dataclass
class ReluRelaxationResult:
    """The recovered filter ``w`` (p,), the program's value and status."""

    w: np.ndarray
    value: float
    status: str
    solver: str
    anchor: np.ndarray
    n_iter: int = 0


def relu_pooled_output(P, pool, w):
    """``f(x_i) = sum_k a_k relu(w . P_k x_i)``: patches ``P`` (n K, p), ``pool`` (n, n K)."""
    return np.asarray(pool @ np.maximum(P @ np.asarray(w, dtype=float), 0.0)).ravel()


def relu_anchor(P, pool, y, weights=None):
    """The Stein anchor ``Cov(s)^+ Cov(s, y)`` with ``s = pool @ P`` (see module doc).

    ``weights`` (n,), if given, weigh the samples of the covariances.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> rng = np.random.default_rng(0)
    >>> n, K, w = 4000, 3, np.array([0.6, -0.8])
    >>> P = rng.standard_normal((n * K, 2))
    >>> pool = sp.kron(sp.eye(n), np.full((1, K), 1 / K), format="csr")
    >>> w0 = relu_anchor(P, pool, relu_pooled_output(P, pool, w))
    >>> np.round(w0 / np.linalg.norm(w0), 1)
    array([ 0.6, -0.8])
    """
    S = np.asarray(pool @ P)
    y = np.asarray(y, dtype=float)
    c = np.full(len(y), 1.0 / len(y)) if weights is None else np.asarray(weights) / np.sum(weights)
    S = S - c @ S
    yc = y - c @ y
    root = np.sqrt(c)
    return np.linalg.lstsq(S * root[:, None], yc * root, rcond=None)[0]


def solve_relu_relaxation(P, pool, y, *, anchor=None, slack_weight=None, cvxpy_solver=None,
                          max_iter=None, tol=None, verbose=False, sample_weight=None):
    """Maximize the anchor over the filters that do not overshoot the targets.

    Parameters
    ----------
    P : ndarray of shape (n * K, p)
        Patches, row ``i * K + k`` is patch ``k`` of sample ``i``.
    pool : sparse matrix of shape (n, n * K)
        Fixed non-negative pooling weights ``a``.
    y : ndarray of shape (n,)
        Targets; with hard constraints (``slack_weight=None``) they must be
        >= 0, since the network's outputs are.
    anchor : ndarray of shape (p,) or None
        Direction to maximize; ``None`` is :func:`relu_anchor`. Only its
        direction matters.
    slack_weight : float or None
        ``None`` solves the LP with hard constraints (noiseless targets); a
        positive value the SOCP with one-sided squared slack of that weight
        (larger is closer to the hard constraints).
    cvxpy_solver : str or None
        Tried first; then the other installed LP/SOCP solvers
        (``shared.cvxpy_solve``).
    max_iter, tol : solver limits (None keeps the solver's defaults).
    verbose : bool
    sample_weight : ndarray of shape (n,) or None
        Weights of the samples' slack terms (normalized by their sum, in
        place of ``1 / n``); with hard constraints a zero weight drops the
        sample's constraint and any positive weight keeps it.

    Returns
    -------
    ReluRelaxationResult

    Raises
    ------
    RelaxationUnboundedError
        The anchor grows without bound over the feasible set (too few
        samples, or an anchor outside the cone of the constraints).
    SolverFailedError
        Every solver failed; the message carries their statuses.
    """
    import cvxpy as cp

    P = np.asarray(P, dtype=float)
    y = np.asarray(y, dtype=float).ravel()
    pool = sp.csr_matrix(pool)
    n, p = y.shape[0], P.shape[1]
    if pool.shape != (n, P.shape[0]):
        raise ValueError(f"pool has shape {pool.shape}; expected {(n, P.shape[0])}.")
    if pool.nnz and pool.data.min() < 0:
        raise ValueError(
            "The pooling weights must be non-negative for the relaxation to be convex."
        )
    if slack_weight is None and np.any(y < 0):
        raise ValueError(
            f"{int(np.sum(y < 0))} target(s) are negative, but a ReLU network with "
            f"non-negative output weights only outputs values >= 0: no filter meets the "
            f"hard constraints. Pass slack_weight (the noisy-target SOCP) or shift y."
        )
    if slack_weight is not None and not slack_weight > 0:
        raise ValueError(f"slack_weight must be positive or None; got {slack_weight!r}.")
    if not np.all(np.isfinite(P)) or not np.all(np.isfinite(y)):
        raise ValueError("The patches and targets of the ReLU relaxation must be finite.")
    coef = np.full(n, 1.0 / n)
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight, dtype=float)
        coef = sample_weight / sample_weight.sum()
        keep = coef > 0
        if not np.all(keep):
            pool, y, coef = pool[keep], y[keep], coef[keep]
            n = y.shape[0]
    if anchor is None:
        w0 = relu_anchor(P, pool, y, coef)
    else:
        w0 = np.asarray(anchor, dtype=float).ravel()
    if w0.shape != (p,) or not np.all(np.isfinite(w0)):
        raise ValueError(f"anchor must be a finite vector of length {p}; got shape {w0.shape}.")
    norm = np.linalg.norm(w0)
    if norm == 0:
        raise ValueError("The anchor is zero: it gives no direction to maximize.")
    w0 = w0 / norm

    # Scale rows to unit RMS norm and targets to unit RMS: the solvers see tame numbers.
    sx = float(np.sqrt(np.mean(np.sum(P**2, axis=1)))) or 1.0
    sy = float(np.sqrt(np.mean(y**2))) or 1.0
    w = cp.Variable(p)
    t = cp.Variable(P.shape[0], nonneg=True)
    constraints = [t >= (P / sx) @ w]
    objective = w0 @ w
    if slack_weight is None:
        constraints.append(pool @ t <= y / sy)
    else:
        xi = cp.Variable(n)
        constraints.append(pool @ t <= y / sy + xi)
        # In the scaled units <w0, w> and xi both move by 1/sy (times sx for w).
        objective = objective - slack_weight * sy * sx / 2 * (coef @ cp.square(xi))
    problem = cp.Problem(cp.Maximize(objective), constraints)

    out = solve_cvxpy(
        problem, cone="soc" if slack_weight is not None else "lp", first=cvxpy_solver,
        max_iter=max_iter, tol=tol, verbose=verbose, terminal=("unbounded",),
        check=lambda _: w.value is not None, what="the ReLU relaxation",
    )
    if out.status == "unbounded":
        raise RelaxationUnboundedError(
            f"The ReLU relaxation is unbounded ({out.solver}: {out.cvxpy_status}): the anchor "
            f"grows without limit over the filters that fit the targets. It needs more "
            f"samples (n / patch_size = {n / p:.3g}; recovery typically needs about 10 or "
            f"more) or a better anchor."
        )
    return ReluRelaxationResult(
        w=np.asarray(w.value, dtype=float) * sy / sx, value=out.value * sy / sx,
        status=out.cvxpy_status, solver=out.solver, anchor=w0, n_iter=out.n_iter,
    )
