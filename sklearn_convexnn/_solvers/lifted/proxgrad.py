"""Accelerated proximal gradient on the full lifted matrices (sphere constraint).

The lifted problem (``lifted.py``) has one pair of PSD matrices ``(Z, Z')``
of size ``q = p + 1`` per (output ``o``, block ``r``)::

    min  loss(Yhat) + alpha * sum (Z4 + Z4'),   Yhat_io = b_o + sum_r <Phi_ir, Z_or - Z'_or>
    s.t. Z, Z' PSD,  tr(Z1) = Z4,  tr(Z1') = Z4'

with ``Phi_ir = [[a Q_ir, b L_ir / 2], [b L_ir^T / 2, c s_ir]]`` (pooled
moments of the block's rows). The constraint set of one matrix is the PSD
cone cut by the hyperplane ``<G, Z> = 0``, ``G = diag(I, -1)``; its
Euclidean projection is ``Proj_PSD(V - mu G)`` for the scalar ``mu`` that
makes ``<G, Proj_PSD(V - mu G)> = 0`` (a monotone function of ``mu``, solved
by safeguarded semismooth Newton: one eigendecomposition per step, warm
started from the previous iteration's ``mu``, so one or two steps per
iteration). All matrices are projected at once (batched ``eigh``).

Each iteration costs one backward pass (the gradient ``sum_i theta_io
Phi_ir``: ``P^T diag(w) P``, ``P^T w``, ``sum w`` with ``w`` the pooled
residual weights) and one forward pass (the predictions of the new point;
the extrapolated point's predictions are the same combination of the
previous two, the map being linear), plus a forward pass per backtracking
step. FISTA with gradient-based adaptive restarts (O'Donoghue & Candes) and
backtracking on the Lipschitz constant, which also shrinks when steps pass
easily.

Preconditioning, all exact reformulations:

* *Intercept.* The lifted features are centred and the intercept absorbs
  their mean. The stiff direction of the raw problem (the trace of ``Z1``:
  every neuron adds ``a ||x||^2 + c`` on average; condition number about
  ``(d + 2) / 2`` for Gaussian-like data) is then decoupled: for the squared
  loss the intercept is exactly the target mean, for the others nearly.
* *Activation and feature scales.* ``Z = S W S`` with ``S = diag(s)``
  positive (a congruence keeps PSD; the trace constraint becomes ``sum_j
  s_j^2 W_jj = s_q^2 W_qq``, still a hyperplane through the PSD cone),
  with ``s`` equilibrating the curvature of the quadratic entries (one per
  feature) against the linear ones (activation ``a`` versus ``b``).

Stopping uses the certificate (``certificate.py``): the gradient of an
iteration is ``sum_i theta_i Phi_i`` for the centred dual point ``theta``,
i.e. the dual quadratic of the exact check ``max_{||u|| = 1} |theta_o^T
sigma_r(u)| <= alpha``, which is bounded by a batched trust-region dual
(one ``eigh`` per block); scaling ``theta`` into the check's feasible set
gives a certified lower bound at no extra data pass. The solver stops when
``(objective - bound) / |objective| <= tol``.

With explicit lifted features (pooled CNN patches: the features are tiny,
``n x regions x q (q + 1) / 2``, but their pixel products are nearly
collinear, condition numbers 1e6 and more after whitening) the first-order
phase only finds the support: after ``POLISH_AFTER`` iterations the
matrices are written as neurons and polished by L-BFGS (the Burer-Monteiro
form), with the exact dual check between chunks adding any neuron that
violates it and re-compressing every matrix to its rank. ``method="admm"``
is an alternative first phase with the exact Hessian metric of the
features (factored once), kept for experiments: on digits it was slower
than FISTA plus the polish.

The returned network comes from the rank-one (neural) decomposition of the
final matrices: a rank-``r`` solution gives ``r`` neurons, so the network is
as sparse as the optimum the projection finds.

Measured (benchmarks/bench_polynet.py, bench_cnn.py, one loaded 2-core
machine): planted n=100 000, d=100, alpha=1e-2 to a certified gap of 1e-3
in 182 data passes with the optimum's 5 neurons (lowrank: ~1200 passes,
199 neurons); digits CNN (2x2 regions, 10 outputs, multinomial, alpha=1e-3)
certified to 5e-4 in 658 data passes, 15 s wall on the loaded machine
(issue 11 measured 166 s for cvxpy/Clarabel); alpha=1e-4 to 7e-4 in about
4 CPU seconds.
"""

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .certificate import network_from_lifted
from .lifted import LiftedBlock

__all__ = ["PROXGRAD_LOSSES", "ProxGradResult", "estimate_proxgrad_bytes",
           "solve_lifted_proxgrad"]

#: Losses with a Lipschitz gradient, and that curvature bound (per sample).
PROXGRAD_LOSSES = {"squared": 1.0, "huber": 1.0, "logistic": 0.25, "multinomial": 0.5}

#: The lifted features (n x blocks x q (q + 1) / 2) are formed explicitly
#: below this many bytes; above it every pass goes through the rows.
EXPLICIT_BYTES = 2**28
#: method=None takes ADMM (Hessian metric, factored once) up to this many
#: lifted coordinates per output.
ADMM_MAX_DIM = 1200
#: With explicit features the certificate is taken every this many iterations.
CHECK_EVERY = 5
#: With polishing, FISTA runs this many iterations to find the support first.
POLISH_AFTER = 100
#: Eigenvalues of a final matrix below this fraction of its largest are dropped.
RANK_RTOL = 1e-9


