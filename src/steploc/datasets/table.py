"""``annotations.format: table``: a generic video sheet and an optional segments table, for
datasets annotated in seconds (EgoProceL, Ego4D Goal-Step, your own).

``video_table`` (CSV): ``video_id``, ``activity`` (a name), optional ``n_clusters`` (K, for
``k_strategy: video_table``) and ``duration_s``. ``segments_table`` (CSV, optional): ``video_id``,
``start_s``, ``end_s``, ``label``: the ground truth; labels listed in ``background`` are not
steps. Activity ids are 1, 2, ... in sorted activity-name order; step labels are numbered the
same way, over the whole table.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from steploc.annotations import (
    STEP_COLUMNS,
    StepAnnotations,
    csv_line,
    parse_time,
    read_csv_records,
    require_columns,
)
from steploc.datasets import VIDEO_COLUMNS, Dataset, activity_ids, select_videos
from steploc.datasets.truth import IntervalTruth
from steploc.errors import InputError
from steploc.ids import check_ids


def read_video_sheet(path: Path) -> pd.DataFrame:
    df = read_csv_records(path)
    require_columns(df, ["video_id", "activity"], path)
    ids = df["video_id"].str.strip()
    check_ids(ids, rows=[csv_line(df, i) for i in df.index], what="video id", path=path)
    dup = ids[ids.duplicated()]
    if len(dup):
        raise InputError(f"video id(s) {sorted(dup.unique())} listed twice", path=path)
    out = pd.DataFrame({"video_id": ids, "activity_name": df["activity"].str.strip()})
    for index in out.index[out["activity_name"] == ""]:
        raise InputError(f"{csv_line(df, index)}: empty activity", video=ids[index], path=path)
    out["activity_id"] = activity_ids(out["activity_name"])
    out["duration_s"] = np.nan
    if "duration_s" in df.columns:
        for index, text in df["duration_s"].items():
            if not str(text).strip():
                continue
            value = parse_time(text)
            if value is None or value <= 0:
                raise InputError(f"{csv_line(df, index)}: duration_s {text!r} is not a positive "
                                 "number", video=ids[index], path=path)
            out.at[index, "duration_s"] = value
    out["n_clusters"] = pd.Series([pd.NA] * len(out), dtype="Int64")
    if "n_clusters" in df.columns:
        for index, text in df["n_clusters"].items():
            text = str(text).strip()
            if not text:
                continue
            if not re.fullmatch(r"\d+", text) or int(text) < 2:
                raise InputError(f"{csv_line(df, index)}: n_clusters {text!r} is not an integer "
                                 ">= 2", video=ids[index], path=path)
            out.at[index, "n_clusters"] = int(text)
    return out


def read_segments_table(path: Path, background: set[str], invalid_steps: str
                        ) -> StepAnnotations:
    """The segments as step annotations (``step_id`` = the label's number, ``description`` =
    the label), parsed as strictly as CaptainCook4D's."""
    df = read_csv_records(path)
    require_columns(df, ["video_id", "start_s", "end_s", "label"], path)
    labels = df["label"].str.strip()
    numbering = {name: i for i, name in enumerate(sorted(set(labels) - background - {""}),
                                                  start=1)}
    rows, invalid = [], []
    for index in df.index:
        video, where = str(df.at[index, "video_id"]).strip(), csv_line(df, index)
        start, end = parse_time(df.at[index, "start_s"]), parse_time(df.at[index, "end_s"])
        label = labels[index]
        problem = None
        if start is None:
            problem = f"start_s {df.at[index, 'start_s']!r} is not a number"
        elif end is None:
            problem = f"end_s {df.at[index, 'end_s']!r} is not a number"
        elif start < 0 or end <= start:
            problem = f"segment [{start:g}, {end:g}] s needs 0 <= start_s < end_s"
        elif not label:
            problem = "empty label"
        if problem is not None:
            if invalid_steps == "error":
                raise InputError(f"{where}: {problem}", video=video or None, path=path)
            invalid.append({"recording_id": video, "where": where, "problem": problem})
            continue
        if label in background:
            continue
        rows.append({"recording_id": video, "step_id": numbering[label], "start_s": start,
                     "end_s": end, "is_missing": False, "has_errors": False,
                     "description": label, "where": where})
    steps = pd.DataFrame(rows, columns=[c for c in STEP_COLUMNS if c != "row"])
    steps = steps.astype({"recording_id": object, "step_id": "int64", "start_s": "float64",
                          "end_s": "float64", "is_missing": bool, "has_errors": bool})
    steps.insert(1, "row", steps.groupby("recording_id").cumcount().astype("int64"))
    return StepAnnotations(steps, pd.DataFrame(invalid, columns=["recording_id", "where",
                                                                 "problem"]))


def load_table(annotations: dict, selection: dict) -> Dataset:
    root = Path(annotations["root"])
    sheet_path = root / annotations["video_table"]
    sheet = read_video_sheet(sheet_path)
    chosen = select_videos(sheet, selection, sheet_path)
    truth = None
    if annotations.get("segments_table"):
        segments_path = root / annotations["segments_table"]
        steps = read_segments_table(segments_path, set(annotations.get("background") or []),
                                    annotations.get("invalid_steps", "error"))
        unknown = sorted(set(steps.steps["recording_id"]) - set(sheet["video_id"]))
        if unknown:
            raise InputError(f"segments of video(s) {unknown[:5]} that the video table "
                             f"{sheet_path} does not list", video=unknown[0], path=segments_path)
        truth = IntervalTruth(steps, segments_path, annotations.get("invalid_steps", "error"))

    def annotation_k(strategy: str, videos: pd.DataFrame) -> dict[str, int]:
        listed = sheet.set_index("video_id")["n_clusters"]
        missing = [v for v in videos["video_id"] if pd.isna(listed[v])]
        if missing:
            raise InputError("k_strategy 'video_table' needs an n_clusters value for every "
                             "video", video=missing[0], path=sheet_path)
        return {v: int(listed[v]) for v in videos["video_id"]}

    return Dataset(videos=chosen[VIDEO_COLUMNS], source=sheet_path, truth=truth,
                   annotation_k=annotation_k, k_strategies=("video_table",))
