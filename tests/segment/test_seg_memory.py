"""Memory refusal before allocating: SegmenterTooLarge names N, the bytes needed and the fix."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from segment_testing import METHODS, step_sequence

from steploc.segment import SegmenterTooLarge, make_segmenter
from steploc.segment.memory import MIB, check_memory, format_bytes

HUGE_N = 5_000_000


def huge_input(n=HUGE_N, d=256):
    """A (n, d) float32 array that occupies 4 bytes: a read-only broadcast view."""
    return np.broadcast_to(np.ones((1, 1), dtype=np.float32), (n, d))


@pytest.mark.parametrize("method", METHODS)
def test_huge_input_is_refused_before_allocating(method):
    seg = make_segmenter(method, 8, memory_limit_mb=1)
    x = huge_input()
    needed = seg.estimated_memory_bytes(HUGE_N, 256)
    tracemalloc.start()
    try:
        with pytest.raises(SegmenterTooLarge) as info:
            seg.fit(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < MIB, f"{method} allocated {peak} bytes before refusing"
    err = info.value
    assert isinstance(err, SegmenterTooLarge) and issubclass(SegmenterTooLarge, ValueError)
    assert (err.n, err.n_features, err.method) == (HUGE_N, 256, method)
    assert err.needed_bytes == needed > err.limit_bytes == MIB
    message = str(err)
    assert f"N={HUGE_N}" in message and str(needed) in message and format_bytes(needed) in message
    assert "reduce_above" in message and "depth" in message and "another method" in message
    assert not hasattr(seg, "labels_")


@pytest.mark.parametrize("method", METHODS)
def test_54k_rows_fit_the_default_limit(method):
    # Every method, with its defaults, needs less than the default 4000 MiB at N = 54,000.
    seg = make_segmenter(method, 8)
    assert seg.estimated_memory_bytes(54_000, 256) < seg.memory_limit_mb * MIB


def test_exact_spectral_at_54k_is_refused_and_the_fix_is_named():
    seg = make_segmenter("spectral", 8, reduce_above=None)
    with pytest.raises(SegmenterTooLarge, match="set reduce_above") as info:
        seg.fit(huge_input(54_000))
    assert info.value.needed_bytes > 100 * 1024 * MIB  # Θ(N²): > 100 GiB


def test_estimates_grow_with_n_and_limits_can_be_lifted():
    for method in METHODS:
        seg = make_segmenter(method, 8)
        assert seg.estimated_memory_bytes(20_000, 64) > seg.estimated_memory_bytes(1_000, 64)
    x, _ = step_sequence([0, 1], [20, 20])
    make_segmenter("abd", 2, memory_limit_mb=float("inf")).fit(x)
    make_segmenter("abd", 2).set_params(memory_limit_mb=None).fit(x)
    check_memory("abd", 10, 2, 10**12, None, "fix")


def test_small_input_under_a_small_limit_runs():
    x, _ = step_sequence([0, 1], [20, 20])
    for method in METHODS:
        assert make_segmenter(method, 2, memory_limit_mb=64).fit(x).n_clusters_ == 2


def test_format_bytes():
    assert format_bytes(512) == "512 B"
    assert format_bytes(1536 * MIB) == "1.5 GiB"


# Non-default settings that change what fit allocates (reduction off, rbf's Gram matrix).
ESTIMATE_CASES: list[tuple[str, dict]] = [(method, {}) for method in METHODS] + [
    ("spectral", {"reduce_above": None}), ("kmeans", {"reduce_above": None}),
    ("kcpd", {"kernel": "rbf"}), ("kcpd", {"labels": "cluster", "segment_factor": 2}),
]


@pytest.mark.parametrize(("method", "params"), ESTIMATE_CASES)
@pytest.mark.parametrize(("n", "d"), [(300, 16), (2600, 48)])  # below / above reduce_above
def test_memory_estimate_covers_the_measured_peak(method, params, n, d):
    # tracemalloc sees every NumPy buffer (not BLAS's or ruptures' small C work arrays), so
    # this checks the N x D copies and the N x N / m x m matrices the estimate is built from;
    # bench/bench_segmenters.py compares the estimate with the peak RSS.
    x, _ = step_sequence([0, 1, 2, 3, 1], [n // 5] * 4 + [n - 4 * (n // 5)], dim=d, seed=3)
    seg = make_segmenter(method, 4, **params)
    tracemalloc.start()
    try:
        seg.fit(x)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= seg.estimated_memory_bytes(n, d), (
        f"{method} {params}: traced peak {format_bytes(peak)} > estimate "
        f"{format_bytes(seg.estimated_memory_bytes(n, d))}")


@pytest.mark.parametrize("method", METHODS)
def test_refusal_message_names_the_method_size_memory_and_fix(method):
    seg = make_segmenter(method, 8, memory_limit_mb=2)
    with pytest.raises(SegmenterTooLarge) as info:
        seg.fit(huge_input(200_000, 64))
    err, message = info.value, str(info.value)
    assert repr(method) in message and "N=200000" in message and "D=64" in message
    assert f"({err.needed_bytes} bytes)" in message and format_bytes(err.needed_bytes) in message
    assert "memory_limit_mb=2" in message and err.limit_bytes == 2 * MIB
    assert "Fix: " in message and err.fix in message
    for fix in ("depth", "reduce_above", "another method", "resources.segment.mem_mb"):
        assert fix in err.fix
