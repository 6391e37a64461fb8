"""Gate vectors and the activation patterns they induce.

A gate ``g`` (a vector in feature space) induces the pattern
``D = diag(1[X g >= 0])``: the set of samples a ReLU neuron pointing like
``g`` lets through. The convex programs have one group of variables per
distinct pattern, so patterns are deduplicated and the empty pattern (which
carries nothing) is dropped.

For the three-layer parallel network (Ergen & Pilanci, path regularization)
a pattern is the product of a first-layer pattern ``1[X g >= 0]`` and a
second-layer pattern ``1[relu(X G) q >= 0]``, where ``G`` (n_features, m)
and ``q`` (m,) are a sampled first layer and second-layer direction of a
parallel sub-network.
"""

import numpy as np
import scipy.sparse as sp

__all__ = [
    "deep_gate_masks",
    "gate_masks",
    "sample_deep_gates",
    "sample_gates",
]

GATE_SAMPLING = ("gaussian", "data")


def sample_gates(X, n_gates, sampling, rng):
    """Draw ``n_gates`` gate vectors, shape (n_features, n_gates).

    ``"gaussian"``: i.i.d. standard normal entries. ``"data"``: differences
    ``x_a - x_b`` of two random training rows, so the hyperplanes follow the
    data's own scale and spread (useful on unscaled columns).
    """
    n, d = X.shape
    if sampling == "gaussian":
        return rng.standard_normal((d, n_gates))
    if sampling == "data":
        a = rng.integers(0, n, n_gates)
        b = rng.integers(0, n, n_gates)
        diff = X[a] - X[b]
        diff = diff.toarray() if sp.issparse(diff) else np.asarray(diff)
        # Identical rows give a zero gate (the all-ones pattern); nudge them.
        zero = ~np.any(diff != 0, axis=1)
        diff[zero] = rng.standard_normal((int(zero.sum()), d))
        return np.ascontiguousarray(diff.T)
    raise ValueError(f"gate_sampling must be one of {GATE_SAMPLING}, got {sampling!r}.")


def gate_masks(X, gates):
    """Distinct, non-empty patterns of ``gates``: returns (masks, kept gate indices).

    ``masks`` is boolean, shape (n_samples, n_kept), column j = 1[X g_j >= 0].
    """
    M = np.asarray(X @ gates) >= 0
    return _distinct_nonempty(M)


def sample_deep_gates(X, n_gates, sampling, rng, width=4):
    """Gates of the three-layer parallel network: (first, G, q).

    ``first`` (n_features, n_gates) gates the first layer; sub-network j has
    first layer ``G[j]`` (n_features, width) and second-layer direction
    ``q[j]`` (width,), and gates its second layer by 1[relu(X G[j]) q[j] >= 0].
    """
    first = sample_gates(X, n_gates, sampling, rng)
    d = X.shape[1]
    G = np.stack([sample_gates(X, width, sampling, rng) for _ in range(n_gates)])
    q = rng.standard_normal((n_gates, width))
    return first, G.reshape(n_gates, d, width), q


def deep_second_mask(X, G, q):
    """Second-layer patterns 1[relu(X G_j) q_j >= 0], shape (n_samples, n_gates)."""
    n_gates, d, width = G.shape
    H = np.asarray(X @ G.transpose(1, 0, 2).reshape(d, n_gates * width))
    H = np.maximum(H, 0).reshape(-1, n_gates, width)
    return np.einsum("njw,jw->nj", H, q) >= 0


def deep_gate_masks(X, first, G, q):
    """Distinct, non-empty products of first- and second-layer patterns."""
    M = (np.asarray(X @ first) >= 0) & deep_second_mask(X, G, q)
    return _distinct_nonempty(M)


def _distinct_nonempty(M):
    keep = np.flatnonzero(M.any(axis=0))
    if keep.size == 0:
        return M[:, :0], keep
    # Each pattern's bits as one opaque record: np.unique over records is a
    # plain 1-d sort (np.unique(axis=1) costs ten times more on 100 x 20).
    packed = np.ascontiguousarray(np.packbits(M[:, keep], axis=0).T)
    _, first = np.unique(packed.view(np.dtype((np.void, packed.shape[1]))).ravel(),
                         return_index=True)  # first occurrences (a stable sort)
    keep = keep[np.sort(first)]
    return np.ascontiguousarray(M[:, keep]), keep
