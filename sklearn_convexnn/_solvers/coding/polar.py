"""Real-valued polar codes: construction and successive-cancellation decoding.

Bartan & Pilanci, "Randomized Polar Codes for Anytime Distributed Machine
Learning" (IEEE JSAIT 2023, arXiv 2309.00682). The kernel
``F = [[1, 0], [1, 1]]`` is used over the reals. With ``N = 2^n`` and
``G_N = F^{(x)n}`` (Kronecker power), a message ``u`` (N blocks, frozen
ones zero) is sent as ``x = u G_N``: block ``x_j = sum_i G_N[i, j] u_i``.
Splitting ``u = (u_a, u_b)`` in halves, ``x = (v_a + v_b, v_b)`` with
``v_a = u_a G_{N/2}`` and ``v_b = u_b G_{N/2}``.

Successive cancellation over the reals walks that recursion. At a node
whose input ``y = (y_1, y_2)`` is known on a mask ``(k_1, k_2)``:

* the upper half ``v_a = y_1 - y_2`` is known where both halves are
  (``k_1 & k_2``): decode it first, recursively;
* the lower half ``v_b = y_2`` where ``k_2``, or ``y_1 - v_a`` where only
  ``k_1``: known where either is (``k_1 | k_2``): decode it next.

The masks therefore do not depend on the values: they are computed for the
whole tree in ``n`` vectorized steps, and the decoder succeeds exactly when
every information leaf ends up known (:func:`sc_decodable`). The values
then need only be carried through the nodes that are partly known and hold
information: an all-frozen subtree is zero, a fully known one is its input.
The decoder returns the completed codeword ``x``; ``u = x G_N^{-1}`` is one
more butterfly pass, subtractions only. Every step is an addition or a
subtraction of blocks, so the decoder is exact up to rounding and
``O(N log N)`` block operations, with no linear solve.

On an erasure channel with probability ``e`` the synthetic channels split
as ``z -> (2 z - z^2, z^2)`` (upper, lower); the ``K`` most reliable
positions carry data (:func:`information_positions`).
"""

from functools import lru_cache

import numpy as np

__all__ = [
    "bhattacharyya_parameters",
    "information_positions",
    "inverse_polar_transform",
    "polar_generator",
    "polar_transform",
    "sc_decodable",
    "sc_decode",
    "sc_known_masks",
]


def bhattacharyya_parameters(n_levels, erasure_prob):
    """Erasure probabilities of the ``2^n_levels`` synthetic channels.

    Parameters
    ----------
    n_levels : int
        ``n`` with ``N = 2^n``.
    erasure_prob : float
        Erasure probability ``e`` of each worker.

    Returns
    -------
    ndarray of shape (N,)
        ``z[i]``: probability that successive cancellation cannot recover
        ``u_i`` when every earlier ``u`` is known (for the erasure channel
        the Bhattacharyya parameter is that probability).
    """
    z = np.array([float(erasure_prob)])
    for _ in range(n_levels):
        # The most significant bit of i is the first split: children of a
        # channel sit next to each other, upper (2z - z^2) before lower (z^2).
        z = np.column_stack((2.0 * z - z * z, z * z)).ravel()
    return z


def information_positions(n_workers, n_blocks, erasure_prob):
    """Indices of the ``n_blocks`` most reliable channels, sorted.

    Ties (equal erasure probabilities) go to the higher index, the one
    decoded later, so the choice is deterministic.
    """
    n_levels = _log2(n_workers)
    z = bhattacharyya_parameters(n_levels, erasure_prob)
    order = np.lexsort((-np.arange(n_workers), z))
    return np.sort(order[:n_blocks])


def polar_transform(U):
    """``x = u G_N`` along axis 0 (N a power of two), by butterflies."""
    return _butterflies(U, sign=1.0)


def inverse_polar_transform(X):
    """``u = x G_N^{-1}`` along axis 0: the butterflies with a minus."""
    return _butterflies(X, sign=-1.0)


def polar_generator(n_workers, info):
    """Generator ``G`` of shape (N, K): worker ``j`` holds ``sum_k G[j, k] A_k``.

    ``G[j, k] = G_N[info[k], j]``, a 0/1 matrix.
    """
    unit = np.zeros((n_workers, len(info)))
    unit[info, np.arange(len(info))] = 1.0
    return polar_transform(unit)


