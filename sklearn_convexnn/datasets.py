"""Planted-model generators for tests, examples and benchmarks.

Each generator draws Gaussian inputs and targets from a known network of the
kind an estimator of this package fits, so recovery and optimality can be
checked against the truth.
"""

import numpy as np
from sklearn.utils import check_random_state

from ._solvers.lifted import resolve_activation

__all__ = ["make_planted_polynet", "make_planted_quantized"]


def make_planted_polynet(n_samples=200, n_features=5, n_neurons=3, *, activation="relu-approx",
                         noise=0.0, random_state=None, return_network=False):
    """Samples from a two-layer network with unit-norm quadratic-activation neurons.

    Parameters
    ----------
    n_samples, n_features, n_neurons : int
    activation : str or tuple (a, b, c), default="relu-approx"
    noise : float, default=0.0
        Standard deviation of Gaussian noise added to the targets.
    random_state : int, RandomState instance or None
    return_network : bool, default=False
        Also return ``(hidden_weights, output_weights)``.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    y : ndarray of shape (n_samples,)
    network : tuple, only if ``return_network``

    Examples
    --------
    >>> X, y = make_planted_polynet(50, 4, random_state=0)
    >>> X.shape, y.shape
    ((50, 4), (50,))
    """
    rng = check_random_state(random_state)
    U = rng.standard_normal((n_neurons, n_features))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    w = rng.choice([-1.0, 1.0], n_neurons) * rng.uniform(0.5, 1.5, n_neurons)
    return _sample(rng, U, w, n_samples, activation, noise, return_network)


def make_planted_quantized(n_samples=200, n_features=6, n_neurons=3, *,
                           activation="relu-approx", noise=0.0, random_state=None,
                           return_network=False):
    """Samples from a network whose first-layer weights are in {-1, +1}.

    Same as :func:`make_planted_polynet` with sign-vector neurons (not
    normalized: ``||u||^2 = n_features``).

    Examples
    --------
    >>> X, y, (U, w) = make_planted_quantized(30, 5, random_state=0, return_network=True)
    >>> sorted(set(U.ravel().tolist()))
    [-1.0, 1.0]
    """
    rng = check_random_state(random_state)
    U = rng.choice([-1.0, 1.0], size=(n_neurons, n_features))
    w = rng.choice([-1.0, 1.0], n_neurons) * rng.uniform(0.5, 1.5, n_neurons)
    w /= n_features  # keeps the targets O(1): (x . u)^2 grows like n_features
    return _sample(rng, U, w, n_samples, activation, noise, return_network)


def _sample(rng, U, w, n_samples, activation, noise, return_network):
    a, b, c = resolve_activation(activation)
    X = rng.standard_normal((n_samples, U.shape[1]))
    T = X @ U.T
    y = (a * T**2 + b * T + c) @ w + noise * rng.standard_normal(n_samples)
    return (X, y, (U, w)) if return_network else (X, y)
