"""The exact program over all outputs by the interior-point method of ``ipm.py``.

For the squared and logistic losses the program separates over outputs:
each is solved by :func:`~.ipm.solve_output_ipm` and certified by its own
:class:`DualCertifier` (the lower bound is their sum), the interior point's
residue columns are zeroed, and the result is assembled in the layout of
``design`` (columns ``[U | V]``).
"""

import math

import numpy as np
import scipy.sparse as sp
from scipy.optimize import nnls

from .certificate import DualCertifier
from .design import MaskedDesign
from .gated import ReLUSolution
from .ipm import IPM_LOSSES, NNLS_ROWS, RESCUE_MAX_COLUMNS, solve_output_ipm
from .weighted_losses import BoundLoss

__all__ = ["ipm_memory", "solve_exact_ipm"]

#: Columns below these fractions of the largest are tried as zeros, largest first.
DROP_FRACTIONS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7)
#: ... spending at most this share of the certified gap's room below tol (all
#: of it moved bench_relu.py's small fit 7.8e-5 above cvxpy's optimum at tol
#: 1e-4, where the interior point itself was 1e-5 above it).
DROP_SHARE = 0.5


def solve_exact_ipm(design, loss, alpha, gates, gate_images=None, *, fit_intercept, tol,
                    max_iter, verbose=0, rng=None, memory_limit=None):
    """The exact program by :func:`solve_output_ipm`, one output at a time.

    Returns a :class:`ReLUSolution` (columns ``[U | V]`` as ``design``), or
    None when the method does not apply (multinomial loss, or cones
    without interior at the gates): the caller then uses another solver.
    The lower bound is the sum of the outputs' certified bounds (the
    program separates over outputs). ``memory_limit`` (bytes, or None): a
    stuck end game on the Woodbury system may switch to the dense one
    within it (``ipm.RESCUE_ITERS``).
    """
    if loss.name not in IPM_LOSSES:
        return None
    X = design.X
    X = X.toarray() if sp.issparse(X) else np.asarray(X, dtype=float)
    n, d, p, k = design.n, design.d, design.p, design.k
    q = design.q
    pi = loss.pi[:, 0]
    W_all = np.zeros((d, 2 * q))
    b_all = np.zeros(k)
    lower, n_iter, statuses = 0.0, 0, []
    signs = np.r_[np.ones(p), -np.ones(p)]
    Mf = design.Mf if design.Mf is not None else design.masks.astype(float)
    n_rows = math.ceil(NNLS_ROWS * d)  # candidate rows of the NNLS refinement
    dense_fits = memory_limit is not None and p * d <= RESCUE_MAX_COLUMNS \
        and ipm_memory(n, d, p, dense=True) <= memory_limit
    Sg2 = np.where(np.hstack([design.masks, design.masks]), 1.0, -1.0)
    # One output's design (the design itself for one output) for the certifiers.
    design_1 = design if k == 1 and design.X is X else MaskedDesign(X, design.masks, 1)
    total = 0.0
    for c in range(k):
        loss_c = BoundLoss(loss.name, loss.Y[:, [c]], pi)
        set_up = design_1.n_passes
        cert = DualCertifier(loss_c, design_1, alpha, fit_intercept, signs)
        set_up = 0 if design_1 is design else design_1.n_passes - set_up

        def certify(W, b, theta, Lam, refine, cert=cert):
            design.n_passes += 2
            Ch = X.T @ (Mf * theta[:, None])
            C = np.hstack([Ch, -Ch])  # the columns of u_j and v_j differ only in sign
            cols = C - X.T @ (Sg2 * Lam)
            cert.bound(theta[:, None], cols)
            # The best multipliers for this theta, for the columns above alpha.
            over = np.flatnonzero(np.linalg.norm(cols, axis=0) > alpha) if refine else ()
            if len(over):
                for j in over:
                    # Candidate rows: those of the largest multipliers (the
                    # optimal multipliers live on at most d tight rows).
                    rows = np.argpartition(-Lam[:, j], n_rows)[:n_rows] \
                        if n > n_rows else np.arange(n)
                    A = X[rows].T * Sg2[rows, j]
                    lam, _ = nnls(A, C[:, j], maxiter=50 * d)
                    cols[:, j] = C[:, j] - A @ lam
                cert.bound(theta[:, None], cols)
            return cert.best

        def objective(W, b, loss_c=loss_c):
            design.n_passes += 1
            z = np.einsum("ij,ij->i", Mf, X @ (W[:, :p] - W[:, p:])) + b
            return loss_c.value(z[:, None]) + alpha * float(np.sum(np.linalg.norm(W, axis=0)))

        out = solve_output_ipm(X, design.masks, loss_c, alpha, gates,
                               fit_intercept=fit_intercept, tol=tol, max_iter=max_iter,
                               certify=certify, verbose=verbose, dense_fits=dense_fits,
                               b0=float(loss_c.best_constant()[0]) if fit_intercept else 0.0)
        if out is None:
            return None
        W, b, it, status, passes = out
        design.n_passes += passes + set_up  # (the certifier's set-up passes)
        W, obj_c = _drop_residue(W, objective(W, b), lambda W0: objective(W0, b), cert.best,
                                 tol)
        total += obj_c
        cols = np.r_[c * p + np.arange(p), q + c * p + np.arange(p)]
        W_all[:, cols] = W
        b_all[c] = b
        lower += cert.best
        n_iter += it
        statuses.append(status)
    # The objective separates over outputs (as the loss and the penalty do).
    status = "optimal" if all(s == "optimal" for s in statuses) else statuses[-1]
    return ReLUSolution(W_all, b_all, total, min(lower, total), n_iter, design.n_passes,
                        status, [])


def _drop_residue(W, obj, objective, bound, tol):
    """Zero the columns an interior point leaves tiny (it never returns exact zeros).

    The largest threshold (relative to the largest column) whose network is
    no worse than ``W`` or spends at most DROP_SHARE of the gap that ``W``
    leaves below ``tol`` (so it stays certified within ``tol`` of ``bound``).
    Returns the weights and their objective.
    """
    norms = np.linalg.norm(W, axis=0)
    top = float(np.max(norms, initial=0.0))
    spare = DROP_SHARE * (tol * max(abs(obj), 1e-12) - (obj - bound))
    for frac in DROP_FRACTIONS:
        small = norms < frac * top
        if not np.any(small):
            continue
        W0 = np.where(small, 0.0, W)
        obj0 = objective(W0)
        if obj0 - obj <= max(spare, 0.0):
            return W0, obj0
    return W, obj


def ipm_memory(n, d, p, dense=None):
    """Bytes the interior-point method allocates for one output (outputs run in turn).

    The rows' outer products (n d^2), the cone slacks, multipliers and
    their steps (about twelve n x 2p arrays), and either the gated design
    and its weighted copy (once) with the pd x pd Newton matrix and its fixed
    part (``p d <= n``) or the Woodbury factors (n x pd, two n x n, the d x d
    blocks with the gated Gram matrices and the preconditioner's
    eigenvectors); the rows' barrier weights are one more n x 2p array.
    ``dense``: True for the dense system whatever ``p d`` (None: as chosen).
    """
    P = p * d
    dense = P <= n if dense is None else dense
    system = 2 * n * P + 2 * (P + 1) ** 2 + 12 * p * d * d if dense \
        else n * P + 2 * n * n + 9 * p * d * d
    return int(8 * (n * d * d + 13 * n * 2 * p + system + n * d))
