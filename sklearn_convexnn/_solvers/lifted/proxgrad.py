"""Accelerated proximal gradient on the full lifted matrices (sphere constraint).

The lifted problem (``lifted.py``) has one pair of PSD matrices ``(Z, Z')``
of size ``q = p + 1`` per (output ``o``, block ``r``)::

    min  loss(Yhat) + alpha * sum (Z4 + Z4'),   Yhat_io = b_o + sum_r <Phi_ir, Z_or - Z'_or>
    s.t. Z, Z' PSD,  tr(Z1) = Z4,  tr(Z1') = Z4'

with ``Phi_ir = [[a Q_ir, b L_ir / 2], [b L_ir^T / 2, c s_ir]]`` (pooled
moments of the block's rows). The constraint set of one matrix is the PSD
cone cut by the hyperplane ``<G, Z> = 0``, ``G = diag(I, -1)``; its
Euclidean projection is ``Proj_PSD(V - mu G)`` for the scalar ``mu`` that
makes ``<G, Proj_PSD(V - mu G)> = 0`` (a monotone function of ``mu``, solved
by safeguarded semismooth Newton: one eigendecomposition per step, warm
started from the previous iteration's ``mu``, so one or two steps per
iteration). All matrices are projected at once (batched ``eigh``).

Each iteration costs one backward pass (the gradient ``sum_i theta_io
Phi_ir``: ``P^T diag(w) P``, ``P^T w``, ``sum w`` with ``w`` the pooled
residual weights) and one forward pass (the predictions of the new point;
the extrapolated point's predictions are the same combination of the
previous two, the map being linear), plus a forward pass per backtracking
step. FISTA with gradient-based adaptive restarts (O'Donoghue & Candes) and
backtracking on the Lipschitz constant, which also shrinks when steps pass
easily.

Preconditioning, all exact reformulations:

* *Intercept.* The lifted features are centred and the intercept absorbs
  their mean. The stiff direction of the raw problem (the trace of ``Z1``:
  every neuron adds ``a ||x||^2 + c`` on average; condition number about
  ``(d + 2) / 2`` for Gaussian-like data) is then decoupled: for the squared
  loss the intercept is exactly the target mean, for the others nearly.
* *Activation and feature scales.* ``Z = S W S`` with ``S = diag(s)``
  positive (a congruence keeps PSD; the trace constraint becomes ``sum_j
  s_j^2 W_jj = s_q^2 W_qq``, still a hyperplane through the PSD cone),
  with ``s`` equilibrating the curvature of the quadratic entries (one per
  feature) against the linear ones (activation ``a`` versus ``b``).

Stopping uses the certificate (``certificate.py``): the gradient of an
iteration is ``sum_i theta_i Phi_i`` for the centred dual point ``theta``,
i.e. the dual quadratic of the exact check ``max_{||u|| = 1} |theta_o^T
sigma_r(u)| <= alpha``, which is bounded by a batched trust-region dual
(one ``eigh`` per block); scaling ``theta`` into the check's feasible set
gives a certified lower bound at no extra data pass. The solver stops when
``(objective - bound) / |objective| <= tol``.

With explicit lifted features (pooled CNN patches: the features are tiny,
``n x regions x q (q + 1) / 2``, but their pixel products are nearly
collinear, condition numbers 1e6 and more after whitening) the first-order
phase only finds the support: after ``POLISH_AFTER`` iterations the
matrices are written as neurons and polished by L-BFGS (the Burer-Monteiro
form, ``proxgrad_polish.py``): one L-BFGS run per round with the
certificate every few iterations, stopped when certified or when the bound
stalls; then the exact dual check adds a neuron wherever it is violated by
more than ``tol`` and every matrix is re-compressed to its rank.
``method="admm"`` (``proxgrad_admm.py``) is an alternative first phase
with the exact Hessian metric of the features (factored once), kept for
experiments: on digits it was slower than FISTA plus the polish.

The returned network comes from the rank-one (neural) decomposition of the
final matrices: a rank-``r`` solution gives ``r`` neurons, so the network is
as sparse as the optimum the projection finds.

Modules: this one holds the driver (preconditioning, starting point, the
phases in turn, the network of the result); ``proxgrad_fista.py`` the FISTA
loop, ``psd_projection.py`` the prox, ``sphere_dual.py`` the certificate,
``lifted_operators.py`` the data passes and the preconditioner,
``proxgrad_polish.py`` and ``proxgrad_admm.py`` the two other phases.

Measured (benchmarks/bench_polynet.py, bench_cnn.py, one loaded 2-core
machine, single-threaded BLAS): planted n=100 000, d=100, alpha=1e-2 to a
certified gap of 1e-3 in 182 data passes (about 270 passes of CPU time)
with the optimum's 5 neurons (lowrank, since it compresses its neurons
to the rank of their lifted matrices: 72-79 passes of CPU time, 7
neurons; it was ~1200 passes and 199 neurons before); digits CNN (2x2 regions, 10 outputs,
multinomial, alpha=1e-4, RMS pixel 1) certified to 1e-4 in about 1800 data
passes and 2.5 CPU seconds (X/16 input) and 2600 passes, 3.5 s
(StandardScaler), against 166 s for cvxpy/Clarabel in issue 11.
"""

