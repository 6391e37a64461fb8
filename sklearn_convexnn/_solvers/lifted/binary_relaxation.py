"""The binary relaxation by a low-rank factorization with unit-norm rows, tightened by cuts.

The binary relaxation of the lifted model (``constraint="binary"``) asks,
for every output ``o``, a pair of PSD matrices ``Z = t C``, ``Z' = t' C'``
with ``C, C'`` in the *elliptope* (unit diagonal, PSD) and ``t, t' >= 0``::

    min  loss(b + sum_o e_o (t_o <M, C_o> - t'_o <M, C'_o>)) + alpha sum_o (t_o + t'_o)

where ``<M_i, C>`` is the lifted activation of sample ``i`` (``lifted.py``).
Factor ``C = V V^T`` with ``V`` of shape (p + 1, r) and unit-norm rows
(Burer-Monteiro, ``elliptope.py``): the constraint ``diag(C) = 1`` holds by
construction and the problem is smooth in ``(b, t, V)``; it is solved by
L-BFGS-B with the rows parametrized as ``V = W / ||W||_row``, with
Frank-Wolfe steps towards the certificate's most violating point (Bartan &
Pilanci; the low-rank approach of "Training binary neural networks via
Gaussian variational inference and low-rank semidefinite programming").
The smooth objective and the Frank-Wolfe step are in ``binary_objective.py``,
the cut rounds in ``binary_cuts.py``; this module holds the plain solve.

**Cuts.** With ``cuts="triangle"`` the solved relaxation is then tightened
by the triangle inequalities of ``triangle.py`` (valid for sign vectors),
added where the iterate violates them (cutting planes), each side's cuts
handled by an augmented Lagrangian on the same factors: the penalty
``psi(c) = (max(0, lam - rho c)^2 - lam^2) / (2 rho)`` of the homogeneous
cut ``c = t (1 + <T, C>) >= 0`` joins the smooth objective, and the
multipliers ``lam`` follow ``max(0, lam - rho c)``.

**Certificate.** The factorization is not convex, so the solver proves what
it found: the dual point ``Theta`` (the loss gradient at the iterate) gives a
lower bound once every side's ``max <S, C>`` (``S = -+ sum_i Theta_i M_i``)
over the (cut) elliptope is at most ``alpha``; that maximum is bounded by
``elliptope_max`` (shifted by the multipliers, ``certified_cut_max``), valid
for any factor and any multipliers, so the bound holds however the solver
stopped (``binary_certificate.py``).
"""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from sklearn.utils import check_random_state

from ..shared.intercept import constant_fit
from ..shared.l1_refit import single_blas_thread
from .binary_objective import FactoredObjective, row_scaled
from .elliptope import mixing_ascent, normalize_rows
from .lifted import precondition_scale
from .binary_cuts import tighten

__all__ = ["BinaryRelaxation", "solve_binary_relaxation"]


@dataclass
class BinaryRelaxation:
    """The factored solution of the binary relaxation, in the caller's units.

    ``factors[o, s]`` (p + 1, r) with unit rows and ``scales[o, s] = t`` give
    ``Z = t V V^T`` for output ``o`` and side ``s`` (0: positive output
    weight, 1: negative); ``value`` is the relaxation objective at them,
    ``lower_bound`` its certified lower bound (also a lower bound on every
    network with sign-vector neurons), ``theta`` the dual point behind it,
    ``cuts`` the triangle cuts with their multipliers, ``(idx, pat, lam)``
    keyed ``(output, 0, sign)`` like the certificate's factors (None without
    cuts).
    """

    factors: np.ndarray
    scales: np.ndarray
    intercept: np.ndarray
    value: float
    lower_bound: float
    theta: np.ndarray
    n_iter: int
    status: str
    cuts: dict = None

    def matrices(self):
        """The lifted matrices ``[Z_o, Z'_o]`` as a flat list (2 per output)."""
        return [t * V @ V.T for Vs, ts in zip(self.factors, self.scales)
                for V, t in zip(Vs, ts)]


