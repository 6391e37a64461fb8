"""Groups entering the active set of the Newton steps (``newton.py``)."""

import numpy as np
import scipy.sparse as sp

from .newton_cg import loss_curvature

__all__ = ["grow"]

#: A group entering with a dual norm below ``alpha (1 + ENTRY_MARGIN)`` (late,
#: near the optimum) starts at the minimizer of its own quadratic model, the
#: others fixed (``_entry_weight``), not at a tiny size: from a tiny size
#: the penalty's curvature ``(I - u u^T) / e_j`` pins its direction, and a
#: second full step was needed to turn it, while the certificate waited on
#: it. Measured (n=2000, d=50, 500 gates, the scnn line of
#: benchmarks/bench_relu.py): the gap after the entry step 8.5e-5 -> 6.6e-6,
#: one factorization fewer at tol 1e-4; n=1000, d=20, 100 gates, alpha=1e-3:
#: same steps, final gap 4.3e-5 -> 1.1e-6. Entries far above alpha keep the
#: tiny start (sized by their own model there, the steps were damped: 11
#: instead of 7 on the latter problem).
ENTRY_MARGIN = 1e-2
#: ... for at most this many entering groups at once (each costs a pass over
#: its rows, ``n d^2``, and a d x d eigendecomposition).
ENTRY_MAX_GROUPS = 5


def grow(st, G, lipschitz):
    """Bring in every inactive group whose dual norm exceeds alpha."""
    alpha = st.alpha
    st.tiny_entries = False
    norms = np.sqrt(np.sum(G**2, axis=0))
    inactive = np.ones(G.shape[1], dtype=bool)
    inactive[st.active] = False
    # A group a damped step carried through zero waits one step: re-entering
    # at once, it was carried through zero again by the next damped step
    # (measured at n=1000, d=20, 100 gates, alpha=1e-3: 13 steps, 8 of them
    # such cycles, from a 15% gap; 9 steps when they wait).
    inactive[st.barred] = False
    # Nor does any group enter after a damped step or one that dropped groups:
    # at such a point the dual norms of groups the step is still moving away
    # from exceed alpha, and their entries made a cycle (diabetes, alpha=1e-3,
    # a switch at a 90% gap: a group dropped by each damped step re-entered
    # at the next, 50 steps with steps of 1e-3; entries after a full step
    # only: 9 steps to a gap of 1e-6).
    if not st.clean:
        return
    new = np.flatnonzero(inactive & (norms > alpha * (1 + 1e-9)))
    if new.size == 0:
        return
    # Tiny along the descent direction: the Newton step sizes it (the radial
    # direction carries no penalty curvature, so the loss decides its length);
    # late entries (ENTRY_MARGIN) at the minimizer of their own model instead.
    size = 1e-6 * (float(np.median(np.sqrt(np.sum(st.W[:, st.active] ** 2, axis=0))))
                   if st.active.size else alpha / lipschitz)
    st.W[:, new] = -G[:, new] / norms[new] * size
    design = st.design
    late = new[norms[new] <= alpha * (1 + ENTRY_MARGIN)]
    placed = 0
    if st.active.size and 0 < late.size <= ENTRY_MAX_GROUPS and design.d <= design.n:
        hz = loss_curvature(st.loss, st.Z)
        X = design.X
        for j in late:
            # Curvature of the loss along the group: (D_j X)^T Hz (D_j X).
            rows = design.masks[:, design.gate_of[j]] * hz[:, design.output_of[j]]
            B = X.T @ (X.multiply(rows[:, None]).tocsr() if sp.issparse(X)
                       else X * rows[:, None])
            B = B.toarray() if sp.issparse(B) else np.asarray(B)
            w = _entry_weight(B, G[:, j], alpha)
            if w is not None:
                st.W[:, j] = w
                placed += 1
        design.n_passes += late.size
    # The next step's factor then sees their tiny sizes (a penalty curvature
    # the step changes by orders of magnitude): not kept for CG (newton.py).
    st.tiny_entries = placed < new.size
    st.set_active(np.sort(np.concatenate([st.active, new])))


def _entry_weight(B, g, alpha, n_bisect=80):
    """Minimizer of ``g^T w + w^T B w / 2 + alpha ||w||`` for ``||g|| > alpha``, B >= 0.

    Stationarity gives ``w = -(B + lam I)^-1 g`` with ``lam = alpha / ||w||``;
    ``lam ||(B + lam I)^-1 g||`` increases with ``lam`` (towards ``||g||``),
    so its crossing of ``alpha`` is found by bisection on ``log lam`` in B's
    eigenbasis; the larger end is returned (a slightly shorter ``w``). None
    when the model is unbounded below (B singular with more than ``alpha``
    of ``g`` in its null space; not met when ``g = (D_j X)^T theta`` and the
    curvature is positive wherever ``theta`` is not zero).
    """
    mu, Q = np.linalg.eigh(B)
    mu = np.maximum(mu, 0.0)
    gq = Q.T @ g
    top = float(mu.max(initial=0.0))
    floor = 1e-12 * max(top, 1e-300)
    lo, hi = floor, 1e12 * max(top, float(np.linalg.norm(g)), 1e-300)
    for _ in range(n_bisect):
        lam = np.sqrt(lo * hi)
        if lam * np.linalg.norm(gq / (mu + lam)) > alpha:
            hi = lam
        else:
            lo = lam
    if hi <= 10 * floor:
        return None
    return -Q @ (gq / (mu + hi))
