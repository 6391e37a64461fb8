"""Fast solver of the lifted sphere problem on explicit neurons.

The lifted SDP with the sphere constraint is a lasso over all unit neurons
(see ``certificate.py``)::

    min_{b, (u_j, w_j, s_j, o_j, r_j)}  loss(b + sum_j s_j w_j pooled_r(sigma(P_r u_j)) e_o)
                                        + alpha * sum_j w_j,       w_j >= 0, ||u_j|| = 1

Each neuron belongs to one output ``o_j`` and one block ``r_j`` and carries a
fixed sign ``s_j`` (the ``Z`` / ``Z'`` side of the SDP), so its weight is a
non-negative number and the l1 penalty is linear: the objective is smooth in
``(z_j, w_j, b)`` with ``u_j = z_j / ||z_j||`` and simple bounds ``w_j >= 0``.
This is the Burer-Monteiro (factorized) form of the SDP, solved by L-BFGS-B.

A stationary point of that non-convex problem need not be optimal; the exact
dual check tells: with ``theta`` the loss gradient at the fit,
``max_{||u||=1} |theta_o^T sigma_r(u)| <= alpha`` for every output and block
certifies global optimality, and otherwise its maximizer (a trust-region
subproblem, solved exactly) is a neuron whose addition lowers the objective.
The loop alternates L-BFGS-B on the current neurons with this check, adding
every violating eigen-direction of the dual quadratic in one batch (small
``alpha`` needs up to ``2 (d + 1)`` neurons per output), until the certified
relative gap ``(objective - lower bound) / objective`` is below ``tol``.

Cost: ``O(N p m)`` per L-BFGS iteration (``N`` rows, ``p`` features, ``m``
neurons) and ``O(N p^2)`` per output and block for a certificate; memory is
a few ``N x m`` arrays besides the data. The lifted ``n x p^2`` matrix is
never formed.
"""

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .certificate import feasible_dual, rescaled_bound
from .decomposition import rank_one_decomposition
from .lifted import block_outputs, precondition_scale
from .neuron_sets import constant_fit
from .trust_region import trust_region_max

__all__ = ["LowRankResult", "solve_lifted_lowrank"]

#: Eigen-directions this close (|cosine|) to the exact maximizer are not
#: added to a batch beside it.
_SAME_NEURON = 0.999
#: A candidate whose lifted vector has a smaller relative residual off its
#: group's span is not new (see ``_Network.add``).
_NEW_DIRECTION = 0.05
#: ... unless it violates the dual constraint by more than this ratio: then
#: it is a descent direction the local method is not finding.
_ALWAYS_ADD = 1.01
#: Candidates violating by less than this fraction of the worst violation
#: (both measured above alpha) wait for a later round.
_BATCH_FRACTION = 0.1
#: Neurons lighter than this fraction of the heaviest are dropped between rounds.
_NEGLIGIBLE = 1e-12
#: L-BFGS iterations before the first certificate; doubles when pricing finds nothing new.
_FIRST_CHUNK = 25
_LAST_CHUNK = 3200
#: After an exact certificate above the gap its estimate promised, the next
#: estimate must reach this fraction of ``tol`` times the ratio of the two.
_AIM = 0.7
#: A round adding neurons no stronger than this violation ratio does not
#: reset the polishing budget.
_STRONG = 1.1
#: Accepted L-BFGS steps between exact recomputations of the pre-activations.
_RESYNC = 100


@dataclass
class LowRankResult:
    """The network found and its certificate, in the caller's units.

    ``weights`` is (m, k) with one non-zero per row; ``theta`` the dual point
    (n, k) that certified ``lower_bound``; ``gap`` the relative certified gap.
    """

    neurons: np.ndarray
    weights: np.ndarray
    block_index: np.ndarray
    intercept: np.ndarray
    objective: float
    lower_bound: float
    gap: float
    theta: np.ndarray
    n_iter: int      # L-BFGS iterations
    n_rounds: int
    status: str