import hashlib
import warnings
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning

from ..shared.intercept import constant_fit
from ..shared.scoped_cache import ScopedCache
from .certificate import network_from_lifted
from .lifted import LiftedBlock
from .lifted_operators import ExplicitOperator, PassOperator, preconditioner
from .proxgrad_admm import solve_admm
from .proxgrad_fista import differences, penalized_objective, run_fista
from .proxgrad_polish import polish_neurons
from .psd_projection import RANK_RTOL, project_psd_hyperplane, sym
from .sphere_dual import DualBound

__all__ = ["PROXGRAD_LOSSES", "RANK_RTOL", "ProxGradResult", "estimate_proxgrad_bytes",
           "operator_cache", "solve_lifted_proxgrad"]

#: Losses with a Lipschitz gradient, and that curvature bound (per sample).
PROXGRAD_LOSSES = {"squared": 1.0, "huber": 1.0, "logistic": 0.25, "multinomial": 0.5}

#: The lifted features (n x blocks x q (q + 1) / 2) are formed explicitly
#: below this many bytes; above it every pass goes through the rows.
EXPLICIT_BYTES = 2**28
#: method=None takes ADMM (Hessian metric, factored once) up to this many
#: lifted coordinates per output.
ADMM_MAX_DIM = 1200
#: With polishing, FISTA runs this many iterations to find the support first.
POLISH_AFTER = 100
#: ... and this many from a warm start (a path's previous network: the
#: support is nearly known, the polish starts from its neurons and prices
#: new ones itself; measured on the paths of benchmarks/bench_path.py, with
#: the row-wise polish: diabetes 0.77-0.80 s against 0.90-0.94 s with 5 FISTA
#: iterations first, planted n=20 000 the same).
POLISH_AFTER_WARM = 0


def estimate_proxgrad_bytes(n_samples, n_rows, dims, n_outputs):
    """Bytes proxgrad allocates beyond the data: its matrices and features.

    The whitened rows (one copy per block), the explicit lifted features when
    they fit ``EXPLICIT_BYTES``, and a few copies of the (k, R, 2, q, q)
    iterates.
    """
    R, q = len(dims), max(dims) + 1
    h = q * (q + 1) // 2
    explicit = 8 * n_samples * R * h
    rows = 8 * n_rows * (q - 1) * R
    return int(rows + (explicit if explicit <= EXPLICIT_BYTES else 0)
               + 8 * 8 * n_outputs * R * 2 * q * q)


@dataclass
class ProxGradResult:
    """Solution of ``solve_lifted_proxgrad`` in the caller's units.

    ``Z[o][r] = (Zpos, Zneg)``; ``neurons`` (m, p), ``weights`` (m, k),
    ``block_index`` (m,) their neural decomposition; ``theta`` the dual
    point (n, k) of ``lower_bound``; ``gap`` the relative certified gap;
    ``n_passes`` data passes (forward or backward); ``rank`` the number of
    neurons (the summed rank of the matrices).
    """

    Z: list
    neurons: np.ndarray
    weights: np.ndarray
    block_index: np.ndarray
    intercept: np.ndarray
    objective: float
    lower_bound: float
    gap: float
    theta: np.ndarray
    n_iter: int
    n_passes: int
    rank: int
    status: str


