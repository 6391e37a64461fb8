"""Randomized rounding of the binary lifted relaxation, and the output refit.

The binary relaxation (``constraint="binary"`` of ``cvxpy_backend``) replaces
every neuron's lifted matrix ``[u; 1][u; 1]^T``, ``u in {-1, +1}^p``, by a PSD
matrix ``Z`` with ``diag(Z) = Z4 1``: after dividing by ``Z4``, a point of the
elliptope. ``sign_neurons`` draws sign vectors from it (Goemans-Williamson /
Grothendieck hyperplane rounding) and ``refit_output_layer`` picks among the
candidates the best output layer by a convex lasso-type problem, so the
final network is quantized exactly and optimal for its neurons.
"""

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state

from ..shared.l1_refit import l1_refit
from .decomposition import psd_factor

__all__ = ["RefitResult", "flip_search", "lifted_candidates", "refit_output_layer",
           "sign_neurons"]

#: Relative size under which a lifted matrix (Z4) or an eigenvalue is ignored.
_RTOL = 1e-7


def sign_neurons(Z, n_samples, random_state=None, *, arcsine=True, distinct=True):
    """Sign vectors drawn by hyperplane rounding of one lifted matrix.

    ``Z`` ((p+1) x (p+1), PSD, last row/column the lifted coordinate) is
    normalized to unit diagonal, ``C = D^-1/2 Z D^-1/2`` (an elliptope
    point; equal to ``Z / Z4`` when the relaxation's constraint holds
    exactly), factored as ``V V^T``, and each draw is ``s = sign(V g)`` with
    ``g ~ N(0, I)``. The lifted coordinate fixes the sign: the neuron is
    ``u = s[:p] * s[p]``, so ``[u; 1]`` is the drawn vector up to a global
    sign, which the lifted matrix cannot see.

    Grothendieck's identity gives ``E[s s^T] = (2/pi) arcsin(V V^T)``. With
    ``arcsine=True`` the factored matrix is ``sin(pi/2 C)`` (elementwise), so
    the draws have second moment exactly ``C``; ``sin(pi/2 .)`` does not
    always keep a correlation matrix PSD, and when it does not, the plain
    hyperplane rounding of ``C`` is used.

    Parameters
    ----------
    Z : ndarray of shape (p + 1, p + 1)
    n_samples : int
        Number of draws.
    random_state : int, RandomState instance or None
    arcsine : bool, default=True
    distinct : bool, default=True
        Merge repeated draws. ``False`` returns every draw (to check the
        rounding's law).

    Returns
    -------
    U : ndarray of shape (m, p), m <= n_samples
        Sign vectors (entries exactly -1.0 or +1.0), distinct ones in order
        of first appearance unless ``distinct=False``.
    """
    rng = check_random_state(random_state)
    V = _rounding_factor(Z, arcsine)
    G = rng.standard_normal((V.shape[1], int(n_samples)))
    s = np.where(V @ G >= 0, 1.0, -1.0).T
    U = s[:, :-1] * s[:, -1:]
    return _distinct(U) if distinct else U


