"""TW-FINCH against the authors' outputs on 5 REAL Breakfast videos (vendored fixture).

The reference partitions come from the authors' code (see the fixture's README.md); they are
compared up to a renaming of labels. All partitions of the hierarchy and the 15 (video, K)
label sets must match.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from segment_testing import contingency, same_partition

from steploc.segment import make_segmenter

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "twfinch_reference"
META = json.loads((FIXTURE / "meta.json").read_text())
VIDEOS = sorted(META)
PAIRS = [(v, k) for v in VIDEOS for k in sorted({META[v]["K"], 7, 10})]
PARTITIONS = [(v, i) for v in VIDEOS for i in range(len(META[v]["partition_sizes"]))]


@cache
def reference() -> dict:
    with np.load(FIXTURE / "twfinch_reference.npz") as z:
        return {key: z[key] for key in z.files}


@cache
def features(video: str) -> np.ndarray:
    with np.load(FIXTURE / "breakfast_features.npz") as z:
        return z[video]


@cache
def fitted(video: str, k: int):
    return make_segmenter("twfinch", k).fit(features(video))


def test_fixture_is_complete():
    assert len(PAIRS) == 15
    ref = reference()
    assert len(PARTITIONS) == 22
    for v in VIDEOS:
        x = features(v)
        assert x.dtype == np.float32 and x.shape == (META[v]["T"], META[v]["D"])
        assert sum(key.startswith(v + ".partition") for key in ref) == len(
            META[v]["partition_sizes"])


def test_same_partition_detects_a_difference():
    a = np.array([0, 0, 1, 1, 2])
    assert same_partition(a, np.array([5, 5, 3, 3, 9]))
    assert not same_partition(a, np.array([5, 5, 3, 9, 9]))  # split/merged
    assert not same_partition(a, np.array([5, 5, 5, 3, 9]))
    assert contingency(a, a).trace() == 5


@pytest.mark.parametrize("video", VIDEOS)
def test_partition_sizes_match(video):
    assert fitted(video, 7).partition_sizes_ == META[video]["partition_sizes"]


@pytest.mark.parametrize(("video", "level"), PARTITIONS)
def test_partitions_match_reference(video, level):
    ours = fitted(video, 7).partitions_[level]
    theirs = reference()[f"{video}.partition{level}"]
    assert same_partition(ours, theirs), (
        f"{video} partition {level}: {len(np.unique(ours))} vs {len(np.unique(theirs))} "
        f"clusters, {(contingency(ours, theirs) > 0).sum()} non-zero contingency cells")


@pytest.mark.parametrize(("video", "k"), PAIRS)
def test_labels_for_k_match_reference(video, k):
    seg = fitted(video, k)
    theirs = reference()[f"{video}.labels_K{k}"]
    assert same_partition(seg.labels_, theirs)
    assert seg.labels_.dtype == np.int64 and len(seg.labels_) == META[video]["T"]
    assert seg.n_clusters_ == len(np.unique(theirs))


def test_k_above_the_first_partition_is_recorded():
    video = "P08_webcam01_P08_coffee"
    first = META[video]["partition_sizes"][0]
    seg = make_segmenter("twfinch", first + 5).fit(features(video))
    assert seg.n_clusters_ == first
    assert f"K={first + 5} exceeds the {first} clusters" in seg.note_
    assert same_partition(seg.labels_, reference()[f"{video}.partition0"])
