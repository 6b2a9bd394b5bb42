"""Ground truth on each video's feature grid, built once for every model and setting.

``results/ground_truth.parquet``, one row per video of the video table:
``video_id``, ``activity_id`` int64, ``status`` (``ok`` / ``skipped``), ``reason``, ``n_cells``
int64 (= the video's feature rows), ``period_s``, ``labels`` list<int32> (class of every cell,
0 = background), ``class_labels`` list<int64> (the dataset's label of class ``c`` at index
``c - 1``: the CaptainCook4D step id, the mapping id + 1 of a frame label, the label's number
in a segments table), ``class_names`` list<string> (its text).

Classes are numbered per video (1, 2, ... by first appearance, repeats share a class): the
per-video protocol's Hungarian matching is invariant to that, and ``class_labels`` maps them
back to labels shared by every video of an activity for the activity-level protocol.
Rules of the grid (docs/evaluation.md): for steps in seconds a cell takes the step whose
interval covers its centre, later-starting steps win on overlaps, missing (-1) steps are
absent; per-frame labels go onto the grid as they are, background names as class 0.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from steploc.datasets.truth import FrameTruth, IntervalTruth
from steploc.intermediate import write_table

GROUND_TRUTH_SCHEMA = pa.schema([
    ("video_id", pa.string()),
    ("activity_id", pa.int64()),
    ("status", pa.string()),
    ("reason", pa.string()),
    ("n_cells", pa.int64()),
    ("period_s", pa.float64()),
    ("labels", pa.list_(pa.int32())),
    ("class_labels", pa.list_(pa.int64())),
    ("class_names", pa.list_(pa.string())),
])


def build_ground_truth(video_table: pd.DataFrame, truth: IntervalTruth | FrameTruth) -> pa.Table:
    """The ground-truth table of every video of ``video_table`` (``truth`` checked against it:
    :meth:`IntervalTruth.check` / :meth:`FrameTruth.check`)."""
    rows = []
    for r in video_table.itertuples(index=False):
        row = {"video_id": r.video_id, "activity_id": int(r.activity_id), "status": "ok",
               "reason": "", "n_cells": 0, "period_s": float(r.feature_period_s),
               "labels": [], "class_labels": [], "class_names": []}
        if r.status != "ok":
            row.update(status="skipped", reason=r.reason)
        else:
            grid = truth.grid(r.video_id, int(r.n_features), float(r.feature_period_s))
            if isinstance(grid, str):
                row.update(status="skipped", reason=grid)
            else:
                row.update(n_cells=int(r.n_features), labels=grid.labels.astype(np.int32),
                           class_labels=grid.class_labels, class_names=grid.class_names)
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=GROUND_TRUTH_SCHEMA)


def dataset_ground_truth(video_table: pd.DataFrame, annotations: dict,
                         truth_files: list[str | Path]) -> pa.Table:
    """The ground-truth table of the video table's videos, read from the dataset that
    ``annotations`` (a validated config section) describes; ``truth_files`` are the files the
    workflow gave as inputs and must be exactly the ones that dataset reads."""
    from steploc.datasets import load_dataset
    from steploc.errors import InputError

    dataset = load_dataset(annotations, {"recording_ids": video_table["video_id"].tolist()})
    if dataset.truth is None:
        raise InputError("the annotations give no ground truth", path=dataset.source)
    expected = sorted(str(p) for p in dataset.truth.files())
    if sorted(str(p) for p in truth_files) != expected:
        raise InputError(f"ground-truth files given ({len(truth_files)}) are not the "
                         f"{len(expected)} this dataset reads (first: {expected[0]!r})",
                         path=dataset.source)
    return build_ground_truth(video_table, dataset.truth.check(video_table))


def write_ground_truth(table: pa.Table, path: str | Path) -> None:
    write_table(table, path)


def read_ground_truth(path: str | Path) -> pd.DataFrame:
    """The table with ``labels`` as int64 arrays, indexed by ``video_id``."""
    table = pq.read_table(path).to_pandas()
    table["labels"] = [np.asarray(v, dtype=np.int64) for v in table["labels"]]
    return table.set_index("video_id", drop=False)
