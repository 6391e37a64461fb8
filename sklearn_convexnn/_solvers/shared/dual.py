"""Dual points of a loss: centring and the pull into the conjugate's domain.

Every certified lower bound of this package (the lifted certificate, the
l1 refit's duality gap) starts from an approximate dual point ``theta``
(the loss gradient at an iterate, a dual variable a solver returned) and
makes it feasible for the loss's conjugate before rescaling it into the
dual-norm ball of its own penalty. The loss-side half lives here, once:

* :func:`mix_weight`: the smallest ``w`` (bisection) with
  ``(1 - w) theta + w inner`` inside the conjugate's domain, ``inner`` a
  centred interior dual point of the loss;
* :func:`into_dual_domain`: ``theta`` mixed with that weight;
* :func:`feasible_dual`: centre (free intercept), zero the rows of zero
  weight, then pull into the domain.
"""

import numpy as np

__all__ = ["feasible_dual", "into_dual_domain", "mix_weight", "rescaled_bound"]

#: Bisection steps of :func:`mix_weight` (2^-60: below double rounding).
MIX_STEPS = 60


def mix_weight(theta, inner, Y, loss, steps=MIX_STEPS, rtol=0.0, atol=0.0):
    """Smallest ``w`` in [0, 1] with ``(1-w) theta + w inner`` in the domain.

    ``inner`` must lie in the domain (``w = 1`` is always accepted); the
    returned ``w`` is the upper end of a bisection (at most ``steps`` halvings,
    stopped once the bracket is within ``max(rtol * w, atol)``), so the mix is
    inside and any stopping point gives a valid bound. A caller that takes
    bounds often (``lifted/sphere_dual.py``) asks ``rtol=1e-3``: the bound lost
    by stopping at ``1.001 w*`` is negligible.

    The multinomial domain (rows of ``theta / c + Y`` in the simplex) is a
    polyhedron and both points keep the row sums, so its weight is a ratio,
    taken directly (and checked; the bisection remains the fallback); so is
    the weight of a domain that is a box (``loss.domain_box``: logistic,
    hinge, huber, absolute), entry by entry. On standardized breast_cancer
    the 60 domain checks of the bisection were a tenth of a quantized fit.
    """
    if loss.name == "multinomial":
        c = loss.sample_coef(Y)
        safe = np.where(c > 0, c, 1.0)
        A, B = theta / safe + Y, inner / safe + Y
        neg = A < 0
        if np.any(neg):
            w = float(np.max(-A[neg] / np.maximum(B[neg] - A[neg], 1e-300)))
            w = min(w * (1 + 1e-9) + 1e-15, 1.0)
            if loss.in_domain((1 - w) * theta + w * inner, Y):
                return w
    else:
        w = _box_weight(theta, inner, Y, loss)
        if w is not None and loss.in_domain((1 - w) * theta + w * inner, Y):
            return w
    lo, hi = 0.0, 1.0
    for _ in range(steps):
        if hi - lo <= max(rtol * hi, atol):
            break
        mid = (lo + hi) / 2
        if loss.in_domain((1 - mid) * theta + mid * inner, Y):
            hi = mid
        else:
            lo = mid
    return hi


def _box_weight(theta, inner, Y, loss):
    """The smallest mixing weight for a box domain (``loss.domain_box``), or None.

    Each entry's coordinate moves affinely from ``theta``'s to ``inner``'s
    (strictly inside); an entry outside needs the weight at which it
    crosses the nearer end. Slightly enlarged against rounding.
    """
    c = loss.sample_coef(Y)
    safe = np.where(c > 0, c, 1.0)
    box = loss.domain_box(np.where(c > 0, theta / safe, 0.0), Y)
    if box is None:
        return None
    A, low, high = box
    B = loss.domain_box(np.where(c > 0, inner / safe, 0.0), Y)[0]
    w = 0.0
    below, above = A < low, A > high
    if np.any(below):
        w = max(w, float(np.max((low - A[below]) / np.maximum(B[below] - A[below], 1e-300))))
    if np.any(above):
        w = max(w, float(np.max((A[above] - high) / np.maximum(A[above] - B[above], 1e-300))))
    return min(w * (1 + 1e-9) + 1e-15, 1.0)


def into_dual_domain(theta, Y, loss, rtol=0.0):
    """Mix with a centred interior dual point as little as the domain needs.

    ``rtol``: relative accuracy of the mixing weight (see :func:`mix_weight`).
    """
    if loss.in_domain(theta, Y):
        return theta
    inner = loss.interior_dual(Y)
    w = mix_weight(theta, inner, Y, loss, rtol=rtol)
    return (1 - w) * theta + w * inner


def feasible_dual(theta, Y, loss, fit_intercept=True, rtol=0.0):
    """Centre ``theta`` (free intercept) and pull it into the conjugate's domain.

    Centring removes each column's sum in proportion to the sample weights
    (plain mean removal without weights), so rows of zero weight keep the
    zero the conjugate's domain demands of them. ``rtol``: relative accuracy
    of the mixing weight (:func:`mix_weight`; any value gives a feasible point).
    """
    theta = np.array(theta, dtype=float)
    coef = loss.sample_coef(Y)
    theta[coef[:, 0] == 0] = 0.0  # a solver's rounding there is outside the domain
    if fit_intercept:
        theta -= coef * theta.sum(axis=0, keepdims=True)
    return into_dual_domain(theta, Y, loss, rtol)


def rescaled_bound(theta, dual_norm, alpha, Y, loss):
    """Rescale a feasible ``theta`` into the dual-norm ball; return ``(bound, theta)``.

    ``dual_norm`` must be an upper bound on ``theta``'s dual norm (the
    family's check: a neuron set's, the ReLU gates' group norms). Scaling
    towards zero keeps ``theta`` in the conjugate's domain (which holds 0)
    and centred. The last step of every certificate in the package.
    """
    if dual_norm > alpha:
        theta = theta * (alpha / dual_norm)
    return -loss.conjugate(theta, Y), theta