def solve_binary_relaxation(block, Y, loss, activation, alpha, *, fit_intercept=True,
                            rank=None, max_iter=2000, tol=1e-4, cuts=None,
                            max_cut_rounds=20, random_state=None, verbose=False):
    """Solve the binary relaxation by L-BFGS-B on unit-row factors, with a certificate.

    Parameters
    ----------
    block : LiftedBlock
        The rows a neuron sees (a neuron is a sign vector of length
        ``block.dim``).
    Y : ndarray of shape (n, k)
        Encoded targets.
    loss : Loss
        A differentiable loss (squared, huber, logistic, multinomial).
    activation : tuple (a, b, c)
    alpha : float
    fit_intercept : bool, default=True
    rank : int or None
        Columns of each factor; if None, ``ceil(sqrt(2 (p + 1))) + 2`` (+ 8
        with cuts; at most ``p + 1``): past the Barvinok-Pataki rank of the
        ``p + 1`` diagonal constraints, so the factored problem has no spurious minima
        generically (the Frank-Wolfe steps escape the others); full rank
        would cost about three times as much per iteration on breast_cancer
        (p = 30) for the same certified gap.
    max_iter : int, default=2000
        L-BFGS-B iterations of the relaxation, and as many again for the
        cuts' rounds.
    tol : float, default=1e-4
        Target relative gap ``(value - lower_bound) / |value|`` of the
        relaxation.
    cuts : {None, "triangle"}, default=None
        "triangle": once the relaxation is solved, tighten it by the triangle
        inequalities it violates (cutting planes, augmented Lagrangian on the
        same factors); the bound then certifies the tightened relaxation.
    max_cut_rounds : int, default=20
        Rounds of cut separation and multiplier update at most.
    random_state : int, RandomState instance or None
        Seeds the starting factors.
    verbose : bool, default=False
        Print a line per round (iterations, objective, bound, gap).

    Returns
    -------
    BinaryRelaxation

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn._solvers.lifted.lifted import LiftedBlock
    >>> from sklearn_convexnn._solvers.shared.losses import get_loss
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 4))
    >>> Y = ((X @ [1.0, -1.0, 1.0, 1.0]) ** 2 / 4)[:, None]
    >>> rel = solve_binary_relaxation(LiftedBlock(X), Y, get_loss("squared"),
    ...                               (1.0, 0.0, 0.0), 1e-3, tol=1e-6, random_state=0)
    >>> rel.status, bool(rel.lower_bound <= rel.value)
    ('optimal', True)
    """
    from .binary_certificate import dual_matrix

    Y = np.asarray(Y, dtype=float)
    n, k = Y.shape
    s = precondition_scale([block])
    a, b, c = activation
    act = (a * s * s, b * s, c)
    blk = block.scaled(1.0 / s)
    p = blk.dim
    q = p + 1
    r = _relaxation_rank(q, cuts is not None) if rank is None else int(min(rank, q))
    rng = check_random_state(random_state)
    objective = FactoredObjective(blk, Y, loss, act, float(alpha), bool(fit_intercept), k, q, r)

    # Start: the best constant, each factor aimed at its side's most violated
    # direction of the dual check at that constant.
    b0 = np.zeros(k)
    if fit_intercept:
        b0 = constant_fit(Y, loss)
    theta = loss.gradient(np.tile(b0, (n, 1)), Y)
    W = np.empty((k, 2, q, r))
    for o in range(k):
        M = dual_matrix(blk, theta[:, o], act)
        for side, sign in enumerate((-1.0, 1.0)):
            W[o, side] = mixing_ascent(sign * M, normalize_rows(rng.standard_normal((q, r))),
                                       max_sweeps=20)
    # Then a Frank-Wolfe step from zero along each side's direction (exact
    # line search): L-BFGS-B starts at the right scale instead of growing
    # ``t`` from zero (on standardized breast_cancer: 110 iterations to the
    # certified gap 1e-3 instead of 190).
    t0 = np.zeros((k, 2))
    for o in range(k):
        for side in range(2):
            b0, t0, W = objective.frank_wolfe(b0, t0, W, o, side, W[o, side], r)
    x = objective.pack(b0, t0, row_scaled(W, t0) if t0.any() else W)

    factors_cache = {}
    x, value, best_lower, theta, used, status = _descend(
        objective, x, factors_cache, tol, max_iter, verbose)
    cut_sets = None
    if cuts == "triangle":
        # The status stays the relaxation's: the cut rounds only raise the bound.
        x, value, best_lower, theta, cut_sets, used = tighten(
            objective, x, best_lower, factors_cache, max_iter, max_cut_rounds, used, verbose)
    elif cuts not in (None, "triangle"):
        raise ValueError(f"Unknown cuts {cuts!r}; expected None or 'triangle'.")
    b_cur, t_cur, W_cur = objective.unpack(x)
    return BinaryRelaxation(
        factors=normalize_rows(W_cur), scales=t_cur.copy(), intercept=b_cur.copy(),
        value=float(value), lower_bound=float(best_lower), theta=theta, n_iter=used,
        status=status, cuts=cut_sets,
    )


