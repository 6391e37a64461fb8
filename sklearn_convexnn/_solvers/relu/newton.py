"""Active-set Newton for the gated program, solved in sample space.

Why: the certified bound comes from the rescaled loss gradient, so its
error is about the square root of the objective's; a certified relative gap
of 1e-4 needs the objective to about 1e-8, where first-order methods crawl
on this ill-conditioned group lasso (hundreds of strongly correlated groups
``D_j X`` of one ``X``). Newton's method on the active groups gets there in
a handful of steps.

On the active set ``S`` (every ``w_j != 0``) the objective
``F = f(Z) + alpha sum_j ||w_j||``, ``Z = sum_j D_j X w_j + b``, is smooth
with Hessian (per output, for a loss whose curvature ``h`` is diagonal)::

    H = A^T Hz A + E^-1 - U diag(b) U^T,

``A = [D_j X]_j``, ``Hz = diag(pi h)``, ``E = blockdiag(e_j I)`` with
``e_j = ||w_j|| / alpha``, ``b_j = 1 / e_j``, ``U = blockdiag(u_j)``,
``u_j = w_j / ||w_j||``. Two Woodbury identities invert it through one
n x n Cholesky factor: with ``s = sqrt(pi h)`` and ``K = A E A^T``, which is
the Hadamard product ``(X X^T) o (M_S diag(e) M_S^T)`` (``M`` the 0/1
patterns), ``C = I + s K s`` gives ``P^-1 = E - E A^T s C^-1 s A E`` for
``P = A^T Hz A + E^-1``, and ``H^-1 = P^-1 + P^-1 U Cap^-1 U^T P^-1`` with
the |S| x |S| capacitance ``Cap = V^T s C^-1 s V``, ``V = A E U`` (the
masked images ``D_j X w_j / alpha``): ``diag(b)^-1 - U^T E U`` vanishes.
Cost per step: O(n^2 (|S| + n)) flops and a few data passes; memory
O(n^2 + n |S|). The unpenalized intercept is eliminated first, which
projects ``s`` out of the kernel (``_direction``). While the active set
holds, a step is first tried by CG on the current system preconditioned
with the last factor (``newton_cg.py``; a few thin passes instead of the
n^3 / 3 factorization); after a change, from ``UPDATE_MIN_SAMPLES``
samples, preconditioned with that factor updated by the entering groups
(``newton_update.py``).

Groups enter the active set when their dual norm exceeds ``alpha`` (tiny,
along the descent direction: the radial direction carries no penalty
curvature, so the Newton step sizes them) and leave when a step would carry
them through zero. Losses separable over outputs only (squared, logistic):
the multinomial Hessian couples a row's outputs (an nk x nk system); with
its diagonal in place the steps converge only linearly (measured: a gap of
1e-3 after 60 steps), so ``solve_gated`` keeps APG for it.

Measured slower, not kept (one thread, the two gated lines of
benchmarks/bench_relu.py): CG preconditioned by the last factor on every
step, to a 1e-3 residual (at n=2000 an iteration cost 12-14 ms against 46
ms for a factor, and 8 iterations did not get there on most steps: 0.77 ->
1.15 s, 0.20 -> 0.34 s; hence CG now only on an unchanged active set, to
``CG_RTOL`` within ``CG_MAX_ITER``); solving again without the groups a
full step carries through zero (two more factorizations per fit, the gap
then stalled while those groups re-entered); at a damped step, shrinking
the groups it carries through zero instead of dropping them (as many
factorizations, more CG iterations).
"""

import numpy as np

from .newton_cg import (
    ABORT_AFTER_TWO,
    CG_EUCLID,
    CG_MAX_ITER,
    CG_MIN_GAP,
    CG_RTOL,
    NEWTON_LOSSES,
    hessian_product,
    loss_curvature,
    masked_back,
    pcg_direction,
)
from .newton_direction import direction as _direction
from .newton_direction import preconditioner as _preconditioner
from .newton_entry import grow

