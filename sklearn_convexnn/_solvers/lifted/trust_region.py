"""Exact maximization of a quadratic over the unit sphere.

``max_{||u|| = 1} u^T A u + g^T u`` is a trust-region subproblem with an
equality constraint. The S-lemma makes it a convex problem in disguise: one
symmetric eigendecomposition and a one-dimensional root find give the global
maximizer, hard case included. This is the pricing step of the duality
certificate (which neuron violates the dual constraint the most).
"""

import numpy as np

__all__ = ["sphere_quadratic_range", "trust_region_max"]


def trust_region_max(A, g):
    """Globally maximize ``u^T A u + g^T u`` subject to ``||u||_2 = 1``.

    Parameters
    ----------
    A : ndarray of shape (d, d)
        Symmetric matrix.
    g : ndarray of shape (d,)

    Returns
    -------
    value : float
        Objective at the returned maximizer ``u`` (attained, so a lower bound
        on the maximum).
    u : ndarray of shape (d,)
        Unit-norm maximizer.
    upper : float
        Lagrangian dual bound: an upper bound on the maximum, equal to
        ``value`` up to rounding. Certificates use this side.

    Examples
    --------
    >>> import numpy as np
    >>> value, u, upper = trust_region_max(np.diag([1.0, 3.0]), np.zeros(2))
    >>> round(value, 6), round(float(abs(u[1])), 6)
    (3.0, 1.0)
    """
    A = np.asarray(A, dtype=float)
    g = np.asarray(g, dtype=float)
    # max u'Au + g'u  =  -min u'Hu + 2h'u  with H = -A, h = -g/2.
    lam, V = np.linalg.eigh(-(A + A.T) / 2)
    h = V.T @ (-g / 2)
    scale = max(1.0, float(np.max(np.abs(lam))), float(np.linalg.norm(h)))
    lam1 = lam[0]
    bottom = lam - lam1 <= 1e-12 * scale
    rest = ~bottom

    # Hard case: no weight of h on the bottom eigenspace and the rest of the
    # stationary point lies strictly inside the ball.
    if np.linalg.norm(h[bottom]) <= 1e-12 * scale:
        coef = np.zeros_like(h)
        coef[rest] = -h[rest] / (lam[rest] - lam1)
        norm_rest = np.linalg.norm(coef)
        if norm_rest <= 1.0:
            coef[np.flatnonzero(bottom)[0]] += np.sqrt(max(0.0, 1.0 - norm_rest**2))
            u = V @ coef
            return _finish(A, g, u, lam, h, -lam1, rest)

    # Easy case: ||(H + mu I)^{-1} h|| = 1 has one root with mu > -lam1;
    # bisect on t = mu + lam1 > 0 on a geometric scale (robust near the hard
    # case, where the root hugs t = 0).
    def norm_at(t):
        return np.linalg.norm(h / (lam - lam1 + t))

    hi = float(np.linalg.norm(h))  # norm_at(hi) <= 1 always
    lo = hi * 1e-40
    if norm_at(lo) <= 1.0:
        hi = lo
    while hi > lo * (1 + 1e-15):
        t = np.sqrt(lo * hi)
        if t <= lo or t >= hi:
            break
        if norm_at(t) > 1.0:
            lo = t
        else:
            hi = t
    t = hi
    coef = -h / (lam - lam1 + t)
    u = V @ coef
    return _finish(A, g, u, lam, h, t - lam1, np.ones_like(rest))


def _finish(A, g, u, lam, h, mu, support):
    u = u / np.linalg.norm(u)
    value = float(u @ A @ u + g @ u)
    # Weak duality: for mu >= -lam1, min q(u) >= -mu - h'(H + mu I)^+ h.
    denom = lam[support] + mu
    safe = denom > 0
    upper = float(mu + np.sum(h[support][safe] ** 2 / denom[safe]))
    return value, u, max(upper, value)


def sphere_quadratic_range(A, g, c=0.0):
    """``max_{||u||=1} |u^T A u + g^T u + c|`` as (upper bound, maximizer).

    The absolute value is the larger of the maximum of ``q + c`` and the
    maximum of ``-(q + c)``; both are trust-region problems.
    """
    _, u_plus, up_plus = trust_region_max(A, g)
    _, u_minus, up_minus = trust_region_max(-A, -g)
    if up_plus + c >= up_minus - c:
        return up_plus + c, u_plus, 1.0
    return up_minus - c, u_minus, -1.0
