"""Exact ReLU by a primal-dual interior-point method with a structured Newton system.

The exact program separates over outputs for the squared and logistic
losses; per output (``p`` gates, columns ``u_j``, ``v_j``)::

    min  L(sum_j D_j X (u_j - v_j) + b) + alpha sum_j (||u_j|| + ||v_j||)
    s.t. (2 D_j - I) X u_j >= 0,  (2 D_j - I) X v_j >= 0.

Barrier problem: the cone rows get multipliers ``lam > 0`` (primal-dual:
``lam_i s_i = mu``), the norms their second-order cones ``||w|| <= t``
with the barrier ``-mu log(t^2 - ||w||^2)``; ``t`` is eliminated in closed
form (``t = (mu + sqrt(mu^2 + alpha^2 r^2)) / alpha`` for ``r = ||w||``),
which leaves a smooth, strictly convex norm ``h_mu(w)`` with gradient
``alpha w / t`` (norm below ``alpha``) and Hessian
``(alpha / t) I - alpha^2 / (t^2 sqrt(mu^2 + alpha^2 r^2)) w w^T``.

Newton system: per column a d x d block ``B_c = hess h_mu + X^T diag(lam_c /
s_c) X`` (one product of the multipliers with the n x d^2 matrix of the
rows' outer products for all columns at once; ``(2 D_j - I)^2 = I``), and
the data term ``G^T K G`` (``G = [D_1 X, ..., D_p X]``, ``K`` the loss
curvature), the same for ``u_j`` and ``-v_j``. Eliminating ``u - v`` leaves
one pd x pd system ``E + G^T K G`` with ``E_j = (B_u^-1 + B_v^-1)^-1``
(formed when ``p d <= n``, as ``B_u (B_u + B_v)^-1 B_v``; ``G^T K G`` once
for the squared loss), or by
Woodbury the n x n system ``K^-1 + sum_j G_j E_j^-1 G_j^T`` (when ``p d >
n``; preconditioned conjugate gradients, ``ipm_woodbury.py``), bordered by
the intercept either way.

Path following: Mehrotra's predictor-corrector on the cone rows (an affine step
sets the centring ``sigma = (gap_aff / gap)^3``), fraction to the boundary,
backtracking on the barrier function; ``mu`` is the rows' mean complementarity.
The rows' barrier is weighted (``row_weights``): rows far from their boundary
at the start weigh less, so the gap at ``mu`` is ``mu`` times the weights' sum
rather than the number of rows. Iterates stay strictly feasible, so every
iterate is a true ReLU network; the certified bound is ``DualCertifier``'s with
the multipliers ``lam`` (and, near the end, the cone multipliers refined by
nonnegative least squares for the columns above ``alpha``).
"""

import math

import numpy as np

from .ipm_dense import DenseNewtonSystem
from .ipm_rows import block_gather, max_step, row_weights, step_length, upper_indices
from .ipm_woodbury import CG_TOL, newton_rtol, woodbury_solver
from .newton_cg import loss_curvature, masked_back

__all__ = ["IPM_LOSSES", "NNLS_ROWS", "RESCUE_MAX_COLUMNS", "solve_output_ipm"]

