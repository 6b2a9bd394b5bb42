"""SYNTHETIC narrated data: training lowers the loss, and the trained model segments the steps
of held-out SYNTHETIC videos better than the same model at its random initialisation."""

from __future__ import annotations

import numpy as np
import pytest

from steploc.hiero.training.synthetic import (
    SYNTHETIC_NOTE,
    synthetic_narrated_dataset,
    trained_vs_random,
)


def test_generator_is_labelled_and_consistent():
    data = synthetic_narrated_dataset(n_videos=3, seed=1)
    assert "SYNTHETIC" in data.note == SYNTHETIC_NOTE
    assert [v.video_id for v in data.videos] == ["synthetic_000", "synthetic_001",
                                                 "synthetic_002"]
    for video in data.videos:
        labels = data.labels[video.video_id]
        assert labels.shape == (video.length,)
        assert np.all(np.diff(labels) >= 0) and set(labels.tolist()) == {1, 2, 3, 4}
        mine = data.narrations.video_id == video.video_id
        rows = (data.narrations.time_s[mine] / video.period_s).astype(int)
        assert rows.max() < video.length  # every narration inside its video
    again = synthetic_narrated_dataset(n_videos=3, seed=1)
    np.testing.assert_array_equal(again.videos[2].features, data.videos[2].features)


@pytest.fixture(scope="module")
def comparison(tmp_path_factory):
    return trained_vs_random(tmp_path_factory.mktemp("synthetic"))


def test_training_lowers_the_loss(comparison):
    assert comparison["loss_last"] < 0.8 * comparison["loss_first"]
    metrics = comparison["result"].metrics
    assert len(metrics) == comparison["result"].total_steps == 120


def test_trained_segments_better_than_random(comparison):
    trained, random = comparison["trained"], comparison["random"]
    print("SYNTHETIC trained vs random:", trained, random)
    assert trained["mof"] > random["mof"] + 0.1
    assert trained["f1@0.50"] > random["f1@0.50"]
    per_video = comparison["per_video"]
    assert set(per_video["weights"]) == {"trained", "random"}
    assert len(per_video) == 2 * 16
