"""Exact ReLU: the cone-constrained program, by an augmented Lagrangian.

Variables ``W = [U | V]`` (columns as in ``design``, ``U`` then ``V``); the
prediction is ``sum_j D_j X (u_j - v_j) + b`` and the cones are
``(2 D_j - I) X u_j >= 0``, same for ``v_j``. The constraints enter through
the augmented Lagrangian term (multipliers ``Lam >= 0``, penalty ``rho``)::

    (1 / (2 rho)) sum ( max(0, Lam - rho A W)^2 - Lam^2 ),

a smooth function of the images ``X W``; the inner problem (loss + that
term + the group penalty) is solved by the same APG as the gated problem,
with the multipliers updated by ``Lam <- max(0, Lam - rho A W)`` between
inner runs. Every gradient carries a dual certificate (see
``certificate.py``): the updated multipliers are the cone multipliers.

Primal feasibility: an iterate is made exactly feasible by ``repair``
(minimum-norm corrections onto the violated rows' boundary, then a move
along the column's own gate as a fallback). A feasible point's objective is
that of a true ReLU network, since on its cone ``D_j X u = relu(X u)``.
"""

import numpy as np

from .apg import APG
from .certificate import DualCertifier
from .gated import ReLUSolution, curvature, estimate_lipschitz

__all__ = ["solve_exact"]

#: Initial penalty relative to the loss curvature per sample (measured on
#: small problems: 10 needs ~30% fewer iterations than 1; 100 can stall).
RHO_SCALE = 10.0
#: Iterations between feasibility repairs and certified-gap checks.
REPAIR_EVERY = 20
#: The penalty never grows past this multiple of its initial value.
RHO_GROWTH = 1e3


class ExactALProblem:
    """Smooth part of the augmented Lagrangian, as a function of ``X W``."""

    def __init__(self, design, loss, certifier, rho):
        self.design, self.loss, self.certifier = design, loss, certifier
        q = design.q
        self.mask = design.masks[:, np.tile(design.gate_of, 2)]  # (n, 2q) bool
        self.sign = np.concatenate([np.ones(q), -np.ones(q)])
        self.out_cols = np.tile(design.output_of, 2)
        self.rho = rho
        self.Lam = np.zeros((design.n, 2 * q))
        self._theta = None

    def constraint(self, IW, cols=None):
        mask = self.mask if cols is None else self.mask[:, cols]
        return np.where(mask, IW, -IW)

    def predict(self, IW, b):
        signed = np.where(self.mask, IW, 0.0) * self.sign
        Z = np.empty((self.design.n, self.design.k))
        for c in range(self.design.k):
            Z[:, c] = signed[:, self.out_cols == c].sum(axis=1)
        return Z + b

    def forward(self, W):
        IW = np.zeros((self.design.n, W.shape[1]))
        active = np.flatnonzero(np.any(W != 0, axis=0))
        if active.size:
            IW[:, active] = self.design.images(W, active)
        else:
            self.design.n_passes += 1
        return (IW,)

    def value(self, img, b):
        A = self.constraint(img[0])
        pen = np.maximum(0.0, self.Lam - self.rho * A)
        return self.loss.value(self.predict(img[0], b)) \
            + float(np.sum(pen**2) - np.sum(self.Lam**2)) / (2 * self.rho)

    def gradient(self, img, b):
        theta = self.loss.gradient(self.predict(img[0], b))
        self._theta = theta
        Lnew = np.maximum(0.0, self.Lam - self.rho * self.constraint(img[0]))
        R = np.where(self.mask, theta[:, self.out_cols] * self.sign, 0.0)
        R -= np.where(self.mask, Lnew, -Lnew)
        return self.design.rmatmat(R), theta.sum(axis=0)

    def after_gradient(self, img, b, GW):
        self.certifier.bound(self._theta, GW)

    def update_multipliers(self, img):
        A = self.constraint(img[0])
        self.Lam = np.maximum(0.0, self.Lam - self.rho * A)
        return float(np.sqrt(np.sum(np.minimum(A, 0.0) ** 2)))