__all__ = ["NEWTON_LOSSES", "NEWTON_MAX_SAMPLES", "newton_polish"]

#: Above this many samples the n x n factorization costs more than it saves.
NEWTON_MAX_SAMPLES = 4000
#: Below this many samples the directions are computed in double precision
#: only: the n x n work is cheap there, and equivalent inputs (sample
#: weights or repeated rows) then follow the same iterates to rounding.
SINGLE_MIN_SAMPLES = 500
#: Backtracking halvings before a Newton step is declared failed.
MAX_HALVINGS = 30


class _State:
    """Iterate ``(W, b)`` with its masked images and objective pieces."""

    def __init__(self, design, loss, alpha, W, b):
        self.design, self.loss, self.alpha = design, loss, alpha
        self.W, self.b = W.copy(), np.asarray(b, dtype=float).copy()
        self.active = np.flatnonzero(np.any(self.W != 0, axis=0))
        self.img = self._images(self.W, self.active)
        self.Z = self._predict(self.img, self.active, self.b)
        self.F = self.objective(self.Z, self.W)
        self.barred = np.zeros(0, dtype=int)
        self.clean = True  # the last step was full and dropped no group
        # The last factors (active set, {output: solve}), reused by CG; counts.
        self.factors, self.n_factors, self.cg_iters = None, 0, 0
        self.gap = np.inf  # certified relative gap at this point
        self.patterns = None  # (active set, its float patterns, per output)
        self.tiny_entries = False  # groups entered at a tiny size before this step

    def _images(self, W, cols):
        """Masked images ``D_j X w_j`` (n, len(cols)); one data pass."""
        d = self.design
        if cols.size == 0:
            return np.zeros((d.n, 0))
        return d.images(W, cols) * d.masks[:, d.gate_of[cols]]

    def _predict(self, img, cols, b):
        d = self.design
        Z = np.zeros((d.n, d.k)) + b
        for c in range(d.k):
            sel = d.output_of[cols] == c
            if np.any(sel):
                Z[:, c] += img[:, sel].sum(axis=1)
        return Z

    def objective(self, Z, W):
        return self.loss.value(Z) + self.alpha * float(np.sum(np.sqrt(np.sum(W**2, axis=0))))

    def set_active(self, cols):
        self.active = np.asarray(cols)
        self.img = self._images(self.W, self.active)
        self.Z = self._predict(self.img, self.active, self.b)
        self.F = self.objective(self.Z, self.W)


def newton_polish(design, loss, alpha, W, b, certifier, *, fit_intercept, tol, max_steps,
                  lipschitz, verbose=0, history=None):
    """Newton steps on the active groups from ``(W, b)`` to certified relative gap ``tol``.

    Returns ``(W, b, n_steps, status)``; the lower bound accumulates in
    ``certifier.best``. ``lipschitz`` scales the proximal step that brings
    a violating group in.
    """
    st = _State(design, loss, alpha, W, b)
    st.verbose = verbose
    XXt = _Kernels(design)
    status = "max_iter"
    step = 0
    for step in range(1, max_steps + 1):
        theta = loss.gradient(st.Z)
        G = design.backward(theta)
        lb = certifier.bound(theta, G)
        gap = st.F - certifier.best
        if history is not None:
            history.append((design.n_passes, st.F, certifier.best))
        if verbose:
            print(f"[newton] iter {step:5d}  objective {st.F:.10g}  bound {lb:.10g}  "
                  f"gap {gap:.3e}  width {st.active.size}")
        if gap <= tol * max(abs(st.F), 1e-12):
            status = "optimal"
            break
        st.gap = gap / max(abs(st.F), 1e-12)
        grow(st, G, lipschitz)
        if not _newton_step(st, XXt, fit_intercept):
            status = "stalled"
            break
    return st.W, st.b, step, status


