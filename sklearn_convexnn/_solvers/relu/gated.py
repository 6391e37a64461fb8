"""Gated ReLU: group lasso over activation patterns, solved by APG."""

from dataclasses import dataclass, field

import numpy as np

from .apg import APG
from .certificate import DualCertifier
from .newton import NEWTON_LOSSES, newton_polish

__all__ = ["ReLUSolution", "alpha_max", "curvature", "solve_gated"]

#: newton=True: APG warm start until this certified relative gap ...
NEWTON_SWITCH_GAP = 0.05
#: ... or this many iterations, then Newton steps (at most NEWTON_MAX_STEPS).
NEWTON_SWITCH_ITER = 300
NEWTON_MAX_STEPS = 50

#: Curvature bound of each loss relative to its weights (squared: 1).
CURVATURE = {"squared": 1.0, "logistic": 0.25, "multinomial": 0.5}


@dataclass
class ReLUSolution:
    """Solver output: weights (d, columns), intercept (k,), objective, bound, history."""

    W: np.ndarray
    b: np.ndarray
    objective: float
    lower_bound: float
    n_iter: int
    n_passes: int
    status: str
    history: list = field(default_factory=list)


def curvature(loss):
    return CURVATURE[loss.name]


def alpha_max(design, loss, fit_intercept=True):
    """Smallest ``alpha`` at which all weights vanish: max_j ||(D_j X)^T r||_2.

    ``r`` is the loss gradient at the intercept-only model (the best
    constant when ``fit_intercept``, else zero predictions).
    """
    Z = np.zeros(loss.Y.shape)
    if fit_intercept:
        Z = Z + loss.best_constant()
    G = design.backward(loss.gradient(Z))
    return float(np.sqrt(np.max(np.sum(G**2, axis=0), initial=0.0)))


class GatedProblem:
    """Smooth part ``L(sum_j D_j X w_j + b)`` of the gated program."""

    def __init__(self, design, loss, certifier):
        self.design, self.loss, self.certifier = design, loss, certifier
        self._theta = None

    def forward(self, W):
        return (self.design.forward(W),)

    def value(self, img, b):
        return self.loss.value(img[0] + b)

    def gradient(self, img, b):
        theta = self.loss.gradient(img[0] + b)
        self._theta = theta
        return self.design.backward(theta), theta.sum(axis=0)

    def after_gradient(self, img, b, GW):
        self.certifier.bound(self._theta, GW)


def estimate_lipschitz(design, loss, n_columns, apply, rng, n_power=3):
    """Power iterations on the Gauss-Newton operator of the smooth part."""
    W = rng.standard_normal((design.d, n_columns))
    est = 0.0
    for _ in range(n_power):
        W /= max(np.linalg.norm(W), 1e-300)
        W = apply(W)
        est = np.linalg.norm(W)
    return max(curvature(loss) * 1.5 * est, 1e-12)


def solve_gated(design, loss, alpha, *, fit_intercept, tol, max_iter, verbose=0,
                rng=None, W0=None, b0=None, newton=False):
    """Minimize ``L(sum_j D_j X w_j + b) + alpha sum ||w_j||`` to relative gap ``tol``.

    ``newton=True``: APG only until the certified relative gap reaches
    ``NEWTON_SWITCH_GAP`` (or ``NEWTON_SWITCH_ITER`` iterations), then the
    active-set Newton method of ``newton.py``; should it stall, APG resumes
    from its point for the remaining iterations. The multinomial loss stays
    with APG (see ``newton.py``).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    k = design.k
    certifier = DualCertifier(loss, design, alpha, fit_intercept, np.ones(design.q))
    problem = GatedProblem(design, loss, certifier)
    pi = loss.pi
    L0 = estimate_lipschitz(design, loss, design.q,
                            lambda W: design.backward(pi * design.forward(W)), rng)
    W = np.zeros((design.d, design.q)) if W0 is None else W0
    b = (loss.best_constant() if fit_intercept else np.zeros(k)) if b0 is None else b0
    apg = APG(problem, W, b, alpha, L0 + curvature(loss), fit_intercept)
    status, history = "max_iter", []
    it, n_newton = 0, 0
    switch = newton and loss.name in NEWTON_LOSSES
    for it in range(1, max_iter + 1):
        if switch and (it > NEWTON_SWITCH_ITER or (
                history and history[-1][1] - history[-1][2]
                <= NEWTON_SWITCH_GAP * max(abs(history[-1][1]), 1e-12))):
            switch = False
            W, b, n_newton, nstatus = newton_polish(
                design, loss, alpha, apg.x, apg.bx, certifier, fit_intercept=fit_intercept,
                tol=tol, max_steps=NEWTON_MAX_STEPS, lipschitz=apg.L, verbose=verbose,
                history=history)
            apg = APG(problem, W, b, alpha, apg.L, fit_intercept)
            if nstatus == "optimal":
                status = "optimal"
                break
        apg.step()
        obj, lb = apg.objective(), certifier.best
        gap = obj - lb
        history.append((design.n_passes, obj, lb))
        if verbose:
            width = int(np.sum(np.any(apg.x != 0, axis=0)))
            print(f"[gated] iter {it:5d}  objective {obj:.10g}  bound {lb:.10g}  "
                  f"gap {gap:.3e}  width {width}")
        if gap <= tol * max(abs(obj), 1e-12):
            status = "optimal"
            break
    return ReLUSolution(apg.x, apg.bx, apg.objective(), min(certifier.best, apg.objective()),
                        it + n_newton, design.n_passes, status, history)
