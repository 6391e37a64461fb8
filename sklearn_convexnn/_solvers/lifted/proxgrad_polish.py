"""Polish phase of proxgrad: L-BFGS on the neurons of the lifted matrices.

With explicit lifted features (pooled CNN patches) the first-order phase
finds the support; the matrices are then written as neurons (the
Burer-Monteiro form, each term meeting the sphere constraint exactly) and
polished by L-BFGS, with the exact dual check between chunks adding any
neuron that violates it (``_solvers/lifted/proxgrad.py``). One block of
plain rows with at most ``NEWTON_MAX_PARAMS`` parameters (dense networks
of a few dozen neurons) is polished by damped Newton steps with the exact
Hessian instead (``proxgrad_newton.py``): from a path's warm start 2 to 10
steps, where L-BFGS took 20 to 300 evaluations (diabetes, planted n=20 000,
benchmarks/bench_path.py). Before Newton, from a warm start and after new
neurons join, the neurons' scales and the intercept are refitted with the
directions fixed (``proxgrad_newton.refit_scales``, a convex problem in
``m + k`` numbers): along a path the scales are what alpha moves most, and
a Newton step from the unscaled start sees an indefinite Hessian.
"""

import numpy as np
from scipy.optimize import minimize

from .certificate import relative_gap
from .proxgrad_newton import (NEWTON_LOSSES, NEWTON_MAX_ENTRIES, NEWTON_MAX_PARAMS,
                              newton_minimize, polish_hessian, refit_scales)
from .psd_projection import RANK_RTOL, sym
from .sphere_dual import sphere_ranges
from .trust_region import trust_region_max

__all__ = ["polish_neurons"]

#: The certificate is taken every this many L-BFGS iterations.
POLISH_CHECK = 30
#: An L-BFGS run stops to price new neurons when its bound has not moved
#: (by 1% of the gap) over this many checks (the constants measured on
#: digits by benchmarks/bench_cnn.py).
POLISH_STALL = 3
#: From a warm start (a path's previous network, nearly optimal) the
#: certificate is also taken every this many L-BFGS iterations in between
#: (the gradient matrices are at hand: an ``eigh`` per matrix): a warm
#: polish is certified within 5 to 100 iterations (measured on the paths
#: of benchmarks/bench_path.py). Only where an evaluation (two passes over
#: ``n R q (q + 1) / 2`` lifted entries) costs more than the check: at
#: least ``WARM_CHECK_ENTRIES`` of them (diabetes, 3e4, is faster without;
#: planted n=20 000, 1.3e6, much faster with). These checks do not count
#: towards the stall test.
WARM_CHECK = 5
WARM_CHECK_ENTRIES = 200_000
#: The Newton polish's first damping, relative to the Hessian's mean diagonal (1e-6:
#: about 10% fewer steps than 1e-3 on the planted path of bench_path.py, the
#: same on diabetes; the ratio test raises it where the model is poor).
NEWTON_DAMPING = 1e-6
#: ... and at least this much after new neurons join: a neuron priced in is
#: small, its Hessian block nearly singular along its sphere (curvature
#: proportional to its weight), so the undamped Newton step moves it many
#: times its own size out of the quadratic model's reach (planted n=20 000:
#: nine rejected steps at each neuron's entry from the damping of a
#: converged round; 1e-2 about halves the evaluations of those alphas).
NEWTON_DAMPING_PRICED = 1e-2


