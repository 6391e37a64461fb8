"""The gated and exact convex ReLU programs written in cvxpy.

For small problems an interior-point solve (Clarabel first, through the
package's :func:`~sklearn_convexnn._solvers.shared.cvxpy_solve.solve_cvxpy`)
reaches the optimum in a fraction of a second where the augmented
Lagrangian needs thousands of iterations. The program is the estimator's,
column for column (``W`` of shape (d, q), column ``c p + j`` for gate j and
output c; the exact program has ``[U | V]``)::

    min  sum_i pi_i l(z_i, y_i) + alpha sum (||u_j||_2 + ||v_j||_2)
    z_c = sum_j D_j X (u_{c,j} - v_{c,j}) + b_c,
    (2 D_j - I) X u_j >= 0,  (2 D_j - I) X v_j >= 0,

with the group norms as second-order cones, the logistic and multinomial
terms as exponential cones, and ``b`` free (unpenalized) when fitted.

The solution is handed back like the own solvers' (:class:`ReLUSolution`):
the interior point's negligible columns are dropped, the cone constraints
repaired to exact feasibility (``exact.repair``), and the lower bound is
certified by :class:`DualCertifier` from the loss gradient at that point
and, for the exact program, cvxpy's dual values of the cone constraints as
the multipliers (refined by a few projected steps when they do not make
the dual point feasible on their own).
"""

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import norm as sparse_norm

from ..shared.cvxpy_solve import solve_cvxpy
from .certificate import DualCertifier
from .exact import ExactALProblem, refine_multipliers, repair
from .gated import ReLUSolution

__all__ = ["cvxpy_nonzeros", "estimate_cvxpy_memory", "solve_relu_cvxpy"]

#: Columns whose norm is below this fraction of the largest are interior-point
#: residue (an IPM never returns an exact zero) and are dropped.
ZERO_COLUMN = 1e-7
#: Bytes per nonzero of the canonicalized problem through cvxpy and the
#: solver's KKT factorization (peak RSS growth measured on the exact program:
#: 250 B at n=400, d=10, 60 gates; 180 B at n=1000, d=20, 100 gates (1.0 GB);
#: rounded up).
BYTES_PER_NONZERO = 400
#: Upper bound on the solver's gap and feasibility tolerances.
SOLVER_TOL = 1e-9


def cvxpy_nonzeros(n, d, p, k, variant):
    """Nonzeros of the canonicalized program, dominated by the copies of ``X``.

    Gated: ``X W`` in the data term (n q d). Exact: ``X U`` and ``X V``
    defining the image variables (2 n q d) plus the masks, cones and data
    term over those images (about n q d more).
    """
    q = p * k
    return int(n * q * d * (1 if variant == "gated" else 3))


def estimate_cvxpy_memory(n, d, p, k, variant):
    """Bytes an interior-point solve of the program takes (rough, from above)."""
    return BYTES_PER_NONZERO * cvxpy_nonzeros(n, d, p, k, variant)


def _build(design, loss, alpha, variant, fit_intercept):
    import cvxpy as cp

    X = design.X
    X = X.tocsr() if sp.issparse(X) else np.asarray(X)
    n, d, q, k = design.n, design.d, design.q, design.k
    M = design.masks[:, design.gate_of].astype(float)  # (n, q)
    S = np.zeros((q, k))
    S[np.arange(q), design.output_of] = 1.0
    b = cp.Variable(k) if fit_intercept else None
    U = cp.Variable((d, q))
    XU = X @ U
    cons = []
    pen = cp.sum(cp.norm(U, 2, axis=0))
    if variant == "gated":
        Z = cp.multiply(M, XU) @ S
        V = None
    else:
        V = cp.Variable((d, q))
        pen = pen + cp.sum(cp.norm(V, 2, axis=0))
        # The images as variables: X enters once per block (halves the nonzeros
        # and, measured at n=400, d=10, 60 gates, the Clarabel time).
        PU, PV = cp.Variable((n, q)), cp.Variable((n, q))
        Z = cp.multiply(M, PU - PV) @ S
        A = 2.0 * M - 1.0
        cons = [cp.multiply(A, PU) >= 0, cp.multiply(A, PV) >= 0, PU == XU, PV == X @ V]
    if fit_intercept:
        Z = Z + np.ones((n, 1)) @ cp.reshape(b, (1, k), order="C")
    pi = loss.pi  # (n, 1)
    Y = loss.Y
    if loss.name == "squared":
        data = 0.5 * cp.sum_squares(cp.multiply(np.sqrt(pi), Z - Y))
        cone = "soc"
    elif loss.name == "logistic":
        data = cp.sum(cp.multiply(np.broadcast_to(pi, Y.shape),
                                  cp.logistic(-cp.multiply(Y, Z))))
        cone = "exp"
    else:
        data = pi[:, 0] @ (cp.log_sum_exp(Z, axis=1) - cp.sum(cp.multiply(Y, Z), axis=1))
        cone = "exp"
    prob = cp.Problem(cp.Minimize(data + alpha * pen), cons)
    return prob, U, V, b, cons, cone