def estimate_proxgrad_bytes(n_samples, n_rows, dims, n_outputs):
    """Bytes proxgrad allocates beyond the data: its matrices and features.

    The whitened rows (one copy per block), the explicit lifted features when
    they fit ``EXPLICIT_BYTES``, and a few copies of the (k, R, 2, q, q)
    iterates.
    """
    R, q = len(dims), max(dims) + 1
    h = q * (q + 1) // 2
    explicit = 8 * n_samples * R * h
    rows = 8 * n_rows * (q - 1) * R
    return int(rows + (explicit if explicit <= EXPLICIT_BYTES else 0)
               + 8 * 8 * n_outputs * R * 2 * q * q)


@dataclass
class ProxGradResult:
    """Solution of ``solve_lifted_proxgrad`` in the caller's units.

    ``Z[o][r] = (Zpos, Zneg)``; ``neurons`` (m, p), ``weights`` (m, k),
    ``block_index`` (m,) their neural decomposition; ``theta`` the dual
    point (n, k) of ``lower_bound``; ``gap`` the relative certified gap;
    ``n_passes`` data passes (forward or backward); ``rank`` the number of
    neurons (the summed rank of the matrices).
    """

    Z: list
    neurons: np.ndarray
    weights: np.ndarray
    block_index: np.ndarray
    intercept: np.ndarray
    objective: float
    lower_bound: float
    gap: float
    theta: np.ndarray
    n_iter: int
    n_passes: int
    rank: int
    status: str