#: Losses the interior-point method handles (separable over outputs).
IPM_LOSSES = ("squared", "logistic")
#: Fraction of the way to the boundary a step may go.
TO_BOUNDARY = 0.99
#: Armijo constant and backtracking factor of the line search on the barrier.
ARMIJO, BACKTRACK = 1e-4, 0.5
#: mu falls by at most this factor per iteration (the norms' smoothing is
#: primal only and needs its centring).
MU_DROP = 0.1
#: The cone multipliers are refined by NNLS once the rows' complementarity
#: is below this multiple of the target gap.
NNLS_START = 10.0
#: ... over the ceil(NNLS_ROWS * d) rows of the largest multipliers of the
#: column (an optimal neuron has at most d - 1 tight rows). Measured at the
#: last iterations of bench_relu.py's planted problems (n=100..2000, d=5..50):
#: 1.2 gave the bounds of 3 at a quarter of its NNLS time, 1.0 lost up to 3x.
NNLS_ROWS = 1.5
#: The certificate is computed from the iteration where the rows'
#: complementarity is below this multiple of the target gap. Measured on 164
#: problems (n <= 400, d <= 10, up to 60 gates, squared and logistic losses,
#: tol 1e-3 to 1e-6, certifying at every iteration): the gap was first met
#: at a ratio of 0.1 to 0.95, the iteration before at 1 to 8; each
#: certificate costs about a third of a small problem's iteration. Re-measured
#: with mu down to its floor (72 random fits, n 60..300, d 3..8, 8..80 gates,
#: tol 1e-2 to 1e-7, a third logistic): 3 and 2 took the iterations of 10,
#: 1 took 8 more.
CERTIFY_START = 3.0
#: mu stops falling once the rows' complementarity is below this fraction of
#: the target gap: the remaining steps centre, which the certificate needs
#: (the dual point's excess over alpha is the stationarity residual).
MU_FLOOR = 0.1
#: The multiplier of a zero row's cone rows: out of the gap, the step lengths
#: and the Newton matrix (its outer product is zero), and positive.
ZERO_ROW_LAM = 1e-300
#: Near the end the rows' barrier weights span many orders and rounding can
#: leave a Newton matrix singular: it is factored again with each d x d block
#: (and the dense system's eliminated blocks) shifted by REGULARIZE times its
#: largest diagonal entry. Still positive definite, so the step still descends
#: on the barrier (the line search checks). Measured on seven small problems
#: (tol 1e-5 to 1e-7): 1e-12 certified all but one, 1e-14 and 1e-10 needed
#: up to three times the iterations.
REGULARIZE = 1e-12
#: At the floor of mu, the fit stops ("stalled") once its certified gap has
#: shrunk by less than a factor STALL_SHRINK per iteration for STALL_ITERS
#: iterations in a row (a converging end game halves it per iteration).
STALL_SHRINK, STALL_ITERS = 0.99, 10
#: ... but a Woodbury system (``p d > n``) stuck for RESCUE_ITERS iterations,
#: or whose line search fails, switches to the dense one if it fits memory
#: (``dense_fits``). At the floor of mu the column blocks' condition reaches
#: 1e14 to 1e16 (radial curvature ~1e-9 against the tight rows' ~1e6):
#: rounding in ``B_j`` alone puts percents of error on the huge eigenvalue of
#: ``E_j^-1``, and the steps' radial parts (a huge factor times a tiny
#: difference) are wrong. Measured at n=1000, d=20, 100 gates, tol 1e-4:
#: Newton residuals 2 to 9 times the right-hand side, steps cut to 1e-3 and
#: less, the gap stuck at 1.67e-4 (stalled, 30 iterations); the dense system
#: adds the data's curvature before it factors (no lone block inverted):
#: certified at iteration 23 (19 with the dense system throughout).
RESCUE_ITERS = 2
#: ... and only up to this many columns p d (its Cholesky measured 0.08 s at
#: 2000, 0.53 s at 4000, single thread; cubic beyond).
RESCUE_MAX_COLUMNS = 4000
#: Inexact Newton steps (``ipm_woodbury.newton_rtol``: loose conjugate
#: gradients far from the target, CG_TOL from the certificate's start) ...
#: only from this size n p d on, where the conjugate gradients' products
#: dominate an iteration. Below it the steps are exact: small fits gain no
#: time (study_exact_ipm.py: 1.1 to 1.3 s CPU for 36 fits either way) and
#: their tiny-alpha, tight-tol end games are fragile (60 random fits, n 60..200,
#: alpha 1e-6..1e-3, tol 1e-6: 3 missed tol with inexact steps, two by far at
#: max_iter; 1 with exact ones, as on main).
INEXACT_MIN_WORK = 1e6
#: Start: columns of norm START_SCALE / (median |x . g|), mu of MU_START alpha
#: times that norm.
START_SCALE, MU_START = 1.0, 1.0