def solve_lifted_proxgrad(blocks, Y, loss, activation, alpha, *, fit_intercept=True,
                          max_iter=1000, tol=1e-6, verbose=False, warm_start=None,
                          explicit=None, method=None, polish=None, polish_evals=None,
                          polish_after=None):
    """Solve the lifted sphere problem by accelerated proximal gradient.

    Parameters
    ----------
    blocks : list of LiftedBlock
        All of the same dimension ``p`` (a dense net: one block ``X``; a
        CNN: one block per pooling region, sharing the patches).
    Y : ndarray of shape (n, k)
        Encoded targets.
    loss : Loss
        One of ``PROXGRAD_LOSSES`` (squared, huber, logistic, multinomial).
    activation : tuple (a, b, c)
    alpha : float
        l1 weight of the output layer.
    fit_intercept : bool
    max_iter : int
        Iterations (each one backward and at least one forward data pass).
    tol : float
        Target relative certified gap ``(objective - lower_bound) / |objective|``.
    verbose : bool
        Print one line per iteration (objective, bound, gap, rank, step).
    warm_start : tuple (neurons, weights, block_index, intercept) or None
        A previous network to start from.
    explicit : bool or None
        Form the lifted features explicitly (fast for small ``p``, memory
        ``8 n len(blocks) q (q + 1) / 2`` bytes) or stream passes through
        the rows; ``None`` decides by that memory (``EXPLICIT_BYTES``).

    method : {"fista", "admm"} or None
        "fista": accelerated proximal gradient (Euclidean metric after the
        preconditioning congruence; best when the lifted features are well
        conditioned, e.g. Gaussian-like dense inputs with n >> p^2).
        "admm": the same splitting with the exact Hessian metric of the
        lifted features (``M^T M / n``, factored once; needs the explicit
        features), immune to their conditioning: the choice for patches of
        natural images, whose pixel products are nearly collinear.
        ``None``: "admm" when the features are explicit and at most
        ``ADMM_MAX_DIM`` per output, else "fista".
    polish_after : int or None
        FISTA iterations before the polish (``None``: ``POLISH_AFTER``, or
        ``POLISH_AFTER_WARM`` from a warm start).

    Returns
    -------
    ProxGradResult

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_convexnn._solvers.lifted.lifted import LiftedBlock
    >>> from sklearn_convexnn._solvers.shared.losses import get_loss
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 4))
    >>> t = X @ [0.6, 0.8, 0, 0]
    >>> Y = (0.09 * t**2 + 0.5 * t + 0.47)[:, None]
    >>> res = solve_lifted_proxgrad([LiftedBlock(X)], Y, get_loss("squared"),
    ...                             (0.09, 0.5, 0.47), 1e-4, tol=1e-8)
    >>> big = np.abs(res.weights[:, 0]) > 1e-6      # the estimators prune at 1e-7
    >>> res.status, bool(res.gap <= 1e-8), int(big.sum())
    ('optimal', True, 1)
    >>> np.round(res.neurons[big][0], 3) + 0.0
    array([0.6, 0.8, 0. , 0. ])
    """
    if loss.name not in PROXGRAD_LOSSES:
        raise ValueError(
            f"The proxgrad solver needs a loss with a Lipschitz gradient (one of "
            f"{sorted(PROXGRAD_LOSSES)}); got {loss.name!r}. Use solver='cvxpy' for it."
        )
    dims = {blk.dim for blk in blocks}
    if len(dims) != 1:
        raise ValueError(f"proxgrad needs blocks of one dimension; got {sorted(dims)}.")
    Y = np.asarray(Y, dtype=float)
    n, k = Y.shape
    R, p = len(blocks), dims.pop()
    q = p + 1
    alpha = float(alpha)
    if explicit is None:
        explicit = 8.0 * n * R * q * (q + 1) / 2 <= EXPLICIT_BYTES
    T11, s_q, lam_w, op = _operator(blocks, activation, fit_intercept, explicit)
    # Z_r = T_r W_r T_r^T per block: tr(Z1) = Z4 is <Gw_r, W_r> = 0.
    T = np.zeros((R, q, q))
    T[:, :p, :p] = T11
    T[:, p, p] = s_q
    T_inv = np.linalg.inv(T)
    Gw = np.zeros((R, q, q))
    Gw[:, :p, :p] = T11.transpose(0, 2, 1) @ T11
    Gw[:, p, p] = -s_q**2
    curv = PROXGRAD_LOSSES[loss.name]

    # Penalty alpha * Z4 = alpha * s_q^2 * W_qq on every matrix (both signs).
    pen = alpha * s_q**2
    shape = (k, R, 2, q, q)

    # Starting point.
    W = np.zeros(shape)
    if warm_start is not None:
        Ti = T_inv[None, :, None]
        W = Ti @ _lifted_from_network(*warm_start, k=k, R=R, q=q) @ Ti.transpose(0, 1, 2, 4, 3)
    b = constant_fit(Y, loss) if fit_intercept else np.zeros(k)
    if warm_start is not None and fit_intercept:
        b = np.array(warm_start[3], dtype=float).reshape(-1) + op.mean_output(differences(W))
    mu = np.zeros(k * R * 2)
    Gw = np.broadcast_to(Gw[None, :, None], shape).reshape(-1, q, q)
    W, mu, _ = project_psd_hyperplane(W.reshape(-1, q, q), Gw, mu)
    W = W.reshape(shape)
    dual = DualBound(op, Y, loss, alpha, T_inv, fit_intercept)

    if method is None:
        method = "fista"
    if polish is None:
        polish = explicit
    if polish_evals is None:
        polish_evals = 20 * max_iter
    if polish_after is None:
        polish_after = POLISH_AFTER if warm_start is None else POLISH_AFTER_WARM
    polish_after = int(polish_after)
    n_fista = min(max_iter, polish_after) if polish else max_iter
    if polish and n_fista == 0 and method == "fista" and R == 1 and blocks[0].pool is None:
        # Straight to the polish of one block of rows, which evaluates its
        # start itself (through the rows): no pass over the lifted features.
        F, Yhat, passes = np.inf, None, 0
    else:
        Yhat = op.forward(differences(W)) + b
        F = penalized_objective(loss, Yhat, Y, W, pen)
        passes = 1
    if method == "admm":
        if not explicit:
            raise ValueError("method='admm' needs the explicit lifted features.")
        out = solve_admm(op, Y, loss, curv, W, b, Gw, pen, dual, fit_intercept, max_iter,
                         tol, verbose)
        return _result(*out, T, op, tol, fit_intercept)

    best, bound, theta_best, status, gap, rank, it, passes = run_fista(
        op, Y, loss, curv, (F, W, b, Yhat), Gw, mu, pen, dual,
        # A warm start runs a few steps: backtracking from the cheap guess.
        scale=op.lipschitz_guess() if explicit and warm_start is None else lam_w,
        fit_intercept=fit_intercept,
        n_iter=n_fista, tol=tol, verbose=verbose, explicit=explicit, polish=polish,
        passes=passes)
    if polish and status != "optimal":
        best, bound, theta_best, status, gap, extra, evals = polish_neurons(
            op, Y, loss, curv, best, T, T_inv, s_q, pen, dual, fit_intercept, tol,
            max(polish_evals, 1), verbose, bound, theta_best, warm=warm_start is not None)
        passes += 2 * evals
        it += extra
    return _result(best, bound, theta_best, status, gap, rank, it, passes, T, op, tol,
                   fit_intercept)


