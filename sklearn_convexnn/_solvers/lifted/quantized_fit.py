"""Relax, round, search, refit: training a network with quantized first layer.

The path behind the ``QuantizedSDP*`` estimators, on plain arrays:

1. **Relaxation.** The binary SDP (``diag(Z) = Z4 1``), either by the
   factored solver of ``binary_relaxation.py`` ("lowrank") or exactly through cvxpy
   ("cvxpy"). Its certified value bounds every quantized network from below.
2. **Rounding.** Hyperplane rounding of every relaxed matrix, all draws in
   one product (``rounding.lifted_candidates``), into candidate neurons.
3. **Refit and local search.** The output layer over the candidates is an
   l1-penalized fit (``rounding.refit_output_layer``). Then, in rounds,
   every candidate is improved by single-coordinate flips towards a larger
   ``|Theta_o^T sigma(X u)|`` (``Theta`` the loss gradient at the current
   network: a neuron past ``alpha`` lowers the objective when added), the
   improved neurons join, and the output layer is refit, warm-started.
4. **Certificate.** ``lower_bound`` is the best of the relaxation's bound
   and the elliptope bound at the final network's gradient.

Few-level weights use the same path on an expanded block: a ternary neuron
``u = (v + v') / 2`` is a pair of sign vectors, so the ternary network on X
is a binary network on ``[X, X] / 2`` (the relaxation is the binary SDP of
twice the size: sound, looser than a dedicated ternary relaxation).
"""

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ..shared.support_newton import newton_polish
from .binary_certificate import binary_lower_bound
from .binary_relaxation import solve_binary_relaxation
from .cvxpy_backend import solve_lifted_cvxpy
from .lifted import LiftedBlock, block_outputs
from .rounding import flip_search, lifted_candidates, refit_output_layer

__all__ = ["LEVELS", "QuantizedFit", "expand_levels", "fit_quantized_network"]

#: Level sets with a sound relaxation through the binary SDP.
LEVELS = {"binary": (-1.0, 1.0), "ternary": (-1.0, 0.0, 1.0)}

#: Local search starts from the neurons in use and this many best-scoring candidates...
_SEARCH_STARTS = 50
#: ... and adds at most this many improved neurons per output and sign per round.
_SEARCH_KEEP = 25
#: Local-search rounds stop when a round lowers the objective by less than this (relative).
_SEARCH_RTOL = 1e-6
#: At a tol at most this, the last refit is re-solved on its support and
#: polished by Newton (weights to round-off, not only the objective); the
#: default tol (1e-3) does not need it and keeps its speed.
_POLISH_TOL = 1e-8
#: Relative gap of the refits inside the search: at most this, and at most
#: _SEARCH_TOL_FACTOR * tol, so that a tight ``tol`` reaches every refit (the
#: search follows the refits' gradients: refits solved loosely would let two
#: formulations of one problem, e.g. weighted and repeated rows, wander to
#: other neurons). The default tol=1e-4 keeps 1e-2.
_SEARCH_TOL = 1e-2
_SEARCH_TOL_FACTOR = 100.0


@dataclass
class QuantizedFit:
    """A quantized network and its certificate.

    ``neurons`` (m, d) take values in the level set; ``weights`` (m, k);
    ``relaxation_value`` the relaxation objective the solver reached (its
    optimum up to the solver's accuracy); ``lower_bound`` certified.
    """

    neurons: np.ndarray
    weights: np.ndarray
    intercept: np.ndarray
    objective: float
    lower_bound: float
    relaxation_value: float
    n_iter: int
    n_search_rounds: int
    status: str
    solver: str


def expand_levels(X, levels):
    """The block whose binary neurons are the level set's neurons on X."""
    X = np.asarray(X, dtype=float)
    if levels == "binary":
        return LiftedBlock(X)
    if levels == "ternary":
        return LiftedBlock(np.hstack([X, X]) / 2.0)
    raise ValueError(f"Unknown levels {levels!r}; expected one of {sorted(LEVELS)}.")