#: L-BFGS-B iterations between two (cheap) certificates inside one run.
_CHECK_EVERY = 10
#: Columns of the factors past ``ceil(sqrt(2 q))`` (where ``r (r + 1) / 2``
#: already exceeds the q diagonal constraints, the Barvinok-Pataki bound).
#: Measured on standardized breast_cancer (q = 31): margin 2 (r = 10) reached
#: the certified gap 1e-3 in 110 iterations, as margin 8 (r = 16) did, each
#: iteration cheaper; the planted d=20 network's final gaps were unchanged.
_RANK_MARGIN = 2
#: The cut relaxation's solutions have a higher rank (every cut and its
#: multiplier is one more constraint): on the planted d=20 network margin 2
#: stalled at 0.9% above the cut relaxation's optimum, 5 at 0.03%, 8 reached it.
_CUT_RANK_MARGIN = 8


def _relaxation_rank(q, cuts=False):
    """Columns of the relaxation's factors for a (q x q) elliptope point."""
    margin = _CUT_RANK_MARGIN if cuts else _RANK_MARGIN
    return int(min(q, np.ceil(np.sqrt(2 * q)) + margin))


def _descend(objective, x, factors_cache, tol, max_iter, verbose):
    """L-BFGS-B in growing chunks, certified after each, with Frank-Wolfe steps.

    Inside a chunk a cheap certificate every ``_CHECK_EVERY`` iterations ends
    it as soon as the gap is met (the chunks alone overshot: 569 iterations
    where 400 sufficed on the planted d=20 network).

    Solves the binary relaxation (without cuts) to the certified relative
    gap ``tol``. Returns ``(x, value, lower_bound, theta, iterations, status)``.
    """
    from .binary_certificate import binary_lower_bound

    blk, Y, loss, act = objective.block, objective.Y, objective.loss, objective.act
    alpha, fit_intercept, k, r = objective.alpha, objective.fit_intercept, objective.k, \
        objective.r
    used, rounds, status = 0, 0, "max_iter"
    chunk = 20
    best_lower = last_lower = -np.inf
    state = {"it": 0, "x": None, "low": -np.inf}

    def check(xi, f):
        # Certified inside the L-BFGS-B run every few iterations (restarting
        # it would drop its curvature memory), cheaply: the elliptope bound
        # at the iterate's own factors, no mixing sweeps (valid for any
        # factor, tight near the optimum). Stops the run once tol is met.
        state["it"] += 1
        if _CHECK_EVERY is None or state["it"] % _CHECK_EVERY:
            return
        b_i, t_i, W_i = objective.unpack(xi)
        V_i = normalize_rows(W_i)
        th = loss.gradient(objective.outputs(b_i, t_i, V_i), Y)
        facs = {(o, 0, sign): (V_i[o, side] if t_i[o, side] > 0
                               else factors_cache.get((o, 0, sign), V_i[o, side]))
                for o in range(k) for side, sign in enumerate((-1.0, 1.0))}
        low = binary_lower_bound([blk], Y, loss, act, alpha, th, fit_intercept,
                                 factors=facs, max_sweeps=0)
        state["low"] = max(state["low"], low)
        if f - max(low, best_lower) <= tol * max(abs(f), 1e-300):
            state["x"] = xi.copy()
            raise StopIteration

    def scipy_check(intermediate_result):
        check(intermediate_result.x, intermediate_result.fun)

    while True:
        state["it"], state["x"] = 0, None
        with single_blas_thread():
            # Tiny dense algebra: BLAS threads only add contention.
            res = minimize(objective, x, jac=True, method="L-BFGS-B", bounds=objective.bounds,
                           callback=scipy_check,
                           options={"maxiter": min(chunk, max_iter - used), "maxcor": 20,
                                    "ftol": 1e-15, "gtol": 1e-12})
        x, nit = (res.x if state["x"] is None else state["x"]), int(res.nit)
        used += max(nit, state["it"])
        rounds += 1
        value, _ = objective(x)
        b_cur, t_cur, W_cur = objective.unpack(x)
        V_cur = normalize_rows(W_cur)
        Yhat = objective.outputs(b_cur, t_cur, V_cur)
        theta = loss.gradient(Yhat, Y)
        # Warm factors for the certificate: side + minimizes <S, C>, i.e.
        # maximizes <-S, C>; side - maximizes <S, C>.
        for o in range(k):
            for side, sign in enumerate((-1.0, 1.0)):
                factors_cache[(o, 0, sign)] = V_cur[o, side]  # sign -1: side 0
        if state["x"] is not None:
            # The in-run check certified the gap at this very iterate: the
            # full certificate (mixing sweeps from every factor) would only
            # repeat it (on standardized breast_cancer it was a tenth of the fit).
            best_lower = max(best_lower, state["low"])
            status = "optimal"
            if verbose:
                print(f"[elliptope] round {rounds}: {used} L-BFGS iterations, objective "
                      f"{value:.10g}, lower bound {best_lower:.10g}, relative gap "
                      f"{(value - best_lower) / max(abs(value), 1e-300):.2e} (in-run check)")
            break
        lower, new_factors = binary_lower_bound(
            [blk], Y, loss, act, alpha, theta, fit_intercept, factors=factors_cache,
            return_factors=True)
        best_lower = max(best_lower, lower, state["low"])
        gap = (value - best_lower) / max(abs(value), 1e-300)
        if verbose:
            print(f"[elliptope] round {rounds}: {used} L-BFGS iterations, objective "
                  f"{value:.10g}, lower bound {best_lower:.10g}, relative gap {gap:.2e}, "
                  f"active {int(np.sum(t_cur > 0))}/{2 * k}")
        if gap <= tol:
            status = "optimal"
            break
        if used >= max_iter:
            break
        if nit <= 1 and best_lower - last_lower <= 0.01 * (value - best_lower):
            status = "precision"  # neither side moves at this floating-point accuracy
            break
        last_lower = best_lower
        # Every side whose dual check fails takes a Frank-Wolfe step towards
        # its most violating elliptope point (the certificate's factor): the
        # factored descent alone crawls along the flat directions near the
        # optimum. Inactive sides simply restart from that point.
        for o in range(k):
            for side, sign in enumerate((-1.0, 1.0)):
                V_star = new_factors[(o, 0, sign)]
                if t_cur[o, side] <= 0:
                    W_cur[o, side] = V_star
                    continue
                b_cur, t_cur, W_cur = objective.frank_wolfe(
                    b_cur, t_cur, W_cur, o, side, V_star, r)
        x = objective.pack(b_cur, t_cur, row_scaled(W_cur, t_cur))
        chunk = min(2 * chunk, 400)
    return x, value, best_lower, theta, used, status
