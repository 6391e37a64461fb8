"""Newton refinement of a lifted network on its support, to machine precision.

A solver's network is a list of neurons ``u_j`` (unit norm, one pooling
block ``r_j``, one output ``o_j``, sign ``s_j``, weight ``w_j > 0``). With
the support (which neurons, in which block, output and sign) held fixed,
write ``v_j = sqrt(w_j) u_j``: the neuron's output on sample ``i`` is::

    h_ij(v) = a v^T Q_i v + b ||v|| L_i . v + c ||v||^2 s_i

(the pooled moments ``Q, L, s`` of its block, ``lifted.py``) and the
objective ``loss(Yhat) + alpha sum_j ||v_j||^2`` is smooth in ``(v, b)``
away from ``v_j = 0``. At a non-degenerate optimum of the lifted problem
(the dual's neuron check attains ``alpha`` exactly at the support's
neurons, each a strict maximum, and the loss sees every remaining direction)
its Hessian is positive definite, so Newton's method converges
quadratically from the solver's network.

Why: the solvers stop on the objective (a line search, a certified gap)
and the objective is flat at the optimum, so their networks agree with the
optimum only to about ``sqrt(eps / curvature)``: on scikit-learn's
sample-weight check (15 images of 30 pixels, 3 classes) proxgrad's
weighted and repeated fits had equal objectives to 1e-15 but intercepts
8e-6 apart and predicted probabilities 5e-7 apart. Newton's steps here are
accepted on the *gradient* (the stationarity residual), which keeps
shrinking long after the objective stopped resolving progress: the network
becomes the optimum to rounding, whatever the solver, the row order, or
whether a weight of 2 is a repeated row. Called only when ``tol`` asks for
more than the certificate resolves (see ``REFINE_BELOW``): the default fits
never pay for it.
"""

import numpy as np

from .decomposition import neural_decomposition
from .proxgrad_newton import NEWTON_LOSSES

__all__ = ["REFINE_BELOW", "REFINE_CERTIFIED", "REFINE_MAX_ENTRIES", "refinable",
           "refine_network"]

#: Refine when the requested relative gap is below this, from the solver's
#: network at this gap: the certificates of the first-order solvers bottom
#: out between 1e-8 and 1e-6 (their bound comes from the gradient; proxgrad
#: stalls at 3e-7 on scikit-learn's weight check and polishes until
#: max_iter, 1.7 s where the gap of 1e-6 took 0.09 s), and from 1e-6 the
#: support is found and Newton converges in a few steps.
REFINE_BELOW = 1e-6
#: A refined network is kept when certified within max(tol, this): at the
#: optimum the certificate resolves down to rounding (relative gaps 0 to
#: 8e-12 on the 64 networks of benchmarks/study_refine.py); a larger gap is a
#: support that misses a neuron, where Newton converged to the optimum
#: without it.
REFINE_CERTIFIED = 1e-9
#: At most this many Jacobian entries (samples x outputs x parameters): a
#: dense Hessian is formed and factored at every step.
REFINE_MAX_ENTRIES = 4_000_000
#: ``refinable``: the budget must hold this many neurons per output.
REFINE_MIN_NEURONS = 10
#: Newton steps at most (quadratic convergence from a gap of 1e-6 takes a
#: handful), and halvings of a step before Newton gives up.
REFINE_MAX_STEPS = 30
HALVINGS = 8
#: Two neurons of one block, output and sign closer than this (in angle)
#: are one neuron split by the decomposition: merged before the refinement.
MERGE_ANGLE = 1e-4
#: Levenberg-Marquardt dampings of a Newton step tried in turn until the
#: damped Hessian factors, relative to the mean of its diagonal.
DAMPING = (1e-10, 1e-8, 1e-6)
#: The refinement may raise the objective by at most this many ulps of the
#: terms it sums (``_Problem.value_gradient``): it is accepted on the
#: stationarity residual, and the objective's rounding is that of its terms
#: (outputs of 50 whose log-sum-exp losses cancel to 0.02 on scikit-learn's
#: check: 2e-14, twenty times the ulps of the objective itself).
ROUNDING = 64 * np.finfo(float).eps
#: Attempts in turn: the whole network, then without the neurons whose output
#: weight is below each fraction of the largest.
DROP_BELOW = (0.0, 1e-4, 1e-2)


