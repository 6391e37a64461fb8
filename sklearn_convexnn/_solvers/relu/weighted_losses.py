"""The shared losses bound to one data set, in the shape the ReLU solvers call.

The maths lives once, in ``shared/losses.py`` (values, gradients, Fenchel
conjugates, domains, sample weights), ``shared/intercept.py`` (the best
constant predictor) and ``shared/dual.py`` (the pull of a dual point into
the conjugate's domain). The ReLU solvers evaluate one loss on one target
matrix thousands of times, so :class:`BoundLoss` fixes the targets ``Y``
and the normalized sample weights ``pi`` (rows of weight zero are dropped
by the caller)::

    L(Z) = sum_i pi_i l(z_i, y_i),     pi_i = s_i / sum_k s_k.
"""

import numpy as np

from ..shared.dual import mix_weight
from ..shared.intercept import intercept_only_fit
from ..shared.losses import get_loss

__all__ = ["BoundLoss", "get_weighted_loss"]

#: The data terms of the ReLU estimators.
RELU_LOSSES = ("squared", "logistic", "multinomial")


class BoundLoss:
    """A shared loss with its targets ``Y`` (n, k) and weights ``pi`` (n,) fixed."""

    def __init__(self, name, Y, pi):
        self.name = name
        self.Y = np.asarray(Y, dtype=float)
        self.base = get_loss(name, sample_weight=np.asarray(pi, dtype=float))
        #: Per-sample coefficients (n, 1), summing to one.
        self.pi = self.base.sample_coef(self.Y)
        self._constant = None

    def value(self, Z):
        return self.base.value(Z, self.Y)

    def gradient(self, Z):
        return self.base.gradient(Z, self.Y)

    def conjugate(self, Theta):
        return self.base.conjugate(Theta, self.Y)

    def best_constant(self):
        """The intercept minimizing the loss of a constant predictor, shape (k,)."""
        if self._constant is None:
            self._constant = intercept_only_fit(self.Y, self.base)
        return self._constant[0]

    def interior_dual(self):
        """A centred dual point strictly inside the conjugate's domain."""
        return self.base.interior_dual(self.Y)

    def mix_into_domain(self, Theta):
        """Smallest t in [0, 1] (to 2^-60) with (1 - t) Theta + t interior_dual() in the domain."""
        if self.base.in_domain(Theta, self.Y):
            return 0.0
        return mix_weight(Theta, self.interior_dual(), self.Y, self.base)


def get_weighted_loss(name, Y, pi):
    """The loss called ``name`` ("squared", "logistic", "multinomial") bound to ``Y``, ``pi``."""
    if name not in RELU_LOSSES:
        raise ValueError(f"Unknown loss {name!r}; expected one of {list(RELU_LOSSES)}.")
    return BoundLoss(name, Y, pi)