def lifted_candidates(Zs, n_samples, random_state=None, *, arcsine=True, negations=True):
    """Candidate sign neurons from several lifted matrices, all drawn at once.

    The draws are shared equally among the matrices with a non-negligible
    ``Z4`` (the others carry no neuron): every such matrix is factored (after
    the arcsine correction of :func:`sign_neurons` where it stays PSD), the
    factors are stacked, and one Gaussian matrix gives every draw through a
    single product ``sign(F G)``. Each matrix also contributes the sign
    patterns of its leading eigenvectors (deterministic; exact when the
    relaxation is tight and the matrix has rank one).

    Parameters
    ----------
    Zs : list of ndarray of shape (p + 1, p + 1)
        E.g. the (Zpos, Zneg) pairs of every output.
    n_samples : int
        Random draws in total (rounded up to a multiple of the number of
        active matrices).
    random_state : int, RandomState instance or None
    arcsine : bool, default=True
        See :func:`sign_neurons`.
    negations : bool, default=True
        Also return ``-u`` for every candidate ``u``. With a linear term in
        the activation (``b != 0``), ``u`` and ``-u`` are different neurons,
        and the lifted coordinate that picks between them is weak when a
        matrix mixes both; the refit then chooses.

    Returns
    -------
    U : ndarray of shape (m, p)
        Distinct sign vectors.
    """
    rng = check_random_state(random_state)
    scale = max((float(Z[-1, -1]) for Z in Zs), default=0.0)
    active = [Z for Z in Zs if scale > 0 and Z[-1, -1] > _RTOL * scale]
    p = Zs[0].shape[0] - 1
    pieces = [np.zeros((0, p))] + [_eigen_signs(Z) for Z in active]
    if active and n_samples > 0:
        factors = [_rounding_factor(Z, arcsine) for Z in active]
        width = max(F.shape[1] for F in factors)
        F = np.vstack([np.pad(F, ((0, 0), (0, width - F.shape[1]))) for F in factors])
        per = -(-int(n_samples) // len(active))
        G = rng.standard_normal((width, per))
        S = np.where(F @ G >= 0, 1.0, -1.0).reshape(len(active), p + 1, per)
        pieces.append((S[:, :-1, :] * S[:, -1:, :]).transpose(0, 2, 1).reshape(-1, p))
    U = np.vstack(pieces)
    if negations:
        U = np.vstack([U, -U])
    return _distinct(U)


def flip_search(U, A, g, sign=1.0, max_flips=None):
    """Single-coordinate flips that raise ``sign * (u^T A u + g^T u)``, for every row at once.

    Each row of ``U`` (sign vectors) takes, while one exists, the flip with
    the largest gain ``-4 u_l (A u)_l + 4 A_ll - 2 g_l u_l`` (times ``sign``);
    all rows move together, one flip per row per step, ``A u`` updated in
    place. Ends at a 1-flip local optimum of every row.

    Parameters
    ----------
    U : ndarray of shape (m, p)
    A : ndarray of shape (p, p), symmetric
    g : ndarray of shape (p,)
    sign : float, default=1.0
    max_flips : int or None
        Steps at most (default ``4 p``).

    Returns
    -------
    U : ndarray of shape (m, p)
        The improved sign vectors (a copy).
    """
    U = np.array(U, dtype=float)
    if U.size == 0:
        return U
    AU = U @ A
    diag = np.diag(A)
    rows = np.arange(U.shape[0])
    for _ in range(4 * U.shape[1] if max_flips is None else max_flips):
        gain = sign * (-4.0 * U * AU + 4.0 * diag - 2.0 * g * U)
        best = np.argmax(gain, axis=1)
        moving = gain[rows, best] > 1e-12 * (np.abs(AU).max() + np.abs(g).max() + 1e-300)
        if not np.any(moving):
            break
        r, col = rows[moving], best[moving]
        old = U[r, col]
        AU[r] -= 2.0 * old[:, None] * A[col]
        U[r, col] = -old
    return U


class RefitResult:
    """Output layer chosen by :func:`refit_output_layer`.

    Attributes
    ----------
    support : ndarray of int
        Indices of the candidate columns with a non-zero weight.
    weights : ndarray of shape (len(support), k)
    intercept : ndarray of shape (k,)
    value : float
        Objective ``loss + alpha * sum |weights|`` of the returned layer.
    status : str
    solver : str
    gap : float
        Certified bound on ``value`` minus the refit's optimum (``l1_refit``'s
        duality gap); NaN when the solver gives none (the cvxpy path).
    """

    def __init__(self, support, weights, intercept, value, status, solver, gap=np.nan):
        self.support = support
        self.weights = weights
        self.intercept = intercept
        self.value = value
        self.status = status
        self.solver = solver
        self.gap = gap


def refit_output_layer(H, Y, loss, alpha, *, fit_intercept=True, cvxpy_solver=None,
                       rtol=1e-6, warm_start=None, tol=1e-7):
    """Solve ``min_W,b loss(H W + b) + alpha * sum |W|`` over fixed neurons.

    Convex (a lasso for the squared loss). Smooth losses (squared, huber,
    logistic, multinomial) with ``alpha > 0`` are solved by the shared
    proximal-gradient solver (``l1_refit``: warm-startable, stops at the
    relative duality gap ``tol``; the weights are exactly zero off the
    support). The others (absolute, hinge) go through cvxpy, then
    polished: the columns whose weights are below ``rtol`` times the largest
    are dropped and the problem is solved again on the rest, so the returned
    weights are exactly zero off the support and the objective is the one of
    the returned layer.

    Parameters
    ----------
    H : ndarray of shape (n, m)
        Candidate activations, one column per neuron.
    Y : ndarray of shape (n, k)
        Encoded targets.
    loss : Loss
    alpha : float
    fit_intercept : bool, default=True
    cvxpy_solver : str or None
        Solver tried first; then Clarabel, ECOS, SCS.
    rtol : float, default=1e-6

    Returns
    -------
    RefitResult
    """
    if loss.smooth and alpha > 0:
        fit = l1_refit(H, Y, loss, alpha, fit_intercept=fit_intercept,
                       warm_start=warm_start, tol=tol)
        support = np.flatnonzero(np.abs(fit.weights).max(axis=1, initial=0.0) > 0)
        W = fit.weights[support]
        value = loss.value(H[:, support] @ W + fit.intercept, Y) \
            + alpha * float(np.abs(W).sum())
        return RefitResult(support, W, fit.intercept, value, fit.status, "l1_refit",
                           max(value - fit.lower_bound, 0.0))
    W, b, status, solver = _solve_refit(H, Y, loss, alpha, fit_intercept, cvxpy_solver)
    big = np.abs(W).max(axis=1, initial=0.0)
    support = np.flatnonzero(big > rtol * big.max(initial=0.0))
    if 0 < len(support) < H.shape[1]:
        W, b, status, solver = _solve_refit(H[:, support], Y, loss, alpha, fit_intercept,
                                            cvxpy_solver)
    else:
        W = W[support]
    value = loss.value(H[:, support] @ W + b, Y) + alpha * float(np.abs(W).sum())
    return RefitResult(support, W, b, value, status, solver)


def _solve_refit(H, Y, loss, alpha, fit_intercept, first):
    import cvxpy as cp

    k = Y.shape[1]
    m = H.shape[1]
    # Columns on a common scale: the solvers see tamer numbers; weights are
    # mapped back (the l1 penalty weighs each by its column scale).
    scale = np.sqrt(np.mean(H**2, axis=0))
    scale[scale == 0] = 1.0
    W = cp.Variable((m, k))
    b = cp.Variable(k) if fit_intercept else np.zeros(k)
    Yhat = (H / scale) @ W + (cp.reshape(b, (1, k), order="C") if fit_intercept else 0)
    objective = loss.cvxpy(Yhat, Y) + alpha * cp.sum(cp.abs(W) @ np.ones(k) / scale)
    problem = cp.Problem(cp.Minimize(objective))
    installed = set(cp.installed_solvers())
    order = [s for s in ("CLARABEL", "ECOS", "SCS") if s in installed]
    if first is not None and str(first).upper() in installed:
        order = [str(first).upper()] + [s for s in order if s != str(first).upper()]
    log = []
    for name in order:
        try:
            problem.solve(solver=name)
        except cp.error.SolverError as exc:
            log.append(f"{name}: {str(exc).splitlines()[0]}")
            continue
        if problem.status in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE) and W.value is not None:
            if problem.status == cp.OPTIMAL_INACCURATE:
                warnings.warn(
                    f"Output-layer refit: {name} ended with status {problem.status!r}.",
                    ConvergenceWarning, stacklevel=3,
                )
            weights = np.asarray(W.value) / scale[:, None]
            b0 = np.asarray(b.value if fit_intercept else b, dtype=float).ravel()
            return weights, b0, problem.status, name
        log.append(f"{name}: status {problem.status}")
    from ...exceptions import SolverFailedError

    raise SolverFailedError("The output-layer refit failed with every solver: " + "; ".join(log))


