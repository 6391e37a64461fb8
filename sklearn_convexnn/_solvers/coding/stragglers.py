"""Straggler models: random finishing times of the workers.

A worker given a fraction ``load`` of the data finishes at::

    shifted-exponential:  load * (shift + E / rate),   E ~ Exp(1)
    pareto:               load * shift * P,            P ~ Pareto(shape), P >= 1

(Lee et al., "Speeding up distributed machine learning using codes", 2018,
for the first model): the deterministic part scales with the work, and so
does the random slow-down. The completion time of a code is the time of
the first arrival after which the arrived set is decodable; decodability
is monotone in the arrived set, so a bisection over the arrival order
finds it.
"""

import numpy as np

__all__ = ["completion_time", "finishing_times"]


def finishing_times(loads, distribution, shift, rate, shape, rng):
    """One draw of every worker's finishing time."""
    loads = np.asarray(loads, dtype=float)
    if distribution == "shifted-exponential":
        return loads * (shift + rng.exponential(1.0 / rate, size=loads.shape))
    if distribution == "pareto":
        return loads * shift * (1.0 + rng.pareto(shape, size=loads.shape))
    raise ValueError(f"Unknown delay distribution {distribution!r}.")


def completion_time(times, is_decodable):
    """First time at which the arrived set is decodable.

    Parameters
    ----------
    times : ndarray of shape (N,)
        Finishing time of each worker.
    is_decodable : callable
        ``is_decodable(workers) -> bool``, monotone in the set.

    Returns
    -------
    time : float
        ``inf`` if even all workers do not suffice.
    used : ndarray of int
        The workers arrived by then, in arrival order.
    """
    order = np.argsort(times, kind="stable")
    if not is_decodable(order):
        return np.inf, order
    lo, hi = 1, len(order)
    while lo < hi:
        mid = (lo + hi) // 2
        if is_decodable(order[:mid]):
            hi = mid
        else:
            lo = mid + 1
    return float(times[order[lo - 1]]), order[:lo]
