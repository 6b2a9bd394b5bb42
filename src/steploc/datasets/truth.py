"""Ground truth of a dataset, whatever its layout, put on each video's feature grid.

Two kinds exist on disk (docs/datasets.md):

* :class:`IntervalTruth`: steps as ``[start_s, end_s)`` intervals (CaptainCook4D's step
  annotations, the ``table`` format's segments table). A cell takes the step whose interval
  covers its centre (:func:`steploc.metrics.ground_truth_labels`).
* :class:`FrameTruth`: one label name per feature frame (the action-segmentation layout). The
  labels go onto the grid directly, with no seconds round trip; the file must have exactly one
  line per feature row.

Both give, per video, a :class:`GridTruth`: the class of every cell (numbered per video by
first appearance, 0 = background), and for each class the label shared by every video of the
dataset (``class_labels``, for the activity-level protocol) and its name.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from steploc.annotations import StepAnnotations, check_steps_within_videos
from steploc.errors import InputError
from steploc.metrics import ground_truth_labels, step_class_numbering


@dataclass(frozen=True)
class GridTruth:
    """One video's ground truth on its feature grid."""

    labels: np.ndarray  # (n_cells,) int64, 0 = background, 1.. = classes of this video
    class_labels: list[int]  # dataset-wide label of class c at index c - 1
    class_names: list[str]

    @property
    def n_distinct_labels(self) -> int:
        """Distinct labels on the grid, background included when present (the TW-FINCH K)."""
        return int(np.unique(self.labels).size)

    def dataset_labels(self) -> set[int]:
        """The dataset-wide labels present, background as 0."""
        lookup = np.concatenate(([0], np.asarray(self.class_labels, dtype=np.int64)))
        return {int(v) for v in np.unique(lookup[self.labels])}


def video_extents(video_table: pd.DataFrame) -> tuple[dict[str, float], dict[str, float]]:
    """``(end_s, period_s)`` of every processable video: its features' span, or its duration
    when shorter (see :func:`steploc.summaries.video_end_s`)."""
    from steploc.summaries import video_end_s

    ok = video_table[video_table["status"] == "ok"]
    ends = {r.video_id: video_end_s(int(r.n_features), float(r.feature_period_s),
                                    float(r.duration_s)) for r in ok.itertuples(index=False)}
    periods = dict(zip(ok["video_id"], ok["feature_period_s"].astype(float), strict=True))
    return ends, periods


@dataclass
class IntervalTruth:
    """Ground-truth steps in seconds (``annotations.steps``: ``recording_id``, ``step_id``,
    ``start_s``, ``end_s``, ``is_missing``, ``description``, ``where``)."""

    annotations: StepAnnotations
    path: Path
    invalid_steps: str = "error"
    #: Name shown for a step (default: its description).
    names: dict[int, str] = field(default_factory=dict)

    def files(self) -> list[Path]:
        return [self.path]

    def n_frames(self, video_id: str) -> int | None:
        return None

    def check(self, video_table: pd.DataFrame) -> IntervalTruth:
        """Refuse (or, under ``invalid_steps: skip``, record) steps outside their video."""
        ends, periods = video_extents(video_table)
        checked = check_steps_within_videos(self.annotations, ends, periods, self.path,
                                            self.invalid_steps)
        return IntervalTruth(checked, self.path, self.invalid_steps, self.names)

    def scorable(self) -> set[str]:
        return (set(self.annotations.steps["recording_id"])
                - set(self.annotations.invalid["recording_id"]))

    def grid(self, video_id: str, n_cells: int, period_s: float) -> GridTruth | str:
        """The video's grid truth, or the reason it has none."""
        invalid = self.annotations.invalid_reason(video_id)
        if invalid is not None:
            return invalid
        steps = self.annotations.steps
        steps = steps[steps["recording_id"] == video_id]
        if steps.empty:
            return "no ground-truth steps for this video"
        numbering = step_class_numbering(steps)
        text = dict(zip(steps["step_id"], steps["description"], strict=True))
        labels = ground_truth_labels(steps, n_cells, period_s, step_classes=numbering)
        order = sorted(numbering, key=lambda step: numbering[step])
        return GridTruth(labels.astype(np.int64), [int(s) for s in order],
                         [self.names.get(int(s), str(text[s])) for s in order])


#: Background label names recognised when ``annotations.background`` is null.
DEFAULT_BACKGROUND = ("SIL", "background", "action_start", "action_end")