def refine_multipliers(problem, theta, Lam, X_norm2, n_steps=20):
    """Projected gradient on the cone multipliers of the dual constraints.

    For the loss gradient ``theta`` at a primal point, lower the excess
    ``max(0, ||(D_j X)^T theta - A_j^T lam_j|| - alpha)`` over ``lam >= 0``
    (``0.5 sum excess^2``, step ``1 / ||X||^2``); returns the gradient
    columns and the multipliers. Two data passes per step.
    """
    design, alpha = problem.design, problem.certifier.alpha
    base = np.where(problem.mask, theta[:, problem.out_cols] * problem.sign, 0.0)
    C = design.rmatmat(base)
    Lam = Lam.copy()
    cols = C - design.rmatmat(np.where(problem.mask, Lam, -Lam))
    for _ in range(n_steps):
        norms = np.sqrt(np.sum(cols**2, axis=0))
        over = np.flatnonzero(norms > alpha)
        if over.size == 0:
            break
        R = cols[:, over] * (1 - alpha / norms[over])
        grad = -problem.constraint(design.images(R), over)  # d/dlam of 0.5 excess^2
        Lam[:, over] = np.maximum(0.0, Lam[:, over] - grad / X_norm2)
        cols[:, over] = C[:, over] - design.rmatmat(
            np.where(problem.mask[:, over], Lam[:, over], -Lam[:, over]))
    return cols, Lam


def repair(problem, gates, gate_images, W, IW, n_rounds=4):
    """A feasible point near ``W``: returns (W, IW) with every column in its cone.

    Violating columns are first corrected by minimum-norm steps that put
    their violated rows on the cone's boundary (``A_S (u + delta) = 0`` by
    least squares over the rows violated so far, a few rounds, one data pass
    each); columns still infeasible then move along their own gate, which
    lies inside the cone (``(2 D_j - I) X g_j = |X g_j|``), or are zeroed
    when a violated row has ``X g_j = 0``. ``u = 0`` is always feasible, so
    this always ends feasible.
    """
    design = problem.design
    X = design.X
    cols_gate = np.tile(design.gate_of, 2)
    viol = np.maximum(0.0, -problem.constraint(IW))
    bad = np.flatnonzero(np.any(viol > 0, axis=0))
    if bad.size == 0:
        return W, IW
    W, IW = W.copy(), IW.copy()
    rows = {int(c): np.flatnonzero(viol[:, c] > 0) for c in bad}
    for _ in range(n_rounds):
        for c in bad:
            S = rows[int(c)]
            XS = X[S]
            XS = XS.toarray() if hasattr(XS, "toarray") else np.asarray(XS)
            # On S the constraint rows are +-x_i; zero them: x_i . (u + delta) = 0.
            delta = np.linalg.lstsq(XS, -XS @ W[:, c], rcond=None)[0]
            W[:, c] += delta
        IW[:, bad] = design.images(W, bad)
        viol_b = np.maximum(0.0, -problem.constraint(IW[:, bad], bad))
        still = np.any(viol_b > 0, axis=0)
        for i, c in enumerate(bad):
            if still[i]:
                rows[int(c)] = np.union1d(rows[int(c)], np.flatnonzero(viol_b[:, i] > 0))
        bad = bad[still]
        if bad.size == 0:
            return W, IW
    vb = np.maximum(0.0, -problem.constraint(IW[:, bad], bad))
    Gimg = np.abs(gate_images[:, cols_gate[bad]])
    with np.errstate(divide="ignore", invalid="ignore"):
        need = np.where(vb > 0, vb / Gimg, 0.0)
    t = np.max(need, axis=0)
    ok = np.isfinite(t)
    W[:, bad[ok]] += gates[:, cols_gate[bad[ok]]] * t[ok]
    IW[:, bad[ok]] += gate_images[:, cols_gate[bad[ok]]] * t[ok]
    W[:, bad[~ok]] = 0.0
    IW[:, bad[~ok]] = 0.0
    return W, IW