class _Output:
    """One output's exact program: data, iterate and Newton steps."""

    def __init__(self, X, masks, loss, alpha, fit_intercept):
        self.X = X
        self.loss, self.alpha, self.fit_intercept = loss, alpha, fit_intercept
        n, d = X.shape
        p = masks.shape[1]
        self.n, self.d, self.p = n, d, p
        self.Mf = masks.astype(float)
        self.Sg = np.where(masks, 1.0, -1.0)
        self.Sg2 = np.hstack([self.Sg, self.Sg])
        self.Mf2 = np.hstack([self.Mf, -self.Mf])  # predictions: sum of Mf2 * (X W)
        self._curv = None
        self._log_rows = (None, 0.0)
        # The rows' outer products, upper triangles only (half the product's
        # cost); ``blocks`` spreads them into symmetric d x d blocks.
        iu, ju = upper_indices(d)
        self.XX = X[:, iu] * X[:, ju]
        self._gather = block_gather(d)
        self.primal = p * d <= n
        self.n_passes = 0
        self.omega = None  # the rows' barrier weights (solve_output_ipm: row_weights)
        # Zero rows: their cone rows (0 >= 0) hold for every w and stay out of
        # the barrier (slack fixed at 1, weight 0, multiplier ZERO_ROW_LAM).
        nonzero = np.any(X != 0, axis=1)
        self.zero = np.flatnonzero(~nonzero) if not nonzero.all() else None
        self.live = nonzero if self.zero is not None else slice(None)  # the cone rows
        self.G = self.dense = None
        self.C = None  # the gated Gram matrices X^T D_j X (Woodbury only)
        self.woodbury = None
        if self.primal:
            self.to_dense()

    # ------------------------------------------------------ data passes
    def mul(self, A):
        """``X @ A``, one data pass."""
        self.n_passes += 1
        return self.X @ A

    def tmul(self, A):
        """``X^T @ A``, one data pass."""
        self.n_passes += 1
        return self.X.T @ A

    # ----------------------------------------------------------- the loss
    def loss_parts(self, z):
        """(value, gradient, curvature) of the weighted loss at predictions z."""
        Z = z[:, None]
        curv = self._curv
        if curv is None:
            curv = np.asarray(loss_curvature(self.loss, Z))[:, 0]
            if self.loss.name == "squared":
                self._curv = curv  # constant
        return float(self.loss.value(Z)), self.loss.gradient(Z)[:, 0], curv

    def predict(self, IW, b):
        return np.einsum("ij,ij->i", self.Mf2, IW) + b

    def smooth_norm(self, W, mu, r2=None):
        r2 = np.einsum("ij,ij->j", W, W) if r2 is None else r2
        Q = np.sqrt(mu * mu + self.alpha**2 * r2)
        t = (mu + Q) / self.alpha
        return r2, Q, t

    def barrier_at(self, parts, mu, mu_rows):
        """The barrier function from the pieces of :meth:`barrier` (norms at ``mu``)."""
        IW, S, z, value, theta, curv, r2, Q, t = parts
        # sum_j alpha t_j - mu log(2 mu t_j / alpha), with one logarithm per column.
        h = self.alpha * float(t.sum()) - mu * (float(np.log(t).sum())
                                                + t.size * math.log(2.0 * mu / self.alpha))
        if S is not self._log_rows[0]:  # sum(omega log S) of the last S (asked twice)
            logs = np.log(S)
            self._log_rows = (S, float(np.vdot(self.omega, logs)))
        return value + h - mu_rows * self._log_rows[1]

    def barrier(self, W, b, mu, mu_rows, IW=None):
        """The barrier function (norms smoothed by ``mu``, rows weighted by
        ``mu_rows``) and its pieces; +inf outside the cones."""
        IW = self.mul(W) if IW is None else IW
        S = self.Sg2 * IW
        if self.zero is not None:
            S[self.zero] = 1.0
        if S.min() <= 0:
            return np.inf, None
        z = self.predict(IW, b)
        parts = (IW, S, z) + self.loss_parts(z) + self.smooth_norm(W, mu)
        return self.barrier_at(parts, mu, mu_rows), parts

    # -------------------------------------------------------- Newton system
    def blocks(self, T):
        """Symmetric (k, d, d) blocks from their upper triangles ``T`` (k, d (d + 1) / 2)."""
        return np.take(T, self._gather, axis=1).reshape(-1, self.d, self.d)

    def factor(self, W, parts, Lam):
        """Factor the Newton matrix at W with multipliers Lam; returns a solver.

        The Woodbury system's preconditioner picks its precision itself and
        conjugate gradients make the step exact to ``CG_TOL`` (short of it
        only in very ill-conditioned end games, ``n_unconverged``); the last step's
        preconditioner is kept until it is stale
        (``ipm_woodbury._Factor.stale``).
        """
        IW, S, z, value, theta, curv, r2, Q, t = parts
        d, p, a = self.d, self.p, self.alpha
        self.n_passes += 1  # the rows' outer products
        B = self.blocks((Lam / S).T @ self.XX)
        B.reshape(2 * p, d * d)[:, :: d + 1] += (a / t)[:, None]  # the diagonals
        Ws = W.T * (a / (t * np.sqrt(Q)))[:, None]  # a^2 / (t^2 Q) w w^T = ws ws^T
        B -= Ws[:, :, None] * Ws[:, None, :]
        try:
            return self._factor_blocks(B, curv, 0.0)
        except np.linalg.LinAlgError:
            # Rounding lost the blocks' smallest directions (REGULARIZE).
            diag = B.reshape(2 * p, d * d)[:, :: d + 1]
            diag += REGULARIZE * diag.max(axis=1, keepdims=True)
            return self._factor_blocks(B, curv, REGULARIZE)

    def to_dense(self):
        """Use the dense pd x pd Newton system from now on: where ``p d <= n``,
        or for a stuck Woodbury end game (``RESCUE_ITERS``)."""
        n, d, p = self.n, self.d, self.p
        if self.woodbury is not None:
            self.n_passes += self.woodbury.n_products
        self.woodbury = self.C = None
        # The gated design [D_1 X, ..., D_p X].
        self.G = (self.Mf[:, :, None] * self.X[:, None, :]).reshape(n, p * d)
        self.dense = DenseNewtonSystem(self.G, p, d, self.fit_intercept,
                                       self.loss.name == "squared")
        self.primal = True

    def _factor_blocks(self, B, curv, shift):
        if self.primal:
            return self.dense.factor(B, curv, shift)
        return woodbury_solver(self, B, curv)

    def _back(self, Binv, ru, rv, y):
        """Column steps from the data term's multiplier ``y = K (G dw + db)``."""
        self.n_passes += 1
        Gy = masked_back(self.X, self.Mf, y).T  # no n x p temporary
        r = np.concatenate([ru - Gy, rv + Gy])  # (2p, d)
        return (Binv @ r[:, :, None])[:, :, 0].T  # (d, 2p); batched (einsum: 4x slower)


