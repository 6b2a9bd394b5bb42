"""reduce_nodes / expand_labels: contiguous block means and back."""

from __future__ import annotations

import numpy as np
import pytest

from steploc.segment import expand_labels, reduce_nodes


def test_blocks_are_contiguous_near_equal_and_averaged():
    x = np.arange(20, dtype=np.float32).reshape(10, 2)
    reduced, groups = reduce_nodes(x, 3)
    np.testing.assert_array_equal(groups, [0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
    assert reduced.dtype == np.float32 and reduced.shape == (3, 2)
    np.testing.assert_allclose(reduced, [x[:4].mean(0), x[4:7].mean(0), x[7:].mean(0)])


@pytest.mark.parametrize(("n", "m"), [(10, 3), (54_000, 2000), (7, 7), (5, 9), (1001, 2)])
def test_round_trip(n, m):
    rng = np.random.default_rng(n)
    x = rng.standard_normal((n, 4))
    reduced, groups = reduce_nodes(x, m)
    assert len(reduced) == min(n, m) and len(groups) == n
    assert (np.diff(groups) >= 0).all() and groups[0] == 0 and groups[-1] == len(reduced) - 1
    sizes = np.bincount(groups)
    assert sizes.max() - sizes.min() <= 1
    # block means, and labels of the reduced rows copied back to every row of the block
    np.testing.assert_allclose(reduced, [x[groups == g].mean(0) for g in range(len(reduced))])
    labels_reduced = rng.integers(0, 5, len(reduced))
    labels = expand_labels(labels_reduced, groups)
    assert labels.dtype == np.int64 and len(labels) == n
    np.testing.assert_array_equal(labels, labels_reduced[groups])
    # a labelling constant on blocks survives reduce -> expand unchanged
    back, _ = reduce_nodes(labels[:, None].astype(float), m)
    np.testing.assert_array_equal(expand_labels(back[:, 0].astype(int), groups), labels)


def test_no_reduction_needed_returns_a_copy():
    x = np.ones((4, 2), dtype=np.float32)
    reduced, groups = reduce_nodes(x, 10)
    np.testing.assert_array_equal(groups, np.arange(4))
    assert reduced is not x and np.array_equal(reduced, x)
    assert reduce_nodes(np.ones((3, 2), dtype=int), 2)[0].dtype == np.float64


def test_bad_arguments():
    with pytest.raises(ValueError):
        reduce_nodes(np.ones((3, 2)), 0)
    with pytest.raises(ValueError):
        reduce_nodes(np.ones(3), 2)
    with pytest.raises(ValueError):
        expand_labels(np.array([0, 1]), np.array([0, 2]))
