"""Cutting planes on the factored binary relaxation: the triangle inequalities.

With ``cuts="triangle"`` the solved relaxation of ``binary_relaxation.py`` is
tightened by the triangle inequalities of ``triangle.py`` (valid for sign
vectors), added where the iterate violates them, each side's cuts handled by
an augmented Lagrangian on the same factors (``binary_objective.py``): the
penalty ``psi(c) = (max(0, lam - rho c)^2 - lam^2) / (2 rho)`` of the
homogeneous cut ``c = t (1 + <T, C>) >= 0`` joins the smooth objective, and
the multipliers ``lam`` follow ``max(0, lam - rho c)``. Every round is
certified by ``binary_lower_bound`` with the cuts and multipliers (valid for
any of them).
"""

import numpy as np
from scipy.optimize import minimize

from ..shared.l1_refit import single_blas_thread
from .binary_objective import row_scaled
from .elliptope import normalize_rows
from .triangle import cut_values, violated_cuts

__all__ = ["tighten"]

#: Cuts separated per side and round at most, in multiples of the side's size q.
_CUTS_PER_Q = 10
#: A cut violated by less than this (in units of the unit-diagonal C) is satisfied.
_CUT_TOL = 1e-5
#: Initial penalty of the augmented Lagrangian, in units of alpha / t^2. Measured on
#: the planted d=20 problem of bench_quantized.py: 1 converged to the cvxpy value of
#: the tightened relaxation in 6 rounds; 10 and 100 overshot and crawled.
_RHO = 1.0
#: L-BFGS-B iterations per round of the augmented Lagrangian.
_INNER_ITER = 500
#: The augmented Lagrangian stops once a round moves the objective by less than
#: this (relative) with the cuts met: the certificate needs the dual point
#: (the loss gradient) accurate, well below the relaxation's own ``tol``.
_SETTLED = 1e-5


def tighten(objective, x, best_lower, factors, budget, max_rounds, used, verbose):
    """Cutting planes with an augmented Lagrangian on the factored relaxation.

    Each round separates the triangle inequalities every active side's ``C``
    violates, minimizes the augmented objective (L-BFGS-B, warm), moves the
    multipliers and certifies: ``binary_lower_bound`` with the cuts and
    multipliers (valid for any of them). Stops when a round finds no new cut
    with the cuts met and the objective settled (``_SETTLED``), or when the
    budget or the rounds are spent; the last bound also tries the best
    multipliers for the last dual point.
    """
    from .binary_certificate import binary_lower_bound

    k, q = objective.k, objective.q
    keys = [(o, side) for o in range(k) for side in range(2)]
    empty = (np.zeros((0, 3), dtype=int), np.zeros((0, 3)), np.zeros(0))
    sets = dict.fromkeys(keys, empty)
    spent, last_viol, last_value = 0, np.inf, np.inf
    t_scale = max(float(objective.unpack(x)[1].max(initial=0.0)), 1e-12)
    # Penalty: a cut violated by 1 at the largest scale pushes back like _RHO alpha.
    rho = _RHO * objective.alpha / t_scale**2
    value = objective(x)[0]
    theta = None
    certified = {}
    for rnd in range(1, max_rounds + 1):
        b_cur, t_cur, W_cur = objective.unpack(x)
        V = normalize_rows(W_cur)
        new = 0
        for o, side in keys:
            if t_cur[o, side] <= 1e-9 * t_scale:
                continue
            idx, pat = violated_cuts(V[o, side] @ V[o, side].T, tol=_CUT_TOL,
                                     max_cuts=_CUTS_PER_Q * q)
            old_idx, old_pat, lam = sets[(o, side)]
            if len(old_idx):
                known = {row.tobytes() for row in np.hstack([old_idx, old_pat]).astype(float)}
                fresh = [row.tobytes() not in known
                         for row in np.hstack([idx, pat]).astype(float)]
                idx, pat = idx[fresh], pat[fresh]
            new += len(idx)
            sets[(o, side)] = (np.vstack([old_idx, idx]), np.vstack([old_pat, pat]),
                               np.concatenate([lam, np.zeros(len(idx))]))
        objective.cuts, objective.rho = sets, rho
        with single_blas_thread():
            res = minimize(objective, x, jac=True, method="L-BFGS-B", bounds=objective.bounds,
                           options={"maxiter": min(_INNER_ITER, budget - spent), "maxcor": 20,
                                    "ftol": 1e-15, "gtol": 1e-12})
        x = res.x
        spent += int(res.nit)
        objective.cuts = None
        value = objective(x)[0]
        b_cur, t_cur, W_cur = objective.unpack(x)
        V = normalize_rows(W_cur)
        viol = 0.0
        for o, side in keys:
            idx, pat, lam = sets[(o, side)]
            if not len(idx):
                continue
            g = cut_values(V[o, side] @ V[o, side].T, idx, pat)
            lam = np.maximum(0.0, lam - rho * t_cur[o, side] * g)
            sets[(o, side)] = (idx, pat, lam)
            viol = max(viol, float(np.max(-g, initial=0.0)))
        theta = objective.loss.gradient(objective.outputs(b_cur, t_cur, V), objective.Y)
        certified = {(o, 0, sign): sets[(o, side)] for o, side in keys
                     for sign in ((-1.0,) if side == 0 else (1.0,))}
        for o, side in keys:
            factors[(o, 0, -1.0 if side == 0 else 1.0)] = V[o, side]
        lower, new_factors = binary_lower_bound(
            [objective.block], objective.Y, objective.loss, objective.act, objective.alpha,
            theta, objective.fit_intercept, factors=factors, cuts=certified,
            refine_multipliers=False, return_factors=True)
        best_lower = max(best_lower, lower)
        gap = (value - best_lower) / max(abs(value), 1e-300)
        if verbose:
            print(f"[elliptope] cut round {rnd}: {used + spent} L-BFGS iterations, objective "
                  f"{value:.10g}, lower bound {best_lower:.10g}, relative gap {gap:.2e}, "
                  f"cuts {sum(len(v[0]) for v in sets.values())} (+{new}), "
                  f"violation {viol:.1e}")
        if spent >= budget:
            break
        if new == 0 and viol <= 10 * _CUT_TOL \
                and abs(value - last_value) <= _SETTLED * abs(value):
            break  # the cut relaxation is solved; the final bound certifies it
        last_value = value
        # Frank-Wolfe steps on the augmented objective towards each side's
        # most violating point of the shifted check (the certificate's
        # factor): as in the plain solve, the factored descent alone can
        # stall away from the optimum.
        objective.cuts = sets
        for o, side in keys:
            V_star = new_factors[(o, 0, -1.0 if side == 0 else 1.0)]
            if t_cur[o, side] <= 0:
                W_cur[o, side] = V_star
                continue
            b_cur, t_cur, W_cur = objective.frank_wolfe(b_cur, t_cur, W_cur, o, side, V_star,
                                                        objective.r)
        objective.cuts = None
        x = objective.pack(b_cur, t_cur, row_scaled(W_cur, t_cur))
        if viol > 0.25 * last_viol:
            rho *= 4.0
        last_viol = viol
    if theta is not None:
        # The solver's multipliers need not certify its theta best (they are
        # not unique): the last bound also tries the best multipliers for it.
        lower = binary_lower_bound([objective.block], objective.Y, objective.loss,
                                   objective.act, objective.alpha, theta,
                                   objective.fit_intercept, factors=factors, cuts=certified)
        best_lower = max(best_lower, lower)
        if verbose:
            print(f"[elliptope] cuts: lower bound {best_lower:.10g} with the best multipliers")
    return x, value, best_lower, theta, certified, used + spent