def fit_quantized_network(X, Y, loss, activation, alpha, *, levels="binary",
                          fit_intercept=True, solver="lowrank", n_candidates=200,
                          n_search_rounds=10, max_iter=2000, tol=1e-4, random_state=None,
                          cuts=None, cvxpy_solver=None, memory_limit=4 * 2**30,
                          verbose=False):
    """Train a network with level-set first-layer weights by relax, round, search, refit.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    Y : ndarray of shape (n, k)
        Encoded targets.
    loss : Loss
    activation : tuple (a, b, c)
    alpha : float
    levels : {"binary", "ternary"}, default="binary"
    fit_intercept : bool, default=True
    solver : {"lowrank", "cvxpy"}, default="lowrank"
        How the relaxation is solved; "lowrank" needs a differentiable loss.
    n_candidates : int, default=200
        Random rounding draws.
    n_search_rounds : int, default=10
        Rounds of local search and refit at most.
    max_iter : int, default=2000
        Iterations of the relaxation solver.
    tol : float, default=1e-4
        Relative accuracy of the relaxation (lowrank: certified gap;
        cvxpy: the interior-point tolerance) and of each refit (divided by
        100).
    random_state : int, RandomState instance or None
        Seeds the relaxation's starting factors and the rounding.
    cuts : {None, "triangle"}, default=None
        Tighten the relaxation by triangle inequalities ("lowrank" only; see
        ``binary_relaxation.solve_binary_relaxation``).
    cvxpy_solver : str or None
    memory_limit : int
        Bytes, for the cvxpy path.
    verbose : bool

    Returns
    -------
    QuantizedFit
    """
    rng = check_random_state(random_state)
    block = expand_levels(X, levels)
    dense = LiftedBlock(np.asarray(X, dtype=float))
    b = activation[1]
    k = Y.shape[1]

    # 1. Relaxation and its certificate.
    factors = cut_sets = None
    if solver == "lowrank":
        rel = solve_binary_relaxation(block, Y, loss, activation, alpha,
                                      fit_intercept=fit_intercept, max_iter=max_iter, tol=tol,
                                      cuts=cuts, random_state=rng, verbose=bool(verbose))
        Zs, rel_value, rel_lower = rel.matrices(), rel.value, rel.lower_bound
        n_iter, status, cut_sets = rel.n_iter, rel.status, rel.cuts
        factors = {(o, 0, sign): rel.factors[o, side] for o in range(k)
                   for side, sign in enumerate((-1.0, 1.0))}
        name = "lowrank"
        if rel.status == "max_iter":
            warnings.warn(
                f"The binary relaxation stopped at max_iter={max_iter} with a relative gap "
                f"of {(rel.value - rel.lower_bound) / max(abs(rel.value), 1e-300):.2e} "
                f"(status {rel.status!r}): the rounded network may be poor; lower_bound_ "
                f"stays certified.", ConvergenceWarning, stacklevel=7)
    else:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            sol = solve_lifted_cvxpy([block], Y, loss, activation, alpha, constraint="binary",
                                     fit_intercept=fit_intercept, cvxpy_solver=cvxpy_solver,
                                     max_iter=max_iter, tol=tol, verbose=bool(verbose > 1),
                                     memory_limit=memory_limit)
        for w in caught:
            if "Solution may be inaccurate" in str(w.message):
                continue
            if issubclass(w.category, ConvergenceWarning):
                warnings.warn(
                    f"The SDP relaxation ended with status {sol.status!r} (cvxpy/{sol.solver}): "
                    f"the rounded network may be poor. lower_bound_ stays certified (from the "
                    f"solver's approximate dual point) but may be loose.",
                    ConvergenceWarning, stacklevel=7)
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        Zs = [Z for row in sol.Z for pair in row for Z in pair]
        rel_value = sol.value
        rel_lower = binary_lower_bound([block], Y, loss, activation, alpha, sol.theta,
                                       fit_intercept)
        n_iter, status, name = sol.n_iter, sol.status, f"cvxpy/{sol.solver}"

    # 2. Rounding, 3. refit and local search.
    V = lifted_candidates(Zs, n_candidates, rng, negations=b != 0)
    pool = _decode(V, levels, canonical=b == 0)
    H = block_outputs(dense, pool, activation)
    # The search only needs the refit's direction: a 1e-2 relative gap is far
    # below the rounding gap; the last refit is solved to ``tol``.
    search_tol = max(tol, min(_SEARCH_TOL, _SEARCH_TOL_FACTOR * tol))
    fit = refit_output_layer(H, Y, loss, alpha, fit_intercept=fit_intercept, tol=search_tol)
    W = np.zeros((len(pool), k))
    W[fit.support] = fit.weights
    intercept, value = fit.intercept, fit.value
    rounds = 0
    for rounds in range(1, n_search_rounds + 1):
        Yhat = H @ W + intercept
        theta = loss.gradient(Yhat, Y)
        # Start from the neurons in use and the best-scoring candidates.
        H_scores = np.abs(theta.T @ H).max(axis=0)
        top = np.argsort(-H_scores)[:_SEARCH_STARTS]
        used = np.flatnonzero(np.abs(W).max(axis=1) > 0)
        start = _encode(pool[np.union1d(used, top)], levels)
        found = []
        for o in range(k):
            A, g, c0 = block.dual_quadratic(theta[:, o], activation)
            for sign in (1.0, -1.0):
                better = flip_search(start, A, g, sign)
                score = sign * (np.einsum("ij,jk,ik->i", better, A, better) + better @ g + c0)
                keep = np.argsort(-score)[:_SEARCH_KEEP]
                found.append(better[keep[score[keep] > alpha * (1 + 1e-9)]])
        new = _decode(np.vstack(found), levels, canonical=b == 0) if found else pool[:0]
        new = _not_in(new, pool)
        if not len(new):
            break
        pool = np.vstack([pool, new])
        H = np.hstack([H, block_outputs(dense, new, activation)])
        W = np.vstack([W, np.zeros((len(new), k))])
        fit = refit_output_layer(H, Y, loss, alpha, fit_intercept=fit_intercept,
                                 warm_start=(W, intercept), tol=search_tol)
        W = np.zeros((len(pool), k))
        W[fit.support] = fit.weights
        intercept, old = fit.intercept, value
        value = fit.value
        if verbose:
            print(f"[quantized] search round {rounds}: {len(new)} new neurons, pool "
                  f"{len(pool)}, objective {value:.10g}")
        if old - value <= _SEARCH_RTOL * abs(old):
            break
    if tol < search_tol:
        fit = refit_output_layer(H, Y, loss, alpha, fit_intercept=fit_intercept,
                                 warm_start=(W, intercept), tol=tol)
        W = np.zeros((len(pool), k))
        W[fit.support] = fit.weights
        intercept = fit.intercept
    if tol <= _POLISH_TOL:
        # Once more on the support alone: the network then depends on its
        # neurons only, not on which unused candidates the pool held (their
        # columns slow the pool's refit down to its floating-point floor).
        support = np.flatnonzero(np.abs(W).max(axis=1) > 0)
        if 0 < len(support) < len(pool):
            fit = refit_output_layer(H[:, support], Y, loss, alpha,
                                     fit_intercept=fit_intercept,
                                     warm_start=(W[support], intercept), tol=tol)
            W = np.zeros((len(pool), k))
            W[support[fit.support]] = fit.weights
            intercept = fit.intercept
        # The refit stops at the objective's round-off, which fixes the
        # weights only to about its square root: Newton on the support.
        W, intercept = newton_polish(H, Y, loss, alpha, W, intercept, fit_intercept)
    support = np.flatnonzero(np.abs(W).max(axis=1) > 0)
    neurons, weights = pool[support], W[support]

    # 4. Certificate at the final network (valid for the expanded block's sign vectors).
    Yhat = block_outputs(dense, neurons, activation) @ weights + intercept
    objective = loss.value(Yhat, Y) + alpha * float(np.abs(weights).sum())
    lower = binary_lower_bound([block], Y, loss, activation, alpha, loss.gradient(Yhat, Y),
                               fit_intercept, factors=factors, cuts=cut_sets,
                               refine_multipliers=False)
    lower = min(max(lower, rel_lower), objective)
    if verbose:
        print(f"[quantized] {name}: relaxation {rel_value:.10g} (status {status}), "
              f"{len(neurons)} neurons, objective {objective:.10g}, lower bound {lower:.10g}")
    return QuantizedFit(neurons, weights, np.asarray(intercept, dtype=float), float(objective),
                        float(lower), float(rel_value), int(n_iter), int(rounds), status,
                        f"{name} + refit/{fit.solver}")