def solve_relu_cvxpy(design, loss, alpha, variant, *, fit_intercept, tol=1e-4, gates=None,
                     gate_images=None, verbose=0, X_norm2=None):
    """Solve the gated or exact program by cvxpy; returns a :class:`ReLUSolution`.

    Parameters
    ----------
    design : MaskedDesign
    loss : WeightedLoss
    alpha : float
    variant : {"gated", "exact"}
    fit_intercept : bool
    tol : float
        The caller's relative-gap target; the solver's own gap and
        feasibility tolerances are set to ``min(1e-9, 1e-3 tol)`` (at
        Clarabel's default 1e-8 the exponential-cone programs certify only
        about 2e-5, measured on the tests' logistic problems).
    gates, gate_images : ndarray
        Exact program only: the gate vectors (d, p) and ``X @ gates``, for
        the feasibility repair.
    verbose : int
        >= 2 prints the solver's own log.
    X_norm2 : float or None
        ``||X||_2^2`` (step of the multiplier refinement); computed if None.
    """
    q, k = design.q, design.k
    prob, U, V, b, cons, cone = _build(design, loss, alpha, variant, fit_intercept)
    outcome = solve_cvxpy(prob, cone=cone, verbose=verbose >= 2,
                          tol=min(SOLVER_TOL, 1e-3 * tol),
                          what=f"the {variant} convex ReLU program", stacklevel=4)
    W = np.asarray(U.value, dtype=float)
    if variant == "exact":
        W = np.hstack([W, np.asarray(V.value, dtype=float)])
    norms = np.sqrt(np.sum(W**2, axis=0))
    W[:, norms <= ZERO_COLUMN * max(float(np.max(norms, initial=0.0)), 1e-300)] = 0.0
    bias = np.asarray(b.value, dtype=float).reshape(k) if fit_intercept else np.zeros(k)
    penalty = float(np.sum(np.sqrt(np.sum(W**2, axis=0))))
    if variant == "gated":
        certifier = DualCertifier(loss, design, alpha, fit_intercept, np.ones(q))
        Z = design.forward(W) + bias
        theta = loss.gradient(Z)
        certifier.bound(theta, design.backward(theta))
    else:
        signs = np.concatenate([np.ones(q), -np.ones(q)])
        certifier = DualCertifier(loss, design, alpha, fit_intercept, signs)
        problem = ExactALProblem(design, loss, certifier, rho=1.0)
        IW = problem.forward(W)[0]
        W, IW = repair(problem, gates, gate_images, W, IW)
        penalty = float(np.sum(np.sqrt(np.sum(W**2, axis=0))))
        Z = problem.predict(IW, bias)
        theta = loss.gradient(Z)
        # cvxpy's duals of ``A u >= 0`` are the multipliers lambda >= 0 of the
        # Lagrangian term -lambda^T A u, the sign certificate.py expects.
        Lam = np.maximum(0.0, np.hstack([np.asarray(c.dual_value, dtype=float).reshape(
            design.n, q) for c in cons[:2]]))
        base = np.where(problem.mask, theta[:, problem.out_cols] * problem.sign, 0.0)
        cols = design.rmatmat(base - np.where(problem.mask, Lam, -Lam))
        certifier.bound(theta, cols)
        if X_norm2 is None:
            X = design.X
            X_norm2 = float(sparse_norm(X) ** 2 if sp.issparse(X)
                            else np.linalg.norm(np.asarray(X), 2) ** 2)
        cols, _ = refine_multipliers(problem, theta, Lam, max(X_norm2, 1e-300))
        certifier.bound(theta, cols)
    obj = loss.value(Z) + alpha * penalty
    return ReLUSolution(W, bias, float(obj), min(certifier.best, float(obj)), outcome.n_iter,
                        design.n_passes, outcome.status, [(design.n_passes, obj, certifier.best)])
