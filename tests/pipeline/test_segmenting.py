"""Label smoothing, segments and step embeddings, spectral clustering.

Label sequences and expected outputs are hand-made; features are SYNTHETIC.
"""

from __future__ import annotations

import numpy as np
import pytest

from steploc.errors import VideoSkipped
from steploc.hierarchy import node_feature_ranges
from steploc.segment import (
    SpectralStepSegmenter,
    cosine_affinity,
    median_smooth,
    mode_smooth,
    runs_to_segments,
)
from steploc.segment.job import choose_k


def eq(a, b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


# ------------------------------------------------------------------ mode filter


def test_mode_majority_removes_a_blip():
    eq(mode_smooth([0, 0, 1, 0, 0], window=3), [0, 0, 0, 0, 0])
    eq(mode_smooth([5, 5, 5, 9, 9, 2, 9, 9], window=3), [5, 5, 5, 9, 9, 9, 9, 9])


def test_mode_tie_keeps_the_current_label():
    # Centre (label 2) in window [1, 1, 2, 2, 3]: 1 and 2 tie at 2 -> stays 2.
    out = mode_smooth([1, 1, 2, 2, 3], window=5, max_passes=1)
    assert out[2] == 2


def test_mode_tie_takes_nearest_then_earlier():
    # Window 7 on [1, 1, 5, 3, 2, 2, 6], one pass, by hand (truncated windows at the ends):
    #  i=0 [1,1,5,3]        -> 1;  i=1 [1,1,5,3,2] -> 1
    #  i=2 [1,1,5,3,2,2]    -> 1,2 tie; 5 not tied; nearest: i-1 is 1 -> 1
    #  i=3 [1,1,5,3,2,2,6]  -> 1,2 tie; i-1 is 5 (not tied), i+1 is 2 -> 2 (nearer than 1)
    #  i=4 [1,5,3,2,2,6]    -> 2;  i=5 [5,3,2,2,6] -> 2
    #  i=6 [3,2,2,6]        -> 2
    eq(mode_smooth([1, 1, 5, 3, 2, 2, 6], window=7, max_passes=1), [1, 1, 1, 2, 2, 2, 2])
    # Equal distance: [1, 1, 3, 2, 2], window 5, centre: 1 and 2 tie, both at distance 1 ->
    # the earlier (left) one.
    assert mode_smooth([1, 1, 3, 2, 2], window=5, max_passes=1)[2] == 1
    assert mode_smooth([2, 2, 3, 1, 1], window=5, max_passes=1)[2] == 2


def test_mode_truncated_windows_at_the_ends():
    # i=0 sees [3, 1, 1] (no reflection) -> 1; i=6 sees [2, 2, 7] -> 2.
    out = mode_smooth([3, 1, 1, 1, 2, 2, 7], window=5, max_passes=1)
    assert out[0] == 1 and out[-1] == 2
    # i=0 sees [2, 1, 3]: a three-way tie that includes the current label -> stays 2.
    assert mode_smooth([2, 1, 3, 3, 3], window=5, max_passes=1)[0] == 2


def test_mode_iterates_until_stable():
    # window 3 on [0, 1, 0, 1, 1, 0, 1, 0]; by hand:
    # pass 1: i0 [0,1] tie keep 0; i1 [0,1,0] -> 0; i2 [1,0,1] -> 1; i3 [0,1,1] -> 1;
    #         i4 [1,1,0] -> 1; i5 [1,0,1] -> 1; i6 [0,1,0] -> 0; i7 [1,0] tie keep 0
    #         -> [0, 0, 1, 1, 1, 1, 0, 0]
    # pass 2: i1 [0,0,1] -> 0; i2 [0,1,1] -> 1; ... unchanged -> stable.
    labels = [0, 1, 0, 1, 1, 0, 1, 0]
    eq(mode_smooth(labels, window=3, max_passes=1), [0, 0, 1, 1, 1, 1, 0, 0])
    eq(mode_smooth(labels, window=3), [0, 0, 1, 1, 1, 1, 0, 0])
    # A sequence that needs more than one changing pass:
    seq = [1, 0, 1, 0, 1, 0, 0]
    # pass 1: i0 [1,0] keep 1; i1 [1,0,1] -> 1; i2 [0,1,0] -> 0; i3 [1,0,1] -> 1;
    #         i4 [0,1,0] -> 0; i5 [1,0,0] -> 0; i6 [0,0] -> 0  => [1,1,0,1,0,0,0]
    # pass 2: i2 [1,0,1] -> 1; i3 [0,1,0] -> 0  => [1,1,1,0,0,0,0]
    # pass 3: i2 [1,1,0] -> 1; i3 [1,0,0] -> 0  => stable
    eq(mode_smooth(seq, window=3, max_passes=1), [1, 1, 0, 1, 0, 0, 0])
    eq(mode_smooth(seq, window=3, max_passes=2), [1, 1, 1, 0, 0, 0, 0])
    eq(mode_smooth(seq, window=3), [1, 1, 1, 0, 0, 0, 0])


def test_mode_is_invariant_to_relabelling():
    rng = np.random.default_rng(0)
    for _ in range(50):
        labels = rng.integers(0, 4, size=int(rng.integers(1, 40)))
        perm = rng.permutation(100)[:4] * 7 - 50  # arbitrary distinct ids, some negative
        for window in (1, 3, 5, 7):
            eq(mode_smooth(perm[labels], window), perm[mode_smooth(labels, window)])


def test_mode_window_one_and_bad_windows():
    eq(mode_smooth([3, 1, 2], window=1), [3, 1, 2])
    for w in (0, 2, 4, -1):
        with pytest.raises(ValueError):
            mode_smooth([1, 2, 3], window=w)


def test_median_is_the_notebooks_scipy_filter():
    # size 3, reflected ends ("reflect": the window of i=0 is [x0, x0, x1]), by hand:
    # i0 [5,5,1] -> 5; i1 [5,1,1] -> 1; i2 [1,1,9] -> 1; i3 [1,9,9] -> 9; i4 [9,9,9] -> 9
    eq(median_smooth([5, 1, 1, 9, 9], window=3), [5, 1, 1, 9, 9])
    # i2 of [4, 8, 1, 8, 4] with size 5: sorted [1, 4, 4, 8, 8] -> 4; the mode filter takes
    # the tied label nearest the centre instead: 8.
    assert median_smooth([4, 8, 1, 8, 4], window=5)[2] == 4
    assert mode_smooth([4, 8, 1, 8, 4], window=5, max_passes=1)[2] == 8


def test_median_flaw_and_mode_fix():
    # The median returns a minority label (3) and changes with the numbering; the mode does not.
    assert median_smooth([0, 0, 3, 7, 7], window=5)[2] == 3
    assert median_smooth([0, 0, 9, 7, 7], window=5)[2] == 7  # 3 renamed 9: another answer
    # mode: centre window 0:2, 7:2, 3 not tied -> nearest left (0).
    eq(mode_smooth([0, 0, 3, 7, 7], window=5), [0, 0, 0, 7, 7])
    eq(mode_smooth([0, 0, 9, 7, 7], window=5), [0, 0, 0, 7, 7])


# ------------------------------------------------------------------ segments


def test_runs_to_segments_rows_and_original_feature_means():
    # T = 22 features at period 0.5 s, depth 2 -> 6 nodes covering
    # [0,4) [4,8) [8,12) [12,16) [16,20) [20,22); labels give runs of nodes [0,2) [2,5) [5,6).
    t, d = 22, 3
    feats = np.arange(t * d, dtype=np.float32).reshape(t, d) ** 1.5  # SYNTHETIC, not affine
    segs = runs_to_segments(np.array([4, 4, 1, 1, 1, 4]), *node_feature_ranges(t, 2), feats)
    assert len(segs) == 3
    eq(segs.start_node, [0, 2, 5])
    eq(segs.end_node, [2, 5, 6])
    eq(segs.cluster, [4, 1, 4])
    eq(segs.start_feature, [0, 8, 20])
    eq(segs.end_feature, [8, 20, 22])
    expected = np.stack([feats[0:8].mean(0), feats[8:20].mean(0), feats[20:22].mean(0)])
    np.testing.assert_allclose(segs.embeddings, expected, rtol=1e-5)
    assert segs.embeddings.dtype == np.float32


def test_step_embeddings_are_not_node_feature_means():
    # Node features would average the pooled values; the embedding must average ORIGINAL rows.
    feats = np.zeros((8, 1), np.float32)
    feats[3] = 8.0  # a single spike in the first node (features 0..3)
    segs = runs_to_segments(np.array([0, 1]), *node_feature_ranges(8, 2), feats)
    np.testing.assert_allclose(segs.embeddings[:, 0], [2.0, 0.0])


def test_single_run():
    feats = np.ones((5, 2), np.float32)
    segs = runs_to_segments(np.array([2, 2]), *node_feature_ranges(5, 2), feats)
    eq(segs.start_node, [0])
    eq(segs.end_node, [2])
    eq(segs.end_feature, [5])


def test_choose_k_for_short_videos():
    assert choose_k(10, 4, "skip") == 4
    with pytest.raises(VideoSkipped, match="3 nodes"):
        choose_k(3, 4, "skip")
    assert choose_k(3, 4, "cap") == 3
    with pytest.raises(VideoSkipped):
        choose_k(1, 4, "cap")


# ------------------------------------------------------------------ spectral


def blocks(sizes, dim=12, noise=0.05, seed=0):
    """SYNTHETIC features: consecutive blocks around distinct random directions."""
    rng = np.random.default_rng(seed)
    protos = rng.standard_normal((len(sizes), dim))
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return protos[labels] + noise * rng.standard_normal((len(labels), dim)), labels


def test_affinity_is_exp_cos_over_tau_up_to_a_constant():
    x, _ = blocks([4, 5], seed=1)
    tau = 0.5
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    reference = np.exp(unit @ unit.T / tau)
    a = cosine_affinity(x, tau)
    ratio = a / reference
    np.testing.assert_allclose(ratio, ratio[0, 0], rtol=1e-9)
    np.testing.assert_allclose(np.diag(a) / ratio[0, 0], np.exp(1 / tau), rtol=1e-9)
    np.testing.assert_allclose(a, a.T)


@pytest.mark.parametrize("tau", [1e-2, 1e-3, 1e-6])
def test_affinity_stable_at_tiny_temperature(tau):
    x, _ = blocks([4, 5], seed=2)
    x = x.astype(np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow or NaN
        a = cosine_affinity(x, tau)
    assert np.isfinite(a).all()
    assert (a > 0).all() and (a <= 1.0).all()
    np.testing.assert_allclose(np.diag(a), 1.0)


def test_affinity_rejects_non_positive_temperature():
    with pytest.raises(ValueError):
        cosine_affinity(np.ones((3, 2)), 0.0)


@pytest.mark.parametrize("sizes", [[8, 6, 10], [5, 5], [7, 9, 6, 8]])
def test_spectral_recovers_separated_blocks(sizes):
    x, truth = blocks(sizes, seed=len(sizes))
    labels = SpectralStepSegmenter(n_clusters=len(sizes), temperature=0.05,
                                   random_state=0).fit_predict(x)
    # Same partition up to renaming: each block one label, different blocks different labels.
    pairs = set(zip(truth.tolist(), labels.tolist()))
    assert len(pairs) == len(sizes)
    assert len({lab for _, lab in pairs}) == len(sizes)


def test_spectral_is_deterministic_with_fixed_random_state():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((40, 6))  # no structure: assignments depend on the seed
    a = SpectralStepSegmenter(n_clusters=4, random_state=3).fit_predict(x)
    b = SpectralStepSegmenter(n_clusters=4, random_state=3).fit_predict(x)
    eq(a, b)
    assert a.dtype == np.int64


def test_spectral_tiny_temperature_still_clusters():
    x, truth = blocks([6, 7, 5], seed=9)
    labels = SpectralStepSegmenter(n_clusters=3, temperature=1e-3,
                                   random_state=0).fit_predict(x)
    assert len(set(zip(truth.tolist(), labels.tolist()))) == 3


def test_spectral_rejects_bad_k():
    x, _ = blocks([3, 3])
    with pytest.raises(ValueError):
        SpectralStepSegmenter(n_clusters=7).fit(x)
    with pytest.raises(ValueError):
        SpectralStepSegmenter(n_clusters=1).fit(x)


def test_segment_stage_refuses_feature_files_that_are_not_the_tables(tmp_path):
    """The segment stage checks its feature files against the video table, as the hierarchy
    stage does: a wrong file (or one missing) is an error naming the video, nothing written."""
    import pandas as pd

    from steploc.errors import InputError
    from steploc.segment.job import run_segment

    videos = pd.DataFrame({"video_id": ["a", "b"], "feature_path": ["/x/a.npy", "/x/b.npy"],
                           "feature_dim": [16, 16]})
    out = tmp_path / "s.parquet", tmp_path / "v.parquet"
    with pytest.raises(InputError, match="video 'b'.*is not the video table's"):
        run_segment(videos, ["/x/a.npy", "/y/b.npy"], {}, "m", "s", {}, *out)
    with pytest.raises(InputError, match="1 feature files given for the 2 videos"):
        run_segment(videos, ["/x/a.npy"], {}, "m", "s", {}, *out)
    assert not any(p.exists() for p in out)