def solve_lifted_proxgrad(blocks, Y, loss, activation, alpha, *, fit_intercept=True,
                          max_iter=1000, tol=1e-6, verbose=False, warm_start=None,
                          explicit=None, method=None, polish=None, polish_evals=None):
    """Solve the lifted sphere problem by accelerated proximal gradient.

    Parameters
    ----------
    blocks : list of LiftedBlock
        All of the same dimension ``p`` (a dense net: one block ``X``; a
        CNN: one block per pooling region, sharing the patches).
    Y : ndarray of shape (n, k)
        Encoded targets.
    loss : Loss
        One of ``PROXGRAD_LOSSES`` (squared, huber, logistic, multinomial).
    activation : tuple (a, b, c)
    alpha : float
        l1 weight of the output layer.
    fit_intercept : bool
    max_iter : int
        Iterations (each one backward and at least one forward data pass).
    tol : float
        Target relative certified gap ``(objective - lower_bound) / |objective|``.
    verbose : bool
        Print one line per iteration (objective, bound, gap, rank, step).
    warm_start : tuple (neurons, weights, block_index, intercept) or None
        A previous network to start from.
    explicit : bool or None
        Form the lifted features explicitly (fast for small ``p``, memory
        ``8 n len(blocks) q (q + 1) / 2`` bytes) or stream passes through
        the rows; ``None`` decides by that memory (``EXPLICIT_BYTES``).

    method : {"fista", "admm"} or None
        "fista": accelerated proximal gradient (Euclidean metric after the
        preconditioning congruence; best when the lifted features are well
        conditioned, e.g. Gaussian-like dense inputs with n >> p^2).
        "admm": the same splitting with the exact Hessian metric of the
        lifted features (``M^T M / n``, factored once; needs the explicit
        features), immune to their conditioning: the choice for patches of
        natural images, whose pixel products are nearly collinear.
        ``None``: "admm" when the features are explicit and at most
        ``ADMM_MAX_DIM`` per output, else "fista".

    Returns
    -------
    ProxGradResult

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn._solvers.lifted.lifted import LiftedBlock
    >>> from sklearn_convexnn._solvers.shared.losses import get_loss
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4))
    >>> t = X @ [0.6, 0.8, 0, 0]
    >>> Y = (0.09 * t**2 + 0.5 * t + 0.47)[:, None]
    >>> res = solve_lifted_proxgrad([LiftedBlock(X)], Y, get_loss("squared"),
    ...                             (0.09, 0.5, 0.47), 1e-4, tol=1e-8)
    >>> res.status, bool(res.gap <= 1e-8), res.rank
    ('optimal', True, 1)
    >>> np.round(res.neurons[0], 3) + 0.0
    array([0.6, 0.8, 0. , 0. ])
    """
    if loss.name not in PROXGRAD_LOSSES:
        raise ValueError(
            f"The proxgrad solver needs a loss with a Lipschitz gradient (one of "
            f"{sorted(PROXGRAD_LOSSES)}); got {loss.name!r}. Use solver='cvxpy' for it."
        )
    dims = {blk.dim for blk in blocks}
    if len(dims) != 1:
        raise ValueError(f"proxgrad needs blocks of one dimension; got {sorted(dims)}.")
    Y = np.asarray(Y, dtype=float)
    n, k = Y.shape
    R, p = len(blocks), dims.pop()
    q = p + 1
    alpha = float(alpha)
    T11, s_q, lam_w = _preconditioner(blocks, activation, fit_intercept)
    a, b_act, c_act = (float(v) for v in activation)
    wblocks = [LiftedBlock(blk.P @ T11[r], blk.pool) for r, blk in enumerate(blocks)]
    wact = (a, b_act * s_q, c_act * s_q**2)
    if explicit is None:
        explicit = 8.0 * n * R * q * (q + 1) / 2 <= EXPLICIT_BYTES
    op = (_ExplicitOperator if explicit else _PassOperator)(wblocks, wact, fit_intercept)
    # Z_r = T_r W_r T_r^T per block: tr(Z1) = Z4 is <Gw_r, W_r> = 0.
    T = np.zeros((R, q, q))
    T[:, :p, :p] = T11
    T[:, p, p] = s_q
    T_inv = np.linalg.inv(T)
    Gw = np.zeros((R, q, q))
    Gw[:, :p, :p] = T11.transpose(0, 2, 1) @ T11
    Gw[:, p, p] = -s_q**2
    curv = PROXGRAD_LOSSES[loss.name]

    # Penalty alpha * Z4 = alpha * s_q^2 * W_qq on every matrix (both signs).
    pen = alpha * s_q**2
    shape = (k, R, 2, q, q)
    sign = np.array([1.0, -1.0])[None, None, :, None, None]

    def to_D(W):
        """Differences W - W' (k, R, q, q): the operator works in W coordinates."""
        return W[:, :, 0] - W[:, :, 1]

    def grad_W(G):
        """Gradient in W of <G, W - W'> for G (k, R, q, q)."""
        return G[:, :, None] * sign

    def objective(Yhat, W):
        return loss.value(Yhat, Y) + pen * float(np.sum(W[..., p, p]))

    # Starting point.
    W = np.zeros(shape)
    if warm_start is not None:
        Ti = T_inv[None, :, None]
        W = Ti @ _lifted_from_network(*warm_start, k=k, R=R, q=q) @ Ti.transpose(0, 1, 2, 4, 3)
    b = _constant_fit(Y, loss) if fit_intercept else np.zeros(k)
    if warm_start is not None and fit_intercept:
        b = np.array(warm_start[3], dtype=float).reshape(-1) + op.mean_output(to_D(W))
    mu = np.zeros(k * R * 2)
    Gw = np.broadcast_to(Gw[None, :, None], shape).reshape(-1, q, q)
    W, mu, _ = _project(W.reshape(-1, q, q), Gw, mu)
    W = W.reshape(shape)
    Yhat = op.forward(to_D(W)) + b
    F = objective(Yhat, W)
    passes = 1
    dual = _DualBound(op, Y, loss, alpha, T_inv, fit_intercept)

    if method is None:
        method = "fista"
    if polish is None:
        polish = explicit
    if polish_evals is None:
        polish_evals = 20 * max_iter
    n_fista = min(max_iter, POLISH_AFTER) if polish else max_iter
    if method == "admm":
        if not explicit:
            raise ValueError("method='admm' needs the explicit lifted features.")
        return _admm(op, Y, loss, alpha, W, b, Gw, T, T_inv, pen, dual, fit_intercept,
                     max_iter, tol, verbose)

    # FISTA state: x = (W, b) with predictions Yhat; y = extrapolated point.
    Wy, by, Yy = W, b, Yhat
    W_prev, Yhat_prev = W, Yhat
    t = 1.0
    # The intercept moves as b = kappa * beta, its curvature matched to W's.
    L = curv * (op.lipschitz_guess() if explicit else lam_w)
    kappa2 = max(L / curv, 1e-300)
    best = (F, W, b, Yhat)
    bound, theta_best = -np.inf, None
    status, gap, rank, it = "max_iter", np.inf, 0, 0
    for it in range(1, n_fista + 1):
        theta = loss.gradient(Yy, Y)
        G = op.backward(theta)        # centred: gradient of the centred features
        passes += 1
        fy = objective(Yy, Wy)
        gW = grad_W(G)
        gW[..., p, p] += pen
        gb = theta.sum(axis=0) if fit_intercept else np.zeros(k)

        # Certificate from this gradient (a valid bound whatever the point);
        # with explicit features a pass is cheaper than the check: every few.
        if not explicit or it % CHECK_EVERY == 0 or it == n_fista:
            lb, th = dual.bound(G, theta)
            if lb > bound:
                bound, theta_best = lb, th

        # Backtracking step.
        for _ in range(60):
            V = (Wy - gW / L).reshape(-1, q, q)
            W_new, mu_new, ranks = _project(V, Gw, mu)
            W_new = W_new.reshape(shape)
            b_new = by - kappa2 * gb / L
            Y_new = op.forward(to_D(W_new)) + b_new
            passes += 1
            dW, db = W_new - Wy, b_new - by
            # Both (Z, Z') halves of a symmetric matrix enter the norm.
            sq = float(np.sum(dW * dW) + db @ db / kappa2)
            # The penalty is linear: inside the model, exactly.
            f_new = objective(Y_new, W_new)
            lin = float(np.sum(gW * dW) + gb @ db)
            if f_new <= fy + lin + 0.5 * L * sq + 1e-12 * abs(fy):
                break
            L *= 2.0
        mu = mu_new
        F_new = f_new
        rank = int(ranks.sum())
        if F_new < best[0]:
            best = (F_new, W_new, b_new, Y_new)
        gap = (best[0] - bound) / max(abs(best[0]), 1e-12)
        if verbose:
            print(f"[proxgrad] iter {it}: objective {F_new:.10g}, bound {bound:.10g}, "
                  f"gap {gap:.2e}, rank {rank}, L {L:.3g}, passes {passes}")
        if gap <= tol:
            status = "optimal"
            break

        # Momentum with gradient-based restart.
        restart = float(np.sum((Wy - W_new) * (W_new - W_prev))
                        + (by - b_new) @ (b_new - b) / kappa2) > 0 or F_new > F
        if restart:
            t = 1.0
            Wy, by, Yy = W_new, b_new, Y_new
        else:
            t_next = 0.5 * (1.0 + np.sqrt(1.0 + 4.0 * t * t))
            beta = (t - 1.0) / t_next
            Wy = W_new + beta * (W_new - W_prev)
            by = b_new + beta * (b_new - b)
            Yy = Y_new + beta * (Y_new - Yhat_prev)
            t = t_next
        W_prev, b, Yhat_prev, F = W_new, b_new, Y_new, F_new
        L *= 0.9
        if restart and not np.all(np.isfinite(Y_new)):
            raise FloatingPointError("proxgrad diverged (non-finite predictions).")

    if polish and status != "optimal":
        best, bound, theta_best, status, gap, extra, evals = _polish(
            op, Y, loss, best, T, T_inv, s_q, pen, dual, fit_intercept, tol,
            max(polish_evals, 1), verbose, bound, theta_best)
        passes += 2 * evals
        it += extra
    return _result(best, bound, theta_best, status, gap, rank, it, passes, T, op, tol,
                   fit_intercept)


