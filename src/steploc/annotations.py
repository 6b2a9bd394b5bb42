"""CaptainCook4D annotations as the dataset ships them, quirks included.

The quirks handled here (numbers refer to ``data/captaincook4d/README.md``):

* footer rows in ``annotation_csv/average_segment_length.csv`` (quirk 1): only rows whose
  ``activity_id`` is all digits are kept;
* ids are strings in every file (quirk 3): recording ids are read as ``str``, never as numbers;
* rows are in a different order in every file (quirk 4): everything is joined on ids;
* missing steps have times -1 (quirk 7) and are flagged ``is_missing``;
* ``duration(min)`` is wrong (quirk 12): only ``duration(sec)`` is used;
* task graphs carry START and END nodes (quirk 16), have gaps in their node ids (quirk 18) and
  repeated nodes (quirk 19): nodes are counted by their text, never by their ids;
* activity names map to task-graph files by ``name.lower().replace(" ", "") + ".json"``.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from steploc.errors import InputError
from steploc.ids import check_ids, id_problem

#: Files of a CaptainCook4D annotation checkout, relative to its root.
DEFAULT_FILES = {
    "activities": "annotation_csv/average_segment_length.csv",
    "recordings": "annotation_csv/recording_id_step_idx.csv",
    "step_annotations": "annotation_csv/step_annotations.csv",
    "video_metadata": "metadata/video_information.csv",
    "task_graphs": "task_graphs",
}


_TERMINAL_NODES = {"START", "END"}


def read_csv_records(path: Path) -> pd.DataFrame:
    """Every field as text, plus ``_line``: the line of the file on which the record starts
    (header = line 1), so that errors can name the row a user must fix."""
    if not path.is_file():
        raise InputError("annotation file not found", path=path)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None:
                raise InputError("empty CSV file (no header row)", path=path)
            header = [h.strip() for h in header]
            records, lines, line = [], [], reader.line_num + 1
            for record in reader:
                if record:  # blank lines are not rows
                    records.append(record)
                    lines.append(line)
                line = reader.line_num + 1
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InputError(f"cannot parse CSV: {exc}", path=path) from exc
    width = len(header)
    for record, line in zip(records, lines, strict=True):
        if len(record) > width:
            raise InputError(f"line {line}: {len(record)} fields, but the header has {width}",
                             path=path)
    rows = [record + [""] * (width - len(record)) for record in records]
    df = pd.DataFrame(rows, columns=header, dtype=object)
    df["_line"] = lines
    return df


def require_columns(df: pd.DataFrame, columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        found = [c for c in df.columns if c != "_line"]
        raise InputError(f"missing column(s) {missing}; found {found}", path=path)


def csv_line(df: pd.DataFrame, index) -> str:
    return f"line {df.at[index, '_line']}"


def read_activities(path: str | Path) -> pd.DataFrame:
    """Activities from ``average_segment_length.csv``: ``activity_id`` (int), ``activity_name``,
    ``average_segment_length_s``.

    The file ends in decorative footer rows (a ``=====`` row, an ``"Average"`` row, another
    ``=====`` row), so ``activity_id`` arrives as text: keep the rows whose id is all digits.
    """
    path = Path(path)
    df = read_csv_records(path)
    require_columns(df, ["activity_id", "activity_name", "average_segment_length"], path)
    ids = df["activity_id"].str.strip()
    df = df[ids.str.fullmatch(r"\d+")].copy()
    if df.empty:
        raise InputError("no activity rows (activity_id all digits) found", path=path)
    for index, name in df["activity_name"].items():
        _check_activity_name(name.strip(), path, csv_line(df, index))
    out = pd.DataFrame(
        {
            "activity_id": df["activity_id"].astype("int64"),
            "activity_name": df["activity_name"].str.strip(),
            "average_segment_length_s": pd.to_numeric(df["average_segment_length"],
                                                      errors="coerce"),
        }
    )
    dup = out["activity_id"][out["activity_id"].duplicated()]
    if len(dup):
        raise InputError(f"activity id(s) {sorted(dup.unique())} listed twice", path=path)
    return out.reset_index(drop=True)


def _check_activity_name(name: str, path: Path, row: str) -> None:
    """An activity name becomes a task-graph file name: it must not be a path."""
    if not name or any(c in name for c in "/\\\0") or name.strip(".") == "":
        raise InputError(f"{row}: activity name {name!r} cannot name a task-graph file",
                         path=path)


def read_recordings(path: str | Path) -> pd.DataFrame:
    """Recordings from ``recording_id_step_idx.csv``: ``recording_id`` (str), ``activity_id``
    (int), ``step_ids`` (list of the annotated step ids, missing and repeated ones included).

    Recording ids are the video ids of the whole run: each is validated here
    (:mod:`steploc.ids`), and a bad one is an error naming the id, the file and the line.
    """
    path = Path(path)
    df = read_csv_records(path)
    require_columns(df, ["recording_id", "activity_id", "step_indices"], path)
    ids = df["recording_id"].str.strip()
    check_ids(ids, rows=[csv_line(df, i) for i in df.index], what="recording id", path=path)
    for index in df.index[~df["activity_id"].str.strip().str.fullmatch(r"\d+")]:
        raise InputError(
            f"{csv_line(df, index)}: activity_id {df.at[index, 'activity_id']!r} is not an integer",
            video=ids[index], path=path)
    step_ids = []
    for index, value in df["step_indices"].items():
        parts = [s.strip() for s in str(value).split(",") if s.strip()]
        bad = [s for s in parts if not re.fullmatch(r"-?\d+", s)]
        if bad:
            raise InputError(f"{csv_line(df, index)}: step index {bad[0]!r} is not an integer",
                             video=ids[index], path=path)
        step_ids.append([int(s) for s in parts])
    out = pd.DataFrame(
        {
            "recording_id": ids,
            "activity_id": df["activity_id"].str.strip().astype("int64"),
            "step_ids": step_ids,
        }
    )
    dup = out["recording_id"][out["recording_id"].duplicated()]
    if len(dup):
        raise InputError(f"recording id(s) {sorted(dup.unique())} listed twice", path=path)
    return out.reset_index(drop=True)


#: What to do with a malformed ground-truth row (``annotations.invalid_steps``).
INVALID_STEP_POLICIES = ("error", "skip")

STEP_COLUMNS = ["recording_id", "row", "step_id", "start_s", "end_s", "is_missing",
                "has_errors", "description", "where"]


@dataclass(frozen=True)
class StepAnnotations:
    """Parsed ground truth: the valid ``steps`` and, under ``invalid_steps: skip``, the
    ``invalid`` rows (``recording_id``, ``where``, ``problem``), whose videos are then recorded
    evaluation skips instead of being scored without them."""

    steps: pd.DataFrame
    invalid: pd.DataFrame

    def invalid_reason(self, recording_id: str) -> str | None:
        """Why a video cannot be scored (its first invalid row), or ``None``."""
        rows = self.invalid[self.invalid["recording_id"] == recording_id]
        if rows.empty:
            return None
        first = rows.iloc[0]
        more = f" (+{len(rows) - 1} more)" if len(rows) > 1 else ""
        return f"invalid ground truth: {first.where}: {first.problem}{more}"


_MISSING_TIME = -1.0


def parse_time(text) -> float | None:
    """A time in seconds, or ``None`` when ``text`` is not a finite number."""
    if isinstance(text, bool):
        return None
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        try:
            value = float(str(text).strip())
        except ValueError:
            return None
    return value if math.isfinite(value) else None


def _parse_bool(text) -> bool | None:
    if isinstance(text, bool):
        return text
    folded = str(text).strip().lower()
    if folded in ("true", "1"):
        return True
    if folded in ("false", "0", ""):
        return False
    return None


def _step_row_problem(rec: str, step_id, start, end, has_errors) -> tuple[str | None, dict]:
    """``(problem, parsed)`` for one ground-truth row: ``problem`` is ``None`` when it is valid."""
    if id_problem(rec) is not None:
        return f"recording id {rec!r} {id_problem(rec)}", {}
    if isinstance(step_id, bool) or not re.fullmatch(r"\d+", str(step_id).strip()):
        return f"step_id {step_id!r} is not a non-negative integer", {}
    start_s, end_s = parse_time(start), parse_time(end)
    if start_s is None:
        return f"start_time {start!r} is not a number", {}
    if end_s is None:
        return f"end_time {end!r} is not a number", {}
    flag = _parse_bool(has_errors)
    if flag is None:
        return f"has_errors {has_errors!r} is not True/False", {}
    missing = start_s == _MISSING_TIME and end_s == _MISSING_TIME
    if not missing:
        if start_s < 0 or end_s < 0:
            return (f"times ({start!r}, {end!r}) are negative; only -1/-1 marks a missing "
                    "step"), {}
        if end_s <= start_s:
            return f"step {step_id} ends ({end_s:g} s) before it starts ({start_s:g} s)", {}
    return None, {"step_id": int(str(step_id).strip()), "start_s": np.nan if missing else start_s,
                  "end_s": np.nan if missing else end_s, "is_missing": missing,
                  "has_errors": flag}


def parse_step_annotations(path: str | Path, invalid_steps: str = "error") -> StepAnnotations:
    """Ground-truth step rows from ``step_annotations.csv`` or ``step_annotations.json``.

    ``steps`` columns: ``recording_id`` (str), ``row`` (file order within the recording),
    ``step_id`` (int), ``start_s``, ``end_s`` (float seconds; NaN for missing steps),
    ``is_missing`` (the -1/-1 rows), ``has_errors``, ``description``, ``where`` (the row's
    place in the file, e.g. ``line 7``, for messages). Rows keep the file order:
    they are *not* chronological in 72 recordings, so sort by ``start_s`` where order matters.

    Parsed strictly: a time that is not a number (``12.3.4``, empty), a non-integer step id, a
    footer row, negative times other than the -1/-1 of a missing step, or a step that ends
    before it starts is an error naming the file, the line and the value
    (``invalid_steps="error"``), or with ``"skip"`` a row of ``invalid``: its video is then not
    scored (a recorded skip), never scored without that step.
    """
    if invalid_steps not in INVALID_STEP_POLICIES:
        raise ValueError(f"invalid_steps must be one of {INVALID_STEP_POLICIES}")
    path = Path(path)
    if path.suffix.lower() == ".json":
        records = _json_step_records(path)
    else:
        df = read_csv_records(path)
        require_columns(df, ["recording_id", "step_id", "start_time", "end_time"], path)
        records = [
            (f"line {r['_line']}", str(r["recording_id"]).strip(), r["step_id"],
             r["start_time"], r["end_time"], r.get("has_errors", ""), r.get("description", ""))
            for r in df.to_dict("records")
        ]
    rows, invalid = [], []
    for where, rec, step_id, start, end, has_errors, description in records:
        problem, parsed = _step_row_problem(rec, step_id, start, end, has_errors)
        if problem is not None:
            if invalid_steps == "error":
                raise InputError(f"{where}: {problem}", video=rec or None, path=path)
            invalid.append({"recording_id": rec, "where": where, "problem": problem})
            continue
        rows.append({"recording_id": rec, **parsed, "description": str(description),
                     "where": where})
    steps = pd.DataFrame(rows, columns=[c for c in STEP_COLUMNS if c != "row"])
    steps = steps.astype({"recording_id": object, "step_id": "int64", "start_s": "float64",
                          "end_s": "float64", "is_missing": bool, "has_errors": bool})
    steps.insert(1, "row", steps.groupby("recording_id").cumcount().astype("int64"))
    return StepAnnotations(steps=steps,
                           invalid=pd.DataFrame(invalid, columns=["recording_id", "where",
                                                                  "problem"]))


def check_steps_within_videos(annotations: StepAnnotations, video_ends_s: dict[str, float],
                              tolerance_s: dict[str, float], path: str | Path,
                              invalid_steps: str = "error") -> StepAnnotations:
    """Refuse performed steps outside their video: a step that starts at or after the video's
    end, or ends more than ``tolerance_s`` (one feature period) after it. Such a row means the
    annotations and the features disagree (another video, another frame rate); scoring it would
    silently drop or distort the step. Videos not in ``video_ends_s`` are not checked.

    ``invalid_steps="error"`` raises naming the file, the row and the times; ``"skip"`` moves
    the row to ``invalid`` (its video becomes a recorded evaluation skip).
    """
    steps = annotations.steps
    performed = steps[~steps["is_missing"] & steps["recording_id"].isin(list(video_ends_s))]
    ends = performed["recording_id"].map(video_ends_s)
    slack = performed["recording_id"].map(tolerance_s)
    outside = performed[(performed["start_s"] >= ends) | (performed["end_s"] > ends + slack)]
    if outside.empty:
        return annotations
    problems = [
        {"recording_id": r.recording_id, "where": r.where,
         "problem": f"step {r.step_id} at [{r.start_s:g}, {r.end_s:g}] s lies outside the "
                    f"video (0 to {video_ends_s[r.recording_id]:g} s)"}
        for r in outside.itertuples(index=False)
    ]
    if invalid_steps == "error":
        first = problems[0]
        raise InputError(f"{first['where']}: {first['problem']}", video=first["recording_id"],
                         path=path)
    return StepAnnotations(
        steps=steps.drop(index=outside.index),
        invalid=pd.concat([annotations.invalid, pd.DataFrame(problems)], ignore_index=True))


def _json_step_records(path: Path) -> list[tuple]:
    if not path.is_file():
        raise InputError("annotation file not found", path=path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"invalid JSON: {exc}", path=path) from exc
    if not isinstance(raw, dict):
        raise InputError("expected an object of recordings at the top level", path=path)
    records = []
    for rec_id, rec in raw.items():
        steps = rec.get("steps") if isinstance(rec, dict) else None
        if not isinstance(steps, list):
            raise InputError(f'recording {rec_id!r}: no "steps" list', path=path)
        for i, step in enumerate(steps):
            where = f"recording {rec_id!r}, step {i}"
            if not isinstance(step, dict):
                raise InputError(f"{where}: expected an object, got {step!r}", path=path)
            records.append((where, str(rec_id), step.get("step_id"), step.get("start_time"),
                            step.get("end_time"), step.get("has_errors", False),
                            step.get("description", "")))
    return records


def read_step_annotations(path: str | Path) -> pd.DataFrame:
    """The valid step rows of a ground-truth file; any malformed row is an error
    (:func:`parse_step_annotations` with ``invalid_steps="error"``)."""
    return parse_step_annotations(path).steps


def read_video_durations(path: str | Path) -> pd.Series:
    """Video durations in seconds by recording id, from ``video_information.csv``.

    Only ``duration(sec)`` is used: ``duration(min)`` disagrees with it by more than a minute for
    three recordings (quirk 12).
    """
    path = Path(path)
    df = read_csv_records(path)
    require_columns(df, ["recording_id", "duration(sec)"], path)
    ids = df["recording_id"].str.strip()
    check_ids(ids, rows=[csv_line(df, i) for i in df.index], what="recording id", path=path)
    durations = []
    for index, text in df["duration(sec)"].items():
        value = parse_time(text)
        if value is None or value <= 0:
            raise InputError(f"{csv_line(df, index)}: duration(sec) {text!r} is not a positive "
                             "number", video=ids[index], path=path)
        durations.append(value)
    dup = ids[ids.duplicated()]
    if len(dup):
        raise InputError(f"recording id(s) {sorted(dup.unique())} listed twice", path=path)
    return pd.Series(durations, index=ids.to_numpy(), name="duration_s", dtype="float64")


@dataclass(frozen=True)
class TaskGraph:
    """A recipe DAG: ``steps`` maps local node ids (strings, with gaps) to step texts."""

    path: Path
    steps: dict[str, str]
    edges: list[tuple[int, int]] = field(default_factory=list)

    @property
    def n_nodes(self) -> int:
        """All nodes, START and END included: the original notebook's ``n_clusters``."""
        return len(self.steps)

    @property
    def n_steps(self) -> int:
        """Nodes that are real steps (START and END excluded; repeated steps count each time)."""
        return sum(1 for text in self.steps.values() if text.strip().upper() not in _TERMINAL_NODES)


