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

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from steploc.errors import InputError

#: Files of a CaptainCook4D annotation checkout, relative to its root.
DEFAULT_FILES = {
    "activities": "annotation_csv/average_segment_length.csv",
    "recordings": "annotation_csv/recording_id_step_idx.csv",
    "step_annotations": "annotation_csv/step_annotations.csv",
    "video_metadata": "metadata/video_information.csv",
    "task_graphs": "task_graphs",
}

#: How the number of clusters K of a video is chosen (see :func:`n_clusters`).
K_STRATEGIES = ("task_graph_nodes", "task_graph_steps", "recording_steps", "fixed")

_TERMINAL_NODES = {"START", "END"}


def _read_csv(path: Path, **kwargs) -> pd.DataFrame:
    if not path.is_file():
        raise InputError("annotation file not found", path=path)
    try:
        return pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot parse CSV: {exc}", path=path) from exc


def _require_columns(df: pd.DataFrame, columns: list[str], path: Path) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise InputError(
            f"missing column(s) {missing}; found {list(df.columns)}", path=path
        )


def read_activities(path: str | Path) -> pd.DataFrame:
    """Activities from ``average_segment_length.csv``: ``activity_id`` (int), ``activity_name``,
    ``average_segment_length_s``.

    The file ends in decorative footer rows (a ``=====`` row, an ``"Average"`` row, another
    ``=====`` row), so ``activity_id`` arrives as text: keep the rows whose id is all digits.
    """
    path = Path(path)
    df = _read_csv(path, dtype=str, keep_default_na=False)
    _require_columns(df, ["activity_id", "activity_name", "average_segment_length"], path)
    ids = df["activity_id"].str.strip()
    df = df[ids.str.fullmatch(r"\d+")].copy()
    if df.empty:
        raise InputError("no activity rows (activity_id all digits) found", path=path)
    out = pd.DataFrame(
        {
            "activity_id": df["activity_id"].astype("int64"),
            "activity_name": df["activity_name"].str.strip(),
            "average_segment_length_s": pd.to_numeric(df["average_segment_length"]),
        }
    )
    dup = out["activity_id"][out["activity_id"].duplicated()]
    if len(dup):
        raise InputError(f"activity id(s) {sorted(dup.unique())} listed twice", path=path)
    return out.reset_index(drop=True)


def read_recordings(path: str | Path) -> pd.DataFrame:
    """Recordings from ``recording_id_step_idx.csv``: ``recording_id`` (str), ``activity_id``
    (int), ``step_ids`` (list of the annotated step ids, missing and repeated ones included)."""
    path = Path(path)
    df = _read_csv(path, dtype=str, keep_default_na=False)
    _require_columns(df, ["recording_id", "activity_id", "step_indices"], path)
    bad = df[~df["activity_id"].str.fullmatch(r"\d+")]
    if len(bad):
        rec = bad["recording_id"].iloc[0]
        raise InputError(
            f"activity_id {bad['activity_id'].iloc[0]!r} is not an integer", video=rec, path=path
        )
    out = pd.DataFrame(
        {
            "recording_id": df["recording_id"].str.strip(),
            "activity_id": df["activity_id"].astype("int64"),
            "step_ids": [
                [int(s) for s in str(v).split(",") if s.strip()] for v in df["step_indices"]
            ],
        }
    )
    dup = out["recording_id"][out["recording_id"].duplicated()]
    if len(dup):
        raise InputError(f"recording id(s) {sorted(dup.unique())} listed twice", path=path)
    return out


