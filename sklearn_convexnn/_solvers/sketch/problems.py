"""The two problems of the distributed Newton sketch and their data passes.

* :class:`DataProducts` -- every pass over the data matrix ``X`` the
  problems make (``X @ W``, ``X^T @ R``, the Hessian factor and its Gram
  matrix). It is the one place a scheme that changes how the data passes
  are computed (e.g. coded computation over stragglers) has to touch.
* :class:`RidgeProblem`, :class:`LogisticProblem` -- objective, gradient
  and :data:`NewtonSystem` (the ridge form ``A^T A + alpha I`` the workers
  sketch) of weighted ridge and weighted l2-logistic regression (binary
  and multinomial).

Plain numpy / scipy; used by
:func:`sklearn_convexnn._solvers.sketch.newton_sketch.debiased_newton_sketch`.
"""

from functools import partial

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, log_softmax, softmax

__all__ = ["DataProducts", "LogisticProblem", "NewtonSystem", "RidgeProblem"]

class NewtonSystem:
    """A Newton system in ridge form at the current iterate.

    ``gram`` (p, p) and ``alpha``: the Hessian block ``A^T A + alpha I``,
    formed by the master from the ``d``-wide data (it needs it for
    ``d_alpha`` anyway, and solves with it when the exact step is chosen);
    None for wide data (more features than samples), where the master
    works with the factor's smaller row Gram matrix instead;
    ``A`` (rows, p): the factor the workers sketch, built on first access
    only (``factor()``), since the exact step never needs it; ``rhs``
    (p, t): the right-hand side (minus the reduced gradient); ``finish``:
    maps the solved coefficient direction (p, t) to the direction on all
    parameters; ``gradient``: the objective's gradient on all parameters
    (line search, stopping); ``objective``: its value at the iterate;
    ``n_rows``: rows of ``A``; ``gram_rows``: rows of the data pass that
    forms ``gram`` (``n_samples``), the yardstick of the exact step's cost.
    """

    def __init__(
        self, factor, rhs, alpha, finish, gradient, gram, *, objective, n_rows, gram_rows
    ):
        self._factor, self._A = factor, None
        self.rhs, self.alpha, self.finish = rhs, alpha, finish
        self.gradient, self.gram, self.objective = gradient, gram, objective
        self.n_rows, self.gram_rows = n_rows, gram_rows

    @property
    def A(self):
        if self._A is None:
            self._A = self._factor()
        return self._A


# ---------------------------------------------------------------------------
# Data passes
# ---------------------------------------------------------------------------