def task_graph_filename(activity_name: str) -> str:
    """``"Sauted Mushrooms"`` -> ``"sautedmushrooms.json"`` (works for all 24 recipes)."""
    return activity_name.lower().replace(" ", "") + ".json"


def read_task_graph(path: str | Path) -> TaskGraph:
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"invalid task-graph JSON: {exc}", path=path) from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("steps"), dict) or not raw["steps"]:
        raise InputError('task graph has no "steps" object', path=path)
    steps = {str(k): str(v) for k, v in raw["steps"].items()}
    try:
        edges = [(int(a), int(b)) for a, b in raw.get("edges", [])]
    except (TypeError, ValueError) as exc:
        raise InputError(f'task graph "edges" must be pairs of node ids: {exc}',
                         path=path) from exc
    return TaskGraph(path=path, steps=steps, edges=edges)


def load_task_graphs(directory: str | Path, activities: pd.DataFrame) -> dict[int, TaskGraph]:
    """The task graph of every activity, by activity id.

    An activity without a task-graph file is an error naming it: a silent default K would make
    every video of that recipe wrong.
    """
    directory = Path(directory)
    graphs: dict[int, TaskGraph] = {}
    missing = []
    for activity_id, name in zip(activities["activity_id"], activities["activity_name"], strict=True):
        path = directory / task_graph_filename(name)
        if not path.is_file():
            missing.append(f"{activity_id} {name!r} (expected {path})")
            continue
        graphs[int(activity_id)] = read_task_graph(path)
    if missing:
        raise InputError("no task graph for activit" + ("y " if len(missing) == 1 else "ies ")
                         + "; ".join(missing), path=directory)
    return graphs


def recording_step_counts(steps: pd.DataFrame) -> pd.Series:
    """Unique performed steps (with times) per recording: the ``recording_steps`` oracle K."""
    performed = steps[~steps["is_missing"]]
    return performed.groupby("recording_id")["step_id"].nunique().rename("n_recording_steps")


__all__ = [
    "DEFAULT_FILES",
    "TaskGraph",
    "load_task_graphs",
    "read_activities",
    "read_recordings",
    "INVALID_STEP_POLICIES",
    "StepAnnotations",
    "check_steps_within_videos",
    "parse_step_annotations",
    "read_step_annotations",
    "read_task_graph",
    "read_video_durations",
    "recording_step_counts",
    "task_graph_filename",
]