def sc_known_masks(available, info):
    """Known-masks of every node of the decoding tree.

    Parameters
    ----------
    available : ndarray of bool, shape (N,)
        Which codeword blocks (workers) have arrived.
    info : ndarray of bool, shape (N,)
        Which positions of ``u`` carry data.

    Returns
    -------
    known : list of ndarray
        ``known[d]`` has shape (2^d, N / 2^d): the input mask of each node
        at depth ``d`` (node ``2 j`` and ``2 j + 1`` are the upper and lower
        children of node ``j``).
    has_info : list of ndarray
        ``has_info[d][j]``: node ``j`` at depth ``d`` holds an information
        position.
    """
    n_workers = len(available)
    n_levels = _log2(n_workers)
    known = [np.asarray(available, dtype=bool).reshape(1, n_workers)]
    for d in range(n_levels):
        half = n_workers >> (d + 1)
        k = known[d].reshape(-1, 2, half)
        known.append(np.stack((k[:, 0] & k[:, 1], k[:, 0] | k[:, 1]), axis=1).reshape(-1, half))
    info = np.asarray(info, dtype=bool)
    has_info = [info.reshape(2**d, -1).any(axis=1) for d in range(n_levels + 1)]
    return known, has_info


def sc_decodable(available, info):
    """Whether successive cancellation recovers every information block.

    Mirrors :func:`sc_decode` exactly: it decodes if and only if every
    information leaf of the tree is known.
    """
    n_levels = _log2(len(available))
    known = np.asarray(available, dtype=bool)
    for d in range(n_levels):
        k = known.reshape(2**d, 2, -1)
        known = np.stack((k[:, 0] & k[:, 1], k[:, 0] | k[:, 1]), axis=1).ravel()
    return bool(np.all(known[np.asarray(info, dtype=bool)]))


def sc_decode(Y, available, info):
    """Successive-cancellation decoding of a real polar code.

    Parameters
    ----------
    Y : ndarray of shape (N, ...)
        Codeword blocks; rows of unavailable workers are ignored.
    available : ndarray of bool, shape (N,)
    info : ndarray of bool, shape (N,)

    Returns
    -------
    U : ndarray of shape (K, ...) or None
        The information blocks in position order, or None when successive
        cancellation cannot recover them all.
    """
    info = np.asarray(info, dtype=bool)
    available = np.asarray(available, dtype=bool)
    N = len(available)
    n_levels = _log2(N)
    # known[d] holds the input masks of the 2^d nodes at depth d, side by side.
    known = np.empty((n_levels + 1, N), dtype=bool)
    known[0] = available
    for d in range(n_levels):
        k = known[d].reshape(2**d, 2, -1)
        out = known[d + 1].reshape(2**d, 2, -1)
        np.logical_and(k[:, 0], k[:, 1], out=out[:, 0])
        np.logical_or(k[:, 0], k[:, 1], out=out[:, 1])
    if not np.all(known[n_levels][info]):
        return None
    if not info.any():
        return np.zeros((0, *Y.shape[1:]))
    # Per node in heap order (node h has children 2h+1, 2h+2), as Python
    # lists since the recursion reads them one at a time: kind 0 = all
    # frozen (codeword zero), 1 = input fully known (it is the codeword),
    # 2 = partly known with information (descend); lower-half input mask:
    # 0 none known, 1 all known, 2 mixed.
    starts, lower_bounds, half_sizes, has_info = _tree_layout(N, info.tobytes())
    flat = np.append(known.ravel(), False)  # room for the last lower end
    full = np.logical_and.reduceat(flat[:-1], starts)
    kinds = np.where(has_info, np.where(full, 1, 2), 0).tolist()
    # Known count of each lower half: 0 none, the half's size all, else mixed.
    lower_count = np.add.reduceat(flat, lower_bounds, dtype=np.intp)[::2]
    lower_kinds = np.where(lower_count == 0, 0, np.where(lower_count == half_sizes, 1, 2))
    lower_kinds = lower_kinds.tolist()
    shape = Y.shape
    Y = np.where(available[:, None], Y.reshape(N, -1), 0.0)
    if kinds[0] == 1:
        codeword = Y
    else:
        # One buffer holds every node's codeword (node j of size M at depth
        # d writes rows j M .. (j + 1) M); one scratch per depth holds the
        # input of the node being decoded there.
        codeword = np.empty_like(Y)
        scratch = [np.empty((N >> d, Y.shape[1])) for d in range(n_levels + 1)]
        _sc_node(Y, 0, 0, 0, (kinds, lower_kinds, known, codeword, scratch))
    return inverse_polar_transform(codeword)[info].reshape((-1, *shape[1:]))