class _Kernels:
    """``X X^T`` in the precision a direction asks for, each made on first use.

    Single precision from a single-precision ``X`` (measured 0.7 ms against
    1.3 ms for the double product and its rounding at n=1000, d=20); double
    only should a direction need it (``_newton_step``'s fallback, or below
    ``SINGLE_MIN_SAMPLES``).
    """

    def __init__(self, design):
        self.design, self.cache = design, {}

    def get(self, dtype):
        if dtype not in self.cache:
            self.design.n_passes += 1
            X = self.design.X.astype(dtype)
            K = X @ X.T
            self.cache[dtype] = K.toarray() if hasattr(K, "toarray") else np.asarray(K)
        return self.cache[dtype]


def _newton_step(st, XXt, fit_intercept):
    """One damped Newton step on the active groups; False when no decrease was found.

    The direction is computed in single precision first (the n x n kernel,
    its Cholesky factor and the solves: measured 2.5x faster at n=2000),
    and again in double precision when that one finds no decrease or the
    single-precision capacitance is not positive definite. Only the
    direction is rounded: the step is accepted on the objective in double
    precision, and the certificate never sees single precision. Below
    ``SINGLE_MIN_SAMPLES`` samples, double precision only. A direction by CG
    on an earlier factor (``CG_RTOL``) that finds no decrease is computed
    again from a fresh factor first.
    """
    for dtype in (np.float32, np.float64) if st.design.n >= SINGLE_MIN_SAMPLES else (np.float64,):
        retry = True
        while retry:
            st.used_cg = False
            try:
                # A trial point far out may overflow the loss: it then fails the
                # decrease test (inf or nan) and the step is halved.
                with np.errstate(over="ignore", invalid="ignore"):
                    if _try_step(st, XXt.get(dtype), fit_intercept, dtype):
                        return True
            except np.linalg.LinAlgError:
                pass
            retry = st.used_cg
            st.factors = None  # the retry factors afresh
    return False


def _patterns(st, act):
    """Float patterns of the active groups, all and per output; kept while ``act`` holds.

    C-ordered: the products with them in p_inv run on contiguous rows (a
    gathered boolean slice of the F-ordered patterns made each p_inv three
    times slower at n=2000). Gathered once per active set (about 1 ms per
    step at n=1000, 100 groups).
    """
    if st.patterns is None or not np.array_equal(st.patterns[0], act):
        design = st.design
        masks = np.ascontiguousarray(design.masks[:, design.gate_of[act]], dtype=float)
        out = design.output_of[act]
        per_output = {c: masks if np.all(out == c) else np.ascontiguousarray(masks[:, out == c])
                      for c in np.unique(out)}
        st.patterns = (act.copy(), masks, per_output)
    return st.patterns[1], st.patterns[2]