def refinable(n_samples, n_outputs, dim, n_blocks=1):
    """Whether a network of ``REFINE_MIN_NEURONS`` neurons per output fits the
    refinement's budget (checked before the solver runs: a refinement refused
    after it would cost a second solve): its Jacobian and the blocks' pooled
    moments ``Q`` (``n_samples x dim^2`` each) within ``REFINE_MAX_ENTRIES``."""
    n_par = REFINE_MIN_NEURONS * n_outputs * dim + n_outputs
    return max(n_samples * n_outputs * n_par,
               n_blocks * n_samples * dim * dim) <= REFINE_MAX_ENTRIES


def refine_network(blocks, Y, loss, activation, alpha, neurons, weights, block_index,
                   intercept, fit_intercept=True):
    """The network with its support fixed, refined by Newton to machine precision.

    Parameters
    ----------
    blocks : list of LiftedBlock
    Y : ndarray of shape (n, k)
        Encoded targets.
    loss : Loss
        A smooth loss with a curvature (``proxgrad_newton.NEWTON_LOSSES``).
    activation : tuple (a, b, c)
    alpha : float
    neurons : ndarray of shape (m, p)
        Unit-norm neurons.
    weights : ndarray of shape (m, k)
        Output weights, one non-zero per row.
    block_index : ndarray of shape (m,)
    intercept : ndarray of shape (k,)
    fit_intercept : bool, default=True

    Returns
    -------
    refined : tuple or None
        ``(neurons, weights, block_index, intercept)`` of the refined network,
        or None when the network is not refinable (another loss, more than
        one output per neuron, too large) or Newton did not converge to
        rounding without raising the objective.
    """
    n, k = Y.shape
    if loss.name not in NEWTON_LOSSES or neurons.shape[0] == 0 or \
            np.any(np.count_nonzero(weights, axis=1) != 1):
        return None
    neurons, weights, block_index = _merge(neurons, weights, block_index)
    m, p = neurons.shape
    if n * k * (m * p + k) > REFINE_MAX_ENTRIES:
        return None
    moments = [blk.moments() for blk in blocks]
    intercept = np.asarray(intercept, dtype=float)
    start = _Start(neurons, weights, block_index, intercept, fit_intercept)
    f_start, _, noise = _Problem(blocks, moments, Y, loss, activation, alpha, start,
                                 fit_intercept).value_gradient(start.x)
    size = np.abs(weights).sum(axis=1)
    for cut in DROP_BELOW:
        # A neuron the optimum does not use (an interior-point solution's
        # small second eigenvector) sits where the objective is not smooth
        # (v = 0): without it Newton converges, and the objective must show
        # that the network did not need it.
        keep = size > cut * size.max()
        if cut and keep.all():
            continue
        start = _Start(neurons[keep], weights[keep], block_index[keep], intercept,
                       fit_intercept)
        problem = _Problem(blocks, moments, Y, loss, activation, alpha, start, fit_intercept)
        x, converged = _newton(problem, start.x)
        if converged and problem.value_gradient(x)[0] <= f_start + noise:
            net = start.network(x)
            if net is not None:  # None: a neuron vanished; try the next cut
                return net
    return None


def _newton(problem, x):
    """Newton from ``x`` until the gradient norm stops falling: ``(x, converged)``.

    A step (halved up to ``HALVINGS`` times) is taken if it lowers the
    objective, or leaves it within rounding and lowers the gradient norm:
    once the objective no longer resolves progress the gradient still does.
    Converged: the Newton decrement ``-g^T step`` is at rounding of the
    objective and the steps no longer halve the gradient norm.
    """
    f, g, noise = problem.value_gradient(x)
    res = _residual(g)
    at_rounding = False
    for _ in range(REFINE_MAX_STEPS):
        step = problem.newton_step(x)
        if step is None:
            return x, False
        at_rounding = -(g @ step) <= noise
        for _ in range(HALVINGS):
            f_new, g_new, _ = problem.value_gradient(x + step)
            res_new = _residual(g_new)
            if f_new < f or (f_new <= f + noise and res_new < res):
                break
            step = step / 2
        else:
            return x, at_rounding
        progress = res_new < 0.5 * res
        x, f, g, res = x + step, f_new, g_new, res_new
        if at_rounding and not progress:
            return x, True
    return x, at_rounding