def _polish(op, Y, loss, best, T, T_inv, s_q, pen, dual, fit_intercept, tol, max_evals,
            verbose, bound, theta_best, chunk=40):
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
    from scipy.optimize import minimize

    from .trust_region import trust_region_max

    _, W, b, _ = best
    k, R, _, q, _ = W.shape
    p = q - 1
    n = Y.shape[0]
    curv = PROXGRAD_LOSSES[loss.name]
    T11 = T[:, :p, :p]
    Gw11 = T11.transpose(0, 2, 1) @ T11
    Tt = T.transpose(0, 2, 1)

    def neurons_of(W):
        """Rank-one (neural) decomposition of every matrix, in W coordinates."""
        rows, outs, regs, signs = [], [], [], []
        for o in range(k):
            for r in range(R):
                for side, sgn in ((0, 1.0), (1, -1.0)):
                    U, w = _neural(_sym(T[r] @ W[o, r, side] @ Tt[r]))
                    for u, wj in zip(U, w):
                        rows.append((T_inv[r] @ (np.sqrt(wj) * np.append(u, 1.0)))[:p])
                        outs.append(o)
                        regs.append(r)
                        signs.append(sgn)
        return (np.array(rows).reshape(-1, p), np.array(outs, dtype=int),
                np.array(regs, dtype=int), np.array(signs))

    Yv, o_j, r_j, s_j = neurons_of(W)
    evals = 0

    def split(x):
        m = o_j.size
        return x[:m * p].reshape(m, p), (x[m * p:] if fit_intercept else b)

    def lifted(Yv):
        Gy = np.einsum("jab,jb->ja", Gw11[r_j], Yv)
        t = np.sqrt(np.maximum(np.sum(Yv * Gy, axis=1), 0.0)) / s_q
        return np.hstack([Yv, t[:, None]]), t, Gy

    def matrices(lv):
        D = np.zeros((k * R, q, q))
        np.add.at(D, o_j * R + r_j, s_j[:, None, None] * lv[:, :, None] * lv[:, None, :])
        return D.reshape(k, R, q, q)

    def fg(x):
        nonlocal evals
        evals += 1
        Yv, bb = split(x)
        lv, t, Gy = lifted(Yv)
        Yhat = op.forward(matrices(lv)) + bb
        f = loss.value(Yhat, Y) + pen * float(t @ t)
        theta = loss.gradient(Yhat, Y)
        G = op.backward(theta)
        gl = 2 * s_j[:, None] * np.einsum("jab,jb->ja", G[o_j, r_j], lv)
        gl[:, p] += 2 * pen * t
        gy = gl[:, :p] + gl[:, p:] * Gy / (s_q**2 * np.maximum(t, 1e-300))[:, None]
        parts = [gy.ravel()] + ([theta.sum(axis=0)] if fit_intercept else [])
        fg.last = (f, Yhat, theta, G, bb)
        return f, np.concatenate(parts)

    status, gap, rounds = "max_iter", np.inf, 0
    x = np.concatenate([Yv.ravel()] + ([b] if fit_intercept else []))
    while evals < max_evals:
        rounds += 1
        if o_j.size or fit_intercept:
            res = minimize(fg, x, jac=True, method="L-BFGS-B",
                           options={"maxiter": chunk, "maxcor": 30, "ftol": 0.0,
                                    "gtol": 0.0, "maxfun": 2 * chunk})
            x = res.x
        fg(x)
        f, Yhat, theta, G, bb = fg.last
        Yv, _ = split(x)
        lv, _, _ = lifted(Yv)
        Wn = np.zeros_like(W)
        Wn[:, :, 0] = matrices(lv * (s_j > 0)[:, None])
        Wn[:, :, 1] = -matrices(lv * (s_j < 0)[:, None])
        if f < best[0]:
            best = (f, Wn, np.array(bb, dtype=float), Yhat)
        lb, th = dual.bound(G, theta)
        if lb > bound:
            bound, theta_best = lb, th
        gap = (best[0] - bound) / max(abs(best[0]), 1e-12)
        if verbose:
            print(f"[proxgrad/polish] round {rounds}: objective {f:.10g}, bound {bound:.10g}, "
                  f"gap {gap:.2e}, neurons {o_j.size}, evaluations {evals}")
        if gap <= tol:
            status = "optimal"
            break
        # Pricing on the caller's sphere: G_Z = T^-T G_W T^-1.
        GZ = T_inv.transpose(0, 2, 1)[None] @ G @ T_inv[None]
        # Batched upper bounds first; exact maximizers only where they violate.
        ups = np.stack(_sphere_ranges(GZ), axis=1).reshape(k, R, 2)
        new = []
        for o, r, j in zip(*np.nonzero(ups > dual.alpha * (1 + 1e-6))):
            side = 1.0 if j == 0 else -1.0
            A = _sym(GZ[o, r, :p, :p])
            g = 2 * GZ[o, r, :p, p]
            val, u, _ = trust_region_max(side * A, side * g)
            v = val + side * GZ[o, r, p, p]
            if v > dual.alpha * (1 + 1e-6):
                new.append((o, r, -side, u, v))
        if not new:
            chunk = min(2 * chunk, 2000)
            continue
        # Same matrices on as few neurons as their rank, then the newcomers.
        Yv, o_j, r_j, s_j = neurons_of(Wn)
        adds = []
        for o, r, sgn, u, v in new:
            lw = T_inv[r] @ np.append(u, 1.0)
            D = np.zeros((k, R, q, q))
            D[o, r] = np.outer(lw, lw)
            h = op.forward(D)[:, o]
            w0 = (v - dual.alpha) * n / max(curv * float(h @ h), 1e-300) / len(new)
            adds.append(np.sqrt(w0) * lw[:p])
            o_j = np.append(o_j, o)
            r_j = np.append(r_j, r)
            s_j = np.append(s_j, sgn)
        Yv = np.vstack([Yv, np.array(adds)])
        x = np.concatenate([Yv.ravel()] + ([bb] if fit_intercept else []))
    return best, bound, theta_best, status, gap, rounds, evals