def polish_neurons(op, Y, loss, curv, best, T, T_inv, s_q, pen, dual, fit_intercept, tol,
                   max_evals, verbose, bound, theta_best, warm=False):
    """L-BFGS on the neurons of the current solution, plus exact pricing.

    The lifted matrices are written as ``W = sum_j s_j l_j l_j^T`` with
    ``l_j = [y_j; ||T11 y_j|| / s_q]`` (each term meets the sphere constraint
    exactly), the Burer-Monteiro form of the problem: smooth in the ``y_j``,
    with the explicit lifted features a function value and gradient cost
    two thin products. Quasi-Newton steps are blind to the conditioning that
    slows the first-order iteration. Between L-BFGS chunks the certificate
    is taken; if it fails, the violating neurons (trust-region maximizers
    of the dual check) join the network.
    """
    _, W, b, _ = best
    k, R, _, q, _ = W.shape
    p = q - 1
    T11 = T[:, :p, :p]
    Gw11 = T11.transpose(0, 2, 1) @ T11
    Tt = T.transpose(0, 2, 1)

    def neurons_of(W):
        """Rank-one (neural) decomposition of every matrix, in W coordinates."""
        rows, outs, regs, signs = [], [], [], []
        for o in range(k):
            for r in range(R):
                for side, sgn in ((0, 1.0), (1, -1.0)):
                    U, w = _neural(sym(T[r] @ W[o, r, side] @ Tt[r]))
                    for u, wj in zip(U, w):
                        rows.append((T_inv[r] @ (np.sqrt(wj) * np.append(u, 1.0)))[:p])
                        outs.append(o)
                        regs.append(r)
                        signs.append(sgn)
        return (np.array(rows).reshape(-1, p), np.array(outs, dtype=int),
                np.array(regs, dtype=int), np.array(signs))

    Yv, o_j, r_j, s_j = neurons_of(W)
    evals = 0
    coef = loss.sample_coef(Y)

    def split(x):
        m = o_j.size
        return x[:m * p].reshape(m, p), (x[m * p:] if fit_intercept else b)

    def lifted(Yv):
        Gy = np.einsum("jab,jb->ja", Gw11[r_j], Yv)
        t = np.sqrt(np.maximum(np.sum(Yv * Gy, axis=1), 0.0)) / s_q
        return np.hstack([Yv, t[:, None]]), t, Gy

    def matrices(lv):
        # sum_j s_j l_j l_j^T per (output, block): one product with the signed
        # incidence matrix (k R, m).
        S = np.zeros((k * R, lv.shape[0]))
        S[o_j * R + r_j, np.arange(lv.shape[0])] = s_j
        return (S @ (lv[:, :, None] * lv[:, None, :]).reshape(-1, q * q)).reshape(k, R, q, q)

    # One block of plain rows (dense networks): the predictions and the
    # gradient go through the rows, n x p, not the lifted features,
    # n x q (q + 1) / 2; the gradient matrices only at the checks.
    rows = op.blocks[0].P if R == 1 and op.blocks[0].pool is None else None

    def fg(x):
        nonlocal evals
        if fg.__dict__.get("x") is not None and np.array_equal(fg.x, x):
            # The same point again (a Newton run's first evaluation).
            return fg.value[0], fg.value[1].copy()
        evals += 1
        Yv, bb = split(x)
        lv, t, Gy = lifted(Yv)
        if rows is None:
            Yhat = op.forward(matrices(lv)) + bb
        else:
            Yhat, Zr, centre, V = _rows_forward(op, rows, lv, t, o_j, s_j, k)
            Yhat += bb
            fg.rows_state = (Yv, Zr, centre, t, Gy)
            fg.outputs = V
        f, theta = _value_gradient(loss, Yhat, Y, coef)
        f += pen * float(t @ t)
        if rows is None:
            G = op.backward(theta)
            gl = 2 * s_j[:, None] * np.einsum("jab,jb->ja", G[o_j, r_j], lv)
        else:
            G = None
            gl = 2 * s_j[:, None] * _rows_apply(op, rows, theta, Zr, lv, t, o_j, centre)
        gl[:, p] += 2 * pen * t
        gy = gl[:, :p] + gl[:, p:] * Gy / (s_q**2 * np.maximum(t, 1e-300))[:, None]
        parts = [gy.ravel()] + ([theta.sum(axis=0)] if fit_intercept else [])
        fg.last = (f, Yhat, theta, G, bb)
        fg.x = np.array(x, copy=True)
        fg.value = (f, np.concatenate(parts))
        return fg.value[0], fg.value[1].copy()

    def hess(x):
        """Exact Hessian at ``x`` (Newton polish, one block of rows)."""
        if fg.__dict__.get("x") is None or not np.array_equal(fg.x, x):
            fg(x)
        f, Yhat, theta, G, bb = fg.last
        if G is None:
            G = _rows_backward(op, rows, theta)
            fg.last = (f, Yhat, theta, G, bb)
        Yv_, Zr, centre, t, Gy = fg.rows_state
        return polish_hessian(op, rows, loss, Y, coef, Yhat, G, Yv_, Zr, centre, t, Gy, o_j,
                              s_j, Gw11[0], s_q, pen, fit_intercept)

    def newton_ok():
        n_par = o_j.size * p + (k if fit_intercept else 0)
        return rows is not None and loss.name in NEWTON_LOSSES and \
            n_par <= NEWTON_MAX_PARAMS and op.n * k * n_par <= NEWTON_MAX_ENTRIES

    def fg_state(x):
        """(f, W matrices, intercept, Yhat) at ``x`` (after ``fg(x)``)."""
        f, Yhat, _, _, bb = fg.last
        Yv, _ = split(x)
        lv, _, _ = lifted(Yv)
        Wn = np.zeros_like(W)
        Wn[:, :, 0] = matrices(lv * (s_j > 0)[:, None])
        Wn[:, :, 1] = -matrices(lv * (s_j < 0)[:, None])
        return f, Wn, np.array(bb, dtype=float), Yhat

    status, gap, rounds = "max_iter", np.inf, 0
    from_warm, warm = warm, warm and op.n * R * q * (q + 1) // 2 >= WARM_CHECK_ENTRIES
    state = {"best": best, "bound": bound, "theta": theta_best, "gap": np.inf,
             "history": [], "damping": NEWTON_DAMPING, "newton_stuck": False}

    def assess(x, record=True):
        """Certificate at ``x`` (a valid bound wherever it is taken)."""
        last = state.get("assessed")
        if last is not None and np.array_equal(last[0], x):
            return last[1], last[2]  # taken here already (the end of a Newton run)
        if fg.__dict__.get("x") is None or not np.array_equal(fg.x, x):
            fg(x)
        f, _, theta, G, _ = fg.last
        if G is None:
            G = op.backward(theta) if rows is None else _rows_backward(op, rows, theta)
            fg.last = (*fg.last[:3], G, *fg.last[4:])
        if f < state["best"][0]:
            state["best"] = fg_state(x)
        lb, th = dual.bound(G, theta)
        if lb > state["bound"]:
            state["bound"], state["theta"] = lb, th
        F = state["best"][0]
        state["gap"] = relative_gap(F, state["bound"], floor=1e-12)
        if record:
            state["history"].append(state["bound"])
        state["assessed"] = (np.array(x, copy=True), f, G)
        return f, G

    def finished():
        # Certified, or the bound stalls (the check is violated where no
        # neuron sits: stop this chunk, price new neurons), or out of budget.
        hist = state["history"]
        F = state["best"][0]
        stalled = len(hist) > POLISH_STALL and (
            hist[-1] - hist[-1 - POLISH_STALL] <= 0.01 * (F - hist[-1]))
        return state["gap"] <= tol or stalled or evals >= max_evals

    def callback(intermediate_result):
        state["iters"] += 1
        if state["newton"]:
            # A Newton step costs more than the check: certify every step.
            assess(intermediate_result)
            if finished():
                raise StopIteration
            return
        if warm and state["iters"] % POLISH_CHECK and not state["iters"] % WARM_CHECK:
            assess(intermediate_result.x, record=False)
            if state["gap"] <= tol:
                raise StopIteration
            return
        if state["iters"] % POLISH_CHECK:
            return
        assess(intermediate_result.x)
        if finished():
            raise StopIteration

    def refit(x):
        """``x`` with every neuron rescaled to its best size (``refit_scales``)."""
        if not (o_j.size and newton_ok()):
            return x
        fg(x)
        Yv, bb = split(x)
        w, bb = refit_scales(loss, Y, coef, fg.outputs, o_j, s_j, fg.rows_state[3], pen, bb,
                             fit_intercept)
        return np.concatenate([(Yv * np.sqrt(w)[:, None]).ravel()]
                              + ([bb] if fit_intercept else []))

    x = np.concatenate([Yv.ravel()] + ([b] if fit_intercept else []))
    if from_warm:
        x = refit(x)
    if not np.isfinite(state["best"][0]):
        # The caller skipped evaluating its start (a warm start goes straight
        # to this polish): the start is this point.
        fg(x)
        state["best"] = fg_state(x)
    while evals < max_evals:
        rounds += 1
        state["iters"], state["history"] = 0, []
        state["newton"] = newton_ok() and not state["newton_stuck"]
        if state["newton"]:
            x, state["damping"], moved = newton_minimize(
                fg, hess, x, callback, max_evals - evals, state["damping"],
                check_below=tol * max(abs(state["best"][0]), 1e-12))
            # A round that neither moved nor priced a neuron hands over to L-BFGS.
            state["newton_stuck"] = not moved
        elif o_j.size or fit_intercept:
            res = minimize(fg, x, jac=True, method="L-BFGS-B", callback=callback,
                           options={"maxiter": max_evals, "maxcor": 30, "ftol": 0.0,
                                    "gtol": 0.0, "maxfun": max_evals - evals + 1})
            x = res.x
        f, G = assess(x)
        gap = state["gap"]
        if verbose:
            print(f"[proxgrad/polish] round {rounds}: objective {f:.10g}, bound "
                  f"{state['bound']:.10g}, gap {gap:.2e}, neurons {o_j.size}, "
                  f"evaluations {evals}")
        if gap <= tol:
            status = "optimal"
            break
        _, Wn, bb, _ = fg_state(x)
        # Pricing on the caller's sphere: G_Z = T^-T G_W T^-1.
        GZ = T_inv.transpose(0, 2, 1)[None] @ G @ T_inv[None]
        # Batched upper bounds first; exact maximizers only where they violate.
        ups = np.stack(sphere_ranges(GZ), axis=1).reshape(k, R, 2)
        # A violation below ``tol`` (relative) cannot be what holds the
        # certificate back: the neurons already there are not stationary yet,
        # and a duplicate would only restart L-BFGS. Those rounds continue it.
        thr = dual.alpha * (1 + max(tol, 1e-6))
        new = []
        for o, r, j in zip(*np.nonzero(ups > thr)):
            side = 1.0 if j == 0 else -1.0
            A = sym(GZ[o, r, :p, :p])
            g = 2 * GZ[o, r, :p, p]
            val, u, _ = trust_region_max(side * A, side * g)
            v = val + side * GZ[o, r, p, p]
            if v > thr:
                new.append((o, r, -side, u, v))
        if not new:
            continue
        state["newton_stuck"] = False
        state["damping"] = max(state["damping"], NEWTON_DAMPING_PRICED)
        # Same matrices on as few neurons as their rank, then the newcomers.
        # Curvature of the loss along each output at this point (the new
        # neuron's weight is a Newton step on it, see _output_curvature).
        ccurv = _output_curvature(loss, fg.last[1], Y, coef, curv)
        Yv, o_j, r_j, s_j = neurons_of(Wn)
        adds = []
        for o, r, sgn, u, v in new:
            lw = T_inv[r] @ np.append(u, 1.0)
            D = np.zeros((k, R, q, q))
            D[o, r] = np.outer(lw, lw)
            h = op.forward(D)[:, o]
            w0 = (v - dual.alpha) / max(float(ccurv[:, o] @ (h * h)), 1e-300) / len(new)
            adds.append(np.sqrt(w0) * lw[:p])
            o_j = np.append(o_j, o)
            r_j = np.append(r_j, r)
            s_j = np.append(s_j, sgn)
        Yv = np.vstack([Yv, np.array(adds)])
        fg.x = None  # other neurons: nothing evaluated so far applies
        x = refit(np.concatenate([Yv.ravel()] + ([bb] if fit_intercept else [])))
    return (state["best"], state["bound"], state["theta"], status, state["gap"], rounds,
            evals)


