"""The binary relaxation by a low-rank factorization with unit-norm rows.

The binary relaxation of the lifted model (``constraint="binary"``) asks,
for every output ``o``, a pair of PSD matrices ``Z = t C``, ``Z' = t' C'``
with ``C, C'`` in the *elliptope* (unit diagonal, PSD) and ``t, t' >= 0``::

    min  loss(b + sum_o e_o (t_o <M, C_o> - t'_o <M, C'_o>)) + alpha sum_o (t_o + t'_o)

where ``<M_i, C>`` is the lifted activation of sample ``i`` (``lifted.py``).
Factor ``C = V V^T`` with ``V`` of shape (p + 1, r) and unit-norm rows
(Burer-Monteiro): the constraint ``diag(C) = 1`` holds by construction and
the problem is smooth in ``(b, t, V)``; it is solved by L-BFGS-B with the
rows parametrized as ``V = W / ||W||_row`` (Bartan & Pilanci; the low-rank
approach of "Training binary neural networks via Gaussian variational
inference and low-rank semidefinite programming").

The factorization is not convex, so the solver proves what it found: the
dual point ``Theta`` (the loss gradient at the iterate) gives a lower bound
once ``max_{C in elliptope} |<sum_i Theta_i M_i, C>| <= alpha``, and that
maximum is bounded by :func:`elliptope_max`, the elliptope's dual (the
max-cut SDP dual ``min sum(y) s.t. diag(y) >= M``) evaluated at the ``y``
read off a factor ``V`` (``y_j = (M V V^T)_jj``, complementary slackness)
with the minimum eigenvalue absorbing its infeasibility. The bound holds for
any ``V``; with the solver's own factors it is tight at the optimum.
"""

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from sklearn.utils import check_random_state
from threadpoolctl import threadpool_limits

from ..shared.intercept import constant_fit
from .lifted import precondition_scale

__all__ = [
    "BinaryRelaxation",
    "default_rank",
    "elliptope_max",
    "mixing_ascent",
    "solve_binary_relaxation",
]


def default_rank(q):
    """Columns of the factor for a (q x q) elliptope point.

    Full rank for small ``q`` (cheap, no spurious stationary points); beyond,
    ``sqrt(2 q) + 8``, past the Barvinok-Pataki rank of the diagonal
    constraints.
    """
    return int(q if q <= 40 else min(q, np.ceil(np.sqrt(2 * q)) + 8))


def mixing_ascent(M, V, max_sweeps=100, rtol=1e-9):
    """Raise ``<M, V V^T>`` over unit-norm rows by exact row updates (mixing method).

    Each row in turn is set to the normalized ``sum_{k != j} M_jk v_k``, which
    maximizes the objective over that row; sweeps stop when a sweep gains
    less than ``rtol`` relative. Returns the new V (a copy).
    """
    V = np.array(V, dtype=float)
    q = M.shape[0]
    offdiag = M - np.diag(np.diag(M))
    value = float(np.sum((M @ V) * V))
    for _ in range(max_sweeps):
        for j in range(q):
            g = offdiag[j] @ V
            norm = np.linalg.norm(g)
            if norm > 0:
                V[j] = g / norm
        new = float(np.sum((M @ V) * V))
        gain = new - value
        value = new
        if gain <= rtol * max(abs(value), np.abs(M).max() * q, 1e-300):
            break
    return V


