"""The best intercept-only (constant) prediction of a loss, and its gradient.

Every lifted family starts from it: it is the network with no neuron, the
dual point of ``alpha_max`` (the loss gradient there) and the first iterate
of several solvers. One function, :func:`intercept_only_fit`, serves them
all: closed forms (weighted mean, log-odds, log class frequency, weighted
median, the heavier class for the hinge), a bisection for Huber, and the
(sub)gradient at the optimum in an exactly zero-sum form.
"""

import numpy as np

__all__ = ["constant_fit", "intercept_only_dual", "intercept_only_fit"]


def intercept_only_dual(Y, loss, fit_intercept=True):
    """Loss gradient at the best intercept-only fit: the dual point of alpha_max.

    Documented, with its parameters, as the public
    ``sklearn_convexnn.paths.intercept_only_dual``.
    """
    return intercept_only_fit(Y, loss, fit_intercept)[1]


def intercept_only_fit(Y, loss, fit_intercept=True):
    """Best constant prediction and the (sub)gradient there: ``(intercept, theta)``.

    See :func:`intercept_only_dual`; ``intercept`` has shape (n_outputs,).
    Sample weights carried by the loss (``loss.sample_coef``) are honoured.
    """
    Y = np.asarray(Y, dtype=float)
    k = Y.shape[1]
    # Per-sample coefficients c (n, 1) summing to one: 1/n without weights.
    c = loss.sample_coef(Y) if hasattr(loss, "sample_coef") \
        else np.full((Y.shape[0], 1), 1.0 / Y.shape[0])
    if not fit_intercept:
        return np.zeros(k), loss.gradient(np.zeros_like(Y), Y)
    name = loss.name
    if name in ("squared", "multinomial"):
        mean = (c * Y).sum(axis=0)
        b = mean if name == "squared" else np.log(np.clip(mean, 1e-300, None))
        # The gradient at the optimum, in its exactly zero-sum form.
        return b, c * (mean - Y)
    if name == "logistic":
        pos = np.clip((c * (Y > 0)).sum(axis=0), 1e-300, 1 - 1e-16)
        b = np.log(pos / (1 - pos))
        return b, loss.gradient(np.broadcast_to(b, Y.shape), Y)
    fits = [_CONSTANT_FITS[name](col, c[:, 0], loss.delta) for col in Y.T]
    return np.array([f[0] for f in fits]), np.column_stack([f[1] for f in fits])


def _huber_constant(y, c, delta):
    """Minimizer of sum_i c_i huber(b - y_i) (bisection on its slope), and its gradient."""
    lo, hi = float(y.min()), float(y.max())
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if np.sum(c * np.clip(mid - y, -delta, delta)) > 0:
            hi = mid
        else:
            lo = mid
        if hi - lo <= 1e-15 * max(1.0, abs(mid)):
            break
    b = 0.5 * (lo + hi)
    g = c * np.clip(b - y, -delta, delta)
    # Remove the bisection's last rounding (a gradient up to it) so the sum is zero.
    return b, g - c * (g.sum() / c.sum())


def _absolute_constant(y, c, delta=None):
    """Weighted median b of sum c_i |b - y_i| and a zero-sum subgradient there.

    The subgradient is ``c_i sign(b - y_i)``; samples tied with b share the
    slack so the total is zero (possible exactly because b is a median).
    """
    order = np.argsort(y, kind="stable")
    cum = np.cumsum(c[order])
    b = float(y[order][np.searchsorted(cum, 0.5 * cum[-1])])
    g = c * np.sign(b - y)
    ties = y == b
    g[ties] = -g[~ties].sum() * c[ties] / c[ties].sum()
    return b, g


def _hinge_constant(y, c, delta=None):
    """Best constant b of sum c_i max(0, 1 - y_i b) and a zero-sum subgradient there."""
    pos, neg = y > 0, y < 0
    w_pos, w_neg = c[pos].sum(), c[neg].sum()
    # The heavier class sits at margin exactly 1 (subgradient anywhere in
    # [-c y, 0]), the lighter one at margin -1 (gradient -c y).
    g = -c * y
    if w_pos > w_neg:
        g[pos] *= w_neg / w_pos
        return 1.0, g
    if w_neg > w_pos:
        g[neg] *= w_pos / w_neg
        return -1.0, g
    return 0.0, g


_CONSTANT_FITS = {"huber": _huber_constant, "absolute": _absolute_constant,
                  "hinge": _hinge_constant}


def constant_fit(Y, loss):
    """Best constant prediction (n_outputs,): :func:`intercept_only_fit` without the gradient."""
    return intercept_only_fit(Y, loss)[0]

