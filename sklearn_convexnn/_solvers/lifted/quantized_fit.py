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
   and the elliptope bound at the final network's gradient (the latter only
   where it can matter: not when the relaxation is certified to ``tol``).

Small blocks (at most ``_ENUMERATE_MAX_DIM`` sign coordinates) are searched
and certified exactly: every round enumerates the sign vectors
(``binary_certificate.enumerated_lower_bound``), adds the most violating
ones (column generation with exact pricing) and keeps the quantized
problem's own dual bound, which the relaxation's cannot reach.

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
from .binary_certificate import binary_lower_bound, enumerated_lower_bound
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
#: ... and they stop once a round lowers the objective by less than this share
#: of the certified gap left (objective - relaxation bound): the rounds after
#: it no longer move the reported gap visibly. On standardized breast_cancer
#: (gap 4%) the three rounds gained 6-11%, 3-5%, 2% of the gap; on the planted d=20
#: network of bench_quantized.py 12%, 9%, 8%.
_SEARCH_GAIN = 0.05
#: The last refit (to ``tol``) is skipped when the search's refit is already
#: certified within this share of the gap left: it could not move the reported
#: gap by more (on breast_cancer it cost as much as two search rounds for a
#: 1e-4 relative change of the objective).
_FINAL_SHARE = 0.05
#: At a tol at most this, the last refit is re-solved on its support and
#: polished by Newton (weights to round-off, not only the objective); the
#: default tol (1e-3) does not need it and keeps its speed.
_POLISH_TOL = 1e-8
#: Relative gap of the refits inside the search: at most this, and at most
#: _SEARCH_TOL_FACTOR * tol, so that a tight ``tol`` reaches every refit (the
#: search follows the refits' gradients: refits solved loosely would let two
#: formulations of one problem, e.g. weighted and repeated rows, wander to
#: other neurons). The default tol=1e-3 keeps 1e-2.
_SEARCH_TOL = 1e-2
_SEARCH_TOL_FACTOR = 100.0