def solve_lifted_lowrank(blocks, Y, loss, activation, alpha, *, fit_intercept=True,
                         max_iter=500, tol=1e-6, verbose=False, random_state=None,
                         warm_start=None):
    """Solve the lifted sphere problem by L-BFGS-B on neurons plus exact pricing.

    Parameters
    ----------
    blocks : list of LiftedBlock
    Y : ndarray of shape (n, k)
        Encoded targets.
    loss : Loss
        A smooth loss (``loss.smooth``; huber is C^1, enough for L-BFGS);
        "absolute" and "hinge" are refused
        (their gradient does not exist, use the cvxpy solver).
    activation : tuple (a, b, c)
    alpha : float
        l1 weight of the output layer.
    fit_intercept : bool
    max_iter : int
        Number of rounds (L-BFGS polish, then certificate and pricing). A
        round runs 25 L-BFGS iterations, twice as many as the previous one
        (up to 3200) when pricing found no new neuron.
    tol : float
        Target relative certified gap ``(objective - lower_bound) / |objective|``.
    verbose : bool
    random_state : None, int or RandomState
        Accepted for a uniform interface; the solver is deterministic.
    warm_start : tuple (neurons, weights, block_index, intercept) or None
        A previous network (e.g. at a nearby ``alpha``) to start from.

    Returns
    -------
    LowRankResult

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn._solvers.lifted.lifted import LiftedBlock
    >>> from sklearn_convexnn._solvers.shared.losses import get_loss
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 4))
    >>> Y = ((X @ [0.6, 0.8, 0, 0]) ** 2)[:, None]
    >>> res = solve_lifted_lowrank([LiftedBlock(X)], Y, get_loss("squared"), (1.0, 0.0, 0.0),
    ...                            1e-3, tol=1e-8)
    >>> res.status, bool(res.gap <= 1e-8)
    ('optimal', True)
    >>> np.round(np.abs(res.neurons[np.argmax(np.abs(res.weights[:, 0]))]), 3)
    array([0.6, 0.8, 0. , 0. ])
    """
    if not loss.smooth:
        raise ValueError(
            f"The lowrank solver needs a differentiable loss (squared, huber, logistic); "
            f"got {loss.name!r}. Use solver='cvxpy' for it."
        )
    Y = np.asarray(Y, dtype=float)
    k = Y.shape[1]
    s = precondition_scale(blocks)
    a, b, c = activation
    problem = _Problem([blk.scaled(1.0 / s) for blk in blocks], Y, loss,
                       (a * s * s, b * s, c), float(alpha), bool(fit_intercept))
    dims = [blk.dim for blk in blocks]
    if warm_start is not None:
        net = _Network.from_network(*warm_start, dims=dims)
        if not fit_intercept:
            net.intercept[:] = 0.0
    else:
        net = _Network.empty(k, dims)
        if fit_intercept:
            net.intercept = constant_fit(Y, loss)

    n_iter, n_rounds, status = 0, 0, "max_iter"
    chunk, stale = _FIRST_CHUNK, 0
    # Polishing stops early (for an exact certificate) once the gap estimated
    # from the neurons alone is below ``target``.
    target = tol
    best = None
    while True:
        # Polish the current neurons, then price: certificate and violators.
        converged, estimate = True, None
        if net.size or fit_intercept:
            lower = -np.inf if best is None else best.lower_bound
            net, used, converged, estimate = problem.polish(net, chunk, target, lower)
            n_iter += used
        net = net.drop_negligible().compress()
        n_rounds += 1
        cert = problem.certify(net)
        if best is None or cert.lower_bound > best.lower_bound:
            best = cert
        gap = (cert.objective - best.lower_bound) / max(abs(cert.objective), 1e-12)
        if verbose:
            print(f"[lowrank] round {n_rounds}: {net.size} neurons, {n_iter} L-BFGS "
                  f"iterations, objective {cert.objective:.10g}, lower bound "
                  f"{best.lower_bound:.10g}, relative gap {gap:.2e}, dual violation/alpha "
                  f"{cert.violation / max(alpha, 1e-300):.6f}")
        if gap <= tol:
            status = "optimal"
            break
        if n_rounds >= max_iter:
            break
        if net.add(problem.initial_neurons(net, cert.candidates)):
            # Strong newcomers reshape the fit: price again soon. Weak ones
            # (the fit is nearly right) leave the polishing budget growing;
            # the estimate still stops it as soon as a certificate may pass.
            strong = cert.violation > _STRONG * alpha
            stale, target = 0, tol
            chunk = _FIRST_CHUNK if strong else min(2 * chunk, _LAST_CHUNK)
        elif estimate is not None:
            # Stopped on the estimate, but some unit neuron near the current
            # ones violates more: aim the estimate lower by the ratio seen.
            target = min(target, _AIM * tol * estimate / gap)
        else:
            # The violators are neurons we have: the fit is not accurate
            # enough yet, polish longer. L-BFGS stopping short of its budget
            # again and again means rounding now dominates the gap.
            chunk = min(2 * chunk, _LAST_CHUNK)
            stale = stale + 1 if converged else 0
            if stale >= 3:
                status = "stalled"
                break

    if status != "optimal":
        warnings.warn(
            f"The lowrank solver stopped with status {status!r} after {n_iter} L-BFGS "
            f"iterations ({n_rounds} rounds) at a certified relative gap of {gap:.2e} "
            f"(target {tol:.1e}); increase max_iter.",
            ConvergenceWarning, stacklevel=2,
        )
    neurons, weights, block_index = net.as_network()
    return LowRankResult(
        neurons=neurons, weights=weights, block_index=block_index,
        intercept=net.intercept.copy(), objective=cert.objective,
        lower_bound=best.lower_bound, gap=float(gap), theta=best.theta, n_iter=n_iter,
        n_rounds=n_rounds, status=status,
    )