def _rows_forward(op, P, lv, t, o_j, s_j, k):
    """Predictions of the neurons ``lv`` (m, q) through the rows ``P`` (one block).

    ``<Phi_i - mean, l l^T> = a (x_i^T y)^2 + b t (x_i^T y) + c t^2 - l^T mean l``
    summed with signs ``s_j`` into the outputs ``o_j``; returns the
    predictions, ``P y_j``, the centring terms ``mean l_j`` (or None) and
    the neurons' own outputs (n, m) before their signs.
    """
    a, b, c = op.act
    Zr = P @ lv[:, :-1].T                                   # (n, m)
    V = a * Zr + b * t
    V *= Zr
    V += c * t * t
    centre = None
    if op.fit_intercept:
        centre = lv @ op.mean[0]                            # (m, q), mean symmetric
        V -= np.einsum("jq,jq->j", centre, lv)
    S = np.zeros((lv.shape[0], k))
    S[np.arange(lv.shape[0]), o_j] = s_j
    return V @ S, Zr, centre, V


def _rows_backward(op, P, theta):
    """``op.backward(theta)`` through the rows ``P`` (one block): ``n p^2`` work on
    ``n p`` numbers instead of a pass over the ``n q (q + 1) / 2`` lifted features."""
    a, b, c = op.act
    k, p = theta.shape[1], P.shape[1]
    G = np.empty((k, 1, p + 1, p + 1))
    lin = 0.5 * b * (P.T @ theta)                           # (p, k)
    total = theta.sum(axis=0)
    for o in range(k):
        G[o, 0, :p, :p] = a * ((P.T * theta[:, o]) @ P)
    G[:, 0, :p, p] = lin.T
    G[:, 0, p, :p] = lin.T
    G[:, 0, p, p] = c * total
    if op.fit_intercept:
        G -= total[:, None, None, None] * op.mean[None]
    return G