#: While a path runs (``operator_cache``): the preconditioner and the data
#: operator of each data set, which do not depend on alpha or the targets.
_CACHE = ScopedCache()


@contextmanager
def operator_cache():
    """Keep the preconditioner and lifted operator across the solves inside.

    A regularization path solves the same data at every alpha: the explicit
    lifted features, their moments and the preconditioning congruence are
    built once, keyed on the content of the blocks (a digest of their rows
    and pooling; blocks made of the very arrays of the cached entry skip
    the digest, so the arrays must not change in place inside the context),
    and dropped when the context exits.
    """
    with _CACHE.scope():
        yield


def _operator(blocks, activation, fit_intercept, explicit):
    """``(T11, s_q, lam_w, op)``: the preconditioner and the operator in its units."""
    key = None
    if _CACHE.store is not None:
        # The same row arrays as the previous fit (a path passes its X to
        # every fit; the cache holds them alive): no digest needed.
        for entry in _CACHE.store.values():
            rows = entry[4]
            if len(rows) == len(blocks) and all(
                    a is blk.P and pa is blk.pool for (a, pa), blk in zip(rows, blocks)) \
                    and entry[5] == (tuple(float(v) for v in activation), bool(fit_intercept),
                                     bool(explicit)):
                return entry[:4]
        key = (_digest(blocks), tuple(float(v) for v in activation), bool(fit_intercept),
               bool(explicit))
        if key in _CACHE.store:
            return _CACHE.store[key][:4]
    T11, s_q, lam_w = preconditioner(blocks, activation, fit_intercept)
    a, b_act, c_act = (float(v) for v in activation)
    wblocks = [LiftedBlock(blk.P @ T11[r], blk.pool) for r, blk in enumerate(blocks)]
    wact = (a, b_act * s_q, c_act * s_q**2)
    op = (ExplicitOperator if explicit else PassOperator)(wblocks, wact, fit_intercept)
    if key is not None:
        _CACHE.store.clear()  # one data set at a time: the path's
        _CACHE.store[key] = (T11, s_q, lam_w, op, [(blk.P, blk.pool) for blk in blocks], key[1:])
    return T11, s_q, lam_w, op