# --------------------------------------------------------------------- state
@dataclass
class _Network:
    """Neurons of the factorized problem, one (output, block, sign) each.

    Neuron ``j`` of block ``r`` is the vector ``Y[r][j]``: its direction is
    ``u = y / ||y||`` and its output weight ``sign * ||y||^2``, so the l1
    penalty is ``alpha * ||y||^2`` and the whole objective is smooth in ``y``.
    """

    Y: list            # per block: (m_r, p_r)
    sign: list         # per block: (m_r,) +-1
    out: list          # per block: (m_r,) output index
    intercept: np.ndarray

    @classmethod
    def empty(cls, k, dims):
        return cls([np.zeros((0, p)) for p in dims], [np.zeros(0) for _ in dims],
                   [np.zeros(0, dtype=int) for _ in dims], np.zeros(k))

    @classmethod
    def from_network(cls, neurons, weights, block_index, intercept, dims):
        weights = np.asarray(weights, dtype=float)
        weights = weights[:, None] if weights.ndim == 1 else weights
        net = cls.empty(weights.shape[1], dims)
        net.intercept = np.array(intercept, dtype=float).reshape(-1).copy()
        neurons = np.asarray(neurons, dtype=float)
        block_index = np.asarray(block_index, dtype=int)
        for r in range(len(dims)):
            rows, outs = np.nonzero((block_index[:, None] == r) & (weights != 0))
            U = neurons[rows]
            norm = np.linalg.norm(U, axis=1)
            keep = norm > 0
            vals = weights[rows[keep], outs[keep]]
            net.Y[r] = U[keep] / norm[keep, None] * np.sqrt(np.abs(vals))[:, None]
            net.sign[r] = np.sign(vals)
            net.out[r] = outs[keep]
        return net

    @property
    def size(self):
        return sum(s.shape[0] for s in self.sign)

    def with_Y(self, Y, intercept):
        return _Network(Y, self.sign, self.out, intercept)

    def drop_negligible(self):
        """Drop neurons whose weight is negligible next to the largest one."""
        w = [np.sum(Yr**2, axis=1) for Yr in self.Y]
        top = max((float(wr.max(initial=0.0)) for wr in w), default=0.0)
        keep = [wr > _NEGLIGIBLE * top for wr in w]
        return _Network([Yr[kp] for Yr, kp in zip(self.Y, keep)],
                        [s[kp] for s, kp in zip(self.sign, keep)],
                        [o[kp] for o, kp in zip(self.out, keep)], self.intercept)

    def add(self, neurons):
        """Append neurons (r, o, sign, y, violation ratio); count them.

        A barely violating candidate whose lifted vector ``[u; 1]`` lies
        (nearly) in the span of its group's ``[y_j; ||y_j||]`` adds nothing
        the existing neurons cannot reach by moving: the fit needs polishing,
        not width.
        """
        added = 0
        for r, o, sgn, y, ratio in neurons:
            mine = (self.out[r] == o) & (self.sign[r] == sgn)
            lifted = _lift(self.Y[r][mine])
            cand = _lift(y[None, :])[0]
            if lifted.shape[0] and ratio < _ALWAYS_ADD:
                Q = np.linalg.qr(lifted.T)[0]
                resid = cand - Q @ (Q.T @ cand)
                if np.linalg.norm(resid) < _NEW_DIRECTION * np.linalg.norm(cand):
                    continue
            self.Y[r] = np.vstack([self.Y[r], y[None, :]])
            self.sign[r] = np.append(self.sign[r], sgn)
            self.out[r] = np.append(self.out[r], o)
            added += 1
        return added

    def compress(self):
        """Same lifted matrices with at most ``rank`` neurons per group.

        Each (block, output, sign) group is the PSD matrix
        ``Z = sum_j [y_j; ||y_j||][y_j; ||y_j||]^T``; the rank-one
        decomposition rewrites it with as many neurons as its rank (at most
        ``p + 1``), so redundant neurons do not slow the quasi-Newton steps.
        """
        net = _Network(list(self.Y), list(self.sign), list(self.out), self.intercept)
        for r, Yr in enumerate(self.Y):
            p = Yr.shape[1]
            groups = sorted(set(zip(self.out[r].tolist(), self.sign[r].tolist())))
            Ys, signs, outs = [], [], []
            for o, sgn in groups:
                mine = (self.out[r] == o) & (self.sign[r] == sgn)
                G = Yr[mine]
                if G.shape[0] > p + 1:
                    L = _lift(G)
                    Q = rank_one_decomposition(L.T @ L, rtol=1e-15)
                    G = Q[:, :p] * np.sign(Q[:, p])[:, None]
                Ys.append(G)
                signs.append(np.full(G.shape[0], sgn))
                outs.append(np.full(G.shape[0], o, dtype=int))
            if groups:
                net.Y[r], net.sign[r] = np.vstack(Ys), np.concatenate(signs)
                net.out[r] = np.concatenate(outs)
        return net

    def as_network(self):
        k = self.intercept.shape[0]
        neurons, weights, index = [], [], []
        for r, Yr in enumerate(self.Y):
            m = Yr.shape[0]
            w = np.sum(Yr**2, axis=1)
            neurons.append(Yr / np.sqrt(np.maximum(w, 1e-300))[:, None])
            W = np.zeros((m, k))
            W[np.arange(m), self.out[r]] = self.sign[r] * w
            weights.append(W)
            index.append(np.full(m, r, dtype=int))
        return np.vstack(neurons), np.vstack(weights), np.concatenate(index)


