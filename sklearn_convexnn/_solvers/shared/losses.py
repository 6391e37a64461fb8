"""Convex losses shared by every solver.

A loss is averaged over samples and summed over outputs::

    loss(Yhat) = sum_i c_i l(yhat_i, y_i),   c_i = w_i / sum_j w_j

with sample weights ``w`` (all ones by default, so ``c_i = 1/n``). A weight
of 2 is the same as repeating the row, a weight of 0 the same as removing
it: the normalization by ``sum w`` keeps a good ``alpha`` independent of both.

Targets arrive already encoded as a float matrix ``Y`` of shape (n, k):
real values for regression, +-1 for the binary/one-vs-rest classification
losses, one-hot rows for the multinomial logistic loss.

Each loss knows four things: its value and gradient on numpy arrays (the
first-order solvers), its cvxpy expression (the exact solver), and its
Fenchel conjugate with the conjugate's domain (the duality certificate,
``lower_bound = -loss*(Theta)`` for a dual-feasible ``Theta``).
"""

import numpy as np
from scipy.special import expit, log_expit, logsumexp, softmax, xlogy

__all__ = ["LOSSES", "get_loss", "smooth_loss_names"]


class Loss:
    """Base class; subclasses fill in the per-sample maths."""

    name = None
    smooth = True
    #: For a smooth loss, a bound on its second derivative per (weighted)
    #: sample (the starting step of a backtracking line search); None else.
    curvature = None
    #: "regression", "binary" (targets +-1 per output) or "multinomial".
    target = "regression"

    def __init__(self, delta=1.0, sample_weight=None):
        self.delta = float(delta)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight, dtype=float)
            total = float(sample_weight.sum())
            if sample_weight.ndim != 1 or not np.all(np.isfinite(sample_weight)) \
                    or np.any(sample_weight < 0) or not total > 0:
                raise ValueError(
                    "sample_weight must be a finite, non-negative 1-d array with a "
                    "positive sum."
                )
            sample_weight = sample_weight / total
        #: Normalized weights c (summing to one), or None for 1/n each.
        self.weights = sample_weight

    def sample_coef(self, Y):
        """The per-sample coefficients ``c`` (n, 1): weights over their sum."""
        n = Y.shape[0]
        if self.weights is None:
            return np.full((n, 1), 1.0 / n)
        if self.weights.shape[0] != n:
            raise ValueError(
                f"sample_weight has {self.weights.shape[0]} entries for {n} samples."
            )
        return self.weights[:, None]

    def value(self, Yhat, Y):
        if self.weights is None:
            return float(np.sum(self._pointwise(Yhat, Y))) / Y.shape[0]
        return float(np.sum(self.sample_coef(Y) * self._pointwise(Yhat, Y)))

    def gradient(self, Yhat, Y):
        """Gradient (or a subgradient) of ``value`` with respect to Yhat."""
        if self.weights is None:
            return self._derivative(Yhat, Y) / Y.shape[0]
        return self.sample_coef(Y) * self._derivative(Yhat, Y)

    def cvxpy(self, Yhat, Y):
        """cvxpy expression of ``value`` for an affine expression ``Yhat``."""
        if self.weights is None:
            return self._cvxpy_sum(Yhat, Y) / Y.shape[0]
        import cvxpy as cp

        c = self.sample_coef(Y)
        return cp.sum(cp.multiply(np.broadcast_to(c, Y.shape), self._cvxpy_pointwise(Yhat, Y)))

    def conjugate(self, Theta, Y):
        """loss*(Theta) for a Theta inside the domain (see ``in_domain``).

        With ``loss = sum_i c_i l_i``, ``loss*(Theta) = sum_i c_i l*(Theta_i / c_i)``;
        rows of zero weight contribute nothing (their Theta must be zero).
        """
        c, S = self._scaled(Theta, Y)
        return float(np.sum(c * self._conjugate_pointwise(S, Y)))

    def in_domain(self, Theta, Y, tol=0.0):
        # Finite everywhere per row, but a row of zero weight has conjugate
        # +inf unless its Theta is zero.
        return self._zero_weight_clear(Theta, Y, tol)

    def _scaled(self, Theta, Y):
        """``(c, Theta / c)`` with zero-weight rows mapped to zero."""
        c = self.sample_coef(Y)
        safe = np.where(c > 0, c, 1.0)
        return c, np.where(c > 0, Theta / safe, 0.0)

    def _zero_weight_clear(self, Theta, Y, tol):
        c = self.sample_coef(Y)
        return bool(np.all(np.abs(Theta[c[:, 0] == 0]) <= tol))

    def gauss_newton(self, Jf, Yhat, Y, coef=None):
        """``sum_i J_i^T C_i J_i``: the data term's Hessian for predictions linear in
        the parameters (Gauss-Newton part otherwise), with ``Jf`` (n, k, n_par)
        the Jacobian of the predictions ``Yhat`` (n, k) and ``C_i`` the loss's
        curvature at sample i, weighted by ``coef`` (default
        :meth:`sample_coef`), as :meth:`gradient` is.
        """
        raise NotImplementedError(f"no curvature for the {self.name} loss")

    def _diagonal_gauss_newton(self, Jf, C):
        n, k, n_par = Jf.shape
        Jw = (Jf * np.sqrt(C)[:, :, None]).reshape(n * k, n_par)
        return Jw.T @ Jw

    def domain_box(self, S, Y):
        """The conjugate's domain as a box: ``(coordinates, low, high)`` or None.

        For the losses whose domain (per entry of the scaled ``S = Theta / c``)
        is an interval of a coordinate affine in ``S``, that coordinate and
        the interval's ends (``dual.mix_weight`` then takes its mixing
        weight directly instead of bisecting); None for the others.
        """
        return None

    def _cvxpy_pointwise(self, Z, Y):
        raise NotImplementedError

    def interior_dual(self, Y):
        """A dual point in the domain whose columns sum to zero.

        Used to pull a slightly infeasible dual point (from a solver that
        stopped at finite accuracy) back into the domain while keeping the
        centring that the unpenalized intercept demands.
        """
        return np.zeros_like(Y, dtype=float)