def _digest(blocks):
    """A digest of the blocks' content (rows and pooling)."""
    h = hashlib.blake2b(digest_size=16)
    for blk in blocks:
        P = np.ascontiguousarray(blk.P, dtype=float)
        h.update(repr(P.shape).encode())
        h.update(P.data)
        pool = blk.pool
        if pool is None:
            h.update(b"none")
        else:
            pool = sp.csr_matrix(pool) if sp.issparse(pool) else np.asarray(pool)
            parts = (pool.data, pool.indices, pool.indptr) if sp.issparse(pool) else (pool,)
            h.update(repr(pool.shape).encode())
            for part in parts:
                h.update(np.ascontiguousarray(part).data)
    return h.hexdigest()


def _result(best, bound, theta_best, status, gap, rank, it, passes, T, op, tol,
            fit_intercept):
    F, W, b, _ = best
    k, R = W.shape[:2]
    Tt = T.transpose(0, 2, 1)
    D_pos = T @ W[:, :, 0] @ Tt
    D_neg = T @ W[:, :, 1] @ Tt
    Z = [[(sym(D_pos[o, r]), sym(D_neg[o, r])) for r in range(R)] for o in range(k)]
    neurons, weights, block_index = network_from_lifted(Z, RANK_RTOL)
    # Matrices the polish left at round-off (a whole matrix of size 1e-14)
    # pass the per-matrix rank test: drop them against the largest neuron.
    # (No neuron at all -- e.g. zero weight on every sample of one class --
    # gives an empty mask of the neurons' length.)
    m = neurons.shape[0]
    size = np.abs(weights).reshape(m, -1).max(axis=1, initial=0.0) if m else np.zeros(0)
    keep = size > RANK_RTOL * size.max(initial=0.0)
    neurons, weights, block_index = neurons[keep], weights[keep], block_index[keep]
    rank = neurons.shape[0]
    intercept = b - op.mean_output(W[:, :, 0] - W[:, :, 1]) if fit_intercept else np.zeros(k)
    if status != "optimal":
        warnings.warn(
            f"The proxgrad solver stopped with status {status!r} after {it} iterations "
            f"({passes} data passes) at a certified relative gap of {gap:.2e} (target "
            f"{tol:.1e}); increase max_iter.",
            ConvergenceWarning, stacklevel=3,
        )
    return ProxGradResult(
        Z=Z, neurons=neurons, weights=weights, block_index=block_index,
        intercept=np.asarray(intercept, dtype=float), objective=float(F),
        lower_bound=float(bound), gap=float(gap),
        theta=theta_best, n_iter=it, n_passes=passes, rank=rank, status=status,
    )


def _lifted_from_network(neurons, weights, block_index, intercept, *, k, R, q):
    """Lifted matrices (k, R, 2, q, q) of a network (warm start)."""
    W = np.zeros((k, R, 2, q, q))
    weights = np.asarray(weights, dtype=float)
    weights = weights[:, None] if weights.ndim == 1 else weights
    for u, w, r in zip(np.asarray(neurons, dtype=float), weights,
                       np.asarray(block_index, dtype=int)):
        nu = np.linalg.norm(u)
        if nu == 0:
            continue
        y = np.append(u / nu, 1.0)
        for o in np.flatnonzero(w):
            W[o, r, 0 if w[o] > 0 else 1] += abs(w[o]) * np.outer(y, y)
    return W