#: Blocks of at most this many sign coordinates are certified and searched
#: exactly, by enumerating their 2^p sign vectors (``enumerated_extremes``: a
#: 2^11 x 2^11 matrix, 32 MiB, tens of milliseconds per check at p = 22). The
#: elliptope relaxation is several percent loose (4% on the planted d=20
#: network of bench_quantized.py), the enumeration exact.
_ENUMERATE_MAX_DIM = 22
#: Rounds of exact column generation at most (each adds the most violating
#: sign vectors and refits, warm).
_EXACT_ROUNDS = 30


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
    # No negations (-u for every candidate u): they doubled the refit's
    # columns, and its cost, for nothing the local search does not find: on
    # standardized breast_cancer (5-fold) the accuracy, 0.975 vs 0.974, and
    # the certified gap, 4.08% vs 4.12%, stayed; the fit took 0.6x the time.
    V = lifted_candidates(Zs, n_candidates, rng, negations=False)
    pool = _decode(V, levels, canonical=b == 0)
    H = block_outputs(dense, pool, activation)
    # The search only needs the refit's direction: a 1e-2 relative gap is far
    # below the rounding gap; the last refit is solved to ``tol``.
    search_tol = max(tol, min(_SEARCH_TOL, _SEARCH_TOL_FACTOR * tol))
    fit = refit_output_layer(H, Y, loss, alpha, fit_intercept=fit_intercept, tol=search_tol)
    W = np.zeros((len(pool), k))
    W[fit.support] = fit.weights
    intercept, value = fit.intercept, fit.value
    # Small blocks: the dual check is exact by enumeration, so the search is
    # column generation with exact pricing (the most violating sign vectors
    # join), run until none is left or the certified gap is within reach of
    # the refits' accuracy, and the bound is the quantized problem's own.
    # The exact search needs the fast refit (smooth losses): its rounds add
    # many columns, which the cvxpy refit of the others pays for dearly (wine,
    # hinge: 7 s instead of 1.6 s); they keep the flip search and get the
    # exact certificate only.
    exact = block.dim <= _ENUMERATE_MAX_DIM
    exact_search = exact and loss.smooth
    exact_lower = -np.inf
    rounds = 0
    max_rounds = max(n_search_rounds, _EXACT_ROUNDS) if exact_search else n_search_rounds
    for rounds in range(1, max_rounds + 1):
        Yhat = H @ W + intercept
        theta = loss.gradient(Yhat, Y)
        if exact_search:
            low, found = enumerated_lower_bound(block, Y, loss, activation, alpha, theta,
                                                fit_intercept, top=_SEARCH_KEEP)
            exact_lower = max(exact_lower, low)
            if value - max(exact_lower, rel_lower) <= search_tol * abs(value):
                break
        else:
            # Start from the neurons in use and the best-scoring candidates.
            H_scores = np.abs(theta.T @ H).max(axis=0)
            top = np.argsort(-H_scores)[:_SEARCH_STARTS]
            used = np.flatnonzero(np.abs(W).max(axis=1) > 0)
            start = _encode(pool[np.union1d(used, top)], levels)
            found = _search(start, block, theta, activation, alpha * (1 + 1e-9))
        new = _not_in(_decode(found, levels, canonical=b == 0), pool)
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
        if not exact_search and old - value <= max(_SEARCH_RTOL * abs(old),
                                            _SEARCH_GAIN * (value - rel_lower)):
            break
    if tol < search_tol and not fit.gap <= _FINAL_SHARE * (value - rel_lower):
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
    # Every elliptope-certified bound is also a bound on the relaxation's
    # optimum, which the relaxation's own certified bound is already within
    # ``tol`` of when it stopped "optimal": the check at the final network
    # can then gain at most ``tol`` (relative), and it never did on the
    # bundled data (breast_cancer: 2.7-3.5% below the relaxation's bound, for
    # 4-17 ms of a 0.2 s fit; digits: 200 ms). It is taken otherwise (a
    # relaxation stopped early, the cvxpy path, cuts).
    lower = -np.inf
    if not (name == "lowrank" and status == "optimal" and cut_sets is None):
        lower = binary_lower_bound([block], Y, loss, activation, alpha,
                                   loss.gradient(Yhat, Y), fit_intercept, factors=factors,
                                   cuts=cut_sets, refine_multipliers=False)
    if exact:
        lower = max(lower, enumerated_lower_bound(block, Y, loss, activation, alpha,
                                                  loss.gradient(Yhat, Y), fit_intercept)[0])
    lower = min(max(lower, rel_lower, exact_lower), objective)
    if verbose:
        print(f"[quantized] {name}: relaxation {rel_value:.10g} (status {status}), "
              f"{len(neurons)} neurons, objective {objective:.10g}, lower bound {lower:.10g}")
    return QuantizedFit(neurons, weights, np.asarray(intercept, dtype=float), float(objective),
                        float(lower), float(rel_value), int(n_iter), int(rounds), status,
                        f"{name} + refit/{fit.solver}")


def _search(start, block, theta, activation, threshold):
    """Flip-search ``start`` (sign vectors) towards larger ``+-theta_o^T sigma(X u)``.

    Per output and sign, the best ``_SEARCH_KEEP`` local optima scoring above
    ``threshold`` (a neuron past ``alpha`` lowers the objective when added).
    """
    found = [start[:0]]
    for o in range(theta.shape[1]):
        A, g, c0 = block.dual_quadratic(theta[:, o], activation)
        for sign in (1.0, -1.0):
            better = flip_search(start, A, g, sign)
            score = sign * (np.einsum("ij,jk,ik->i", better, A, better) + better @ g + c0)
            keep = np.argsort(-score)[:_SEARCH_KEEP]
            found.append(better[keep[score[keep] > threshold]])
    return np.vstack(found)


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