class SquaredLoss(Loss):
    """l(z, y) = (z - y)^2 / 2."""

    name = "squared"
    curvature = 1.0

    def _pointwise(self, Z, Y):
        return 0.5 * (Z - Y) ** 2

    def _derivative(self, Z, Y):
        return Z - Y

    def _cvxpy_sum(self, Z, Y):
        import cvxpy as cp

        return 0.5 * cp.sum_squares(Z - Y)

    def _cvxpy_pointwise(self, Z, Y):
        import cvxpy as cp

        return 0.5 * cp.square(Z - Y)

    def _conjugate_pointwise(self, S, Y):
        return 0.5 * S**2 + S * Y

    def gauss_newton(self, Jf, Yhat, Y, coef=None):
        coef = self.sample_coef(Y) if coef is None else coef
        return self._diagonal_gauss_newton(Jf, np.broadcast_to(coef, Yhat.shape))


class AbsoluteLoss(Loss):
    """l(z, y) = |z - y|."""

    name = "absolute"
    smooth = False

    def _pointwise(self, Z, Y):
        return np.abs(Z - Y)

    def _derivative(self, Z, Y):
        return np.sign(Z - Y)

    def _cvxpy_sum(self, Z, Y):
        import cvxpy as cp

        return cp.sum(cp.abs(Z - Y))

    def _cvxpy_pointwise(self, Z, Y):
        import cvxpy as cp

        return cp.abs(Z - Y)

    def _conjugate_pointwise(self, S, Y):
        return S * Y

    def in_domain(self, Theta, Y, tol=0.0):
        _, S = self._scaled(Theta, Y)
        return bool(np.all(np.abs(S) <= 1.0 + tol)) and self._zero_weight_clear(Theta, Y, tol)

    def domain_box(self, S, Y):
        return S, -1.0, 1.0


