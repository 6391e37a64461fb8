"""Gated ReLU: group lasso over activation patterns, solved by APG."""

from dataclasses import dataclass, field

import numpy as np

from .apg import APG
from .certificate import DualCertifier
from .newton import NEWTON_LOSSES, newton_polish

__all__ = ["ReLUSolution", "alpha_max", "curvature", "solve_gated"]

#: newton=True: no Newton step above this certified relative gap (the active
#: set is still moving: measured, a start at 30% needs more steps than APG saves) ...
NEWTON_SWITCH_GAP = 0.05
#: ... nor, for the squared loss once the active set has not changed for
#: ``RATE_WINDOW`` iterations, above this one: the smooth part is quadratic,
#: so the Newton model is exact on a settled active set (the logistic loss
#: stays with the rule above: on breast_cancer at alpha=1e-3 an early switch
#: took 27 factorizations instead of 7). Not at any gap (but see
#: ``TRIAL_MAX_ALPHA``): a set settled from the first iterations (every gate
#: on) is not the optimal one at a larger alpha. Measured (one thread, tol
#: 1e-4): n=1000, d=20, 100 gates, alpha=1e-3: 0.24 -> 0.20 s (284 -> 127
#: iterations); diabetes at alpha=1e-3: 1114 -> 347 iterations (0.28 ->
#: 0.21 s; with the default max_iter=1000 it stopped at a 6.9e-2 gap).
STABLE_SWITCH_GAP = 0.3
#: Newton steps once APG has run this long whatever the prediction ...
NEWTON_SWITCH_ITER = 2000
#: ... at most this many of them ...
NEWTON_MAX_STEPS = 50
#: ... and about this many expected (measured: 5-8 from a 5% gap to 1e-6).
NEWTON_EXPECTED_STEPS = 8
#: Iterations over which APG's rate of convergence is measured.
RATE_WINDOW = 20
#: Below ``TRIAL_MAX_ALPHA * alpha_max`` (squared loss) nearly every group is
#: active at the optimum, so the active set APG turns on in its first
#: iterations (every group) is about the optimal one, and APG crawls: Newton
#: steps start as soon as that set has not changed for ``STABLE_WINDOW``
#: iterations, at any gap (the one early switch, a "trial"), where a Newton
#: step costs fewer than ``TRIAL_MAX_RATIO`` APG iterations in flops
#: (``_trial_pays``). Measured (one thread, tol 1e-4; iterations (APG and
#: Newton steps) / factorizations / CG iterations, deterministic; then CPU
#: time, noisy) on planted data (benchmarks/bench_relu.py) at alpha=1e-3
#: (0.001 alpha_max), n=1000, d=20, 100 gates, seeds 0/1/2: 19/5/9 (no
#: trial: 130/6/8), 20/6/11 (120/2/4), 19/5/10 (107/5/14); 0.41 s for the
#: three against 0.48 s; n=500, d=10: 0.05 against 0.10 s; n=1000, d=50,
#: 200 gates: 0.29 against 0.55 s; alpha=1e-4: 0.28 against 0.36 s; but
#: alpha=5e-3: 0.13 against 0.12 s, and n=2000, d=20 (flop ratio 267, no
#: trial now): 0.40 against 0.29 s. Diabetes at alpha=1e-3 (1e-5 alpha_max,
#: raw y): 1000 iterations ending at a 0.53 gap -> 31/16/24; standardized
#: y (8e-4 alpha_max): 333/4/6 -> 25/10/13 (0.13 -> 0.07 s).
#: Not above 0.01 alpha_max: at 0.07 alpha_max (n=2000, d=50, 500 gates, the
#: scnn line of benchmarks/bench_relu.py) every gate is on in the first 30
#: iterations but about 100 at the optimum, and an early switch took 17
#: factorizations instead of 4 (0.85 -> 1.7 s). A window of 3 iterations
#: switched too early (9 factorizations instead of 5 on the first line), 10
#: a little late (6).
TRIAL_MAX_ALPHA = 0.01
STABLE_WINDOW = 5
TRIAL_MAX_RATIO = 150.0
#: APG's gradients (the backward products ``(D_j X)^T theta``) are taken in
#: single precision (``fast`` passes of ``MaskedDesign``, about twice as fast),
#: every ``CERTIFY_EVERY``-th one in double precision, which alone is
#: certified (a dual point needs exact products; any theta will do). The
#: forward products, hence the objective values the line search compares,
#: stay in double precision: with them in float32 the rounding noise (about
#: 1e-7 relative) passed ever longer steps near a gap of 1e-4 (measured: all
#: 500 groups switched on, the run stalled) ...
CERTIFY_EVERY = 4
#: ... and below this certified relative gap every pass is exact (the
#: gradient's rounding would then be felt in the last digits sought) ...
FAST_MIN_GAP = 1e-5
#: The forward products of the line search's trial points are taken as
#: increments from the current iterate, ``img(x) + (D X)(x_new - x)`` (not from
#: the extrapolated point: the momentum would amplify the rounding), the
#: increment in single precision: its rounding (1e-7 relative) is relative
#: to the step, not to the predictions, and the objective values the line
#: search compares share ``img(x)``, so their difference carries no
#: rounding of the predictions (this is what the earlier float32 forward
#: passes lacked). The rounding of the increments accumulates in the stored
#: images: every ``REFRESH_EVERY``-th trial point is imaged exactly, and so
#: is the iterate before the stopping test accepts it. Measured per pass at
#: n=100 000, d=100, 200 gates (one thread): forward 177 ms -> 65 ms.
REFRESH_EVERY = 8
#: ... and only for products of at least this many multiply-adds (n d q).
#: Measured per backward pass (one thread): n=100 000, d=100, 200 gates
#: 136 ms -> 65 ms, about 20% of an APG iteration. With the single-precision
#: forward increments too, a whole fit at n=2000, d=50, 500 gates (5e7, the
#: scnn comparison of benchmarks/bench_relu.py, tol 1e-6) takes 0.97 s CPU
#: instead of 1.17-1.50 s, same objective to 1e-12 (three alternating runs).
#: Below it the arithmetic stays exact, so that equivalent inputs (weights or
#: repeated rows) follow the same iterates to rounding (scikit-learn checks
#: this on small data).
FAST_MIN_PRODUCT = 4e7