def read_step_annotations(path: str | Path) -> pd.DataFrame:
    """Ground-truth step rows from ``step_annotations.csv`` or ``step_annotations.json``.

    Columns: ``recording_id`` (str), ``row`` (file order within the recording), ``step_id``
    (int), ``start_s``, ``end_s`` (float seconds; NaN for missing steps), ``is_missing`` (the
    -1/-1 rows), ``has_errors``, ``description``. Rows keep the file order: they are *not*
    chronological in 72 recordings, so sort by ``start_s`` where order matters.
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        if not path.is_file():
            raise InputError("annotation file not found", path=path)
        try:
            raw = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise InputError(f"invalid JSON: {exc}", path=path) from exc
        rows = [
            {"recording_id": str(rec_id), **step}
            for rec_id, rec in raw.items()
            for step in rec["steps"]
        ]
        df = pd.DataFrame(rows)
    else:
        df = _read_csv(path, dtype={"recording_id": str})
    _require_columns(df, ["recording_id", "step_id", "start_time", "end_time"], path)
    start = pd.to_numeric(df["start_time"], errors="coerce").astype("float64")
    end = pd.to_numeric(df["end_time"], errors="coerce").astype("float64")
    is_missing = (start < 0) | (end < 0) | start.isna() | end.isna()
    out = pd.DataFrame(
        {
            "recording_id": df["recording_id"].astype(str).str.strip(),
            "step_id": pd.to_numeric(df["step_id"]).astype("int64"),
            "start_s": start.where(~is_missing),
            "end_s": end.where(~is_missing),
            "is_missing": is_missing,
            "has_errors": df.get("has_errors", pd.Series(False, index=df.index))
            .astype(str)
            .str.lower()
            .eq("true"),
            "description": df.get("description", pd.Series("", index=df.index)).astype(str),
        }
    )
    out.insert(1, "row", out.groupby("recording_id").cumcount().astype("int64"))
    bad = out[~out["is_missing"] & (out["end_s"] <= out["start_s"])]
    if len(bad):
        r = bad.iloc[0]
        raise InputError(
            f"step {r.step_id} ends ({r.end_s}) before it starts ({r.start_s})",
            video=r.recording_id,
            path=path,
        )
    return out


def read_video_durations(path: str | Path) -> pd.Series:
    """Video durations in seconds by recording id, from ``video_information.csv``.

    Only ``duration(sec)`` is used: ``duration(min)`` disagrees with it by more than a minute for
    three recordings (quirk 12).
    """
    path = Path(path)
    df = _read_csv(path, dtype={"recording_id": str})
    _require_columns(df, ["recording_id", "duration(sec)"], path)
    dur = pd.to_numeric(df["duration(sec)"], errors="coerce")
    bad = df[~(dur > 0)]
    if len(bad):
        raise InputError(
            f"duration(sec) {bad['duration(sec)'].iloc[0]!r} is not a positive number",
            video=str(bad["recording_id"].iloc[0]),
            path=path,
        )
    return pd.Series(dur.to_numpy(), index=df["recording_id"].astype(str).str.strip(), name="duration_s")


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
        raw = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"invalid task-graph JSON: {exc}", path=path) from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("steps"), dict) or not raw["steps"]:
        raise InputError('task graph has no "steps" object', path=path)
    steps = {str(k): str(v) for k, v in raw["steps"].items()}
    edges = [(int(a), int(b)) for a, b in raw.get("edges", [])]
    return TaskGraph(path=path, steps=steps, edges=edges)


def load_task_graphs(directory: str | Path, activities: pd.DataFrame) -> dict[int, TaskGraph]:
    """The task graph of every activity, by activity id.

    An activity without a task-graph file is an error naming it: a silent default K would make
    every video of that recipe wrong.
    """
    directory = Path(directory)
    graphs: dict[int, TaskGraph] = {}
    missing = []
    for activity_id, name in zip(activities["activity_id"], activities["activity_name"]):
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


def n_clusters(strategy: str, graph: TaskGraph | None, n_recording_steps: int | None,
               fixed: int | None) -> int:
    """K for one video.

    * ``task_graph_nodes``: ``len(steps)`` of the task graph, START/END included (the original
      notebook; always 2 or more too large);
    * ``task_graph_steps`` (default): task-graph nodes without START and END;
    * ``recording_steps``: unique steps performed in that recording (an oracle: it uses the
      ground truth);
    * ``fixed``: the configured number.
    """
    if strategy == "fixed":
        if fixed is None or fixed < 1:
            raise InputError(f"k_strategy 'fixed' needs a positive k_fixed, got {fixed!r}")
        return int(fixed)
    if strategy == "recording_steps":
        if n_recording_steps is None:
            raise InputError("k_strategy 'recording_steps' needs step annotations for the video")
        return int(n_recording_steps)
    if graph is None:
        raise InputError(f"k_strategy {strategy!r} needs a task graph")
    if strategy == "task_graph_nodes":
        return graph.n_nodes
    if strategy == "task_graph_steps":
        return graph.n_steps
    raise InputError(f"unknown k_strategy {strategy!r}; choose one of {K_STRATEGIES}")


__all__ = [
    "DEFAULT_FILES",
    "K_STRATEGIES",
    "TaskGraph",
    "load_task_graphs",
    "n_clusters",
    "read_activities",
    "read_recordings",
    "read_step_annotations",
    "read_task_graph",
    "read_video_durations",
    "recording_step_counts",
    "task_graph_filename",
]