@dataclass
class FrameTruth:
    """Per-frame label names of each video (``names[video_id]``, read from ``paths``)."""

    names: dict[str, list[str]]
    paths: dict[str, Path]
    background: frozenset[str]
    #: Dataset-wide label of every non-background name (>= 1; the mapping's id + 1).
    vocabulary: dict[str, int]
    mapping_path: Path | None = None

    def files(self) -> list[Path]:
        extra = [] if self.mapping_path is None else [self.mapping_path]
        return [self.paths[v] for v in sorted(self.paths)] + extra

    def n_frames(self, video_id: str) -> int | None:
        return len(self.names[video_id]) if video_id in self.names else None

    def check(self, video_table: pd.DataFrame) -> FrameTruth:
        """Every label file must have exactly one line per feature row of its video."""
        ok = video_table[video_table["status"] == "ok"]
        for r in ok.itertuples(index=False):
            if r.video_id not in self.names:
                continue
            n_labels, n_rows = len(self.names[r.video_id]), int(r.n_features)
            if n_labels != n_rows:
                relation = "shorter" if n_labels < n_rows else "longer"
                raise InputError(
                    f"the label file has {n_labels} lines but the features have {n_rows} rows "
                    f"({r.feature_path}): the label file is {relation} than the features; "
                    "both must list the same frames (check features.layout and any "
                    "subsampling)", video=r.video_id, path=self.paths[r.video_id])
        return self

    def scorable(self) -> set[str]:
        return set(self.names)

    def grid(self, video_id: str, n_cells: int, period_s: float) -> GridTruth | str:
        if video_id not in self.names:
            return "no label file for this video"
        names = self.names[video_id]
        if len(names) != n_cells:
            raise InputError(f"{len(names)} labels for {n_cells} feature rows", video=video_id,
                             path=self.paths[video_id])
        classes: dict[str, int] = {}
        labels = np.zeros(n_cells, dtype=np.int64)
        for index, name in enumerate(names):
            if name in self.background:
                continue
            labels[index] = classes.setdefault(name, len(classes) + 1)
        order = sorted(classes, key=classes.__getitem__)
        return GridTruth(labels, [self.vocabulary[n] for n in order], order)


def read_label_file(path: Path, video: str) -> list[str]:
    """One label name per line (blank lines at the end are ignored, blank lines inside are an
    error naming the line)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read label file: {exc}", video=video, path=path) from exc
    while lines and not lines[-1].strip():
        lines.pop()
    for number, line in enumerate(lines, start=1):
        if not line.strip() or len(line.split()) != 1:
            raise InputError(f"line {number}: {line!r} is not one label name", video=video,
                             path=path)
    if not lines:
        raise InputError("empty label file", video=video, path=path)
    return [line.strip() for line in lines]


def read_mapping(path: Path) -> dict[str, int]:
    """``"<id> <name>"`` lines -> ``{name: id}`` (ids and names unique)."""
    if not path.is_file():
        raise InputError("mapping file not found", path=path)
    mapping: dict[str, int] = {}
    ids: set[int] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise InputError(f"line {number}: {line!r} is not '<id> <name>'", path=path)
        label_id, name = int(parts[0]), parts[1]
        if name in mapping or label_id in ids:
            raise InputError(f"line {number}: {name!r} / id {label_id} listed twice", path=path)
        mapping[name] = label_id
        ids.add(label_id)
    if not mapping:
        raise InputError("empty mapping file", path=path)
    return mapping


def frame_truth(label_files: dict[str, Path], mapping_path: Path | None,
                background: Iterable[str] | None) -> FrameTruth:
    """Read the label files of the selected videos, check their names against the mapping,
    and settle the background names."""
    names = {video: read_label_file(path, video) for video, path in label_files.items()}
    mapping = read_mapping(mapping_path) if mapping_path is not None else None
    if mapping is not None:
        for video, labels in names.items():
            unknown = sorted(set(labels) - set(mapping))
            if unknown:
                line = labels.index(unknown[0]) + 1
                raise InputError(f"line {line}: label {unknown[0]!r} is not in the mapping "
                                 f"{mapping_path}", video=video, path=label_files[video])
    present = set(mapping) if mapping is not None else {n for v in names.values() for n in v}
    if background is None:
        chosen = frozenset(n for n in DEFAULT_BACKGROUND if n in present)
    else:
        chosen = frozenset(background)
        if mapping is not None:
            unknown = sorted(chosen - set(mapping))
            if unknown:
                raise InputError(f"annotations.background names {unknown} are not in the "
                                 "mapping (names are case-sensitive)", path=mapping_path)
    if mapping is not None:
        vocabulary = {name: label_id + 1 for name, label_id in mapping.items()}
    else:
        vocabulary = {name: i for i, name in enumerate(sorted(present), start=1)}
    return FrameTruth(names, dict(label_files), chosen,
                      {n: v for n, v in vocabulary.items() if n not in chosen}, mapping_path)