class DataProducts:
    """Every product with the data matrix the Newton iteration makes.

    ``forward(W) = X @ W`` (scores), ``backward(R) = X^T @ R``
    (gradients), the Hessian factors the workers sketch (``scaled_rows``,
    ``diag(r) X``; ``kronecker_rows``, the multinomial one) and the Gram
    matrices the master forms (``weighted_gram``, ``multinomial_gram``).
    Sparse ``X`` stays sparse in ``forward`` and
    ``backward``; the factors are dense (the intercept elimination centres
    them anyway). A scheme that
    computes these differently (distributed, coded against stragglers)
    replaces this one object.

    Parameters
    ----------
    X : {ndarray, sparse matrix} of shape (n, d)
    """

    def __init__(self, X):
        self.X = X
        self.shape = X.shape

    def forward(self, W):
        """``X @ W`` for ``W`` of shape (d, t): ndarray (n, t)."""
        return np.asarray(self.X @ W)

    def backward(self, R):
        """``X^T @ R`` for ``R`` of shape (n, t): ndarray (d, t)."""
        return np.asarray(self.X.T @ R)

    def scaled_rows(self, r):
        """``diag(r) X`` as a dense array (the binary / ridge factor)."""
        if sp.issparse(self.X):
            return np.asarray((sp.diags(r) @ self.X).toarray())
        return self.X * r[:, None]

    def kronecker_rows(self, B):
        """Rows ``B_i[a] kron x_i`` for ``B`` (n, k, k): shape (n k, k d)."""
        n, k, _ = B.shape
        X = self._dense()
        return (B[:, :, :, None] * X[:, None, None, :]).reshape(n * k, k * X.shape[1])

    def _dense(self):
        return self.X.toarray() if sp.issparse(self.X) else self.X

    def weighted_gram(self, c):
        """``X^T diag(c) X`` as a dense (d, d) array: ``2 n d^2`` flops."""
        if sp.issparse(self.X):
            return np.asarray((self.X.T @ (sp.diags(c) @ self.X)).toarray())
        return (self.X * c[:, None]).T @ self.X

    def multinomial_gram(self, P, w):
        """``sum_i w_i (diag(p_i) - p_i p_i^T) kron x_i x_i^T``: (k d, k d).

        The Gram of the multinomial factor, from the ``d``-wide data by its
        block structure: the ``k`` diagonal blocks ``X^T diag(w p_a) X``
        minus ``Z^T Z``, ``Z`` the rows ``sqrt(w_i) p_i kron x_i`` (one
        ``n x k d`` product, ``2 n (k d)^2`` flops, no ``n k`` row factor).
        """
        n, k = P.shape
        X = self._dense()
        d = X.shape[1]
        WP = w[:, None] * P
        Z = (np.sqrt(WP * P)[:, :, None] * X[:, None, :]).reshape(n, k * d)
        G = Z.T @ Z
        np.negative(G, out=G)
        # The k diagonal blocks in one product: X^T [w p_a x_i]_a.
        D = X.T @ (WP[:, :, None] * X[:, None, :]).reshape(n, k * d)
        for a in range(k):
            G[a * d : (a + 1) * d, a * d : (a + 1) * d] += D[:, a * d : (a + 1) * d]
        return G


# ---------------------------------------------------------------------------
# Problems
# ---------------------------------------------------------------------------


class RidgeProblem:
    """``1/2 (||sqrt(w) (Y - X W)||^2 + alpha ||W||^2)``.

    ``X`` must already be centred (with the weights) if there is an
    intercept; the intercept is then ``mean_w(Y) - mean_w(X) W``, no part
    of the iteration.

    Parameters
    ----------
    data : DataProducts
    Y : ndarray of shape (n, t)
    alpha : float > 0
    sample_weight : ndarray of shape (n,) or None
    """

    def __init__(self, data, Y, alpha, sample_weight=None):
        self.data, self.Y, self.alpha = data, Y, alpha
        n = Y.shape[0]
        self.w = np.ones(n) if sample_weight is None else sample_weight
        self._A = self._gram = None  # the Hessian does not move: cached

    def residual(self, W):
        return self.w[:, None] * (self.data.forward(W) - self.Y)

    def objective(self, W):
        R = self.data.forward(W) - self.Y
        return float(0.5 * (np.sum(self.w[:, None] * R * R) + self.alpha * np.sum(W * W)))

    def gradient(self, W):
        return self.data.backward(self.residual(W)) + self.alpha * W

    def _factor(self):
        if self._A is None:
            self._A = self.data.scaled_rows(np.sqrt(self.w))
        return self._A

    def newton_system(self, W):
        R = self.data.forward(W) - self.Y
        objective = float(
            0.5 * (np.sum(self.w[:, None] * R * R) + self.alpha * np.sum(W * W))
        )
        g = self.data.backward(self.w[:, None] * R) + self.alpha * W
        if self._gram is None and _narrow(self.data):
            self._gram = self.data.weighted_gram(self.w)
        n = self.Y.shape[0]
        return NewtonSystem(
            self._factor, -g, self.alpha, _identity, g, self._gram,
            objective=objective, n_rows=n, gram_rows=n,
        )


def _identity(dW):
    return dW


