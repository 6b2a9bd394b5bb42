"""``annotations.format: action_segmentation``: the MS-TCN / CTE layout (Breakfast, 50Salads,
GTEA, YouTube Instructions).

``<root>/<ground_truth>/<video>[.txt]`` holds one label name per feature frame; an optional
``mapping`` (``"<id> <name>"``) fixes the label vocabulary; an optional ``split`` bundle
(``"<video>.txt"`` per line) lists the videos, otherwise every label file is a video. The
activity of a video comes from ``activity_regex`` (a group named ``activity`` searched in the
id), or is one activity named after the root folder. Durations are not part of the layout:
the feature period comes from ``features.fps`` / ``period_s``.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from steploc.datasets import VIDEO_COLUMNS, Dataset, activity_ids, select_videos
from steploc.datasets.truth import frame_truth
from steploc.errors import InputError
from steploc.ids import check_ids


def _label_files(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        raise InputError("ground-truth folder not found (annotations.ground_truth)", path=folder)
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        video = path.name[:-4] if path.name.endswith(".txt") else path.name
        if video in files:
            raise InputError(f"two label files for video {video!r}: {files[video].name} and "
                             f"{path.name}", path=folder)
        files[video] = path
    if not files:
        raise InputError("no label files in the ground-truth folder", path=folder)
    return files


def _split_videos(path: Path) -> list[str]:
    if not path.is_file():
        raise InputError("split file not found (annotations.split)", path=path)
    videos = []
    for line in path.read_text(encoding="utf-8").splitlines():
        name = line.strip()
        if name:
            videos.append(name[:-4] if name.endswith(".txt") else name)
    if not videos:
        raise InputError("empty split file", path=path)
    return videos


def activity_pattern(regex: str) -> re.Pattern:
    """The compiled ``activity_regex``; it must define a group named ``activity``."""
    try:
        pattern = re.compile(regex)
    except re.error as exc:
        raise InputError(f"annotations.activity_regex {regex!r} is not a valid regex: "
                         f"{exc}") from None
    if "activity" not in pattern.groupindex:
        raise InputError(f"annotations.activity_regex {regex!r} has no group named activity: "
                         "write it as (?P<activity>...)")
    return pattern


def video_activities(videos: list[str], regex: str | None, root: Path, source: Path
                     ) -> list[str]:
    if regex is None:
        return [root.resolve().name] * len(videos)
    pattern = activity_pattern(regex)
    names = []
    for video in videos:
        match = pattern.search(video)
        if match is None or not match.group("activity"):
            raise InputError(f"annotations.activity_regex {regex!r} does not match the video "
                             "id", video=video, path=source)
        names.append(match.group("activity"))
    return names


def load_action_segmentation(annotations: dict, selection: dict) -> Dataset:
    root = Path(annotations["root"])
    folder = root / annotations["ground_truth"]
    files = _label_files(folder)
    source = folder
    listed = sorted(files)
    if annotations.get("split"):
        source = root / annotations["split"]
        listed = _split_videos(source)
        missing = [v for v in listed if v not in files]
        if missing:
            raise InputError(f"{len(missing)} video(s) of the split have no label file in "
                             f"{folder} (first: {missing[0]!r})", video=missing[0], path=source)
    check_ids(pd.Series(listed), rows=[f"video {v!r}" for v in listed], what="video id",
              path=source)
    names = video_activities(listed, annotations.get("activity_regex"), root, source)
    videos = pd.DataFrame({"video_id": listed, "activity_name": names})
    videos["activity_id"] = activity_ids(videos["activity_name"])
    videos["duration_s"] = np.nan
    chosen = select_videos(videos, selection, source)
    mapping = annotations.get("mapping")
    truth = frame_truth({v: files[v] for v in chosen["video_id"]},
                        None if mapping is None else root / mapping,
                        annotations.get("background"))
    return Dataset(videos=chosen[VIDEO_COLUMNS], source=source, truth=truth)