def _neural(Z):
    from .decomposition import neural_decomposition

    return neural_decomposition(Z, RANK_RTOL)


def _result(best, bound, theta_best, status, gap, rank, it, passes, T, op, tol,
            fit_intercept):
    F, W, b, _ = best
    k, R = W.shape[:2]
    Tt = T.transpose(0, 2, 1)
    D_pos = T @ W[:, :, 0] @ Tt
    D_neg = T @ W[:, :, 1] @ Tt
    Z = [[(_sym(D_pos[o, r]), _sym(D_neg[o, r])) for r in range(R)] for o in range(k)]
    neurons, weights, block_index = network_from_lifted(Z, RANK_RTOL)
    rank = neurons.shape[0]
    intercept = b - op.mean_output(W[:, :, 0] - W[:, :, 1]) if fit_intercept else np.zeros(k)
    if status != "optimal":
        warnings.warn(
            f"The proxgrad solver stopped with status {status!r} after {it} iterations "
            f"({passes} data passes) at a certified relative gap of {gap:.2e} (target "
            f"{tol:.1e}); increase max_iter.",
            ConvergenceWarning, stacklevel=3,
        )
    return ProxGradResult(
        Z=Z, neurons=neurons, weights=weights, block_index=block_index,
        intercept=np.asarray(intercept, dtype=float), objective=float(F),
        lower_bound=float(bound), gap=float(gap),
        theta=theta_best, n_iter=it, n_passes=passes, rank=rank, status=status,
    )


def _admm(op, Y, loss, alpha, W, b, Gw, T, T_inv, pen, dual, fit_intercept, max_iter, tol,
          verbose, check_every=5):
    """ADMM on ``X = W``: X carries the loss (Hessian metric), W the constraint.

    X-step: ``min loss(M (X+ - X-)) + rho/2 ||X - W + U||^2``, exact for the
    squared loss (one solve with ``H + rho/2 I``, H factored once), else the
    same with the loss replaced by its quadratic majorizer ``curv * H`` at the
    previous X (a semi-proximal ADMM step, still convergent). W-step: the
    projection onto the constraint set (the penalty is linear: a shift).
    rho follows residual balancing; the certificate is taken at W (feasible)
    every few iterations.
    """
    n = Y.shape[0]
    shape = W.shape
    q = shape[-1]
    p = q - 1
    curv = PROXGRAD_LOSSES[loss.name]
    squared = loss.name == "squared"
    H = op.hessian()
    lamH, QH = np.linalg.eigh(H)
    lamH = np.maximum(lamH, 0.0)
    Ms = op.M * op.sw
    MtY = Ms.T @ Y / n                                   # (D, k)
    E = np.zeros(shape)
    E[..., p, p] = pen
    U = np.zeros(shape)
    X = W.copy()
    d = op.pack(X[:, :, 0] - X[:, :, 1])                 # (k, D)
    mu = np.zeros(int(np.prod(shape[:3])))
    rho = max(curv * float(np.mean(lamH)), 1e-8)
    best, bound, theta_best = (np.inf, W, b, None), -np.inf, None
    status, gap, rank, passes, it = "max_iter", np.inf, 0, 0, 0
    for it in range(1, max_iter + 1):
        V = W - U
        Vd = op.pack(V[:, :, 0] - V[:, :, 1])
        Vs = V[:, :, 0] + V[:, :, 1]
        if squared:
            rhs = (MtY.T if fit_intercept else (Ms.T @ (Y - b) / n).T) + 0.5 * rho * Vd
            scale = lamH + 0.5 * rho
        else:
            Yhat = Ms @ d.T + b
            theta = loss.gradient(Yhat, Y)
            passes += 2
            rhs = curv * (H @ d.T).T - (Ms.T @ theta).T + 0.5 * rho * Vd
            scale = curv * lamH + 0.5 * rho
            if fit_intercept:
                b = b - theta.sum(axis=0) / curv
        d = ((QH @ ((QH.T @ rhs.T) / scale[:, None])).T)
        Dm = op.unpack(d)
        X = np.stack([(Vs + Dm) / 2, (Vs - Dm) / 2], axis=2)
        W_old = W
        Wf, mu, ranks = _project((X + U - E / rho).reshape(-1, q, q), Gw, mu)
        W = Wf.reshape(shape)
        U = U + X - W
        r_norm = float(np.sqrt(np.sum((X - W) ** 2)))
        s_norm = rho * float(np.sqrt(np.sum((W - W_old) ** 2)))
        rank = int(ranks.sum())
        if it % check_every == 0 or it == max_iter:
            Yw = Ms @ op.pack(W[:, :, 0] - W[:, :, 1]).T + b
            F = loss.value(Yw, Y) + pen * float(np.sum(W[..., p, p]))
            theta = loss.gradient(Yw, Y)
            lb, th = dual.bound(op.backward(theta), theta)
            passes += 2
            if F < best[0]:
                best = (F, W, b.copy(), Yw)
            if lb > bound:
                bound, theta_best = lb, th
            gap = (best[0] - bound) / max(abs(best[0]), 1e-12)
            if verbose:
                print(f"[proxgrad/admm] iter {it}: objective {F:.10g}, bound {bound:.10g}, "
                      f"gap {gap:.2e}, rank {rank}, rho {rho:.3g}, residuals {r_norm:.2e} "
                      f"{s_norm:.2e}")
            if gap <= tol:
                status = "optimal"
                break
        if it % 10 == 0:
            if r_norm > 10 * s_norm:
                rho *= 2.0
                U /= 2.0
            elif s_norm > 10 * r_norm:
                rho /= 2.0
                U *= 2.0
    if best[3] is None:
        Yw = Ms @ op.pack(W[:, :, 0] - W[:, :, 1]).T + b
        best = (loss.value(Yw, Y) + pen * float(np.sum(W[..., p, p])), W, b, Yw)
    return _result(best, bound, theta_best, status, gap, rank, it, passes, T, op, tol,
                   fit_intercept)