#: The fast (single-precision) gradients between two exact ones are taken
#: over a working set only: the groups nonzero at the point and those whose
#: dual norm at the last exact gradient was within this fraction of alpha.
#: A group outside is taken as zero gradient, so it stays at zero until the
#: next exact gradient (at most ``CERTIFY_EVERY - 1`` iterations) brings it
#: in; the exact ones, which alone certify, cover every group.
WS_MARGIN = 0.05

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

    def __init__(self, design, loss, certifier, fast=False):
        self.design, self.loss, self.certifier = design, loss, certifier
        self._theta = None
        self.fast = fast and design.single() is not None
        self._calls, self._exact, self._near = 0, True, 0
        self._ws = None  # working set of the fast gradients (WS_MARGIN)

    def forward(self, W):
        return (self.design.forward(W),)

    def forward_near(self, W, W_ref, img_ref):
        """Images of ``W`` from those of ``W_ref``, the increment in single precision."""
        self._near += 1
        if not self.fast or self._near % REFRESH_EVERY == 0:
            return self.forward(W)
        return (img_ref[0] + self.design.forward(W - W_ref, fast=True),)

    def value(self, img, b):
        return self.loss.value(img[0] + b)

    #: APG passes the extrapolated point to :meth:`gradient`.
    wants_point = True

    def gradient(self, img, b, W=None):
        theta = self.loss.gradient(img[0] + b)
        self._theta = theta
        self._exact = not self.fast or self._calls % CERTIFY_EVERY == 0
        self._calls += 1
        if self._exact or W is None or self._ws is None:
            G = self.design.backward(theta, fast=not self._exact)
            if self.fast and W is not None:
                # The working set of the fast passes until the next exact one.
                near = np.sum(G**2, axis=0) >= ((1 - WS_MARGIN) * self.certifier.alpha) ** 2
                self._ws = near | np.any(W != 0, axis=0)
            return G, theta.sum(axis=0)
        cols = np.flatnonzero(self._ws | np.any(W != 0, axis=0))
        return self.design.backward(theta, fast=True, cols=cols), theta.sum(axis=0)

    def after_gradient(self, img, b, GW):
        # Any theta certifies, as long as its products GW are exact.
        if self._exact:
            self.certifier.bound(self._theta, GW)


def _newton_pays(design, apg, history, tol, it, stable=False, trial=False):
    """Switch to Newton steps when APG's remaining work is predicted to cost more.

    A ``trial`` (small alpha, see ``TRIAL_MAX_ALPHA``) switches as soon as it
    is asked, at any gap. Otherwise only once the certified relative gap is
    below ``NEWTON_SWITCH_GAP`` (the active set has settled), or below
    ``STABLE_SWITCH_GAP`` once the active set has not changed for
    ``RATE_WINDOW`` iterations (``stable``). APG's remaining iterations are
    extrapolated from the gap's geometric decrease over the last
    ``RATE_WINDOW`` iterations; each costs about ``2 n d (q + |S|)`` flops, a
    Newton step ``n^3 / 3 + 4 n^2 |S|`` per output (the factor, the
    capacitance), and about ``NEWTON_EXPECTED_STEPS`` steps are needed. A
    stalled APG switches.
    """
    if it > NEWTON_SWITCH_ITER:
        return True
    if len(history) < (STABLE_WINDOW if trial else RATE_WINDOW) or it % 5:
        return False
    if trial:
        return True
    obj, lb = history[-1][1], history[-1][2]
    gap = obj - lb
    scale = max(abs(obj), 1e-12)
    if gap > (STABLE_SWITCH_GAP if stable else NEWTON_SWITCH_GAP) * scale:
        return False
    old = history[-RATE_WINDOW][1] - history[-RATE_WINDOW][2]
    if not (0 < gap < old):
        return True
    rate = (gap / old) ** (1.0 / (RATE_WINDOW - 1))
    remaining = np.log(tol * scale / gap) / np.log(rate)
    n, d, q, k = design.n, design.d, design.q, design.k
    active = int(np.sum(np.any(apg.x != 0, axis=0)))
    apg_flops = 2.0 * n * d * (q + active)
    newton_flops = k * n**3 / 3.0 + 4.0 * n**2 * active
    return remaining * apg_flops > NEWTON_EXPECTED_STEPS * newton_flops


