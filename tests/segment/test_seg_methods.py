"""Each segmenter on hand-made SYNTHETIC step sequences: steps recovered, repeats share a
label where the method allows it, K respected or the deviation recorded."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from segment_testing import METHODS, matched_accuracy, same_partition, step_sequence
from sklearn.cluster import SpectralClustering

from steploc.segment import cosine_affinity, make_segmenter

# --------------------------------------------------------------------------- distinct steps


@pytest.mark.parametrize("method", METHODS)
def test_distinct_steps_are_recovered(method):
    x, truth = step_sequence([0, 1, 2, 3], [40, 55, 35, 50], seed=1)
    seg = make_segmenter(method, 4).fit(x)
    assert seg.n_clusters_ == 4 and seg.note_ == ""
    if method == "abd":  # moving-average boundaries may be off by a row or two
        assert matched_accuracy(seg.labels_, truth) >= 0.97
    else:
        assert same_partition(seg.labels_, truth)


@pytest.mark.parametrize("method", ["kmeans", "twfinch", "abd", "spectral"])
def test_repeated_step_shares_a_label(method):
    # A B A: two labels, the two A blocks get the same one.
    x, truth = step_sequence([0, 1, 0], [60, 50, 60], seed=2)
    seg = make_segmenter(method, 2).fit(x)
    labels = seg.labels_
    assert seg.n_clusters_ == 2
    assert matched_accuracy(labels, truth) >= 0.97
    first, middle, last = labels[:60], labels[60:110], labels[110:]
    major = [np.bincount(part).argmax() for part in (first, middle, last)]
    assert major[0] == major[2] != major[1]


def test_kcpd_segments_are_contiguous_and_clustering_shares_repeats():
    x, truth = step_sequence([0, 1, 0], [60, 50, 60], seed=2)
    contiguous = make_segmenter("kcpd", 3).fit(x)
    assert same_partition(contiguous.labels_, np.repeat([0, 1, 2], [60, 50, 60]))
    assert list(contiguous.change_points_) == [60, 110]
    shared = make_segmenter("kcpd", 2, labels="cluster", segment_factor=2).fit(x)
    assert shared.n_segments_ == 4 and shared.n_clusters_ == 2
    assert same_partition(shared.labels_, truth)


def test_kcpd_rbf_and_all_zero_rows():
    x, truth = step_sequence([0, 1, 2], [30, 30, 30], seed=3, dtype=np.float64)
    x[10:13] = 0.0  # real features have all-zero rows; the cosine kernel must not give NaN
    cos = make_segmenter("kcpd", 3).fit(x)
    assert matched_accuracy(cos.labels_, truth) >= 0.95
    rbf = make_segmenter("kcpd", 3, kernel="rbf").fit(x)
    assert matched_accuracy(rbf.labels_, truth) >= 0.95
    fixed = make_segmenter("kcpd", 3, kernel="rbf", gamma=1.0).fit(x)
    assert fixed.n_clusters_ == 3


def test_twfinch_recovers_steps_with_time_weighting():
    x, truth = step_sequence([0, 1, 2, 3, 4], [30, 20, 40, 25, 35], seed=4)
    seg = make_segmenter("twfinch", 5).fit(x)
    assert same_partition(seg.labels_, truth)
    sizes = seg.partition_sizes_
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
    for coarse, fine in zip(seg.partitions_[1:], seg.partitions_[:-1]):
        # each coarser partition merges whole clusters of the finer one
        for label in np.unique(fine):
            assert len(np.unique(coarse[fine == label])) == 1


def test_abd_boundaries_and_window():
    x, truth = step_sequence([0, 1, 2], [100, 100, 100], seed=5)
    seg = make_segmenter("abd", 3, alpha=0.5).fit(x)
    assert seg.window_ == 50
    assert seg.n_segments_ >= 3
    # A box filter spreads a step over L rows, so the minimum is only localised to a few
    # rows: within L / 10 of the true boundaries here.
    cuts = seg.boundaries_
    assert np.abs(cuts[:, None] - np.array([100, 200])).min(axis=0).max() <= 5
    assert matched_accuracy(seg.labels_, truth) >= 0.97


# --------------------------------------------------------------------------- deviations


def test_kmeans_with_too_few_distinct_rows_records_the_k_used():
    x = np.repeat(np.eye(3, 8), [10, 10, 10], axis=0)
    seg = make_segmenter("kmeans", 5).fit(x)
    assert seg.n_clusters_ == 3 and len(np.unique(seg.labels_)) == 3
    assert "K=5" in seg.note_ and "using 3" in seg.note_


def test_kcpd_min_size_too_large_records_the_k_used():
    x, _ = step_sequence([0, 1, 2], [4, 4, 4], seed=6)
    seg = make_segmenter("kcpd", 4, min_size=5).fit(x)
    assert seg.n_clusters_ == 2
    assert "min_size=5" in seg.note_ and "kcpd returned 2 labels for K=4" in seg.note_


def test_abd_adds_boundaries_when_too_few_are_found():
    x, _ = step_sequence([0, 1], [40, 40], seed=7)
    seg = make_segmenter("abd", 6, alpha=1.0).fit(x)  # window 13: few minima
    assert seg.n_clusters_ == 6
    assert seg.n_segments_ >= 6
    if seg.note_:
        assert "lowest-similarity boundaries" in seg.note_


def test_twfinch_k_too_large_on_synthetic():
    x, _ = step_sequence([0, 1], [10, 10], seed=8)
    seg = make_segmenter("twfinch", 15).fit(x)
    first = seg.partition_sizes_[0]
    assert first < 15 and seg.n_clusters_ == first
    assert f"K=15 exceeds the {first} clusters of TW-FINCH's first partition" in seg.note_


# --------------------------------------------------------------------------- spectral


def _seed_recipe(x, k, temperature=0.05, random_state=42):
    """The spectral code before this change (affinity + sklearn with its defaults)."""
    assign = "kmeans" if k >= 3 else "discretize"
    model = SpectralClustering(n_clusters=k, affinity="precomputed", assign_labels=assign,
                               random_state=random_state)
    return model.fit_predict(cosine_affinity(x, temperature)).astype(np.int64)


@pytest.mark.parametrize(("k", "n"), [(2, 120), (4, 300), (6, 2000)])
def test_spectral_defaults_are_bit_identical_to_the_seed_recipe(k, n):
    rng = np.random.default_rng(k)
    x = rng.standard_normal((n, 12)).astype(np.float32)  # no structure: sensitive to changes
    np.testing.assert_array_equal(make_segmenter("spectral", k).fit_predict(x),
                                  _seed_recipe(x, k))


@pytest.mark.parametrize("solver", ["arpack", "lobpcg"])
@pytest.mark.parametrize("assign", ["kmeans", "discretize", "cluster_qr"])
def test_spectral_solvers_and_label_assignment(solver, assign):
    x, truth = step_sequence([0, 1, 2, 1], [50, 40, 60, 30], seed=9)
    seg = make_segmenter("spectral", 3, eigen_solver=solver, assign_labels=assign).fit(x)
    assert same_partition(seg.labels_, truth)


def test_spectral_cluster_qr_is_deterministic_whatever_the_seed():
    x, _ = step_sequence([0, 1, 2], [30, 30, 30], noise=2.0, seed=10)
    a = make_segmenter("spectral", 3, assign_labels="cluster_qr", random_state=1).fit_predict(x)
    b = make_segmenter("spectral", 3, assign_labels="cluster_qr", random_state=2).fit_predict(x)
    np.testing.assert_array_equal(a, b)


@pytest.mark.skipif(importlib.util.find_spec("pyamg") is not None, reason="pyamg is installed")
def test_spectral_amg_without_pyamg_is_a_clear_error():
    x, _ = step_sequence([0, 1], [20, 20])
    with pytest.raises(ValueError, match="pyamg"):
        make_segmenter("spectral", 2, eigen_solver="amg").fit(x)


def test_spectral_reduces_above_reduce_above_and_says_so():
    x, truth = step_sequence([0, 1, 2, 0], [80, 70, 90, 60], seed=11)
    seg = make_segmenter("spectral", 3, reduce_above=100).fit(x)
    assert seg.n_rows_clustered_ == 100
    assert seg.affinity_matrix_.shape == (100, 100)
    assert "N=300 rows > reduce_above=100" in seg.note_ and "blocks of 3 rows" in seg.note_
    assert seg.n_clusters_ == 3
    assert matched_accuracy(seg.labels_, truth) >= 0.98
    # labels are constant within each block of 3 rows
    assert (seg.labels_.reshape(100, 3) == seg.labels_[::3, None]).all()
    exact = make_segmenter("spectral", 3, reduce_above=None).fit(x)
    assert exact.n_rows_clustered_ == 300 and exact.note_ == ""


def test_kmeans_reduces_above_reduce_above_with_block_weights_and_says_so():
    from sklearn.cluster import KMeans

    from steploc.segment.base import relabel_by_first_occurrence, unit_rows
    from steploc.segment.reduce import reduce_nodes

    x, truth = step_sequence([0, 1, 2, 0], [80, 70, 90, 61], seed=12)  # N = 301
    seg = make_segmenter("kmeans", 3, reduce_above=100).fit(x)
    assert seg.n_rows_clustered_ == 100
    assert "N=301 rows > reduce_above=100" in seg.note_ and "blocks of 3-4 rows" in seg.note_
    assert "weighted by block size" in seg.note_
    assert seg.n_clusters_ == 3 and matched_accuracy(seg.labels_, truth) >= 0.98
    # k-means of the block means of the unit rows, weighted by the block sizes
    means, groups = reduce_nodes(unit_rows(x.astype(np.float64)), 100)
    weights = np.bincount(groups).astype(np.float64)
    expected = KMeans(3, n_init=10, random_state=42).fit_predict(means, sample_weight=weights)
    assert np.array_equal(seg.labels_, relabel_by_first_occurrence(expected[groups]))


def test_kmeans_up_to_reduce_above_is_plain_kmeans_bit_for_bit():
    from sklearn.cluster import KMeans

    from steploc.segment.base import relabel_by_first_occurrence, unit_rows

    x, _ = step_sequence([0, 1, 2, 0], [30, 40, 25, 35], seed=13)
    seg = make_segmenter("kmeans", 3).fit(x)  # N = 130 <= reduce_above = 2000
    expected = KMeans(3, n_init=10, random_state=42).fit_predict(unit_rows(x.astype(np.float64)))
    assert np.array_equal(seg.labels_, relabel_by_first_occurrence(expected))
    assert seg.n_rows_clustered_ == 130 and seg.note_ == ""
    assert make_segmenter("kmeans", 3, reduce_above=None).fit(x).n_rows_clustered_ == 130
    with pytest.raises(ValueError, match="reduce_above"):
        make_segmenter("kmeans", 3, reduce_above=1).fit(x)


def test_twfinch_cluster_means_equal_sequential_float32_sums():
    # The grouped row sums must equal np.add.at's (one row after the other, in float32) bit
    # for bit: parity with the authors' partitions depends on these means.
    from steploc.segment.twfinch import _cluster_means, _row_sum

    rng = np.random.default_rng(5)
    for n, d, k in [(1, 3, 1), (50, 2, 7), (3000, 65, 900), (3000, 257, 4)]:
        data = (rng.standard_normal((n, d)) * 10 + 3).astype(np.float32)
        labels = np.unique(rng.integers(0, k, n), return_inverse=True)[1]
        m = int(labels.max()) + 1
        sums = np.zeros((m, d), dtype=np.float32)
        np.add.at(sums, labels, data)
        assert np.array_equal(_cluster_means(data, labels, m),
                              sums / np.bincount(labels, minlength=m)[:, None])
        total = np.zeros((1, d), dtype=np.float32)
        np.add.at(total, np.zeros(n, dtype=np.intp), data)
        assert np.array_equal(_row_sum(data), total[0])