def _sym(A):
    return (A + A.T) / 2


# ------------------------------------------------------------------ projection
def _project(V, G, mu, tol=1e-12, max_steps=80):
    """Project every ``V[j]`` onto ``{W PSD, <G, W> = 0}`` (G symmetric, indefinite).

    ``W = Proj_PSD(V - mu G)``, with ``mu`` the root of the
    decreasing function ``h(mu) = <G, W(mu)>``: safeguarded semismooth
    Newton from the given ``mu`` (the derivative comes from the same
    eigendecomposition), bisection when a step leaves the bracket. Returns
    ``(W, mu, rank)``.
    """
    B = V.shape[0]
    V = (V + V.transpose(0, 2, 1)) / 2
    W = np.zeros_like(V)
    rank = np.zeros(B, dtype=int)
    mu = np.array(mu, dtype=float)
    lo = np.full(B, -np.inf)
    hi = np.full(B, np.inf)
    G = np.broadcast_to(G, V.shape)
    gnorm = np.sqrt(np.sum(G * G, axis=(1, 2)))
    scale = np.sqrt(np.sum(V * V, axis=(1, 2))) * gnorm
    gmin = gnorm
    active = np.arange(B)
    for _ in range(max_steps):
        Ga = G[active]
        X = V[active] - mu[active, None, None] * Ga
        lam, U = np.linalg.eigh(X)
        lp = np.maximum(lam, 0.0)
        M = U.transpose(0, 2, 1) @ Ga @ U            # U^T G U
        h = np.einsum("bk,bkk->b", lp, M)
        Wa = np.einsum("bjk,bk,blk->bjl", U, lp, U)
        W[active] = Wa
        rank[active] = np.sum(lam > RANK_RTOL * np.maximum(lam[:, -1:], 1e-300), axis=1) \
            * (lam[:, -1] > 0)
        done = np.abs(h) <= tol * np.maximum(scale[active], 1e-300)
        if np.all(done):
            break
        # Derivative: h'(mu) = -sum_kl Gamma_kl M_kl^2 (divided differences of max(., 0)).
        diff = lam[:, :, None] - lam[:, None, :]
        num = lp[:, :, None] - lp[:, None, :]
        with np.errstate(divide="ignore", invalid="ignore"):
            gam = np.where(np.abs(diff) > 1e-14 * (np.abs(lam).max(axis=1)[:, None, None]
                                                   + 1e-300),
                           num / diff, (lam[:, :, None] > 0) & (lam[:, None, :] > 0))
        hp = -np.sum(gam * M * M, axis=(1, 2))
        m = mu[active]
        pos = h > 0
        lo[active] = np.where(pos, np.maximum(lo[active], m), lo[active])
        hi[active] = np.where(~pos, np.minimum(hi[active], m), hi[active])
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(hp < 0, -h / hp, np.sign(h) * scale[active] / gmin[active]**2)
        new = m + step
        la, ha = lo[active], hi[active]
        bad = ~((new > la) & (new < ha)) | ~np.isfinite(new)
        both = np.isfinite(la) & np.isfinite(ha)
        new = np.where(bad & both, 0.5 * (la + ha), new)
        # One side open and the step left the bracket: double away from it.
        wide = bad & ~both
        far = np.maximum(np.abs(step), scale[active] / gmin[active]**2 + 1e-300)
        new = np.where(wide & pos, m + 2 * far, new)
        new = np.where(wide & ~pos, m - 2 * far, new)
        new = np.where(done, m, new)
        mu[active] = new
        active = active[~done]
    return W, mu, rank


# ------------------------------------------------------------------ certificate
class _DualBound:
    """Certified lower bound from the gradient matrices of a centred dual point."""

    def __init__(self, op, Y, loss, alpha, T_inv, fit_intercept):
        self.op, self.Y, self.loss, self.alpha = op, Y, loss, alpha
        self.T_inv = T_inv
        self.fit_intercept = fit_intercept
        self._inner = None

    def bound(self, G, theta):
        """``(bound, theta)``: ``G`` = sum_i theta_c,i Phi_i for the centred ``theta``."""
        Y, loss = self.Y, self.loss
        th = theta - theta.mean(axis=0, keepdims=True) if self.fit_intercept else theta
        if not loss.in_domain(th, Y):
            if self._inner is None:
                inner = loss.interior_dual(Y)
                self._inner = (inner, self.op.backward(inner))
            inner, G_inner = self._inner
            w = _mix_weight(th, inner, Y, loss)
            th = (1 - w) * th + w * inner
            G = (1 - w) * G + w * G_inner
        # The check lives on the caller's sphere: G_Z = T^-T G_W T^-1.
        viol = _max_abs_sphere(self.T_inv.transpose(0, 2, 1) @ G @ self.T_inv)
        if viol > self.alpha:
            th = th * (self.alpha / viol)
        return -loss.conjugate(th, Y), th


def _mix_weight(theta, inner, Y, loss):
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        if loss.in_domain((1 - mid) * theta + mid * inner, Y):
            hi = mid
        else:
            lo = mid
    return hi


def _max_abs_sphere(G):
    """Upper bound on ``max_{o,r} max_{||u||=1} |[u;1]^T G_or [u;1]|``, batched."""
    up_plus, up_minus = _sphere_ranges(G)
    return float(max(np.max(up_plus), np.max(up_minus), 0.0))