class _Start:
    """A network as the point ``x = (v_1, ..., v_m, b)`` and its fixed support."""

    def __init__(self, neurons, weights, block_index, intercept, fit_intercept):
        m, self.k = weights.shape
        self.p = neurons.shape[1]
        self.o_j = np.argmax(weights != 0, axis=1)
        w = weights[np.arange(m), self.o_j]
        self.s_j, self.r_j, self.intercept = np.sign(w), block_index, intercept
        self.fit_intercept = fit_intercept
        self.x = np.concatenate([(np.sqrt(np.abs(w))[:, None] * neurons).ravel(),
                                 intercept if fit_intercept else []])

    def network(self, x):
        """``(neurons, weights, block_index, intercept)`` at ``x``, None if a neuron vanished."""
        m = self.o_j.shape[0]
        V = x[:m * self.p].reshape(m, self.p)
        norms = np.linalg.norm(V, axis=1)
        if not np.all(norms > 0):
            return None
        U, w = V / norms[:, None], norms**2
        rows, out_w, out_r = [], [], []
        for key in dict.fromkeys(zip(self.o_j, self.r_j, self.s_j)):
            mine = (self.o_j == key[0]) & (self.r_j == key[1]) & (self.s_j == key[2])
            if np.count_nonzero(mine) >= 3:
                # Three or more neurons of one matrix Z = sum_j w_j [u_j; 1][u_j; 1]^T
                # have a family of decompositions (rotations keeping each term
                # on the cone y^T G y = 0), all the same Z, hence the same
                # outputs (before clipping): Newton does not move along it,
                # the decomposition of Z (a function of Z) fixes one.
                Yz = np.sqrt(w[mine])[:, None] * np.column_stack([U[mine],
                                                                  np.ones(mine.sum())])
                u_g, w_g = neural_decomposition(Yz.T @ Yz)
            else:
                u_g, w_g = U[mine], w[mine]
            rows.append(u_g)
            out_w.append(np.outer(w_g * key[2], np.eye(self.k)[key[0]]))
            out_r.append(np.full(len(w_g), key[1]))
        b = x[m * self.p:] if self.fit_intercept else self.intercept
        return (np.vstack(rows), np.vstack(out_w), np.concatenate(out_r).astype(int),
                np.array(b, dtype=float))


def _residual(g):
    return float(np.linalg.norm(g))


def _merge(neurons, weights, block_index):
    """One neuron per direction of each (block, output, sign): near-duplicates summed."""
    out_u, out_w, out_r = [], [], []
    sign = np.sign(weights)
    for j in range(neurons.shape[0]):
        for i, (u, wrow, r) in enumerate(zip(out_u, out_w, out_r)):
            if r == block_index[j] and np.array_equal(np.sign(wrow), sign[j]) and \
                    np.linalg.norm(u - neurons[j]) < MERGE_ANGLE:
                # w u u^T + w' u' u'^T ~ (w + w') of the mean direction.
                total = wrow + weights[j]
                mix = np.abs(wrow).sum() * u + np.abs(weights[j]).sum() * neurons[j]
                out_u[i] = mix / np.linalg.norm(mix)
                out_w[i] = total
                break
        else:
            out_u.append(neurons[j].copy())
            out_w.append(weights[j].copy())
            out_r.append(block_index[j])
    return np.array(out_u), np.array(out_w), np.asarray(out_r, dtype=int)