def elliptope_max(M, V=None, *, max_sweeps=100, random_state=None):
    """A certified upper bound on ``max <M, C>`` over unit-diagonal PSD matrices C.

    ``<M, C> = sum(y) + <M - diag(y), C> <= sum(y) + q lambda_max(M - diag(y))``
    for any vector y, since ``tr(C) = q``. The y is read off a factor ``V``
    improved by :func:`mixing_ascent`: ``y_j = (M V V^T)_jj``, the dual
    solution when ``V V^T`` is optimal. Valid for any ``V``.

    Parameters
    ----------
    M : ndarray of shape (q, q)
    V : ndarray of shape (q, r) or None
        Starting factor (rows are normalized); random if None.
    max_sweeps : int, default=100
    random_state : int, RandomState instance or None

    Returns
    -------
    bound : float
    V : ndarray of shape (q, r)
        The improved factor (to warm-start the next call).

    Examples
    --------
    >>> import numpy as np
    >>> M = np.array([[0.0, 1.0], [1.0, 0.0]])  # max <M, C> = 2 at C = ones
    >>> bound, V = elliptope_max(M, random_state=0)
    >>> round(bound, 8)
    2.0
    """
    M = 0.5 * (np.asarray(M, dtype=float) + np.asarray(M, dtype=float).T)
    q = M.shape[0]
    if V is None:
        V = check_random_state(random_state).standard_normal((q, default_rank(q)))
    V = _normalize_rows(np.asarray(V, dtype=float))
    V = mixing_ascent(M, V, max_sweeps)
    y = np.einsum("ij,ij->i", M @ V, V)
    lam = np.linalg.eigvalsh(M - np.diag(y))[-1]
    return float(y.sum() + q * lam), V


@dataclass
class BinaryRelaxation:
    """The factored solution of the binary relaxation, in the caller's units.

    ``factors[o, s]`` (p + 1, r) with unit rows and ``scales[o, s] = t`` give
    ``Z = t V V^T`` for output ``o`` and side ``s`` (0: positive output
    weight, 1: negative); ``value`` is the relaxation objective at them,
    ``lower_bound`` its certified lower bound (also a lower bound on every
    network with sign-vector neurons), ``theta`` the dual point behind it.
    """

    factors: np.ndarray
    scales: np.ndarray
    intercept: np.ndarray
    value: float
    lower_bound: float
    theta: np.ndarray
    n_iter: int
    status: str

    def matrices(self):
        """The lifted matrices ``[Z_o, Z'_o]`` as a flat list (2 per output)."""
        return [t * V @ V.T for Vs, ts in zip(self.factors, self.scales)
                for V, t in zip(Vs, ts)]


def solve_binary_relaxation(block, Y, loss, activation, alpha, *, fit_intercept=True,
                            rank=None, max_iter=2000, tol=1e-4, random_state=None,
                            verbose=False):
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
        Columns of each factor; ``default_rank(p + 1)`` if None.
    max_iter : int, default=2000
        Total L-BFGS-B iterations.
    tol : float, default=1e-4
        Target relative gap ``(value - lower_bound) / |value|`` of the
        relaxation.
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
    from .binary_certificate import binary_lower_bound, dual_matrix

    Y = np.asarray(Y, dtype=float)
    n, k = Y.shape
    s = precondition_scale([block])
    a, b, c = activation
    act = (a * s * s, b * s, c)
    blk = block.scaled(1.0 / s)
    p = blk.dim
    q = p + 1
    r = default_rank(q) if rank is None else int(min(rank, q))
    rng = check_random_state(random_state)
    objective = _Objective(blk, Y, loss, act, float(alpha), bool(fit_intercept), k, q, r)

    # Start: the best constant, each factor aimed at its side's most violated
    # direction of the dual check at that constant, zero output weights.
    b0 = np.zeros(k)
    if fit_intercept:
        b0 = constant_fit(Y, loss)
    theta = loss.gradient(np.tile(b0, (n, 1)), Y)
    W = np.empty((k, 2, q, r))
    for o in range(k):
        M = dual_matrix(blk, theta[:, o], act)
        for side, sign in enumerate((-1.0, 1.0)):
            W[o, side] = mixing_ascent(sign * M, _normalize_rows(rng.standard_normal((q, r))),
                                       max_sweeps=20)
    x = objective.pack(b0, np.zeros((k, 2)), W)

    used, rounds, status = 0, 0, "max_iter"
    chunk = 20
    best_lower = last_lower = -np.inf
    factors_cache = {}
    while True:
        with threadpool_limits(limits=1, user_api="blas"):
            # Tiny dense algebra: BLAS threads only add contention.
            res = minimize(objective, x, jac=True, method="L-BFGS-B", bounds=objective.bounds,
                           options={"maxiter": min(chunk, max_iter - used), "maxcor": 20,
                                    "ftol": 1e-15, "gtol": 1e-12})
        x = res.x
        used += int(res.nit)
        rounds += 1
        value, _ = objective(x)
        b_cur, t_cur, W_cur = objective.unpack(x)
        V_cur = _normalize_rows(W_cur)
        Yhat = objective.outputs(b_cur, t_cur, V_cur)
        theta = loss.gradient(Yhat, Y)
        # Warm factors for the certificate: side + minimizes <S, C>, i.e.
        # maximizes <-S, C>; side - maximizes <S, C>.
        for o in range(k):
            for side, sign in enumerate((-1.0, 1.0)):
                factors_cache[(o, 0, sign)] = V_cur[o, side]  # sign -1: side 0
        lower, new_factors = binary_lower_bound(
            [blk], Y, loss, act, alpha, theta, fit_intercept, factors=factors_cache,
            return_factors=True)
        best_lower = max(best_lower, lower)
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
        if res.nit <= 1 and best_lower - last_lower <= 0.01 * (value - best_lower):
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
        x = objective.pack(b_cur, t_cur, _row_scaled(W_cur, t_cur))
        chunk = min(2 * chunk, 400)
    b_cur, t_cur, W_cur = objective.unpack(x)
    return BinaryRelaxation(
        factors=_normalize_rows(W_cur), scales=t_cur.copy(), intercept=b_cur.copy(),
        value=float(value), lower_bound=float(best_lower), theta=theta, n_iter=used,
        status=status,
    )