def _encode(U, levels):
    """Level-set neurons as sign vectors of the expanded block."""
    if levels == "binary":
        return U.copy()
    # ternary: 1 -> (1, 1), -1 -> (-1, -1), 0 -> (1, -1)
    return np.hstack([np.where(U >= 0, 1.0, -1.0), np.where(U > 0, 1.0, -1.0)])


def _decode(V, levels, canonical):
    """Sign vectors of the expanded block back to distinct level-set neurons."""
    if levels == "ternary":
        d = V.shape[1] // 2
        V = (V[:, :d] + V[:, d:]) / 2.0
    if canonical and len(V):
        # sigma(-t) = sigma(t) when b = 0: keep one of u, -u (first non-zero > 0).
        nz = V != 0
        first = np.where(nz.any(axis=1), nz.argmax(axis=1), 0)
        V = V * np.where(V[np.arange(len(V)), first] < 0, -1.0, 1.0)[:, None]
    if not len(V):
        return V + 0.0
    _, idx = np.unique(V, axis=0, return_index=True)
    return V[np.sort(idx)] + 0.0  # + 0.0 turns -0.0 into 0.0


def _not_in(U, pool):
    """Rows of U absent from pool."""
    if not len(U):
        return U
    known = {row.tobytes() for row in pool}
    return U[[row.tobytes() not in known for row in U]]