@dataclass
class _Certificate:
    objective: float
    lower_bound: float
    violation: float
    theta: np.ndarray
    candidates: list


# ------------------------------------------------------------------- problem
class _Problem:
    """The factorized objective, its gradient, and the pricing step."""

    def __init__(self, blocks, Y, loss, activation, alpha, fit_intercept):
        self.blocks, self.Y, self.loss = blocks, Y, loss
        self.act, self.alpha, self.fit_intercept = activation, alpha, fit_intercept

    def forward(self, net):
        """Outputs (n, k) of the network, computed from scratch."""
        Yhat = np.tile(net.intercept, (self.Y.shape[0], 1))
        for r, blk in enumerate(self.blocks):
            if net.Y[r].shape[0]:
                T = net.Y[r] @ blk.P.T
                Yhat += self._block_output(r, T, T * T, np.linalg.norm(net.Y[r], axis=1),
                                           _signed_scatter(net, r, self.Y.shape[1]))
        return Yhat

    def _block_output(self, r, T, TT, rho, W):
        """Pooled outputs (n, k) of block ``r``'s neurons from ``T`` = Y_r P^T (m, N)."""
        a, b, c = self.act
        H = a * (W.T @ TT) + (W * (b * rho)[:, None]).T @ T
        H += ((c * rho**2) @ W)[:, None]
        return np.asarray(self.blocks[r].pooled(H.T))

    def penalty(self, net):
        return self.alpha * sum(float(np.sum(Yr**2)) for Yr in net.Y)

    def polish(self, net, budget, target=0.0, lower=-np.inf):
        """L-BFGS on every neuron's vector and the intercept.

        Stops early once the gap estimated from the current neurons alone
        (``_Path.estimate``, the certified gap if no other unit neuron
        violates more) is below ``target``; ``lower`` is the best certified
        lower bound so far. Returns ``(net, iterations, converged, estimate)``,
        ``estimate`` None unless it stopped on it.
        """
        path = _Path(self, net, target, lower)
        x, nit, converged = _lbfgs(path, path.pack(net), budget)
        return path.unpack(x), nit, converged, (path.estimate if path.on_target else None)

    def certify(self, net):
        """Objective, certified lower bound, and the violating neurons."""
        Yhat = self.forward(net)
        Y, loss, alpha = self.Y, self.loss, self.alpha
        objective = loss.value(Yhat, Y) + self.penalty(net)
        theta = feasible_dual(loss.gradient(Yhat, Y), Y, loss, self.fit_intercept)
        violation, candidates = 0.0, []
        for o in range(Y.shape[1]):
            for r, blk in enumerate(self.blocks):
                A, g, c0 = blk.dual_quadratic(theta[:, o], self.act)
                v, cand = _price(A, g, c0, alpha)
                violation = max(violation, v)
                candidates += [(r, o, sgn, u, val) for sgn, u, val in cand]
        # A batch of the strongest violators: weak ones are often explained
        # away once the strong ones are in.
        cut = alpha + _BATCH_FRACTION * (violation - alpha)
        candidates = [cand for cand in candidates if cand[4] >= cut]
        lower, scaled = rescaled_bound(theta, violation, alpha, Y, loss)
        return _Certificate(objective, lower, violation, scaled, candidates)

    def initial_neurons(self, net, candidates):
        """Scale candidate directions by a safe first step on their weight.

        For a neuron ``h`` priced at ``-s theta^T h = v > alpha``, the step
        ``w = (v - alpha) / (L ||h||^2)`` (L the loss curvature bound) is the
        exact line-search step for the squared loss; several candidates of
        one (output, block) share it.
        """
        curvature = {"logistic": 0.25, "multinomial": 0.5}.get(self.loss.name, 1.0)
        n = self.Y.shape[0]
        count = {}
        for r, o, _, _, _ in candidates:
            count[r, o] = count.get((r, o), 0) + 1
        out = []
        for r, o, sgn, u, val in candidates:
            h = block_outputs(self.blocks[r], u[None, :], self.act)[:, 0]
            if self.fit_intercept:
                h = h - h.mean()
            w = (val - self.alpha) / max(curvature * float(h @ h) * n, 1e-300)
            out.append((r, o, sgn, np.sqrt(w / count[r, o]) * u, val / self.alpha))
        return out