def _rows_apply(op, P, theta, Zr, lv, t, o_j, centre):
    """``G_{o_j} l_j`` for every neuron, ``G_o = sum_i theta_io (Phi_i - mean)``, by rows."""
    a, b, c = op.act
    Th = theta[:, o_j]                                      # (n, m)
    top = a * (P.T @ (Th * Zr)).T + 0.5 * b * t[:, None] * (P.T @ theta).T[o_j]
    last = 0.5 * b * np.einsum("ij,ij->j", Th, Zr) + c * t * theta.sum(axis=0)[o_j]
    out = np.hstack([top, last[:, None]])
    if centre is not None:
        out -= theta.sum(axis=0)[o_j][:, None] * centre
    return out


def _value_gradient(loss, Yhat, Y, coef):
    """``(loss(Yhat), gradient)``, the multinomial's from one softmax.

    ``coef`` is ``loss.sample_coef(Y)`` (per-sample weights over n).
    """
    if loss.name != "multinomial":
        return loss.value(Yhat, Y), loss.gradient(Yhat, Y)
    m = Yhat.max(axis=1, keepdims=True)
    E = np.exp(Yhat - m)
    s = E.sum(axis=1, keepdims=True)
    per_row = (m + np.log(s))[:, 0] - np.einsum("ij,ij->i", Y, Yhat)
    E /= s
    E -= Y
    E *= coef
    return float(coef[:, 0] @ per_row), E


def _output_curvature(loss, Yhat, Y, coef, curv):
    """Diagonal second derivative of the loss per (sample, output), weighted by ``coef``.

    A new neuron's starting weight is the Newton step ``(v - alpha) / sum_i
    c_io h_i^2`` on its own weight. The squared and Huber losses keep their
    constant curvature bound ``curv``; for the logistic losses the actual
    curvature ``p (1 - p)`` is used, floored at ``1e-3 curv``: near a fit
    that separates the training set it is far below the bound, and a step
    from the bound would start the neuron orders of magnitude too small
    (L-BFGS then grows it from a gradient of the size of the violation).
    """
    coef = np.broadcast_to(coef, Y.shape)
    if loss.name == "multinomial":
        P = np.exp(Yhat - Yhat.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        c = P * (1.0 - P)
    elif loss.name == "logistic":
        s = 1.0 / (1.0 + np.exp(-np.clip(Y * Yhat, -500, 500)))
        c = s * (1.0 - s)
    else:
        return coef * curv
    return coef * np.maximum(c, 1e-3 * curv)


def _neural(Z):
    from .decomposition import neural_decomposition

    return neural_decomposition(Z, RANK_RTOL)