def _sphere_ranges(G):
    """Per matrix: upper bounds on ``max`` and ``max -`` of ``[u;1]^T G [u;1]`` on the sphere.

    ``[u;1]^T G [u;1] = u^T A u + g^T u + c0``. For ``t > lambda_max(A)``,
    ``max_{||u||=1} u^T A u + g^T u <= t + g^T (t I - A)^{-1} g / 4``
    (Lagrangian weak duality); ``t`` is tuned by bisection on the
    derivative, and every ``t`` tried is a valid bound.
    """
    q = G.shape[-1]
    p = q - 1
    G = G.reshape(-1, q, q)
    A = (G[:, :p, :p] + G[:, :p, :p].transpose(0, 2, 1)) / 2
    g = G[:, :p, p] + G[:, p, :p]
    c0 = G[:, p, p]
    lam, V = np.linalg.eigh(A)
    h = np.einsum("bjk,bj->bk", V, g)
    up_plus = _tr_dual_upper(lam, h) + c0
    up_minus = _tr_dual_upper(-lam[:, ::-1], -h[:, ::-1]) - c0
    return up_plus, up_minus


def _tr_dual_upper(lam, h):
    """``min_{t > lam_max} t + sum h_k^2 / (4 (t - lam_k))`` approximately (an upper bound)."""
    top = lam[:, -1:]
    gap = top - lam                     # >= 0
    h2 = h * h / 4.0
    scale = np.maximum(np.abs(lam).max(axis=1), np.sqrt(h2.sum(axis=1))) + 1e-300
    lo = np.full(lam.shape[0], 1e-17) * scale
    hi = np.sqrt(h2.sum(axis=1)) + lo      # derivative >= 0 there
    for _ in range(100):
        mid = np.sqrt(lo * hi)
        deriv = 1.0 - np.sum(h2 / (gap + mid[:, None]) ** 2, axis=1)
        lo = np.where(deriv < 0, mid, lo)
        hi = np.where(deriv < 0, hi, mid)
    def phi(delta):
        return top[:, 0] + delta + np.sum(h2 / (gap + delta[:, None]), axis=1)
    return np.minimum(phi(hi), phi(lo))


# ------------------------------------------------------------------ data passes
class _Operator:
    """Linear map ``D (k, R, q, q) -> <Phi_ir, D_or>`` (n, k) and its adjoint,
    with the features centred when the intercept is free."""

    def __init__(self, blocks, activation, fit_intercept):
        self.blocks = blocks
        self.act = tuple(float(v) for v in activation)
        self.fit_intercept = fit_intercept
        self.R = len(blocks)
        self.p = blocks[0].dim
        self.q = self.p + 1
        self.n = blocks[0].n_samples

    def mean_output(self, D):
        """Mean over samples of the raw (uncentred) outputs, (k,)."""
        if not self.fit_intercept:
            return np.zeros(D.shape[0])
        return np.einsum("rjl,krjl->k", self.mean, D)


class _ExplicitOperator(_Operator):
    """Lifted features formed once: (n, R * q (q + 1) / 2), upper triangles."""

    def __init__(self, blocks, activation, fit_intercept):
        super().__init__(blocks, activation, fit_intercept)
        a, b, c = self.act
        p, q = self.p, self.q
        iu, ju = np.triu_indices(q)
        self.iu, self.ju = iu, ju
        h = iu.size
        M = np.empty((self.n, self.R * h))
        quad = (ju < p)
        lin = (iu < p) & (ju == p)
        for r, blk in enumerate(blocks):
            P = blk.P
            cols = M[:, r * h:(r + 1) * h]
            prod = P[:, iu[quad]] * P[:, ju[quad]]
            cols[:, quad] = a * np.asarray(blk.pooled(prod))
            cols[:, lin] = 0.5 * b * np.asarray(blk.pooled(P))
            cols[:, h - 1] = c * np.asarray(blk.pooled(np.ones((P.shape[0], 1)))).ravel()
        mean = M.mean(axis=0)
        self.mean = self._unpack(mean[None, :])[0] if fit_intercept else None
        if fit_intercept:
            M -= mean
        self.M = M
        self.weight = np.where(iu == ju, 1.0, 2.0)
        # Orthonormal coordinates of symmetric matrices: off-diagonals * sqrt(2).
        self.sw = np.sqrt(np.tile(self.weight, self.R))

    def pack(self, D):
        """(k, R, q, q) symmetric -> (k, R * h) orthonormal coordinates."""
        return D[:, :, self.iu, self.ju].reshape(D.shape[0], -1) * self.sw

    def unpack(self, v):
        return self._unpack(v / self.sw)

    def hessian(self):
        """``Ms^T Ms / n`` in orthonormal coordinates, (R h, R h)."""
        Ms = self.M * self.sw
        return Ms.T @ Ms / self.n

    def _unpack(self, cols):
        """(k, R * h) -> symmetric (k, R, q, q)."""
        k = cols.shape[0]
        h = self.iu.size
        out = np.zeros((k, self.R, self.q, self.q))
        C = cols.reshape(k, self.R, h)
        out[:, :, self.iu, self.ju] = C
        out[:, :, self.ju, self.iu] = C
        return out

    def forward(self, D):
        k = D.shape[0]
        packed = D[:, :, self.iu, self.ju] * self.weight
        return self.M @ packed.reshape(k, -1).T

    def backward(self, theta):
        return self._unpack((self.M.T @ theta).T)

    def lipschitz_guess(self):
        """Largest eigenvalue of the Hessian M^T M / n, by a few power steps."""
        # Off-diagonal entries count twice in the Frobenius norm.
        Ms = self.M * np.sqrt(np.tile(self.weight, self.R))
        v = np.random.default_rng(0).normal(size=Ms.shape[1])
        lam = 1.0
        for _ in range(20):
            w = Ms.T @ (Ms @ v) / self.n
            lam = float(np.linalg.norm(w))
            v = w / max(lam, 1e-300)
        return max(lam, 1e-12)


