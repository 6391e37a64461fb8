"""Convex losses shared by every solver.

A loss is averaged over samples and summed over outputs::

    loss(Yhat) = (1/n) sum_i l(yhat_i, y_i)

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

__all__ = ["LOSSES", "get_loss"]


class Loss:
    """Base class; subclasses fill in the per-sample maths."""

    name = None
    smooth = True
    #: "regression", "binary" (targets +-1 per output) or "multinomial".
    target = "regression"

    def __init__(self, delta=1.0):
        self.delta = float(delta)

    def value(self, Yhat, Y):
        return float(np.sum(self._pointwise(Yhat, Y))) / Y.shape[0]

    def gradient(self, Yhat, Y):
        """Gradient (or a subgradient) of ``value`` with respect to Yhat."""
        return self._derivative(Yhat, Y) / Y.shape[0]

    def cvxpy(self, Yhat, Y):
        """cvxpy expression of ``value`` for an affine expression ``Yhat``."""
        return self._cvxpy_sum(Yhat, Y) / Y.shape[0]

    def conjugate(self, Theta, Y):
        """loss*(Theta) for a Theta inside the domain (see ``in_domain``)."""
        n = Y.shape[0]
        return float(np.sum(self._conjugate_pointwise(n * Theta, Y))) / n

    def in_domain(self, Theta, Y, tol=0.0):
        return True

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

    def _pointwise(self, Z, Y):
        return 0.5 * (Z - Y) ** 2

    def _derivative(self, Z, Y):
        return Z - Y

    def _cvxpy_sum(self, Z, Y):
        import cvxpy as cp

        return 0.5 * cp.sum_squares(Z - Y)

    def _conjugate_pointwise(self, S, Y):
        return 0.5 * S**2 + S * Y


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

    def _conjugate_pointwise(self, S, Y):
        return S * Y

    def in_domain(self, Theta, Y, tol=0.0):
        return bool(np.all(np.abs(Y.shape[0] * Theta) <= 1.0 + tol))


class HuberLoss(Loss):
    """l(z, y) = r^2/2 if |r| <= delta else delta |r| - delta^2/2, r = z - y."""

    name = "huber"

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

    def _conjugate_pointwise(self, S, Y):
        return 0.5 * S**2 + S * Y

    def in_domain(self, Theta, Y, tol=0.0):
        return bool(np.all(np.abs(Y.shape[0] * Theta) <= self.delta * (1 + tol)))


class LogisticLoss(Loss):
    """l(z, y) = log(1 + exp(-y z)), y in {-1, +1} (one column per output)."""

    name = "logistic"
    target = "binary"

    def _pointwise(self, Z, Y):
        return -log_expit(Y * Z)

    def _derivative(self, Z, Y):
        return -Y * expit(-Y * Z)

    def _cvxpy_sum(self, Z, Y):
        import cvxpy as cp

        return cp.sum(cp.logistic(-cp.multiply(Y, Z)))

    def _conjugate_pointwise(self, S, Y):
        p = np.clip(-S * Y, 0.0, 1.0)
        return xlogy(p, p) + xlogy(1 - p, 1 - p)

    def in_domain(self, Theta, Y, tol=0.0):
        p = -Y.shape[0] * Theta * Y
        return bool(np.all((p >= -tol) & (p <= 1 + tol)))

    def interior_dual(self, Y):
        # Gradient at the best constant predictor: centred, strictly inside.
        n = Y.shape[0]
        pos = np.mean(Y > 0, axis=0)
        p = np.where(Y > 0, 1 - pos, pos)
        return -Y * p / n


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

    def _conjugate_pointwise(self, S, Y):
        return S * Y

    def in_domain(self, Theta, Y, tol=0.0):
        p = -Y.shape[0] * Theta * Y
        return bool(np.all((p >= -tol) & (p <= 1 + tol)))

    def interior_dual(self, Y):
        n = Y.shape[0]
        n_pos = np.sum(Y > 0, axis=0)
        n_neg = n - n_pos
        m = np.minimum(n_pos, n_neg)
        kappa = np.where(Y > 0, 0.5 * m / np.maximum(n_pos, 1), 0.5 * m / np.maximum(n_neg, 1))
        return -Y * kappa / n


class MultinomialLoss(Loss):
    """Softmax cross-entropy, l(z, y) = logsumexp(z) - z_y, y one-hot."""

    name = "multinomial"
    target = "multinomial"

    def value(self, Yhat, Y):
        return float(np.sum(logsumexp(Yhat, axis=1) - np.sum(Y * Yhat, axis=1))) / Y.shape[0]

    def gradient(self, Yhat, Y):
        return (softmax(Yhat, axis=1) - Y) / Y.shape[0]

    def _cvxpy_sum(self, Z, Y):
        import cvxpy as cp

        return cp.sum(cp.log_sum_exp(Z, axis=1)) - cp.sum(cp.multiply(Y, Z))

    def conjugate(self, Theta, Y):
        n = Y.shape[0]
        P = np.clip(n * Theta + Y, 0.0, 1.0)
        return float(np.sum(xlogy(P, P))) / n

    def in_domain(self, Theta, Y, tol=0.0):
        P = Y.shape[0] * Theta + Y
        return bool(
            np.all(P >= -tol) and np.allclose(P.sum(axis=1), 1.0, atol=max(tol, 1e-12))
        )

    def interior_dual(self, Y):
        return (Y.mean(axis=0, keepdims=True) - Y) / Y.shape[0]


LOSSES = {
    cls.name: cls
    for cls in (SquaredLoss, AbsoluteLoss, HuberLoss, LogisticLoss, HingeLoss, MultinomialLoss)
}


def get_loss(name, delta=1.0):
    """Return the loss object called ``name`` (see ``LOSSES``)."""
    try:
        return LOSSES[name](delta=delta)
    except KeyError:
        raise ValueError(f"Unknown loss {name!r}; expected one of {sorted(LOSSES)}.") from None
