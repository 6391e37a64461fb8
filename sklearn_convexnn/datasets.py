"""Planted-model generators for tests, examples and benchmarks.

Each generator draws Gaussian inputs and targets from a known network of the
kind an estimator of this package fits, so recovery and optimality can be
checked against the truth.
"""

import numpy as np
from sklearn.utils import check_random_state

from ._solvers.lifted.lifted import resolve_activation
from ._solvers.lifted.patches import patch_blocks, patch_geometry

__all__ = ["make_planted_cnn", "make_planted_polynet", "make_planted_quantized"]


def make_planted_polynet(n_samples=200, n_features=5, n_neurons=3, *, activation="relu-approx",
                         noise=0.0, random_state=None, return_network=False):
    """Samples from a two-layer network with unit-norm quadratic-activation neurons.

    Parameters
    ----------
    n_samples : int, default=200
        Number of samples drawn.
    n_features : int, default=5
        Dimension of the Gaussian inputs.
    n_neurons : int, default=3
        Number of hidden neurons of the planted network.
    activation : str or tuple (a, b, c), default="relu-approx"
        Quadratic activation ``a t^2 + b t + c``, by name (as in
        :class:`~sklearn_convexnn.ConvexPolyNetRegressor`) or by coefficients.
    noise : float, default=0.0
        Standard deviation of Gaussian noise added to the targets.
    random_state : int, RandomState instance or None, default=None
        Seed of the inputs, the network and the noise.
    return_network : bool, default=False
        Also return ``(hidden_weights, output_weights)``.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Standard Gaussian inputs.
    y : ndarray of shape (n_samples,)
        Targets of the planted network plus noise.
    network : tuple of (ndarray of shape (n_neurons, n_features), ndarray of shape (n_neurons,))
        Unit-norm hidden weights and output weights; only if ``return_network``.

    See Also
    --------
    make_planted_quantized : The same network with sign-vector neurons.
    make_planted_cnn : Images labelled by a convolutional network.
    sklearn_convexnn.ConvexPolyNetRegressor : The estimator fitting this model.

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
    normalized: ``||u||^2 = n_features``); the output weights are divided by
    ``n_features`` to keep the targets of order one.

    Parameters
    ----------
    n_samples : int, default=200
        Number of samples drawn.
    n_features : int, default=6
        Dimension of the Gaussian inputs.
    n_neurons : int, default=3
        Number of hidden neurons of the planted network.
    activation : str or tuple (a, b, c), default="relu-approx"
        Quadratic activation ``a t^2 + b t + c``, by name or by coefficients.
    noise : float, default=0.0
        Standard deviation of Gaussian noise added to the targets.
    random_state : int, RandomState instance or None, default=None
        Seed of the inputs, the network and the noise.
    return_network : bool, default=False
        Also return ``(hidden_weights, output_weights)``.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Standard Gaussian inputs.
    y : ndarray of shape (n_samples,)
        Targets of the planted network plus noise.
    network : tuple of (ndarray of shape (n_neurons, n_features), ndarray of shape (n_neurons,))
        Hidden weights in {-1, +1} and output weights; only if
        ``return_network``.

    See Also
    --------
    make_planted_polynet : The same network with unit-norm real neurons.
    sklearn_convexnn.QuantizedSDPRegressor : The estimator fitting this model.

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


def make_planted_cnn(n_samples=200, image_shape=(9, 9), patch_shape=(3, 3), *, stride=1,
                     n_filters=1, activation="relu", pooling="average", pool_regions=(1, 1),
                     noise=0.0, random_state=None, return_network=False):
    """Gaussian images labelled by a one-hidden-layer convolutional network.

    ``y = sum_j v_j sum_k a_k sigma(u_j . P_k x) + noise``: unit-norm filters
    ``u_j`` over every patch ``P_k x`` (see ``ConvexCNNRegressor`` for the
    layout of a flattened image), pooling weights ``a_k`` summed over the
    ``pool_regions`` grid, output weights ``v_j``. With one filter ``v = 1``,
    the model of the ReLU relaxation; with more, random signs and sizes in
    [0.5, 1.5].

    Parameters
    ----------
    n_samples : int, default=200
        Number of images drawn.
    image_shape : tuple (H, W) or (H, W, C), default=(9, 9)
        Shape of one image; images are returned flattened.
    patch_shape : tuple (ph, pw), default=(3, 3)
        Shape of the filters.
    stride : int or tuple, default=1
        Step between patches, in pixels.
    n_filters : int, default=1
        Number of planted filters.
    activation : "relu", or a quadratic name or tuple (a, b, c), default="relu"
        Activation applied to every filter response.
    pooling : {"average", "sum"}, default="average"
        How the responses of the patches of a pooling region are combined.
    pool_regions : tuple (gh, gw), default=(1, 1)
        Grid of pooling regions over the patch positions.
    noise : float, default=0.0
        Standard deviation of Gaussian noise added to the targets.
    random_state : int, RandomState instance or None, default=None
        Seed of the images, the network and the noise.
    return_network : bool, default=False
        Also return ``(filters, output_weights)``.

    Returns
    -------
    X : ndarray of shape (n_samples, H * W * C)
        Flattened standard Gaussian images.
    y : ndarray of shape (n_samples,)
        Targets of the planted network plus noise.
    network : tuple of (ndarray of shape (n_filters, ph * pw * C), ndarray of shape (n_filters,))
        Unit-norm filters and output weights; only if ``return_network``.

    See Also
    --------
    make_planted_polynet : A fully connected planted network.
    sklearn_convexnn.ConvexCNNRegressor : The estimator fitting this model.
    sklearn_convexnn.ReLURelaxationCNNRegressor : The ReLU relaxation of it.

    Examples
    --------
    >>> X, y, (U, v) = make_planted_cnn(40, (9, 9), (3, 3), stride=3, random_state=0,
    ...                                 return_network=True)
    >>> X.shape, U.shape, v.tolist(), bool(y.min() >= 0)
    ((40, 81), (1, 9), [1.0], True)
    """
    rng = check_random_state(random_state)
    n_features = int(np.prod(image_shape))
    geometry = patch_geometry(n_features, image_shape, patch_shape, stride, pool_regions,
                              pooling)
    U = rng.standard_normal((n_filters, geometry.patch_size))
    U /= np.linalg.norm(U, axis=1, keepdims=True)
    if n_filters == 1:
        v = np.ones(1)
    else:
        v = rng.choice([-1.0, 1.0], n_filters) * rng.uniform(0.5, 1.5, n_filters)
    X = rng.standard_normal((n_samples, n_features))
    blocks = patch_blocks(X, geometry)
    T = blocks[0].P @ U.T
    if isinstance(activation, str) and activation == "relu":
        H = np.maximum(T, 0.0)
    else:
        a, b, c = resolve_activation(activation)
        H = a * T**2 + b * T + c
    pool = sum(blk.pool for blk in blocks)
    y = np.asarray(pool @ H) @ v + noise * rng.standard_normal(n_samples)
    return (X, y, (U, v)) if return_network else (X, y)