class _PassOperator(_Operator):
    """Passes through the rows: O(N p^2) per (output, block), no lifted matrix."""

    def __init__(self, blocks, activation, fit_intercept):
        super().__init__(blocks, activation, fit_intercept)
        self.s = [np.asarray(blk.pooled(np.ones((blk.P.shape[0], 1)))).ravel()
                  for blk in blocks]
        self.mean = None
        if fit_intercept:
            self.mean = self._raw_backward(np.full((self.n, 1), 1.0 / self.n))[0]

    def forward(self, D):
        a, b, c = self.act
        p = self.p
        k = D.shape[0]
        out = np.zeros((self.n, k))
        for r, blk in enumerate(self.blocks):
            P = blk.P
            rows = np.empty((P.shape[0], k))
            lin = P @ D[:, r, :p, p].T
            for o in range(k):
                rows[:, o] = a * np.einsum("ij,ij->i", P @ D[o, r, :p, :p], P)
            rows += b * lin
            out += np.asarray(blk.pooled(rows)) + c * self.s[r][:, None] * D[:, r, p, p]
        if self.fit_intercept:
            out -= np.einsum("rjl,krjl->k", self.mean, D)
        return out

    def _raw_backward(self, theta):
        a, b, c = self.act
        p = self.p
        k = theta.shape[1]
        G = np.zeros((k, self.R, self.q, self.q))
        for r, blk in enumerate(self.blocks):
            P = blk.P
            w = np.asarray(blk.pooled_T(theta))
            lin = 0.5 * b * (P.T @ w)
            for o in range(k):
                G[o, r, :p, :p] = a * ((P.T * w[:, o]) @ P)
            G[:, r, :p, p] = lin.T
            G[:, r, p, :p] = lin.T
            G[:, r, p, p] = c * (self.s[r] @ theta)
        return G

    def backward(self, theta):
        G = self._raw_backward(theta)
        if self.fit_intercept:
            G -= theta.sum(axis=0)[:, None, None, None] * self.mean[None]
        return G

    def lipschitz_guess(self):
        return 1.0


def _preconditioner(blocks, activation, fit_intercept):
    """``(T11, s_q, curvature)``: the congruences ``Z_r = T_r W_r T_r^T``.

    ``T_r = diag(T11[r], s_q)``. ``T11[r]`` whitens the rows block ``r``
    pools (inverse square root of their covariance, eigenvalues floored at
    ``1e-4`` of the largest: pixels a region never lights stay tame), then
    equilibrates the quadratic features feature by feature; ``s_q`` balances
    the linear features against the quadratic ones (activation ``b`` against
    ``a``). ``curvature`` is the resulting typical curvature of an entry of W.
    """
    a, b, _ = (float(v) for v in activation)
    p = blocks[0].dim
    T11 = np.empty((len(blocks), p, p))
    lin_scales = []
    for r, blk in enumerate(blocks):
        P = blk.P
        w = np.abs(np.asarray(blk.pooled_T(np.ones((blk.n_samples, 1))))).ravel()
        w = w / max(w.sum(), 1e-300)
        mean = w @ P if fit_intercept else np.zeros(p)
        C = (P.T * w) @ P - np.outer(mean, mean)
        lam, V = np.linalg.eigh((C + C.T) / 2)
        lam = np.maximum(lam, 1e-4 * max(float(lam[-1]), 1e-300))
        Tr = (V / np.sqrt(lam)) @ V.T
        Pw = P @ Tr
        sq = np.asarray(blk.pooled(Pw**2))
        li = np.asarray(blk.pooled(Pw))
        if fit_intercept:
            sq = sq - sq.mean(axis=0)
            li = li - li.mean(axis=0)
        var_q = a * a * np.mean(sq**2, axis=0)
        var_l = 0.25 * b * b * np.mean(li**2, axis=0)
        sj = np.ones(p)
        ok = var_q > 0
        if np.any(ok):
            ref = np.exp(np.mean(np.log(var_q[ok])))
            sj = np.clip(np.where(ok, var_q, ref) / ref, 1e-4, 1e4) ** -0.25 * ref**-0.25
        T11[r] = Tr * sj
        lin = 2 * var_l * sj**2
        if np.any(lin > 0):
            lin_scales.append(np.mean(np.log(lin[lin > 0])))
    s_q = float(np.exp(-0.5 * np.mean(lin_scales))) if lin_scales else 1.0
    return T11, s_q, 1.0


# ------------------------------------------------------------------ helpers
def _lifted_from_network(neurons, weights, block_index, intercept, *, k, R, q):
    """Lifted matrices (k, R, 2, q, q) of a network (warm start)."""
    W = np.zeros((k, R, 2, q, q))
    weights = np.asarray(weights, dtype=float)
    weights = weights[:, None] if weights.ndim == 1 else weights
    for u, w, r in zip(np.asarray(neurons, dtype=float), weights,
                       np.asarray(block_index, dtype=int)):
        nu = np.linalg.norm(u)
        if nu == 0:
            continue
        y = np.append(u / nu, 1.0)
        for o in np.flatnonzero(w):
            W[o, r, 0 if w[o] > 0 else 1] += abs(w[o]) * np.outer(y, y)
    return W


def _constant_fit(Y, loss):
    """Best constant prediction, the starting intercept."""
    if loss.name == "multinomial":
        return np.log(np.clip(Y.mean(axis=0), 1e-12, None))
    if loss.name == "logistic":
        p = np.clip((Y > 0).mean(axis=0), 1e-12, 1 - 1e-12)
        return np.log(p / (1 - p))
    if loss.name == "huber":
        return np.median(Y, axis=0)
    return Y.mean(axis=0)