def _try_step(st, XXt, fit_intercept, dtype):
    design, loss, alpha = st.design, st.loss, st.alpha
    X = design.X
    theta = loss.gradient(st.Z)
    hz = loss_curvature(loss, st.Z)
    act = st.active
    Wa = st.W[:, act]
    norms = np.sqrt(np.sum(Wa**2, axis=0))
    U = Wa / norms
    masks, per_output = _patterns(st, act)
    # Gradient of the smooth restriction: (D_j X)^T theta_c + alpha u_j.
    Gw = alpha * U
    for c, mc in per_output.items():
        sel = design.output_of[act] == c
        Gw[:, sel] += masked_back(X, mc, theta[:, c])
    design.n_passes += len(per_output)  # one product with X per output
    Vdir = np.zeros_like(Wa)
    beta = np.zeros(design.k)
    # An earlier factor preconditions CG (newton_cg.py): of the same active
    # set as it is, of a changed one updated (newton_update.py).
    bases = st.factors if (st.factors is not None and st.gap > CG_MIN_GAP) else {}
    st.factors = None  # those not reused are freed before the new factors are built
    factors = {}
    for c in range(design.k):
        sel = np.flatnonzero(design.output_of[act] == c)
        gb = float(theta[:, c].sum()) if fit_intercept else 0.0
        if sel.size == 0:
            if fit_intercept and hz[:, c].sum() > 0:
                beta[c] = -gb / hz[:, c].sum()
            continue
        mc = per_output[c]
        found, base = None, bases.pop(c, None)
        pre = _preconditioner(st, base, act[sel], norms[sel], U[:, sel], st.img[:, sel], mc,
                              fit_intercept)
        if pre is not None:
            apply = hessian_product(X, mc, norms[sel], U[:, sel], hz[:, c], alpha,
                                    fit_intercept)
            # The earlier point's own solve is positive definite; an updated
            # one need not be (its true residual is checked).
            found = pcg_direction(apply, pre, Gw[:, sel], gb, CG_RTOL, CG_MAX_ITER,
                                  ABORT_AFTER_TWO, None if pre is base[3] else CG_EUCLID)
            st.cg_iters += found[2]
            # Per iteration: the Hessian's two passes, the preconditioner's two.
            design.n_passes += 4 * found[2] + 2
            if found[0] is None:
                found = None
            st.used_cg |= found is not None
            factors[c] = base
        if found is None:
            base = pre = None
            solve = _direction(X, XXt, mc, norms[sel], U[:, sel], st.img[:, sel], hz[:, c],
                               alpha, fit_intercept, dtype)
            found = solve(Gw[:, sel], gb)
            factors[c] = (act[sel], solve.base, hz[:, c].copy(), solve)
            st.n_factors += 1
            # Products of the solve, and the intercept's column.
            design.n_passes += 2 + (1 if fit_intercept else 0)
        Vdir[:, sel] = found[0]
        beta[c] = found[1]
    # Not kept when groups entered at a tiny size: their norms change by
    # orders of magnitude in this step (measured: CG on such a factor failed).
    st.factors = None if st.tiny_entries else factors
    img_v = np.asarray(X @ Vdir) * masks
    design.n_passes += 1
    radial = np.sum(U * Vdir, axis=0)
    s = 1.0
    for _ in range(MAX_HALVINGS):
        Wn = Wa + s * Vdir
        # A group carried through zero (or nearly) leaves the active set.
        gone = norms + s * radial <= 1e-12 * norms
        img_n = st.img + s * img_v
        Wn[:, gone] = 0.0
        img_n[:, gone] = 0.0
        bn = st.b + s * beta if fit_intercept else st.b
        Zn = st._predict(img_n, act, bn)
        Wfull = st.W.copy()
        Wfull[:, act] = Wn
        Fn = st.objective(Zn, Wfull)
        # A full step is also taken when it changes the objective by rounding
        # only: near the optimum the decrease (the square of the gradient's)
        # falls below the objective's rounding while the gradient, hence the
        # certificate, still improves (fits to a gap of 1e-8 stalled there).
        if Fn < st.F or (s == 1.0 and Fn <= st.F + 4 * np.finfo(float).eps * abs(st.F)):
            if st.verbose:
                print(f"    step {s:.3g} dropped {int(gone.sum())} factors {st.n_factors} "
                      f"CG iterations {st.cg_iters}")
            st.W, st.b, st.Z, st.F = Wfull, bn, Zn, Fn
            keep = ~gone
            st.barred = act[gone] if s < 1.0 else st.barred[:0]
            st.clean = s == 1.0 and not np.any(gone)
            st.active, st.img = act[keep], img_n[:, keep]
            return True
        if s == 1.0 and np.any(gone):
            # The full step failed: first try only removing the groups it
            # carries through zero (the Newton model is poor while they stay).
            keep = ~gone
            Wp = st.W.copy()
            Wp[:, act[gone]] = 0.0
            Zp = st._predict(st.img[:, keep], act[keep], st.b)
            Fp = st.objective(Zp, Wp)
            if Fp < st.F:
                if st.verbose:
                    print(f"    pruned {int(gone.sum())}")
                st.W, st.Z, st.F = Wp, Zp, Fp
                st.barred = act[gone]
                st.clean = False
                st.active, st.img = act[keep], st.img[:, keep]
                return True
        s *= 0.5
    return False
