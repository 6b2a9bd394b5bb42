"""Readers of the annotation layouts (``annotations.format``), one module per format.

Each reader returns a :class:`Dataset`: the recordings (id, activity, duration when known),
their ground truth when the dataset has one (:mod:`steploc.datasets.truth`), and the K a
format-specific ``params.k_strategy`` gives. The video table (:mod:`steploc.video_table`) is
built from it the same way for every format.

| format                | videos listed by              | ground truth                      |
|-----------------------|-------------------------------|-----------------------------------|
| ``captaincook4d``     | ``recordings`` CSV            | ``step_annotations`` (seconds)    |
| ``action_segmentation`` | ``split`` bundle, or the label files | per-frame label files       |
| ``table``             | ``video_table`` CSV           | ``segments_table`` (seconds)      |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from steploc.datasets.truth import FrameTruth, GridTruth, IntervalTruth
from steploc.errors import InputError

FORMATS = ("captaincook4d", "action_segmentation", "table")

#: Columns of :attr:`Dataset.videos`.
VIDEO_COLUMNS = ["video_id", "activity_id", "activity_name", "duration_s"]

#: K strategies that read the ground truth on the grid (any format with ground truth).
GROUND_TRUTH_K = ("video_labels", "activity_labels")


@dataclass
class Dataset:
    """What a format reader found."""

    videos: pd.DataFrame  # VIDEO_COLUMNS, one row per listed recording
    source: Path  # the file or folder that lists the videos (for messages)
    truth: IntervalTruth | FrameTruth | None
    #: K from the annotations for a format-specific strategy: ``(strategy, videos) -> {id: K}``.
    annotation_k: Callable[[str, pd.DataFrame], dict[str, int]] | None = None
    #: The strategies ``annotation_k`` handles.
    k_strategies: tuple[str, ...] = field(default_factory=tuple)


def load_dataset(annotations: dict, selection: dict | None = None) -> Dataset:
    """The dataset of a validated ``annotations`` config section, restricted to
    ``selection`` (the ``videos`` section)."""
    fmt = annotations.get("format", "captaincook4d")
    if fmt == "captaincook4d":
        from steploc.datasets.captaincook4d import load_captaincook4d as reader
    elif fmt == "action_segmentation":
        from steploc.datasets.action_segmentation import load_action_segmentation as reader
    elif fmt == "table":
        from steploc.datasets.table import load_table as reader
    else:
        raise InputError(f"annotations.format {fmt!r} is unknown (known: {', '.join(FORMATS)})")
    return reader(annotations, selection or {})


def select_videos(videos: pd.DataFrame, selection: dict, path: Path) -> pd.DataFrame:
    """Videos chosen by ``videos.{activity_ids, recording_ids, max_per_activity}``."""
    chosen = videos
    activity_ids = selection.get("activity_ids") or []
    recording_ids = [str(r) for r in (selection.get("recording_ids") or [])]
    if activity_ids:
        unknown = sorted(set(activity_ids) - set(videos["activity_id"]))
        if unknown:
            raise InputError(f"videos.activity_ids {unknown} have no recordings", path=path)
        chosen = chosen[chosen["activity_id"].isin(activity_ids)]
    if recording_ids:
        unknown = sorted(set(recording_ids) - set(videos["video_id"]))
        if unknown:
            raise InputError(f"videos.recording_ids {unknown} are not listed", path=path)
        chosen = chosen[chosen["video_id"].isin(recording_ids)]
    limit = selection.get("max_per_activity")
    if limit:
        chosen = chosen.groupby("activity_id", sort=False).head(int(limit))
    if chosen.empty:
        raise InputError("the video selection is empty", path=path)
    return chosen.reset_index(drop=True)


def activity_ids(names: pd.Series) -> pd.Series:
    """Integer activity ids for activity names: 1, 2, ... in sorted name order."""
    numbering = {name: i for i, name in enumerate(sorted(set(names)), start=1)}
    return names.map(numbering).astype("int64")


__all__ = ["FORMATS", "GROUND_TRUTH_K", "VIDEO_COLUMNS", "Dataset", "FrameTruth", "GridTruth",
           "IntervalTruth", "activity_ids", "load_dataset", "select_videos"]
