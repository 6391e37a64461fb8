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

The solver lives in three modules, one concern each: this one (the outer
loop: polish, certify, price, grow), ``lowrank_network`` (the neurons and
their bookkeeping: grouping, adding, compressing) and ``lowrank_polish``
(the factorized objective along line-search rays and the L-BFGS on it).
"""

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ...exceptions import SolverFailedError
from ..shared.dual import feasible_dual
from .certificate import relative_gap, rescaled_bound
from .lifted import block_outputs, precondition_scale, scale_blocks
from .lowrank_network import Network, signed_scatter
from .lowrank_polish import Path, lbfgs
from .memory import estimate_lowrank_bytes
from .neuron_sets import constant_fit
from .trust_region import trust_region_max

__all__ = ["LowRankResult", "solve_lifted_lowrank"]

#: Eigen-directions this close (|cosine|) to the exact maximizer are not
#: added to a batch beside it.
_SAME_NEURON = 0.999
#: Candidates violating by less than this fraction of the worst violation
#: (both measured above alpha) wait for a later round. A larger cut (0.2,
#: 0.3) starts the planted n=2000, d=50, alpha=1e-2 case with fewer stray
#: neurons (0.09 s against 0.17 s) but starves small ``alpha``, where the
#: optimum needs many neurons (n=2000, d=20, alpha=1e-4: 2-3x more rounds).
_BATCH_FRACTION = 0.1
#: L-BFGS iterations before the first certificate; doubles when pricing finds nothing new.
_FIRST_CHUNK = 40
_LAST_CHUNK = 3200
#: After an exact certificate above the gap its estimate promised, the next
#: estimate must reach this fraction of ``tol`` times the ratio of the two.
_AIM = 0.7
#: A round adding neurons no stronger than this violation ratio does not
#: reset the polishing budget.
_STRONG = 1.1
#: Between rounds every (block, output, sign) group of neurons is rewritten
#: with as many neurons as the numerical rank of its lifted matrix:
#: eigenvalues below ``min(this, 1e-3 tol)`` of the largest are dropped (the
#: certificate then evaluates the compressed network, so the gap stays exact).
#: Measured on planted n=2000, d=50 (benchmarks/bench_polynet.py): the
#: optimum has rank 5, the uncompressed factorization kept 24-31 neurons
#: (most of them carrying the same rank-3 matrices) and ran twice as slowly.
_COMPRESS_RTOL = 1e-8


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
                         max_iter=500, tol=1e-6, verbose=0, random_state=None,
                         warm_start=None, memory_limit=None):
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
        round runs 40 L-BFGS iterations, twice as many as the previous one
        (up to 3200) when pricing found no new neuron.
    tol : float
        Target relative certified gap ``(objective - lower_bound) / |objective|``.
    verbose : int
        At 1 or more, one line per round: round, objective, certified lower
        bound, relative gap, active width (neurons), dual violation / alpha.
    random_state : None
        Ignored (the solver is deterministic); kept for old callers.
    warm_start : tuple (neurons, weights, block_index, intercept) or None
        A previous network (e.g. at a nearby ``alpha``) to start from.
    memory_limit : float or None
        Bytes. The active width grows only while its pre-activation arrays
        fit (``memory.estimate_lowrank_bytes``); reaching the budget ends the
        solve with status "memory_limit" and the certified gap so far.

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
    problem = _Problem(scale_blocks(blocks, 1.0 / s), Y, loss,
                       (a * s * s, b * s, c), float(alpha), bool(fit_intercept))
    dims = [blk.dim for blk in blocks]
    n_rows = blocks[0].P.shape[0]
    if warm_start is not None:
        net = Network.from_network(*warm_start, dims=dims)
        if not fit_intercept:
            net.intercept[:] = 0.0
    else:
        net = Network.empty(k, dims)
        if fit_intercept:
            net.intercept = constant_fit(Y, loss)

    n_iter, n_rounds, status = 0, 0, "max_iter"
    compress_rtol = max(min(_COMPRESS_RTOL, 1e-3 * tol), 1e-15)
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
        net = net.drop_negligible().compress(compress_rtol)
        n_rounds += 1
        cert = problem.certify(net)
        if best is None or cert.lower_bound > best.lower_bound:
            best = cert
        if not np.isfinite(cert.objective):
            raise SolverFailedError(
                f"The lowrank solver reached a non-finite objective ({cert.objective}) in "
                f"round {n_rounds}; scale the features and targets, or use solver='cvxpy'."
            )
        gap = relative_gap(cert.objective, best.lower_bound)
        if verbose:
            print(f"[lowrank] iteration {n_rounds:4d}  objective {cert.objective:.10g}  "
                  f"bound {best.lower_bound:.10g}  gap {gap:.2e}  width {net.size}  "
                  f"(L-BFGS steps {n_iter}, dual violation/alpha "
                  f"{cert.violation / max(alpha, 1e-300):.4f})")
        if gap <= tol:
            status = "optimal"
            break
        if n_rounds >= max_iter:
            break
        if memory_limit is not None and estimate_lowrank_bytes(
                n_rows, dims, k, width=net.size + len(cert.candidates)) > memory_limit:
            status = "memory_limit"
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
            f"(target {tol:.1e}); "
            + ("raise memory_limit." if status == "memory_limit" else "increase max_iter."),
            ConvergenceWarning, stacklevel=2,
        )
    neurons, weights, block_index = net.as_network()
    return LowRankResult(
        neurons=neurons, weights=weights, block_index=block_index,
        intercept=net.intercept.copy(), objective=cert.objective,
        lower_bound=best.lower_bound, gap=float(gap), theta=best.theta, n_iter=n_iter,
        n_rounds=n_rounds, status=status,
    )


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
                                           signed_scatter(net, r, self.Y.shape[1]))
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
        (``lowrank_polish.Path.estimate``, the certified gap if no other unit neuron
        violates more) is below ``target``; ``lower`` is the best certified
        lower bound so far. Returns ``(net, iterations, converged, estimate)``,
        ``estimate`` None unless it stopped on it.
        """
        path = Path(self, net, target, lower)
        x, nit, converged = lbfgs(path, path.pack(net), budget)
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
