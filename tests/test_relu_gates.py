"""Activation patterns of the sampled gates: distinct, non-empty, first occurrences kept."""

import numpy as np
import pytest

from sklearn_convexnn._solvers.relu.gates import gate_masks


def _brute_force(M):
    """Columns of M that are non-empty and not equal to an earlier column."""
    seen, keep = set(), []
    for j in range(M.shape[1]):
        key = tuple(M[:, j])
        if any(key) and key not in seen:
            seen.add(key)
            keep.append(j)
    return np.array(keep, dtype=int)


@pytest.mark.parametrize("seed", range(5))
def test_gate_masks_keep_the_first_of_each_distinct_nonempty_pattern(seed):
    rng = np.random.default_rng(seed)
    n, d = int(rng.integers(3, 40)), int(rng.integers(1, 4))
    X = rng.standard_normal((n, d))
    gates = rng.standard_normal((d, 12))
    # Repeated gates, positive rescalings (same pattern) and gates no row
    # activates (X g < 0 everywhere needs X's rows on one side: use -X's mean).
    gates = np.hstack([gates, gates[:, [3, 0, 3]], 2.5 * gates[:, [5]]])
    X[:, 0] = np.abs(X[:, 0]) + 1.0
    empty = np.zeros((d, 1))
    empty[0] = -1.0
    gates = np.hstack([gates, empty])
    gates = gates[:, rng.permutation(gates.shape[1])]
    M = X @ gates >= 0
    masks, kept = gate_masks(X, gates)
    expected = _brute_force(M)
    np.testing.assert_array_equal(kept, expected)
    np.testing.assert_array_equal(masks, M[:, expected])
    assert masks.flags.c_contiguous


def test_gate_masks_with_no_active_pattern():
    X = np.ones((4, 1))
    masks, kept = gate_masks(X, -np.ones((1, 3)))
    assert masks.shape == (4, 0) and kept.size == 0