class LogisticProblem:
    """``sum_i w_i logloss_i + alpha/2 ||W||^2`` (scikit-learn's objective / C).

    ``Y`` is a 0/1 array of shape (n, 1) for the binary problem (one
    coefficient row) or one-hot (n, K) for the multinomial one. ``params``
    has shape (K', d + fit_intercept) with the intercept last.

    Newton system. Binary: the coefficient Hessian is ``X^T D X + alpha I``
    with ``D = w p (1 - p)``, so ``A = D^{1/2} X``. Multinomial: per sample
    ``w_i (diag(p) - p p^T) = B_i^T B_i`` with ``B_i = sqrt(w_i) (diag(sqrt
    p) - sqrt(p) p^T)``; ``A`` has the ``K`` rows ``B_i kron x_i^T`` per
    sample (shape (n K, K d)). Its Gram matrix is formed from the ``d``-wide
    data (:meth:`DataProducts.kronecker_gram`), ``K`` times cheaper than
    from ``A``.

    The unpenalized intercept is eliminated exactly (Schur complement):
    with ``C`` the intercept columns of the factor, the coefficient block
    of the reduced Hessian is ``A^T (I - P_C) A + alpha I`` -- again a
    ridge Hessian, of the weighted-centred factor ``(I - P_C) A``. So the
    workers sketch that factor and the debiasing identity holds as for
    ridge; the intercept step follows from the coefficient step exactly
    (``finish``). For the multinomial problem the intercept block is
    singular (a common shift changes nothing); the pseudo-inverse keeps
    the intercepts summing to zero, as scikit-learn's do.
    """

    def __init__(self, data, Y, alpha, fit_intercept, sample_weight=None):
        self.data, self.Y, self.alpha = data, Y, alpha
        self.fit_intercept = fit_intercept
        self.binary = Y.shape[1] == 1
        n = Y.shape[0]
        self.w = np.ones(n) if sample_weight is None else sample_weight

    def _scores(self, params):
        W, b = _split(params, self.fit_intercept)
        return self.data.forward(W.T) + b, W

    def _objective(self, Z, W):
        if self.binary:
            loss = np.logaddexp(0.0, Z) - self.Y * Z
        else:
            loss = -np.sum(self.Y * log_softmax(Z, axis=1), axis=1, keepdims=True)
        return float(np.sum(self.w[:, None] * loss) + 0.5 * self.alpha * np.sum(W * W))

    def objective(self, params):
        return self._objective(*self._scores(params))

    def _probabilities(self, Z):
        return expit(Z) if self.binary else softmax(Z, axis=1)

    def _gradient(self, P, W):
        R = self.w[:, None] * (P - self.Y)
        grad_W = self.data.backward(R).T + self.alpha * W  # (k, d)
        if not self.fit_intercept:
            return grad_W, None
        return grad_W, R.sum(axis=0)

    def gradient(self, params):
        Z, W = self._scores(params)
        grad_W, grad_b = self._gradient(self._probabilities(Z), W)
        return grad_W if grad_b is None else np.hstack([grad_W, grad_b[:, None]])

    def newton_system(self, params):
        Z, W = self._scores(params)
        objective = self._objective(Z, W)
        P = self._probabilities(Z)
        grad_W, grad_b = self._gradient(P, W)
        k, d = W.shape
        n = Z.shape[0]
        if self.binary:
            r = np.sqrt(self.w * P[:, 0] * (1.0 - P[:, 0]))
            B = partial(np.reshape, r, (n, 1, 1))
            M = (r * r)[:, None, None]
            gram = self.data.weighted_gram(r * r) if _narrow(self.data) else None
            factor = partial(self.data.scaled_rows, r)
            rows = 1
        else:
            # Built only if the workers sketch (see the factor's docstring).
            B = partial(_multinomial_rows, self.w, P)
            M = -self.w[:, None, None] * P[:, :, None] * P[:, None, :]
            M[:, np.arange(k), np.arange(k)] += self.w[:, None] * P
            gram = self.data.multinomial_gram(P, self.w) if _narrow(self.data) else None
            factor = _Composed(self.data.kronecker_rows, B)
            rows = k
        rhs = -grad_W.reshape(-1, 1)
        sizes = {"objective": objective, "n_rows": n * rows, "gram_rows": n}
        if not self.fit_intercept:
            return NewtonSystem(
                factor, rhs, self.alpha, _Reshape(k, d), grad_W, gram, **sizes
            )
        M_pinv = _intercept_block_inverse(M.sum(axis=0), self.binary)
        # C^T A = sum_i M_i kron x_i^T from the d-wide data, without a pass
        # over the factor.
        CtA = self.data.backward(M.reshape(n, k * k)).T.reshape(k, k * d)
        MCtA = M_pinv @ CtA
        if gram is not None:
            gram -= CtA.T @ MCtA  # gram is this round's own array
        rhs = rhs + (CtA.T @ (M_pinv @ grad_b)).reshape(-1, 1)
        gradient = np.hstack([grad_W, grad_b[:, None]])
        finish = _FinishIntercept(k, d, M_pinv, grad_b, CtA)
        return NewtonSystem(
            partial(_reduced_factor, factor, B, MCtA),
            rhs, self.alpha, finish, gradient, gram, **sizes,
        )