def _trial_pays(design):
    """Whether a Newton step costs few enough APG iterations for an early switch.

    Flops with every group active: a step ``k n^3 / 3 + 4 n^2 q``, an APG
    iteration ``4 n d q``; their ratio must be below ``TRIAL_MAX_RATIO``.
    """
    n, d, q, k = design.n, design.d, design.q, design.k
    return (k * n**3 / 3.0 + 4.0 * n**2 * q) < TRIAL_MAX_RATIO * 4.0 * n * d * q


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
                rng=None, W0=None, b0=None, newton=False, amax=None):
    """Minimize ``L(sum_j D_j X w_j + b) + alpha sum ||w_j||`` to relative gap ``tol``.

    ``newton=True``: APG until the Newton steps of ``newton.py`` are
    predicted to cost less than the rest of the APG run (``_newton_pays``),
    then those steps; should they stall, APG resumes from their point for
    the remaining iterations (a failed early switch leaves the regular one
    to come). The multinomial loss stays with APG (see ``newton.py``).
    ``amax``: the problem's ``alpha_max`` when the caller has it (the early
    switch's rule reads it; computed otherwise).
    """
    rng = np.random.default_rng(0) if rng is None else rng
    k = design.k
    certifier = DualCertifier(loss, design, alpha, fit_intercept, np.ones(design.q))
    fast = design.n * design.d * design.q >= FAST_MIN_PRODUCT
    problem = GatedProblem(design, loss, certifier, fast=fast)
    pi = loss.pi
    # A starting step only (the line search adapts it): in single precision
    # where the passes are fast.
    L0 = estimate_lipschitz(design, loss, design.q,
                            lambda W: design.backward(pi * design.forward(W, fast=fast),
                                                      fast=fast), rng)
    W = np.zeros((design.d, design.q)) if W0 is None else W0
    b = (loss.best_constant() if fit_intercept else np.zeros(k)) if b0 is None else b0
    apg = APG(problem, W, b, alpha, L0 + curvature(loss), fit_intercept)
    status, history = "max_iter", []
    it, n_newton = 0, 0
    support_changed, last_support = 0, None
    switch = newton and loss.name in NEWTON_LOSSES
    squared = switch and loss.name == "squared"
    # An early switch, at any gap once the active set has settled, where
    # nearly every group is active at the optimum (small alpha, squared loss).
    trial = squared and _trial_pays(design) and \
        alpha < TRIAL_MAX_ALPHA * (alpha_max(design, loss, fit_intercept) if amax is None
                                   else amax)
    for it in range(1, max_iter + 1):
        settled = it - support_changed
        stable = squared and settled > RATE_WINDOW
        attempt = trial and settled > STABLE_WINDOW
        if switch and _newton_pays(design, apg, history, tol, it, stable, attempt):
            W, b, steps, nstatus = newton_polish(
                design, loss, alpha, apg.x, apg.bx, certifier, fit_intercept=fit_intercept,
                tol=tol, max_steps=NEWTON_MAX_STEPS, lipschitz=apg.L, verbose=verbose,
                history=history)
            n_newton += steps
            # A failed early switch leaves the regular one (by the gap) to come.
            switch, trial = switch and trial, False
            apg = APG(problem, W, b, alpha, apg.L, fit_intercept)
            if nstatus == "optimal":
                status = "optimal"
                break
        apg.step()
        if (switch and squared) or verbose:
            support = np.any(apg.x != 0, axis=0)
        # When the active set last changed (only the switch to Newton reads it).
        if switch and squared and (support_changed == 0 or np.any(support != last_support)):
            support_changed, last_support = it, support
        obj, lb = apg.objective(), certifier.best
        gap = obj - lb
        history.append((design.n_passes, obj, lb))
        if verbose:
            width = int(np.sum(support))
            print(f"[gated] iter {it:5d}  objective {obj:.10g}  bound {lb:.10g}  "
                  f"gap {gap:.3e}  width {width}")
        if problem.fast and gap <= max(FAST_MIN_GAP, tol) * max(abs(obj), 1e-12):
            # Exact images (the increments' rounding) before any stopping test.
            problem.fast = gap > FAST_MIN_GAP * max(abs(obj), 1e-12)
            apg.img = problem.forward(apg.x)
            apg.fx = problem.value(apg.img, apg.bx)
            obj = apg.objective()
            gap = obj - lb
        if gap <= tol * max(abs(obj), 1e-12):
            status = "optimal"
            break
    return ReLUSolution(apg.x, apg.bx, apg.objective(), min(certifier.best, apg.objective()),
                        it + n_newton, design.n_passes, status, history)