def _price(A, g, c0, alpha):
    """Exact dual violation of one (output, block) and a batch of violators.

    ``theta^T sigma(u) = u^T A u + g^T u + c0``. A neuron with output sign
    ``s`` lowers the objective when ``-s theta^T sigma(u) > alpha``. The exact
    maximizer on each side comes from the trust-region solver; the other
    eigenvectors of ``A`` (sign chosen to agree with ``g``) join the batch
    when they violate too.
    """
    lam, V = np.linalg.eigh((A + A.T) / 2)
    top = -np.inf
    cand = []
    for side in (1.0, -1.0):
        # side = +1: maximize theta^T sigma (neuron sign -1), side = -1: its negative.
        As, gs, cs = side * A, side * g, side * c0
        value, u, upper = trust_region_max(As, gs)
        top = max(top, upper + cs)
        if value + cs <= alpha:
            continue
        batch = [(-side, u, value + cs)]
        proj = V.T @ gs
        for i in range(V.shape[1]):
            vi = V[:, i] * (1.0 if proj[i] >= 0 else -1.0)
            val = side * lam[i] + abs(proj[i]) + cs
            if val > alpha and abs(vi @ u) < _SAME_NEURON:
                batch.append((-side, vi, val))
        batch.sort(key=lambda t: -t[2])
        cand += batch
    return max(top, 0.0), cand


