"""``annotations.format: captaincook4d``: a CaptainCook4D annotation checkout.

Recordings from ``recordings`` (``recording_id_step_idx.csv``), activity names from
``activities``, durations from ``video_metadata``, task graphs for K, ground-truth step times
from ``step_annotations`` (CSV or JSON; null = no ground truth).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from steploc import annotations as ann
from steploc.datasets import VIDEO_COLUMNS, Dataset, select_videos
from steploc.datasets.truth import IntervalTruth
from steploc.errors import InputError

ANNOTATION_FILES = ("activities", "recordings", "step_annotations", "video_metadata",
                    "task_graphs")
K_STRATEGIES = ("task_graph_nodes", "task_graph_steps", "recording_steps")


def annotation_path(annotations_cfg: dict, key: str) -> Path | None:
    """The path of annotation file ``key`` under ``root`` (``None`` when set to null); file
    names default to the schema's."""
    from steploc.schema import format_defaults

    if key not in ANNOTATION_FILES:
        raise KeyError(f"unknown annotation file {key!r} (known: {', '.join(ANNOTATION_FILES)})")
    names = {**format_defaults("captaincook4d"), **annotations_cfg}
    value = names.get(key)
    return None if value in (None, "") else Path(names.get("root", ".")) / value


def required_annotation_path(annotations_cfg: dict, key: str) -> Path:
    path = annotation_path(annotations_cfg, key)
    if path is None:
        raise InputError(f"annotations.{key} is needed here but set to null")
    return path


def load_captaincook4d(annotations: dict, selection: dict) -> Dataset:
    activities_path = required_annotation_path(annotations, "activities")
    recordings_path = required_annotation_path(annotations, "recordings")
    activities = ann.read_activities(activities_path)
    recordings = ann.read_recordings(recordings_path).rename(columns={"recording_id": "video_id"})
    unknown = recordings[~recordings["activity_id"].isin(activities["activity_id"])]
    if len(unknown):
        row = unknown.iloc[0]
        raise InputError(f"activity {row.activity_id} is not in {activities_path}",
                         video=row.video_id, path=recordings_path)
    chosen = select_videos(recordings, selection, recordings_path)
    table = chosen.merge(activities, on="activity_id", how="left", validate="many_to_one")

    durations = pd.Series(dtype="float64")
    metadata_path = annotation_path(annotations, "video_metadata")
    if metadata_path is not None:
        durations = ann.read_video_durations(metadata_path)
    table["duration_s"] = [float(durations[v]) if v in durations.index else np.nan
                           for v in table["video_id"]]

    steps_path = annotation_path(annotations, "step_annotations")
    truth = None
    if steps_path is not None:
        parsed = ann.parse_step_annotations(steps_path, annotations.get("invalid_steps", "error"))
        # "Add-1 tsp salt" -> "1 tsp salt": the verb prefix is the annotation tool's.
        names = {int(step): str(text).split("-", 1)[-1].strip() for step, text in
                 zip(parsed.steps["step_id"], parsed.steps["description"], strict=True)}
        truth = IntervalTruth(parsed, steps_path, annotations.get("invalid_steps", "error"), names)

    def annotation_k(strategy: str, videos: pd.DataFrame) -> dict[str, int]:
        if strategy == "recording_steps":
            if truth is None:
                raise InputError("k_strategy 'recording_steps' needs annotations.step_annotations")
            counts = ann.recording_step_counts(ann.read_step_annotations(truth.path))
            missing = [v for v in videos["video_id"] if v not in counts.index]
            if missing:
                raise InputError("k_strategy 'recording_steps' needs step annotations for the "
                                 "video", video=missing[0], path=truth.path)
            return {v: int(counts[v]) for v in videos["video_id"]}
        needed = activities[activities["activity_id"].isin(videos["activity_id"])]
        graphs = ann.load_task_graphs(required_annotation_path(annotations, "task_graphs"), needed)
        ks = {}
        for r in videos.itertuples(index=False):
            graph = graphs[int(r.activity_id)]
            k = graph.n_nodes if strategy == "task_graph_nodes" else graph.n_steps
            if k < 2:
                raise InputError(f"k_strategy {strategy!r} gives K = {k} cluster(s); "
                                 "segmentation needs at least 2", video=r.video_id,
                                 path=graph.path)
            ks[r.video_id] = k
        return ks

    return Dataset(videos=table[VIDEO_COLUMNS], source=recordings_path, truth=truth,
                   annotation_k=annotation_k, k_strategies=K_STRATEGIES)