def solve_output_ipm(X, masks, loss, alpha, gates, *, fit_intercept, tol, max_iter,
                     certify, b0=0.0, verbose=0, dense_fits=False):
    """Interior-point solve of one output's exact program.

    Parameters
    ----------
    X : ndarray of shape (n, d)
    masks : ndarray of shape (n, p), bool
    loss : BoundLoss
        The squared or logistic loss bound to this output's targets (one
        column) and weights.
    alpha : float
    gates : ndarray of shape (d, p)
        Gate vectors: ``g_j`` lies inside both cones of gate j, the start.
    fit_intercept : bool
    tol : float
        Target certified relative gap.
    max_iter : int
    certify : callable
        ``certify(W, b, theta, Lam, refine) -> bound`` at a feasible point
        (``refine``: cone multipliers refined by NNLS).
    verbose : int
    dense_fits : bool
        Whether the dense Newton system fits memory: a stuck Woodbury end
        game then switches to it (``RESCUE_ITERS``).

    Returns
    -------
    (W, b, n_iter, status, n_passes) or None when the cones have no
    interior at the gates (a nonzero row with ``x_i . g_j = 0``); ``n_passes``
    counts the products with ``X``, ``X^T`` or the rows' outer products.
    """
    prob = _Output(X, masks, loss, alpha, fit_intercept)
    p = prob.p
    gimg = np.abs(prob.mul(gates))
    if prob.zero is not None:
        gimg[prob.zero] = 1.0  # (no cone rows there)
    if np.any(gimg <= 0):
        # A nonzero row orthogonal to a gate: that cone has no interior at the gate.
        return None
    # Start: u_j = v_j = tau g_j / ||g_j|| (no prediction, both inside their cones).
    gn = gates / np.maximum(np.linalg.norm(gates, axis=0), 1e-300)
    img = prob.mul(gn)
    tau = START_SCALE / max(float(np.median(np.abs(img[prob.live]))), 1e-300)
    W = tau * np.hstack([gn, gn])
    b = b0
    mu = MU_START * alpha * tau
    prob.omega = row_weights(img, X, prob.zero)
    prob.omega = np.hstack([prob.omega, prob.omega])
    omega = prob.omega
    nu = float(omega.sum())  # the rows' barrier parameter
    phi, parts = prob.barrier(W, b, mu, mu)
    # Multipliers of a centred start (lam s = mu omega) except on rows close to
    # their boundary, whose lam would dominate the Newton matrix.
    Lam = mu * omega / np.maximum(parts[1], np.median(parts[1][prob.live]))
    if prob.zero is not None:
        Lam[prob.zero] = ZERO_ROW_LAM
    status, it = "max_iter", 0
    best = None
    floored, stuck, last_gap = False, 0, np.inf
    # Inexact Newton steps on large problems, until one fails to descend.
    inexact = prob.n * p * prob.d >= INEXACT_MIN_WORK
    for it in range(1, max_iter + 1):
        IW, S, z, value, theta, curv, r2, Q, t = parts
        obj = value + alpha * float(np.sqrt(r2).sum())
        if best is None or obj < best[0]:
            best = (obj, W, b)  # W is never changed in place
        # Certify once the rows' complementarity is near the target (the
        # bound cannot close the gap before) and at the last iteration.
        lb = -np.inf
        near = nu * mu / max(tol * abs(obj), 1e-300)
        if near <= CERTIFY_START or it == max_iter:
            refine = nu * mu <= NNLS_START * tol * abs(best[0])
            lb = certify(W, b, theta, Lam, refine)
        if verbose:
            print(f"[ipm] iter {it:3d} objective {obj:.10g} bound {lb:.10g} "
                  f"gap {(obj - lb) / max(abs(obj), 1e-12):.2e} mu {mu:.2e} ratio {near:.2e}")
        if obj - lb <= tol * max(abs(obj), 1e-12):
            status = "optimal"
            break
        # At the floor of mu the path has ended: a certified gap that no longer
        # shrinks will not (measured: n=1000, d=20, 100 gates at tol 1e-4 sat
        # at a 1.67e-4 gap for 940 iterations, a minute, before max_iter).
        stuck = stuck + 1 if floored and obj - lb > STALL_SHRINK * last_gap else 0
        last_gap = obj - lb
        if stuck >= RESCUE_ITERS and dense_fits and not prob.primal:
            _rescue(prob, verbose)
            stuck = 0
        if stuck >= STALL_ITERS:
            status = "stalled"
            break
        rtol = newton_rtol(near, CERTIFY_START) if inexact else CG_TOL
        try:
            solve = prob.factor(W, parts, Lam)
        except np.linalg.LinAlgError:
            status = "numerical trouble"  # the best point so far is returned
            break
        # Gradient of the loss and the smoothed norms.
        # The loss gradient's columns for u_j and v_j differ only in sign.
        prob.n_passes += 1
        gm = masked_back(prob.X, prob.Mf, theta)
        gsm = (alpha / t) * W
        gsm[:, :p] += gm
        gsm[:, p:] -= gm
        gb = float(theta.sum()) if fit_intercept else 0.0
        # Predictor: the rows' complementarity targeted at zero. (A solve can
        # refactor: the Woodbury system rebuilds a preconditioner that failed.)
        try:
            dW, db = solve(gsm[:, :p].T, gsm[:, p:].T, gb, rtol)
        except np.linalg.LinAlgError:
            status = "numerical trouble"
            break
        dW, db = -dW, -db  # (the system is linear)
        dS = prob.Sg2 * prob.mul(dW)
        # The multipliers' affine step is dL = -Lam (1 + q), q = dS / S: both
        # step lengths, the affine complementarity and the second-order term
        # dS dL = -(Lam dS)(1 + q) follow from q and Lam dS.
        q = dS / S
        ap = step_length(-float(q.min()))
        ad = step_length(1.0 + float(q.max()))
        m = nu  # the rows' barrier parameter: the gap at mu is m mu
        gap_sum = float(np.vdot(S, Lam))
        gap_now = gap_sum / m
        ld = Lam * dS
        lq = ld * q
        gap_aff = ((1.0 - ad) * gap_sum + (ap * (1.0 - ad) - ad) * float(ld.sum())
                   - ap * ad * float(lq.sum())) / m
        sigma = min(1.0, (gap_aff / gap_now) ** 3)
        mu_t = max(sigma * gap_now, MU_DROP * mu)
        minus_second = ld + lq  # -dS dL
        floored = m * mu_t <= MU_FLOOR * tol * abs(best[0])
        if floored:
            # Small enough: down to the floor (not below: a step that would cross
            # it used to hold mu where it was, up to 1 / MU_DROP times the floor,
            # and the gap with it), then centre there (Newton on stationarity).
            mu_t, minus_second = min(mu, MU_FLOOR * tol * abs(best[0]) / m), 0.0
        # Corrector: target mu_t omega, with Mehrotra's second-order term;
        # without it should the direction not descend on the barrier; an
        # inexact step that does not descend either is solved again to CG_TOL.
        attempts = [(minus_second, rtol), (0.0, rtol)]
        if rtol > CG_TOL:
            attempts += [(minus_second, CG_TOL), (0.0, CG_TOL)]
        try:
            for i, (extra, cg_tol) in enumerate(attempts):
                corr = (mu_t * omega + extra) / S
                R = -gsm + prob.tmul(prob.Sg2 * corr)
                dW, db = solve(R[:, :p].T, R[:, p:].T, -gb, cg_tol)
                XdW = prob.mul(dW)
                dS = prob.Sg2 * XdW
                q = dS / S
                # The barrier's slope: its gradient gsm - X^T (Sg2 mu_t omega / S)
                # along dW, the rows' part as mu_t sum(omega dS / S) (no product
                # with X^T).
                slope = float(np.vdot(gsm, dW)) - mu_t * float(np.vdot(omega, q)) + gb * db
                if slope < 0:
                    break
                if i == 1 and cg_tol > CG_TOL:
                    inexact = False  # (from the next iteration on)
        except np.linalg.LinAlgError:
            status = "numerical trouble"
            break
        dL = corr - Lam * (1.0 + q)
        ap = TO_BOUNDARY * step_length(-float(q.min()))
        ad = TO_BOUNDARY * max_step(Lam, dL)
        # Backtracking on the barrier with the rows at mu_t.
        phi0 = prob.barrier_at(parts, mu, mu_t)
        step = ap
        for _ in range(40):
            phi1, parts1 = prob.barrier(W + step * dW, b + step * db, mu, mu_t, IW + step * XdW)
            if phi1 <= phi0 + ARMIJO * step * min(slope, 0.0):
                break
            step *= BACKTRACK
        else:
            if dense_fits and not prob.primal:  # (the same Woodbury trouble)
                _rescue(prob, verbose)
                continue
            status = "stalled"
            break
        if verbose > 1:
            print(f"      sigma {sigma:.2e} ap {ap:.3f} ad {ad:.3f} step {step:.3f} "
                  f"slope {slope:.2e}" + ("" if prob.woodbury is None else
                                          f" rank {prob.woodbury.rank} cg "
                                          f"{prob.woodbury.cg_steps}/{prob.woodbury.n_solves}"
                                          f" fresh {prob.woodbury.fresh} unconverged "
                                          f"{prob.woodbury.n_unconverged}"))
        W = W + step * dW
        b = b + step * db
        Lam = Lam + ad * dL
        if prob.zero is not None:
            Lam[prob.zero] = ZERO_ROW_LAM  # (decays by 1 - ad otherwise)
        mu = mu_t
        # The norms' smoothing follows mu.
        parts = parts1[:6] + prob.smooth_norm(W, mu, parts1[6])
    obj, W, b = best
    if prob.woodbury is not None:
        prob.n_passes += prob.woodbury.n_products
    return W, b, it, status, prob.n_passes


def _rescue(prob, verbose):
    """Switch a stuck Woodbury end game to the dense Newton system (RESCUE_ITERS)."""
    prob.to_dense()
    if verbose:
        print("[ipm] stuck: the dense Newton system from here")