def _sc_node(y, depth, h, start, context):
    """Write the codeword of node ``h`` (heap order) from its input ``y``.

    Only called on nodes whose input is partly known and which hold an
    information position. A child that is all frozen has codeword zero and
    one whose input is fully known is its own codeword: both are written
    without descending. The upper child's input is ``y_1 - y_2``; the lower
    child's is ``y_2`` where known, else ``y_1 - v_a``; the node's codeword
    is ``(v_a + v_b, v_b)``, formed in place.
    """
    kinds, lower_kinds, known, codeword, scratch = context
    half = y.shape[0] // 2
    y1, y2 = y[:half], y[half:]
    seg_a = codeword[start : start + half]
    seg_b = codeword[start + half : start + 2 * half]
    left, right = kinds[2 * h + 1], kinds[2 * h + 2]
    s = scratch[depth + 1]
    if left == 0:
        seg_a.fill(0.0)
    elif left == 1:
        np.subtract(y1, y2, out=seg_a)
    else:
        np.subtract(y1, y2, out=s)
        _sc_node(s, depth + 1, 2 * h + 1, start, context)
    if right == 0:
        seg_b.fill(0.0)
        return
    lower_kind = lower_kinds[h]
    if lower_kind == 1:
        y_b = y2
    else:
        y_b = s
        np.subtract(y1, seg_a, out=s)
        if lower_kind == 2:
            j = h - (1 << depth) + 1
            mask = known[depth, (2 * j + 1) * half : (2 * j + 2) * half]
            np.copyto(s, y2, where=mask[:, None])
    if right == 1:
        seg_b[...] = y_b
    else:
        _sc_node(y_b, depth + 1, 2 * h + 2, start + half, context)
    seg_a += seg_b


@lru_cache(maxsize=32)
def _tree_layout(N, info_bytes):
    """Where each node sits in the flattened masks, and whether it holds
    information; depends on the code only.

    Returns the start of every node's segment (the segments tile each
    level, so ``reduceat`` over the starts reduces each node), the
    interleaved (start, end) of every node's lower half (``reduceat`` over
    them, every other entry), the size of that half, and the nodes'
    ``has_info``, all in heap order.
    """
    info = np.frombuffer(info_bytes, dtype=bool)
    n_levels = _log2(N)
    starts, lower_bounds, half_sizes, has_info = [], [], [], []
    for d in range(n_levels + 1):
        size = N >> d
        begin = d * N + size * np.arange(2**d)
        starts.append(begin)
        # A leaf has no lower half: its (unused) entry reduces itself.
        lower = begin + size // 2
        lower_bounds.append(np.column_stack((lower, begin + size)).ravel())
        half_sizes.append(np.full(2**d, max(size // 2, 1)))
        has_info.append(info.reshape(2**d, size).any(axis=1))
    return tuple(np.concatenate(a) for a in (starts, lower_bounds, half_sizes, has_info))


def _butterflies(U, sign):
    U = np.array(U, dtype=float)
    n = U.shape[0]
    _log2(n)
    half = 1
    while half < n:
        V = U.reshape((n // (2 * half), 2, half, *U.shape[1:]))
        if sign > 0:
            V[:, 0] += V[:, 1]
        else:
            V[:, 0] -= V[:, 1]
        half *= 2
    return U


def _log2(n):
    n = int(n)
    if n < 1 or n & (n - 1):
        raise ValueError(f"n_workers must be a power of two for a polar code; got {n}.")
    return n.bit_length() - 1