class HuberLoss(Loss):
    """l(z, y) = r^2/2 if |r| <= delta else delta |r| - delta^2/2, r = z - y."""

    name = "huber"
    curvature = 1.0

    def _pointwise(self, Z, Y):
        r = np.abs(Z - Y)
        d = self.delta
        return np.where(r <= d, 0.5 * r**2, d * r - 0.5 * d**2)

    def _derivative(self, Z, Y):
        return np.clip(Z - Y, -self.delta, self.delta)

    def _cvxpy_sum(self, Z, Y):
        import cvxpy as cp

        # cvxpy's huber is twice ours: x^2 inside, 2M|x| - M^2 outside.
        return 0.5 * cp.sum(cp.huber(Z - Y, self.delta))

    def _cvxpy_pointwise(self, Z, Y):
        import cvxpy as cp

        return 0.5 * cp.huber(Z - Y, self.delta)

    def _conjugate_pointwise(self, S, Y):
        return 0.5 * S**2 + S * Y

    def in_domain(self, Theta, Y, tol=0.0):
        _, S = self._scaled(Theta, Y)
        return bool(np.all(np.abs(S) <= self.delta * (1 + tol))) \
            and self._zero_weight_clear(Theta, Y, tol)

    def domain_box(self, S, Y):
        return S, -self.delta, self.delta

    def gauss_newton(self, Jf, Yhat, Y, coef=None):
        coef = self.sample_coef(Y) if coef is None else coef
        return self._diagonal_gauss_newton(Jf, coef * (np.abs(Yhat - Y) <= self.delta))


class LogisticLoss(Loss):
    """l(z, y) = log(1 + exp(-y z)), y in {-1, +1} (one column per output)."""

    name = "logistic"
    curvature = 0.25
    target = "binary"

    def _pointwise(self, Z, Y):
        return -log_expit(Y * Z)

    def _derivative(self, Z, Y):
        return -Y * expit(-Y * Z)

    def _cvxpy_sum(self, Z, Y):
        import cvxpy as cp

        return cp.sum(cp.logistic(-cp.multiply(Y, Z)))

    def _cvxpy_pointwise(self, Z, Y):
        import cvxpy as cp

        return cp.logistic(-cp.multiply(Y, Z))

    def _conjugate_pointwise(self, S, Y):
        p = np.clip(-S * Y, 0.0, 1.0)
        return xlogy(p, p) + xlogy(1 - p, 1 - p)

    def in_domain(self, Theta, Y, tol=0.0):
        _, S = self._scaled(Theta, Y)
        p = -S * Y
        return bool(np.all((p >= -tol) & (p <= 1 + tol))) \
            and self._zero_weight_clear(Theta, Y, tol)

    def domain_box(self, S, Y):
        return -S * Y, 0.0, 1.0

    def interior_dual(self, Y):
        # Gradient at the best constant predictor: centred, strictly inside.
        c = self.sample_coef(Y)
        pos = np.sum(c * (Y > 0), axis=0)
        p = np.where(Y > 0, 1 - pos, pos)
        return -Y * p * c

    def gauss_newton(self, Jf, Yhat, Y, coef=None):
        coef = self.sample_coef(Y) if coef is None else coef
        p = 1.0 / (1.0 + np.exp(-np.clip(Y * Yhat, -500, 500)))
        return self._diagonal_gauss_newton(Jf, coef * p * (1.0 - p))


class HingeLoss(Loss):
    """l(z, y) = max(0, 1 - y z), y in {-1, +1} (one column per output)."""

    name = "hinge"
    smooth = False
    target = "binary"

    def _pointwise(self, Z, Y):
        return np.maximum(0.0, 1 - Y * Z)

    def _derivative(self, Z, Y):
        return -Y * (Y * Z < 1)

    def _cvxpy_sum(self, Z, Y):
        import cvxpy as cp

        return cp.sum(cp.pos(1 - cp.multiply(Y, Z)))

    def _cvxpy_pointwise(self, Z, Y):
        import cvxpy as cp

        return cp.pos(1 - cp.multiply(Y, Z))

    def _conjugate_pointwise(self, S, Y):
        return S * Y

    # Same conjugate domain as the logistic loss: -s y in [0, 1] per entry.
    in_domain = LogisticLoss.in_domain
    domain_box = LogisticLoss.domain_box

    def interior_dual(self, Y):
        # kappa in [0, 1/2] per row, with sum_i c_i y_i kappa_i = 0 per output.
        c = self.sample_coef(Y)
        w_pos = np.sum(c * (Y > 0), axis=0)
        w_neg = np.sum(c * (Y <= 0), axis=0)
        m = np.minimum(w_pos, w_neg)
        tiny = np.finfo(float).tiny
        kappa = np.where(Y > 0, 0.5 * m / np.maximum(w_pos, tiny),
                         0.5 * m / np.maximum(w_neg, tiny))
        return -Y * kappa * c