def solve_exact(design, loss, alpha, gates, gate_images, *, fit_intercept, tol, max_iter,
                verbose=0, rng=None, rho=None, inner_iter=500):
    """Minimize the exact-ReLU program to relative gap ``tol``; returns a feasible point."""
    rng = np.random.default_rng(0) if rng is None else rng
    q, k = design.q, design.k
    signs = np.concatenate([np.ones(q), -np.ones(q)])
    certifier = DualCertifier(loss, design, alpha, fit_intercept, signs)
    pi = loss.pi
    X_norm2 = estimate_lipschitz(design, loss, 1, lambda w: design.rmatmat(design.images(w)),
                                 rng) / (1.5 * curvature(loss)) * 1.2
    L_loss = estimate_lipschitz(design, loss, q,
                                lambda W: design.backward(pi * design.forward(W)), rng)
    # The penalty's curvature is rho times that of A^T A ~ X^T X.
    if rho is None:
        rho = RHO_SCALE * curvature(loss) * float(np.mean(pi))
    problem = ExactALProblem(design, loss, certifier, rho)
    W = np.zeros((design.d, 2 * q))
    b = loss.best_constant() if fit_intercept else np.zeros(k)
    apg = APG(problem, W, b, alpha, L_loss + curvature(loss), fit_intercept)
    best = (np.inf, W, b)
    status, history = "max_iter", []
    last_viol = np.inf
    inner_tol, n_inner = 0.1, 0
    it = 0
    for it in range(1, max_iter + 1):
        apg.step()
        if it % REPAIR_EVERY == 0 or it == max_iter:
            Wr, IWr = repair(problem, gates, gate_images, apg.x, apg.img[0])
            obj = loss.value(problem.predict(IWr, apg.bx)) + apg.penalty(Wr)
            if obj < best[0]:
                best = (obj, Wr, apg.bx.copy())
            lb = certifier.best
            gap = best[0] - lb
            history.append((design.n_passes, best[0], lb))
            if verbose:
                width = int(np.sum(np.any(best[1] != 0, axis=0)))
                print(f"[exact] iter {it:5d}  objective {best[0]:.10g}  bound {lb:.10g}  "
                      f"gap {gap:.3e}  width {width}  rho {problem.rho:.2e}")
            if gap <= tol * max(abs(best[0]), 1e-12):
                status = "optimal"
                break
        n_inner += 1
        # Inner problem solved to the current accuracy: update the multipliers.
        solved = apg.gmap <= inner_tol * max(alpha, 1e-12)
        if solved or n_inner >= inner_iter:
            viol = problem.update_multipliers(apg.img)
            # A tighter dual point: multipliers refined for the best primal.
            Wr, bb = best[1], best[2]
            theta = loss.gradient(problem.predict(problem.forward(Wr)[0], bb))
            cols, _ = refine_multipliers(problem, theta, problem.Lam, X_norm2)
            certifier.bound(theta, cols)
            # Raise the penalty only when the inner problem was solved and the
            # violation still did not shrink; capped, as a huge rho stalls APG.
            if solved and viol > 0.25 * last_viol and problem.rho < RHO_GROWTH * rho:
                problem.rho *= 3.0
            last_viol = viol
            inner_tol = max(0.3 * inner_tol, 1e-8)
            n_inner = 0
            # The smooth part changed: recompute its value, reset momentum.
            apg.fx = problem.value(apg.img, apg.bx)
            apg.restart()
    obj, W, b = best
    return ReLUSolution(W, b, float(obj), min(certifier.best, float(obj)), it,
                        design.n_passes, status, history)