class _Problem:
    """Value, gradient and Newton step of the fixed-support objective in ``(v, b)``."""

    def __init__(self, blocks, moments, Y, loss, activation, alpha, start, fit_intercept):
        self.blocks, self.Y, self.loss, self.act = blocks, Y, loss, activation
        self.alpha, self.r_j, self.o_j, self.s_j = alpha, start.r_j, start.o_j, start.s_j
        self.fit_intercept, self.p = fit_intercept, start.p
        p = self.p
        n = Y.shape[0]
        self.Q = [Q.reshape(n, p, p) for Q, _, _ in moments]
        self.L = [L for _, L, _ in moments]
        self.s = [s for _, _, s in moments]

    def _split(self, x):
        m = self.o_j.shape[0]
        V = x[:m * self.p].reshape(m, self.p)
        b = x[m * self.p:] if self.fit_intercept else np.zeros(self.Y.shape[1])
        return V, b

    def _outputs(self, x):
        """Predictions, and per neuron the outputs' gradients ``dh`` (n, m, p)."""
        a, bb, c = self.act
        V, b = self._split(x)
        n = self.Y.shape[0]
        m, p = V.shape
        Yhat = np.tile(b, (n, 1))
        dh = np.zeros((n, m, p))
        for j in range(m):
            r, v = self.r_j[j], V[j]
            norm = float(np.linalg.norm(v))
            Qv = self.Q[r] @ v
            Lv = self.L[r] @ v
            h = a * (Qv @ v) + bb * norm * Lv + c * norm**2 * self.s[r]
            Yhat[:, self.o_j[j]] += self.s_j[j] * h
            u = v / norm
            dh[:, j] = (2 * a * Qv + bb * Lv[:, None] * u + bb * norm * self.L[r]
                        + 2 * c * self.s[r][:, None] * v) * self.s_j[j]
        return Yhat, dh

    def value_gradient(self, x):
        """The objective, its gradient and its rounding (``ROUNDING`` times the
        size of the terms it sums: the weighted outputs, the penalty) at ``x``."""
        V, _ = self._split(x)
        Yhat, dh = self._outputs(x)
        theta = self.loss.gradient(Yhat, self.Y)
        penalty = self.alpha * float(np.sum(V * V))
        f = self.loss.value(Yhat, self.Y) + penalty
        size = float(np.sum(self.loss.sample_coef(self.Y) * np.abs(Yhat))) + abs(f) + penalty
        return f, self._gradient(V, dh, theta), ROUNDING * size

    def _gradient(self, V, dh, theta):
        gV = np.einsum("nmp,nm->mp", dh, theta[:, self.o_j]) + 2 * self.alpha * V
        gb = theta.sum(axis=0) if self.fit_intercept else np.zeros(0)
        return np.concatenate([gV.ravel(), gb])

    def newton_step(self, x):
        """``-H^{-1} g`` with the exact Hessian (damped), or None if it is not
        positive definite."""
        H, g = self.hessian_gradient(x)
        if self.fit_intercept and self.loss.name == "multinomial":
            # The softmax ignores a shift common to the intercepts: pin it
            # (the gradient has no component along it, nor has the step).
            e = np.zeros(x.shape[0])
            e[-self.Y.shape[1]:] = 1.0
            H = H + np.outer(e, e) * max(float(np.mean(np.abs(np.diag(H)))), 1e-300)
        # A damping far below the curvature the loss gives: the directions it
        # leaves to the damping are the decompositions of one lifted matrix
        # (see ``_Start.network``), where the objective is flat and its
        # curvature is rounding of either sign.
        scale = max(float(np.mean(np.abs(np.diag(H)))), 1e-300)
        for damping in DAMPING:
            try:
                L = np.linalg.cholesky(H + damping * scale * np.eye(x.shape[0]))
            except np.linalg.LinAlgError:
                continue
            return -np.linalg.solve(L.T, np.linalg.solve(L, g))
        return None

    def hessian_gradient(self, x):
        """The exact Hessian of the objective at ``x``, and its gradient."""
        V, _ = self._split(x)
        Yhat, dh = self._outputs(x)
        n, k = self.Y.shape
        m, p = V.shape
        n_par = x.shape[0]
        Jf = np.zeros((n, k, n_par))
        for j in range(m):
            Jf[:, self.o_j[j], j * p:(j + 1) * p] = dh[:, j]
        if self.fit_intercept:
            Jf[:, np.arange(k), m * p + np.arange(k)] = 1.0
        H = self.loss.gauss_newton(Jf, Yhat, self.Y)
        theta = self.loss.gradient(Yhat, self.Y)
        # Second derivatives of theta_o^T h_j: the dual quadratic of (block, output).
        dual = {key: self.blocks[key[0]].dual_quadratic(theta[:, key[1]], self.act)
                for key in dict.fromkeys(zip(self.r_j, self.o_j))}
        for j in range(m):
            A, gq, c0 = dual[self.r_j[j], self.o_j[j]]
            v = V[j]
            norm = float(np.linalg.norm(v))
            u = v / norm
            Hj = 2 * A + np.outer(u, gq) + np.outer(gq, u) \
                + float(gq @ v) / norm * (np.eye(p) - np.outer(u, u)) + 2 * c0 * np.eye(p)
            sl = slice(j * p, (j + 1) * p)
            H[sl, sl] += self.s_j[j] * Hj + 2 * self.alpha * np.eye(p)
        return (H + H.T) / 2, self._gradient(V, dh, theta)