class MultinomialLoss(Loss):
    """Softmax cross-entropy, l(z, y) = logsumexp(z) - z_y, y one-hot."""

    name = "multinomial"
    curvature = 0.5
    target = "multinomial"

    def value(self, Yhat, Y):
        per_row = logsumexp(Yhat, axis=1) - np.sum(Y * Yhat, axis=1)
        return float(np.sum(self.sample_coef(Y)[:, 0] * per_row))

    def gradient(self, Yhat, Y):
        return self.sample_coef(Y) * (softmax(Yhat, axis=1) - Y)

    def _cvxpy_sum(self, Z, Y):
        import cvxpy as cp

        return cp.sum(cp.log_sum_exp(Z, axis=1)) - cp.sum(cp.multiply(Y, Z))

    def cvxpy(self, Yhat, Y):
        if self.weights is None:
            return super().cvxpy(Yhat, Y)
        import cvxpy as cp

        c = self.sample_coef(Y)[:, 0]
        per_row = cp.log_sum_exp(Yhat, axis=1) - cp.sum(cp.multiply(Y, Yhat), axis=1)
        return cp.sum(cp.multiply(c, per_row))

    def conjugate(self, Theta, Y):
        c, S = self._scaled(Theta, Y)
        P = np.clip(S + Y, 0.0, 1.0)
        return float(np.sum(c * xlogy(P, P)))

    def in_domain(self, Theta, Y, tol=0.0):
        c, S = self._scaled(Theta, Y)
        P = (S + Y)[c[:, 0] > 0]
        return bool(
            np.all(P >= -tol) and np.allclose(P.sum(axis=1), 1.0, atol=max(tol, 1e-12))
        ) and self._zero_weight_clear(Theta, Y, tol)

    def interior_dual(self, Y):
        c = self.sample_coef(Y)
        return (np.sum(c * Y, axis=0, keepdims=True) - Y) * c

    def gauss_newton(self, Jf, Yhat, Y, coef=None):
        # Curvature diag(p) - p p^T per sample.
        coef = self.sample_coef(Y) if coef is None else coef
        coef = np.broadcast_to(coef, Yhat.shape)
        n, k, n_par = Jf.shape
        E = np.exp(Yhat - Yhat.max(axis=1, keepdims=True))
        P = E / E.sum(axis=1, keepdims=True)
        Jw = (Jf * np.sqrt(coef * P)[:, :, None]).reshape(n * k, n_par)
        B = np.einsum("iop,io->ip", Jf, P) * np.sqrt(coef[:, :1])
        return Jw.T @ Jw - B.T @ B


LOSSES = {
    cls.name: cls
    for cls in (SquaredLoss, AbsoluteLoss, HuberLoss, LogisticLoss, HingeLoss, MultinomialLoss)
}


def smooth_loss_names():
    """Sorted names of the losses with ``smooth = True`` (for error messages)."""
    return sorted(name for name, cls in LOSSES.items() if cls.smooth)


def get_loss(name, delta=1.0, sample_weight=None):
    """Return the loss object called ``name`` (see ``LOSSES``).

    ``sample_weight`` (n,) weighs each sample's term; the loss stays an
    average (weights are divided by their sum).
    """
    try:
        return LOSSES[name](delta=delta, sample_weight=sample_weight)
    except KeyError:
        raise ValueError(f"Unknown loss {name!r}; expected one of {sorted(LOSSES)}.") from None
