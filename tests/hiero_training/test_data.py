"""Samples and batches (docs/training.md §1.2-1.4): parts, slices, positions, narrations, order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from steploc.errors import InputError
from steploc.hiero.training import TrainingData, VideoFeatures, narrations_from_arrays

from .fixture_data import PERIOD, arrays, fixture_batch, fixture_narrations, fixture_videos


def _data(videos, narrations, **kwargs):
    options = {"input_size": videos[0].features.shape[1], "text_size": narrations.dim,
                   "batch_size": 1, "shuffle": False, "seed": 0}
    options.update(kwargs)
    return TrainingData(videos, narrations, **options)


def test_fixture_batch_is_rebuilt_exactly():
    data = _data(fixture_videos(), fixture_narrations(), batch_size=2)
    assert [(s.video_id, s.part, s.i0, s.i1) for s in data.samples] == [
        ("vidA", 1, 562, 586), ("vidB", 1, 562, 599)]
    assert data.report.n_parts_without_narrations == 2  # part 0 of each video
    ours, ref = data.batch(0), fixture_batch()
    assert torch.equal(ours.x, ref.x)
    for a, b in zip(ours.positions, ref.positions, strict=True):
        assert torch.equal(a, b)  # float32 seconds, bit for bit, incl. the 1.0 s boundaries
    assert torch.equal(ours.narration_times, ref.narration_times)
    assert torch.equal(ours.narration_sample, ref.narration_sample)
    assert torch.equal(ours.text, ref.text)


def _long_video(n_rows: int, dim: int = 4) -> VideoFeatures:
    return VideoFeatures("long", np.ones((n_rows, dim), dtype=np.float32), PERIOD)


def test_part_slices_follow_the_reference_formula():
    video = _long_video(60_000)  # 32,000 s: 107 parts
    duration = video.duration_s
    times = np.arange(0.0, duration, 300.0) + 1.0
    narr = narrations_from_arrays(["long"] * times.size, times, np.ones((times.size, 3)))
    data = _data([video], narr)
    starts = [s.i0 for s in data.samples]
    # reference: floor(t0 * fps // stride), end min(T, (t0 + 300) * fps // stride)
    assert starts == [int(part * 300 * 30 // 16) for part in range(len(starts))]
    assert [s.i1 for s in data.samples] == [min(60_000, int((p * 300 + 300) * 30 // 16))
                                            for p in range(len(starts))]
    assert starts[:5] == [0, 562, 1125, 1687, 2250]
    assert {s.length for s in data.samples[:-1]} == {562, 563}


def test_positions_equal_the_reference_float32_arithmetic():
    video = _long_video(20_000)
    times = np.arange(0.0, video.duration_s, 300.0) + 5.0
    data = _data([video], narrations_from_arrays(["long"] * times.size, times,
                                                 np.ones((times.size, 3))))
    for sample in data.samples:
        ref = ((0.5 + torch.arange(sample.length) + sample.i0) * 16 / 30).numpy()
        np.testing.assert_array_equal(sample.positions(), ref)


def test_narrations_assigned_to_parts_and_short_parts_dropped():
    # 1127 rows = 601.07 s: parts [0,300) [300,600) [600,601.07) of 562, 563 and 2 rows
    video = _long_video(1127)
    times = np.array([0.0, 299.99, 300.0, 599.9, 600.5])
    narr = narrations_from_arrays(["long"] * 5, times, np.arange(15.0).reshape(5, 3))
    data = _data([video], narr)
    assert [s.part for s in data.samples] == [0, 1]
    assert [s.narrations.tolist() for s in data.samples] == [[0, 1], [2, 3]]
    assert data.report.n_samples_too_short == 1 and data.report.n_narrations_in_short_samples == 1


def test_batch_order_is_a_function_of_seed_and_step():
    videos = [VideoFeatures(f"v{i}", np.ones((40, 4), np.float32), 0.5) for i in range(10)]
    narr = narrations_from_arrays([f"v{i}" for i in range(10)], np.full(10, 3.0),
                                  np.ones((10, 3)))
    data = _data(videos, narr, batch_size=3, shuffle=True, seed=4)
    again = _data(videos, narr, batch_size=3, shuffle=True, seed=4)
    assert data.steps_per_epoch == 3  # 10 // 3: the partial batch is dropped
    sequence = [data.batch_indices(s) for s in range(9)]
    assert sequence == [again.batch_indices(s) for s in range(9)]
    assert [again.batch_indices(s) for s in (7, 2, 5)] == [sequence[7], sequence[2], sequence[5]]
    epochs = [sorted(sum(sequence[3 * e: 3 * e + 3], [])) for e in range(3)]
    assert all(len(set(e)) == 9 for e in epochs)  # no sample twice within an epoch
    assert sequence[:3] != sequence[3:6]  # reshuffled
    assert _data(videos, narr, batch_size=3, shuffle=True, seed=5).batch_indices(0) != sequence[0]


def test_input_problems_name_the_video():
    narr = narrations_from_arrays(["a"], [1.0], np.ones((1, 3)))
    with pytest.raises(InputError, match="'a'.*features must be \\(T, 8\\)"):
        _data([VideoFeatures("a", np.ones((40, 4), np.float32), 0.5)], narr, input_size=8)
    with pytest.raises(InputError, match="'a'.*period"):
        _data([VideoFeatures("a", np.ones((40, 4), np.float32), 0.0)], narr)
    with pytest.raises(InputError, match="no full batch"):
        _data([VideoFeatures("a", np.ones((40, 4), np.float32), 0.5)], narr, batch_size=2)
    bad = np.ones((40, 4), np.float32)
    bad[3, 1] = np.nan
    data = _data([VideoFeatures("a", bad, 0.5)], narr)
    with pytest.raises(InputError, match="video 'a'.*NaN"):
        data.batch(0)


def test_fixture_metadata_consistent():
    z = arrays()
    assert z["in/T"].tolist() == [24, 37] and z["in/i0"].tolist() == [562, 562]


def test_video_features_from_files(tmp_path):
    array = np.arange(24, dtype=np.float16).reshape(6, 4)
    np.save(tmp_path / "a.npy", array)
    torch.save(torch.from_numpy(array), tmp_path / "b.pt")
    a = VideoFeatures.from_file("a", tmp_path / "a.npy", 0.5)
    b = VideoFeatures.from_file("b", tmp_path / "b.pt", 0.5)
    assert isinstance(a.features, np.memmap) and a.duration_s == 3.0
    np.testing.assert_array_equal(np.asarray(a.features), b.features.numpy())
    with pytest.raises(InputError, match="video 'c'.*no such feature file"):
        VideoFeatures.from_file("c", tmp_path / "c.npy", 0.5)
    np.save(tmp_path / "d.npy", np.zeros(5))
    with pytest.raises(InputError, match="2-D"):
        VideoFeatures.from_file("d", tmp_path / "d.npy", 0.5)