def _correlation(Z):
    Z = 0.5 * (np.asarray(Z, dtype=float) + np.asarray(Z, dtype=float).T)
    d = np.sqrt(np.clip(np.diag(Z), 1e-300, None))
    C = Z / d[:, None] / d[None, :]
    np.fill_diagonal(C, 1.0)
    return np.clip(C, -1.0, 1.0)


def _rounding_factor(Z, arcsine):
    """Factor of the correlation matrix whose hyperplane rounding has moment ``Z / Z4``.

    The factor is made a function of the matrix alone: each eigenvector
    column is oriented so that its largest entry is positive (``eigh`` may
    return either sign, and a nearby matrix -- the same problem solved with
    weighted instead of repeated rows -- may get the other one, which would
    turn every draw through that column around), and the columns run from
    the largest eigenvalue down, so that the rows of the Gaussian draws
    (filled row by row) meet the same directions when a small eigenvalue
    enters or leaves the numerical rank.
    """
    C = _correlation(Z)
    if arcsine:
        S = np.sin(0.5 * np.pi * C)
        if np.linalg.eigvalsh(S)[0] >= -1e-10 * len(S):
            C = S
    F = psd_factor(C, _RTOL)[:, ::-1]
    if F.size:
        top = np.abs(F).argmax(axis=0)
        F = F * np.where(F[top, np.arange(F.shape[1])] < 0, -1.0, 1.0)
    return F



def _eigen_signs(Z):
    """Sign patterns of the significant eigenvectors, oriented by the lifted entry."""
    w, Q = np.linalg.eigh(0.5 * (Z + Z.T))
    rows = []
    for j in np.flatnonzero(w > 1e-3 * max(w[-1], 1e-300))[::-1]:
        y = Q[:, j]
        s = np.where(y[:-1] >= 0, 1.0, -1.0)
        rows.append(s if y[-1] >= 0 else -s)
    return np.array(rows).reshape(-1, Z.shape[0] - 1)


def _distinct(U):
    """Distinct rows in order of first appearance."""
    if len(U) == 0:
        return U
    _, first = np.unique(U, axis=0, return_index=True)
    return U[np.sort(first)]
