"""procedure_steps on SYNTHETIC summary tables (see conftest): joint clustering, skips,
determinism, agglomerative clustering, the position feature."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from steploc.procedure import (
    SKIPPED_SCHEMA,
    STEPS_SCHEMA,
    activity_features,
    k_from_videos,
    procedure_steps,
)

K = {1: 4, 2: 5}


def _true_steps(synthetic, steps):
    return np.array([synthetic.true_step[(v, i)] for v, i in zip(steps["video_id"], steps["segment_idx"])])


def _is_bijection(step_ids, truth):
    """Every procedure step holds exactly one ground-truth step, and vice versa."""
    table = pd.crosstab(step_ids, truth)
    return bool(((table > 0).sum(axis=0) == 1).all() and ((table > 0).sum(axis=1) == 1).all())


def test_synthetic_steps_recover_the_shared_steps_despite_permuted_video_ids(synthetic):
    steps, _ = procedure_steps(synthetic.segments, synthetic.embeddings, synthetic.videos, K)
    ours = steps[steps["activity_id"] == 1]
    truth = _true_steps(synthetic, ours)
    assert _is_bijection(ours["step_id"].to_numpy(), truth)
    # the per-video ids of the input are NOT a bijection with the steps (they are permuted)
    raw = synthetic.segments.set_index(["video_id", "segment_idx"]).loc[
        list(zip(ours["video_id"], ours["segment_idx"])), "cluster"].to_numpy()
    assert not _is_bijection(raw, truth)


def test_synthetic_output_schema_order_and_distance(synthetic):
    steps, skipped = procedure_steps(synthetic.segments, synthetic.embeddings, synthetic.videos, K)
    assert list(steps.columns) == STEPS_SCHEMA.names
    assert list(skipped.columns) == SKIPPED_SCHEMA.names
    pa.Table.from_pandas(steps, schema=STEPS_SCHEMA, preserve_index=False)  # conforms
    pa.Table.from_pandas(skipped, schema=SKIPPED_SCHEMA, preserve_index=False)
    assert steps["step_id"].dtype == np.int32 and steps["distance"].dtype == np.float64
    assert len(steps) == 24 and set(steps["step_id"]) == {0, 1, 2, 3}
    ordered = steps.sort_values(["activity_id", "video_id", "segment_idx"], ignore_index=True)
    pd.testing.assert_frame_equal(steps, ordered)
    # distances are to the k-means centres: recompute from the features and the sklearn centres
    from sklearn.cluster import KMeans

    points = activity_features(synthetic.segments, synthetic.embeddings, synthetic.videos)[1]
    model = KMeans(n_clusters=4, n_init=10, random_state=0).fit(points.features)
    np.testing.assert_array_equal(steps["step_id"].to_numpy(), model.labels_)
    expected = np.linalg.norm(points.features - model.cluster_centers_[model.labels_], axis=1)
    np.testing.assert_allclose(steps["distance"].to_numpy(), expected, rtol=1e-12)
    assert (steps["distance"] > 0).all()  # noisy points never sit exactly on a centre


def test_synthetic_skips_are_recorded_never_silent(synthetic):
    steps, skipped = procedure_steps(synthetic.segments, synthetic.embeddings, synthetic.videos,
                                     {1: 4, 2: 5, 9: 3})
    assert set(steps["activity_id"]) == {1}
    rows = skipped.set_index("activity_id")
    assert rows.loc[2, "n_segments"] == 2 and rows.loc[2, "k"] == 5
    assert "2 segment(s) < K = 5" in rows.loc[2, "reason"]
    assert rows.loc[9, "n_segments"] == 0 and "no segments" in rows.loc[9, "reason"]
    # an activity with segments but no K is skipped too, with k = 0
    steps, skipped = procedure_steps(synthetic.segments, synthetic.embeddings, synthetic.videos, {1: 4})
    assert skipped["activity_id"].tolist() == [2]
    assert skipped["k"].tolist() == [0] and "no K" in skipped["reason"].iloc[0]
    # every activity with segments is accounted for
    assert set(steps["activity_id"]) | set(skipped["activity_id"]) == set(synthetic.segments["activity_id"])


def test_synthetic_fewer_distinct_vectors_than_k_is_skipped(synthetic):
    segments = synthetic.segments[synthetic.segments["activity_id"] == 1]
    embeddings = synthetic.embeddings.copy()
    embeddings["embedding"] = [np.ones(16, np.float32)] * len(embeddings)  # all points identical
    steps, skipped = procedure_steps(segments, embeddings, synthetic.videos, {1: 4})
    assert steps.empty
    assert skipped["reason"].tolist() == ["1 distinct feature vector(s) < K = 4"]


def test_synthetic_skipped_video_without_segments_is_fine(synthetic):
    assert "syn_v3_skipped" in set(synthetic.videos["video_id"])
    steps, _ = procedure_steps(synthetic.segments, synthetic.embeddings, synthetic.videos, K)
    assert "syn_v3_skipped" not in set(steps["video_id"])


def test_synthetic_deterministic_whatever_the_row_order(synthetic):
    first, _ = procedure_steps(synthetic.segments, synthetic.embeddings, synthetic.videos, K)
    shuffled_segments = synthetic.segments.sample(frac=1.0, random_state=3)
    shuffled_embeddings = synthetic.embeddings.sample(frac=1.0, random_state=4)
    second, _ = procedure_steps(shuffled_segments, shuffled_embeddings, synthetic.videos.iloc[::-1], K)
    pd.testing.assert_frame_equal(first, second)


def test_synthetic_agglomerative_recovers_steps_and_uses_member_means(synthetic):
    steps, _ = procedure_steps(synthetic.segments, synthetic.embeddings, synthetic.videos, {1: 4},
                               method="agglomerative")
    assert _is_bijection(steps["step_id"].to_numpy(), _true_steps(synthetic, steps))
    points = activity_features(synthetic.segments, synthetic.embeddings, synthetic.videos)[1]
    labels = steps["step_id"].to_numpy()
    for step in range(4):
        members = points.features[labels == step]
        np.testing.assert_allclose(steps.loc[labels == step, "distance"].to_numpy(),
                                   np.linalg.norm(members - members.mean(axis=0), axis=1), rtol=1e-12)
    average, _ = procedure_steps(synthetic.segments, synthetic.embeddings, synthetic.videos, {1: 4},
                                 method="agglomerative", linkage="average")
    assert _is_bijection(average["step_id"].to_numpy(), _true_steps(synthetic, average))


def test_synthetic_features_are_l2_normalised_and_position_is_appended(synthetic):
    plain = activity_features(synthetic.segments, synthetic.embeddings, synthetic.videos)[1]
    weighted = activity_features(synthetic.segments, synthetic.embeddings, synthetic.videos,
                                 position_weight=2.0)[1]
    assert plain.features.shape == (24, 16) and weighted.features.shape == (24, 17)
    np.testing.assert_allclose(np.linalg.norm(plain.features, axis=1), 1.0)
    np.testing.assert_array_equal(weighted.features[:, :16], plain.features)
    # syn_v0 segment 2 is [8, 13) s of a 36 s video: centre 10.5, relative position 10.5/36
    row = plain.rows.index[(plain.rows["video_id"] == "syn_v0") & (plain.rows["segment_idx"] == 2)][0]
    assert plain.rows.at[row, "relative_position"] == pytest.approx(10.5 / 36)
    assert weighted.features[row, 16] == pytest.approx(2.0 * 10.5 / 36)
    # syn_v2 (36 s of steps + 3 s background): its end is 39 s
    last = plain.rows.index[(plain.rows["video_id"] == "syn_v2")][-1]
    assert plain.rows.at[last, "relative_position"] == pytest.approx((32 + 39) / 2 / 39)
    steps0, _ = procedure_steps(synthetic.segments, synthetic.embeddings, synthetic.videos, {1: 4})
    steps2, _ = procedure_steps(synthetic.segments, synthetic.embeddings, synthetic.videos, {1: 4},
                                position_weight=2.0)
    assert not np.allclose(steps0["distance"], steps2["distance"])


def _repeated_step_tables():
    """SYNTHETIC activity whose first and last step look alike (same prototype): A A B B A A."""
    rng = np.random.default_rng(11)
    proto_a, proto_b = rng.normal(size=8), rng.normal(size=8)
    segments, embeddings, videos, where = [], [], [], []
    for v in range(3):
        video_id = f"syn_rep{v}"
        for i, proto in enumerate([proto_a, proto_a, proto_b, proto_b, proto_a, proto_a]):
            segments.append({"video_id": video_id, "activity_id": 5, "segment_idx": i, "start_s": 10.0 * i,
                             "end_s": 10.0 * (i + 1)})
            embeddings.append({"video_id": video_id, "segment_idx": i,
                               "embedding": proto + 0.05 * rng.normal(size=8)})
            where.append("start" if i < 2 else "middle" if i < 4 else "end")
        videos.append({"video_id": video_id, "n_features": 60, "feature_period_s": 1.0, "duration_s": 60.0})
    return pd.DataFrame(segments), pd.DataFrame(embeddings), pd.DataFrame(videos), np.array(where)


def test_synthetic_position_weight_separates_a_repeated_step():
    segments, embeddings, videos, where = _repeated_step_tables()
    alike, _ = procedure_steps(segments, embeddings, videos, {5: 3})
    apart, _ = procedure_steps(segments, embeddings, videos, {5: 3}, position_weight=3.0)
    start_alike = set(alike["step_id"][where == "start"])
    end_alike = set(alike["step_id"][where == "end"])
    assert start_alike & end_alike  # without position, start and end occurrences share a step
    assert _is_bijection(apart["step_id"].to_numpy(), where)  # with it: start, middle, end


def test_synthetic_input_errors(synthetic):
    with pytest.raises(ValueError, match="no embedding"):
        procedure_steps(synthetic.segments, synthetic.embeddings.iloc[1:], synthetic.videos, K)
    with pytest.raises(ValueError, match="no row in videos"):
        procedure_steps(synthetic.segments, synthetic.embeddings, synthetic.videos.iloc[1:], K)
    with pytest.raises(ValueError, match="method"):
        procedure_steps(synthetic.segments, synthetic.embeddings, synthetic.videos, K, method="spectral")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="k_by_activity"):
        procedure_steps(synthetic.segments, synthetic.embeddings, synthetic.videos, {1: 0})
    with pytest.raises(ValueError, match="position_weight"):
        procedure_steps(synthetic.segments, synthetic.embeddings, synthetic.videos, K, position_weight=-1.0)


def test_synthetic_k_from_videos(synthetic):
    assert k_from_videos(synthetic.videos) == {1: 4, 2: 5}
    videos = synthetic.videos.copy()
    videos.loc[videos["video_id"] == "syn_v0", "n_clusters_requested"] = 9
    assert k_from_videos(videos)[1] == 4  # the most frequent value wins