class _Path:
    """The objective along rays ``x + t p`` of the packed neurons and intercept.

    The pre-activations ``T_r = Y_r P_r^T`` (kept as (m, N) arrays) are linear
    in the neurons, so one thin product ``D_r P_r^T`` per ray gives them at
    every step length: a backtracking step costs O(N k) work and no pass over
    the data, and an iteration two thin products (the ray and the gradient).
    ``T`` and the signed sums ``q0 = W^T (T * T)`` follow the accepted steps
    and are recomputed from scratch every ``_RESYNC`` of them, so rounding
    cannot pile up.

    With ``target > 0`` each gradient also estimates the certified gap from
    the current neurons alone: ``theta`` is the certificate's dual point and
    ``max_j |theta^T sigma(u_j)|`` over the neurons is at most the exact dual
    violation, so the estimate is the gap the certificate would give if no
    other unit neuron violated more. ``on_target`` tells the caller to run
    the exact certificate.
    """

    def __init__(self, problem, net, target, lower):
        self.pb, self.net = problem, net
        self.target, self.lower = target, lower
        self.on_target, self.estimate = False, np.inf
        self.k = problem.Y.shape[1]
        self.shapes = [Yr.shape for Yr in net.Y]
        self.W = [_signed_scatter(net, r, self.k) for r in range(len(net.Y))]
        self.steps = 0

    def pack(self, net):
        return np.concatenate([Yr.ravel() for Yr in net.Y]
                              + ([net.intercept] if self.pb.fit_intercept else []))

    def _split(self, x):
        Ys, pos = [], 0
        for sh in self.shapes:
            Ys.append(x[pos:pos + sh[0] * sh[1]].reshape(sh))
            pos += sh[0] * sh[1]
        return Ys, (x[pos:pos + self.k] if self.pb.fit_intercept else None)

    def unpack(self, x):
        Ys, b0 = self._split(x)
        return self.net.with_Y(Ys, self.net.intercept if b0 is None else b0.copy())

    def _intercept(self, b0):
        return self.net.intercept if b0 is None else b0

    def reset(self, x):
        """Exact state at ``x``: returns ``(f, gradient)``."""
        pb = self.pb
        self.x = x
        Ys, _ = self._split(x)
        self.T = [Yr @ blk.P.T if Yr.shape[0] else None for Yr, blk in zip(Ys, pb.blocks)]
        self.q0 = [None if T is None else W.T @ (T * T) for T, W in zip(self.T, self.W)]
        self.ray(np.zeros_like(x), product=False)
        self.value(0.0)
        g = self._accept(0.0)
        return self.f, g

    def ray(self, p, product=True):
        """Prepare ``value(t)`` along ``x + t p``: one thin product per block."""
        self.p = p
        Ds, _ = self._split(p)
        self.Dt, self.q = [], []
        for r, (D, blk) in enumerate(zip(Ds, self.pb.blocks)):
            T = self.T[r]
            if T is None or not product:
                self.Dt.append(None)
                self.q.append(None)
                continue
            Dt = D @ blk.P.T
            W = self.W[r]
            TD = T * Dt
            q1 = W.T @ TD
            np.multiply(Dt, Dt, out=TD)
            self.Dt.append(Dt)
            self.q.append((q1, W.T @ TD))
        self.trial = None

    def value(self, t):
        """Objective at ``x + t p`` (after ``ray(p)``)."""
        pb = self.pb
        a, b, c = pb.act
        Ys, b0 = self._split(self.x + t * self.p)
        Yhat = np.tile(self._intercept(b0), (pb.Y.shape[0], 1))
        rhos, q0s, pen = [], [], 0.0
        for r, Yr in enumerate(Ys):
            rho = np.linalg.norm(Yr, axis=1)
            rhos.append(rho)
            pen += float(rho @ rho)
            if self.T[r] is None:
                q0s.append(None)
                continue
            W = self.W[r]
            Wb = W * (b * rho)[:, None]
            q0 = self.q0[r]
            H = Wb.T @ self.T[r]
            if self.q[r] is not None:
                q1, q2 = self.q[r]
                q0 = q0 + (2 * t) * q1
                q0 += (t * t) * q2
                H += t * (Wb.T @ self.Dt[r])
            q0s.append(q0)
            H += a * q0
            H += ((c * rho**2) @ W)[:, None]
            Yhat += np.asarray(pb.blocks[r].pooled(H.T))
        f = pb.loss.value(Yhat, pb.Y) + pb.alpha * pen
        self.trial = (t, Yhat, f, rhos, q0s)
        return f

    def move(self, t):
        """Step to ``x + t p`` (the last ``value`` call); returns the gradient there."""
        self.x = self.x + t * self.p
        self.steps += 1
        if self.steps % _RESYNC == 0:
            return self.reset(self.x)[1]
        for T, Dt in zip(self.T, self.Dt):
            if T is not None:
                if t != 1.0:
                    Dt *= t
                T += Dt
        return self._accept(t)

    def _accept(self, t):
        t_trial, self.Yhat, self.f, self.rho, self.q0 = self.trial
        assert t_trial == t
        self.Dt = self.q = None
        return self._gradient(self._split(self.x)[0])

    def _gradient(self, Ys):
        """Gradient at the current state; every block costs one thin product."""
        pb = self.pb
        a, b, c = pb.act
        k = self.k
        G = pb.loss.gradient(self.Yhat, pb.Y)
        grads = []
        for r, (Yr, blk) in enumerate(zip(Ys, pb.blocks)):
            T = self.T[r]
            if T is None:
                grads.append(np.zeros(Yr.size))
                continue
            rho = self.rho[r]
            m = T.shape[0]
            out, sign = self.net.out[r], self.net.sign[r]
            Gp = np.asarray(blk.pooled_T(G))
            # d/dy_j of sum_i Gp[i, o_j] s_j (a T_ji^2 + b rho_j T_ji + c rho_j^2):
            # s_j [(2 a T_j * Gp_o + b rho_j Gp_o) P + (b T_j.Gp_o / rho_j + 2 c sum Gp_o) y_j].
            B = np.empty((m + k, T.shape[1]))
            np.multiply(T, Gp[:, 0] if k == 1 else Gp[:, out].T, out=B[:m])
            B[m:] = Gp.T
            TG = B[:m].sum(axis=1)
            A = B @ blk.P
            gY = A[:m]
            gY *= 2 * a
            gY += (b * rho)[:, None] * A[m + out]
            radial = b * TG / np.maximum(rho, 1e-300) + 2 * c * Gp.sum(axis=0)[out]
            gY += radial[:, None] * Yr
            gY *= sign[:, None]
            gY += (2 * pb.alpha) * Yr
            grads.append(gY.ravel())
        if pb.fit_intercept:
            grads.append(G.sum(axis=0))
        if self.target > 0:
            self._estimate(G)
        return np.concatenate(grads)

    def _estimate(self, G):
        """Gap the certificate would give if the neurons held the worst violation."""
        pb = self.pb
        a, b, c = pb.act
        theta = feasible_dual(G, pb.Y, pb.loss, pb.fit_intercept)
        violation = 0.0
        for r, blk in enumerate(pb.blocks):
            T = self.T[r]
            if T is None:
                continue
            rho, W = self.rho[r], self.W[r]
            tp = np.asarray(blk.pooled_T(theta))
            num = a * ((T * T) @ tp) + (b * rho)[:, None] * (T @ tp) \
                + (c * rho**2)[:, None] * tp.sum(axis=0)
            v = np.abs(np.sum(num * W, axis=1)) / np.maximum(rho**2, 1e-300)
            violation = max(violation, float(v.max(initial=0.0)))
        lower = max(self.lower, rescaled_bound(theta, violation, pb.alpha, pb.Y, pb.loss)[0])
        self.estimate = (self.f - lower) / max(abs(self.f), 1e-12)
        self.on_target = self.estimate <= self.target