class _Objective:
    """``f(b, t, W)`` and its gradient, packed for L-BFGS-B."""

    def __init__(self, block, Y, loss, act, alpha, fit_intercept, k, q, r):
        self.block, self.Y, self.loss, self.act = block, Y, loss, act
        self.alpha, self.fit_intercept = alpha, fit_intercept
        self.k, self.q, self.r = k, q, r
        nb = k if fit_intercept else 0
        self.nb = nb
        self.bounds = [(None, None)] * nb + [(0.0, None)] * (2 * k) + \
            [(None, None)] * (2 * k * q * r)
        self.signs = np.array([1.0, -1.0])

    def pack(self, b, t, W):
        parts = [np.ravel(t), np.ravel(W)]
        if self.fit_intercept:
            parts.insert(0, np.ravel(b))
        return np.concatenate(parts)

    def unpack(self, x):
        k, q, r, nb = self.k, self.q, self.r, self.nb
        b = x[:nb] if self.fit_intercept else np.zeros(k)
        t = x[nb:nb + 2 * k].reshape(k, 2)
        W = x[nb + 2 * k:].reshape(k, 2, q, r)
        return b, t, W

    def _features(self, V):
        """Per side: ``h`` (k, 2, n) and the projections ``P V1`` (k, 2, N, r)."""
        a, b, c = self.act
        V1, vq = V[..., :-1, :], V[..., -1, :]
        PV = np.matmul(self.block.P, V1)  # (k, 2, N, r)
        rows = a * np.sum(PV**2, axis=-1) + b * np.einsum("...nr,...r->...n", PV, vq) + c
        if self.block.pool is not None:
            rows = np.asarray(self.block.pool @ rows.reshape(-1, rows.shape[-1]).T).T.reshape(
                self.k, 2, -1)
        return rows, PV

    def frank_wolfe(self, b, t, W, o, side, V_star, r):
        """Move ``Z = t C`` of one side to ``t C + tau C*`` with the best ``tau >= 0``.

        The objective is convex in ``tau`` (``Z`` moves on a ray of the
        cone); ``tau`` is found by bisection on its derivative. The mixed
        point ``(t C + tau C*) / (t + tau)`` is in the elliptope and is
        re-factored (top ``r`` eigen-directions, rows renormalized).
        """
        V = _normalize_rows(W)
        h_star, _ = self._features(np.broadcast_to(V_star, V.shape).copy())
        h_star = h_star[o, side]
        sign = self.signs[side]
        base = self.outputs(b, t, V)

        def slope(tau):
            Yhat = base.copy()
            Yhat[:, o] += sign * tau * h_star
            return sign * float(self.loss.gradient(Yhat, self.Y)[:, o] @ h_star) + self.alpha

        if slope(0.0) >= 0:
            return b, t, W
        hi = max(t[o, side], 1e-12)
        while slope(hi) < 0 and hi < 1e12:
            hi *= 2
        lo = 0.0
        for _ in range(50):
            mid = 0.5 * (lo + hi)
            if slope(mid) < 0:
                lo = mid
            else:
                hi = mid
        tau = lo
        if tau <= 0:
            return b, t, W
        C = (t[o, side] * V[o, side] @ V[o, side].T + tau * V_star @ V_star.T) \
            / (t[o, side] + tau)
        w, Q = np.linalg.eigh(0.5 * (C + C.T))
        F = Q[:, ::-1][:, :r] * np.sqrt(np.clip(w[::-1][:r], 0.0, None))
        if F.shape[1] < r:
            F = np.hstack([F, np.zeros((F.shape[0], r - F.shape[1]))])
        W = W.copy()
        t = t.copy()
        W[o, side] = _normalize_rows(F)
        t[o, side] += tau
        return b, t, W

    def outputs(self, b, t, V):
        h, _ = self._features(V)
        return b[None, :] + np.einsum("os,s,osn->no", t, self.signs, h)

    def __call__(self, x):
        b_, t, W = self.unpack(x)
        norms = np.linalg.norm(W, axis=-1, keepdims=True)
        norms = np.maximum(norms, 1e-300)
        V = W / norms
        h, PV = self._features(V)
        Yhat = b_[None, :] + np.einsum("os,s,osn->no", t, self.signs, h)
        f = self.loss.value(Yhat, self.Y) + self.alpha * float(t.sum())
        theta = self.loss.gradient(Yhat, self.Y)  # (n, k)
        g_b = theta.sum(axis=0)
        g_t = np.einsum("no,s,osn->os", theta, self.signs, h) + self.alpha
        a, bb, _ = self.act
        rows = theta.T  # (k, n)
        if self.block.pool is not None:
            rows = np.asarray(self.block.pool.T @ theta).T
        P = self.block.P
        weighted = rows[:, None, :, None] * PV  # (k, 2, N, r)
        G1 = 2 * a * np.matmul(P.T, weighted)  # (k, 2, p, r)
        if bb:
            Pt = rows @ P  # (k, p)
            vq = V[..., -1, :]
            G1 = G1 + bb * Pt[:, None, :, None] * vq[..., None, :]
            Gq = bb * np.einsum("on,osnr->osr", rows, PV)
        else:
            Gq = np.zeros((*V.shape[:2], V.shape[-1]))
        G = np.concatenate([G1, Gq[..., None, :]], axis=-2)
        G *= (self.signs[None, :] * t)[..., None, None]
        # Through the row normalization: tangent part over the row norm.
        G = (G - np.sum(G * V, axis=-1, keepdims=True) * V) / norms
        return f, self.pack(g_b, g_t, G)


def _row_scaled(W, t):
    """Rows of norm ``sqrt(t)`` (floored): the same factors, better conditioned.

    The objective sees ``V = W / ||W||_row`` only; its gradient in ``W`` is
    ``t`` times a bounded term over ``||W||``, so rows of norm ``sqrt(t)``
    give the factor and the scale ``t`` comparable curvature for L-BFGS.
    """
    floor = 1e-3 * max(float(t.max(initial=0.0)), 1e-12)
    target = np.sqrt(np.maximum(t, floor))[..., None, None]
    return _normalize_rows(W) * target


def _normalize_rows(W):
    norms = np.linalg.norm(W, axis=-1, keepdims=True)
    return W / np.where(norms > 0, norms, 1.0)
