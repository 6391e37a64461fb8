"""Sample-weighted losses for the convex ReLU solvers.

``shared/losses.py`` averages over samples with equal weights; the ReLU
estimators take ``sample_weight``, so the data term here is::

    L(Z) = sum_i pi_i l(z_i, y_i),     pi_i = s_i / sum_k s_k,

which equals the plain mean over the data set in which row i is repeated
s_i times. Rows with weight zero are dropped by the caller. Each loss knows
its value, gradient, Fenchel conjugate ``L*(Theta) = sum_i pi_i
l*(Theta_i / pi_i)``, a strictly interior dual point whose columns sum to
zero (the gradient at the best constant predictor), and the largest step
``t`` towards that interior point that puts a centred dual point back into
the conjugate's domain.
"""

import numpy as np
from scipy.special import expit, log_expit, logsumexp, softmax, xlogy

__all__ = ["get_weighted_loss"]


class WeightedLoss:
    """Base class: per-sample weights ``pi`` (summing to one), targets ``Y`` (n, k)."""

    name = None

    def __init__(self, Y, pi):
        self.Y = np.asarray(Y, dtype=float)
        self.pi = np.asarray(pi, dtype=float)[:, None]

    def value(self, Z):
        return float(np.sum(self.pi * self._pointwise(Z)))

    def gradient(self, Z):
        return self.pi * self._derivative(Z)

    def value_and_gradient(self, Z):
        return self.value(Z), self.gradient(Z)

    def conjugate(self, Theta):
        return float(np.sum(self.pi * self._conjugate_pointwise(Theta / self.pi)))

    def best_constant(self):
        """The intercept minimizing the loss of a constant predictor, shape (k,)."""
        raise NotImplementedError

    def interior_dual(self):
        """Gradient at the best constant predictor: centred and inside the domain."""
        return self.gradient(np.broadcast_to(self.best_constant(), self.Y.shape))

    def mix_into_domain(self, Theta):
        """Smallest t in [0, 1] with (1 - t) Theta + t interior_dual() in the domain."""
        return 0.0


class SquaredLoss(WeightedLoss):
    name = "squared"

    def _pointwise(self, Z):
        return 0.5 * (Z - self.Y) ** 2

    def _derivative(self, Z):
        return Z - self.Y

    def _conjugate_pointwise(self, S):
        return 0.5 * S**2 + S * self.Y

    def best_constant(self):
        return np.sum(self.pi * self.Y, axis=0)


def _mix_fraction(P, P0):
    """Smallest t with (1 - t) P + t P0 in [0, 1] entrywise, for P0 strictly inside."""
    t = 0.0
    low = P < 0
    if np.any(low):
        t = max(t, float(np.max(-P[low] / (P0[low] - P[low]))))
    high = P > 1
    if np.any(high):
        t = max(t, float(np.max((P[high] - 1) / (P[high] - P0[high]))))
    return min(t, 1.0)


class LogisticLoss(WeightedLoss):
    """l(z, y) = log(1 + exp(-y z)) with y in {-1, +1}, one column per output."""

    name = "logistic"

    def _pointwise(self, Z):
        return -log_expit(self.Y * Z)

    def _derivative(self, Z):
        return -self.Y * expit(-self.Y * Z)

    def _conjugate_pointwise(self, S):
        p = np.clip(-S * self.Y, 0.0, 1.0)
        return xlogy(p, p) + xlogy(1 - p, 1 - p)

    def best_constant(self):
        q = np.clip(np.sum(self.pi * (self.Y > 0), axis=0), 1e-12, 1 - 1e-12)
        return np.log(q) - np.log1p(-q)

    def mix_into_domain(self, Theta):
        P = -Theta * self.Y / self.pi
        P0 = -self.interior_dual() * self.Y / self.pi
        return _mix_fraction(P, P0)


class MultinomialLoss(WeightedLoss):
    """Softmax cross-entropy with one-hot rows Y."""

    name = "multinomial"

    def value(self, Z):
        return float(np.sum(self.pi[:, 0] * (logsumexp(Z, axis=1) - np.sum(self.Y * Z, axis=1))))

    def gradient(self, Z):
        return self.pi * (softmax(Z, axis=1) - self.Y)

    def conjugate(self, Theta):
        P = np.clip(Theta / self.pi + self.Y, 0.0, 1.0)
        return float(np.sum(self.pi * xlogy(P, P)))

    def best_constant(self):
        q = np.clip(np.sum(self.pi * self.Y, axis=0), 1e-12, None)
        return np.log(q)

    def mix_into_domain(self, Theta):
        P = Theta / self.pi + self.Y
        P0 = self.interior_dual() / self.pi + self.Y
        # Rows of P sum to one already; only nonnegativity can fail.
        low = P < 0
        if not np.any(low):
            return 0.0
        return min(1.0, float(np.max(-P[low] / (P0[low] - P[low]))))


LOSSES = {cls.name: cls for cls in (SquaredLoss, LogisticLoss, MultinomialLoss)}


def get_weighted_loss(name, Y, pi):
    """The weighted loss called ``name`` ("squared", "logistic", "multinomial")."""
    try:
        return LOSSES[name](Y, pi)
    except KeyError:
        raise ValueError(f"Unknown loss {name!r}; expected one of {sorted(LOSSES)}.") from None