def _lbfgs(path, x, maxiter, memory=20, gtol=1e-14):
    """Plain L-BFGS (two-loop recursion, Armijo backtracking) along a ``_Path``.

    The Armijo test forgives rounding (a relative ``1e-15`` of the value) so
    the iteration keeps following the gradient where value differences have
    sunk into noise; the certificate, not this routine, decides when to stop.
    Stops early when ``path.on_target``. Returns ``(x, iterations, converged)``.
    """
    f, g = path.reset(x)
    S, Ydiff = [], []
    nit = 0
    while nit < maxiter and not path.on_target:
        if np.linalg.norm(g) <= gtol * max(1.0, abs(f)):
            return x, max(nit, 1), True
        # Two-loop recursion for p = -H g.
        q = g.copy()
        coefs = []
        for s, y in zip(reversed(S), reversed(Ydiff)):
            rho = 1.0 / (y @ s)
            a = rho * (s @ q)
            q -= a * y
            coefs.append((rho, a))
        if S:
            q *= (S[-1] @ Ydiff[-1]) / (Ydiff[-1] @ Ydiff[-1])
        else:
            q /= max(np.linalg.norm(g), 1e-300)
        for (s, y), (rho, a) in zip(zip(S, Ydiff), reversed(coefs)):
            q += (a - rho * (y @ q)) * s
        p = -q
        slope = g @ p
        if slope >= 0:  # not a descent direction: restart from the gradient
            S, Ydiff = [], []
            p, slope = -g / max(np.linalg.norm(g), 1e-300), -np.linalg.norm(g)
        path.ray(p)
        t, noise = 1.0, 1e-15 * abs(f)
        for _ in range(40):
            f_new = path.value(t)
            if np.isfinite(f_new) and f_new <= f + 1e-4 * t * slope + noise:
                break
            t *= 0.3
        else:
            return x, max(nit, 1), True
        g_new = path.move(t)
        x_new, f_new = path.x, path.f
        nit += 1
        s, y = x_new - x, g_new - g
        if s @ y > 1e-12 * np.linalg.norm(s) * np.linalg.norm(y):
            S.append(s)
            Ydiff.append(y)
            if len(S) > memory:
                S.pop(0)
                Ydiff.pop(0)
        x, f, g = x_new, f_new, g_new
    return x, max(nit, 1), False


def _signed_scatter(net, r, k):
    """(m_r, k) matrix: neuron ``j`` of block ``r`` feeds output ``out_j`` with its sign."""
    W = np.zeros((net.Y[r].shape[0], k))
    W[np.arange(W.shape[0]), net.out[r]] = net.sign[r]
    return W


def _lift(Yg):
    """Lifted vectors ``[y; ||y||]`` of neuron rows, shape (m, p + 1)."""
    return np.hstack([Yg, np.linalg.norm(Yg, axis=1, keepdims=True)])
