"""From convex weights to a plain network, and that network's forward pass.

A group ``w`` (gate j, output c) becomes one neuron with balanced weights
``h = w / sqrt(||w||)`` and output weight ``a = sqrt(||w||)`` (``-sqrt`` for
the exact problem's ``v`` groups), so ``a h = w`` and the weight-decay
penalty ``(alpha / 2)(||h||^2 + a^2)`` of the non-convex network equals
``alpha ||w||``.
"""

import numpy as np

__all__ = ["deep_forward", "gated_forward", "neurons_from_weights", "relu_forward"]


def neurons_from_weights(W, signs, gate_of, output_of, n_outputs):
    """Returns (hidden (m, d), output (m, k), gate index (m,)) for the nonzero columns."""
    norms = np.sqrt(np.sum(W**2, axis=0))
    keep = np.flatnonzero(norms > 0)
    scale = np.sqrt(norms[keep])
    hidden = (W[:, keep] / scale).T
    out = np.zeros((keep.size, n_outputs))
    out[np.arange(keep.size), output_of[keep]] = signs[keep] * scale
    return hidden, out, gate_of[keep]


def relu_forward(X, hidden, output, intercept):
    """``relu(X H^T) A + b``."""
    return np.maximum(np.asarray(X @ hidden.T), 0.0) @ output + intercept


def gated_forward(X, hidden, output, intercept, gates):
    """``(1[X G >= 0] * (X H^T)) A + b``; ``gates`` (d, m) is each neuron's gate."""
    pre = np.asarray(X @ hidden.T)
    return ((np.asarray(X @ gates) >= 0) * pre) @ output + intercept


def deep_forward(X, hidden, output, intercept, first, second, second_out):
    """Three-layer gated parallel network.

    Neuron m: ``1[x.first_m >= 0] * 1[relu(x second_m) . second_out_m >= 0] * (x.h_m)``;
    ``first`` (d, m), ``second`` (m, d, width), ``second_out`` (m, width).
    """
    from .gates import deep_second_mask

    pre = np.asarray(X @ hidden.T)
    gate = (np.asarray(X @ first) >= 0) & deep_second_mask(X, second, second_out)
    return (gate * pre) @ output + intercept