def _narrow(data):
    """No more features than samples: the ``p x p`` Gram matrix is the
    smaller one (else the master uses the factor's row Gram matrix)."""
    n, d = data.shape
    return d <= n


def _multinomial_rows(w, P):
    """``B_i = sqrt(w_i) (diag(sqrt p_i) - sqrt(p_i) p_i^T)``: (n, k, k),
    ``B_i^T B_i = w_i (diag(p_i) - p_i p_i^T)``."""
    k = P.shape[1]
    return (np.sqrt(w)[:, None] * np.sqrt(P))[:, :, None] * (np.eye(k)[None] - P[:, None, :])


class _Composed:
    """``outer(inner())``: a factor built from lazily built rows."""

    def __init__(self, outer, inner):
        self.outer, self.inner = outer, inner

    def __call__(self):
        return self.outer(self.inner())


def _reduced_factor(factor, rows, MCtA):
    """``(I - P_C) A = A - C M^+ C^T A``: the factor with the intercept
    eliminated (built in place in this round's own array); ``C`` stacks
    the per-sample blocks ``rows()`` (n, r, k) into (n r, k)."""
    A = factor()
    B = rows()
    A -= B.reshape(-1, B.shape[2]) @ MCtA
    return A


class _Reshape:
    def __init__(self, k, d):
        self.k, self.d = k, d

    def __call__(self, dW):
        return dW.reshape(self.k, self.d)


class _FinishIntercept:
    """Intercept step from the coefficient step (the eliminated block)."""

    def __init__(self, k, d, M_pinv, grad_b, CtA):
        self.k, self.d = k, d
        self.M_pinv, self.grad_b, self.CtA = M_pinv, grad_b, CtA

    def __call__(self, dW):
        db = -self.M_pinv @ (self.grad_b + self.CtA @ dW[:, 0])
        return np.hstack([dW.reshape(self.k, self.d), db[:, None]])


def _intercept_block_inverse(M, binary):
    """Inverse of the intercept block; pseudo-inverse for the multinomial one.

    The multinomial block ``sum_i diag(p_i) - p_i p_i^T`` annihilates the
    all-ones vector (a common shift of the intercepts changes nothing).
    Adding ``J / k`` (``J`` all ones) fills that null direction without
    touching the rest, so ``inv(M + J/k) - J/k`` is the exact pseudo-inverse
    and the intercept steps stay orthogonal to ones (intercepts summing to
    zero, as scikit-learn's).
    """
    if binary:
        return 1.0 / np.maximum(M, np.finfo(float).tiny)
    k = M.shape[0]
    J = np.full((k, k), 1.0 / k)
    return np.linalg.inv(M + J) - J


def _split(params, fit_intercept):
    if fit_intercept:
        return params[:, :-1], params[:, -1]
    return params, 0.0

