"""Node counts, the raw model's pooling values and the feature rows of each node.

The reference below is written from the formula (docs/hiero.md, "Pooling"), in plain numpy and
independently of the implementation. Inputs are SYNTHETIC random arrays.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from steploc.hierarchy import RawPooling, n_nodes_at_depth, node_feature_ranges
from steploc.pooling import pool_video

LENGTHS = [1, 2, 3, 4, 5, 8, 37]


def _pool_numpy(x: np.ndarray, levels: int) -> np.ndarray:
    return np.asarray(pool_video(x.copy(), levels))


def _pool_torch(x: np.ndarray, levels: int) -> np.ndarray:
    torch = pytest.importorskip("torch")
    return pool_video(torch.from_numpy(x.copy()), levels).numpy()


#: The pooling runs on numpy arrays (CPU) and torch tensors (CUDA) with the same code.
BACKENDS = {"numpy": _pool_numpy, "torch": _pool_torch}


def reference_level(x: np.ndarray) -> np.ndarray:
    """One pooling level: (x[i-1] + 2 x[i] + x[i+1]) / 4, ends (2 x0 + x1) / 3 and
    (x[n-2] + 2 x[n-1]) / 3, a single node unchanged; then keep the even nodes."""
    n = len(x)
    if n == 1:
        y = x.copy()
    else:
        y = np.empty_like(x)
        for i in range(n):
            if i == 0:
                y[i] = (2 * x[0] + x[1]) / 3
            elif i == n - 1:
                y[i] = (x[n - 2] + 2 * x[n - 1]) / 3
            else:
                y[i] = (x[i - 1] + 2 * x[i] + x[i + 1]) / 4
    return y[0::2]


def reference_pool(x: np.ndarray, levels: int) -> np.ndarray:
    for _ in range(levels):
        x = reference_level(x)
    return x


@pytest.mark.parametrize("t", LENGTHS)
@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_node_count_is_ceil(t, depth):
    assert n_nodes_at_depth(t, depth) == math.ceil(t / 2**depth)


def test_node_count_examples():
    # Hand-computed: 37 -> 19 -> 10 -> 5; 5 -> 3 -> 2 -> 1.
    assert [n_nodes_at_depth(37, d) for d in range(4)] == [37, 19, 10, 5]
    assert [n_nodes_at_depth(5, d) for d in range(4)] == [5, 3, 2, 1]


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_pooling_hand_example(backend):
    pool = BACKENDS[backend]
    # x = [0, 4, 8], by hand: y0 = (2*0 + 4)/3 = 4/3, y1 = (0 + 2*4 + 8)/4 = 4,
    # y2 = (4 + 2*8)/3 = 20/3; keep the even nodes [4/3, 20/3].
    x = np.array([[0.0], [4.0], [8.0]])
    np.testing.assert_allclose(pool(x, 1)[:, 0], [4 / 3, 20 / 3])
    # Level 2 on [4/3, 20/3]: (2*4/3 + 20/3)/3 = 28/9; keep [28/9].
    np.testing.assert_allclose(pool(x, 2)[:, 0], [28 / 9])
    # Two nodes [3, 6]: (2*3 + 6)/3 = 4, kept; (3 + 2*6)/3 = 5 dropped.
    np.testing.assert_allclose(pool(np.array([[3.0], [6.0]]), 1)[:, 0], [4.0])

def test_pooling_does_not_modify_its_input():
    x = np.array([[0.0], [4.0], [8.0], [2.0]])
    pool_video(x, 2)
    np.testing.assert_array_equal(x[:, 0], [0.0, 4.0, 8.0, 2.0])


@pytest.mark.parametrize("backend", list(BACKENDS))
@pytest.mark.parametrize("t", LENGTHS)
@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_pooling_matches_reference(backend, t, depth):
    rng = np.random.default_rng(t * 10 + depth)
    x = rng.standard_normal((t, 5))
    out = BACKENDS[backend](x, depth)
    expected = reference_pool(x, depth)
    assert out.shape == (math.ceil(t / 2**depth), 5)
    np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_single_node_is_unchanged(backend):
    x = np.array([[1.5, -2.0, 3.0]])
    for depth in range(4):
        np.testing.assert_array_equal(BACKENDS[backend](x, depth), x)


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not _cuda_available(),
                                                                 reason="no CUDA device"))]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("t", LENGTHS)
def test_raw_pooling_model(t, device):
    rng = np.random.default_rng(t)
    feats = [rng.standard_normal((t, 4)).astype(np.float32),
             rng.standard_normal((t + 3, 4)).astype(np.float32)]
    model = RawPooling(2, 4, device=device)
    out = model.extract_batch(feats, [1.0, 1.0])
    for x, y in zip(feats, out):
        assert y.shape == (math.ceil(len(x) / 4), 4)
        np.testing.assert_allclose(y, reference_pool(x.astype(np.float64), 2), rtol=1e-5,
                                   atol=1e-5)


# ------------------------------------------------------------------ node feature rows


def test_node_feature_ranges_example():
    # T = 10 at depth 2: nodes [0,4), [4,8), [8,10).
    start, end = node_feature_ranges(10, 2)
    np.testing.assert_array_equal(start, [0, 4, 8])
    np.testing.assert_array_equal(end, [4, 8, 10])


@pytest.mark.parametrize("t", LENGTHS)
@pytest.mark.parametrize("depth", [0, 1, 2, 3])
def test_node_feature_ranges_cover_the_video(t, depth):
    start, end = node_feature_ranges(t, depth)
    n = math.ceil(t / 2**depth)
    block = 2**depth
    np.testing.assert_array_equal(start, [j * block for j in range(n)])
    np.testing.assert_array_equal(end, [min((j + 1) * block, t) for j in range(n)])
