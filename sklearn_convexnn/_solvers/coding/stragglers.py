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

:class:`StragglerSimulator` (public as ``sklearn_convexnn.coding.StragglerSimulator``)
holds a model and its random stream; it sits here, below the estimators, because
the coded data passes of ``products.py`` (used by the distributed meta-estimators)
draw from it too.
"""

from numbers import Real

import numpy as np
from sklearn.utils import check_random_state

__all__ = ["StragglerSimulator", "completion_time", "finishing_times"]


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


class StragglerSimulator:
    """Random finishing times of workers: shifted-exponential or Pareto.

    A worker given a fraction ``load`` of the data finishes at
    ``load * (shift + E / rate)``, ``E ~ Exp(1)`` (shifted exponential), or
    ``load * shift * P`` with ``P`` Pareto of index ``shape`` (``P >= 1``):
    both the work and the random slow-down scale with the load.

    Parameters
    ----------
    distribution : {"shifted-exponential", "pareto"}, default="shifted-exponential"
    shift : float, default=1.0
        Time per unit load of a worker that does not straggle.
    rate : float, default=1.0
        Rate of the exponential slow-down; ``1 / rate`` is its mean per
        unit load (the straggling strength).
    shape : float, default=2.0
        Tail index of the Pareto slow-down (heavier tail when smaller).
    random_state : int, RandomState instance or None, default=None
        Seeds the finishing times.

    See Also
    --------
    coded_matmul : Uses a simulator to decide which workers arrive when.
    CodedProducts : Repeated products, each timed by a simulator.

    References
    ----------
    {reference}

    K. Lee, M. Lam, R. Pedarsani, D. Papailiopoulos, K. Ramchandran.
    Speeding up distributed machine learning using codes. IEEE Trans.
    Information Theory, 2018.

    Examples
    --------
    >>> from sklearn_convexnn.coding import PolarCode, StragglerSimulator
    >>> sim = StragglerSimulator(rate=0.5, random_state=0)
    >>> t, workers = sim.completion_time(PolarCode(16, 8))
    >>> 8 <= len(workers) <= 16
    True
    """

    def __init__(
        self,
        distribution="shifted-exponential",
        *,
        shift=1.0,
        rate=1.0,
        shape=2.0,
        random_state=None,
    ):
        if distribution not in ("shifted-exponential", "pareto"):
            raise ValueError(
                f"distribution must be 'shifted-exponential' or 'pareto'; got {distribution!r}."
            )
        for name, value in (("shift", shift), ("rate", rate), ("shape", shape)):
            if not (isinstance(value, Real) and value > 0):
                raise ValueError(f"{name} must be a positive number; got {value!r}.")
        self.distribution = distribution
        self.shift, self.rate, self.shape = float(shift), float(rate), float(shape)
        self.random_state = random_state
        self._rng = np.random.default_rng(
            check_random_state(random_state).randint(np.iinfo(np.int32).max)
        )

    def finishing_times(self, n_workers, load=1.0):
        """One draw of the finishing time of each of ``n_workers`` workers.

        Parameters
        ----------
        n_workers : int
            Number of workers.
        load : float or array-like of shape (n_workers,), default=1.0
            Fraction of the data each worker processes.

        Returns
        -------
        ndarray of shape (n_workers,)
        """
        loads = np.broadcast_to(np.asarray(load, dtype=float), (n_workers,))
        return finishing_times(
            loads, self.distribution, self.shift, self.rate, self.shape, self._rng
        )

    def completion_time(self, code):
        """One draw of the time at which ``code`` can decode.

        Each worker's load is ``1 / code.n_blocks`` (its block's share of
        the rows).

        Parameters
        ----------
        code : PolarCode, MDSCode, ReplicationCode or UncodedCode
            Code whose decodable sets are timed.

        Returns
        -------
        time : float
        workers : ndarray of int
            The workers arrived by then, first arrived first.
        """
        times = self.finishing_times(code.n_workers, 1.0 / code.n_blocks)
        return completion_time(times, code.is_decodable)

    def expected_completion_time(self, code, n_trials=200):
        """Monte-Carlo mean of :meth:`completion_time` over ``n_trials`` draws.

        Parameters
        ----------
        code : PolarCode, MDSCode, ReplicationCode or UncodedCode
            Code whose decodable sets are timed.
        n_trials : int, default=200
            Number of Monte-Carlo draws averaged.

        Returns
        -------
        float
        """
        return float(np.mean([self.completion_time(code)[0] for _ in range(n_trials)]))


# Published by ``coding.py``: documented, pickled and shown under that name.
StragglerSimulator.__module__ = "sklearn_convexnn.coding"
