"""What each procedure step is: size, temporal order and the ground-truth step it covers.

Ground truth is passed as **intervals** (:data:`GROUND_TRUTH_INTERVALS_SCHEMA`), one row per
performed step occurrence of a video:
    ``video_id`` string, ``start_s``, ``end_s`` float64 (seconds), ``step`` string (the step's
    name), optionally ``step_id`` int64 (the dataset's step label, shared by the videos of an
    activity). Steps are identified by ``step_id`` when that column is present, else by
    ``step``. Background is not listed (time covered by no row is background). Overlapping
    rows of one step are merged first, so no time counts twice.

Two converters produce it:

* :func:`ground_truth_intervals` from the ground-truth table of :mod:`steploc.ground_truth`
  (``results/ground_truth.parquet``: per-cell ``labels`` on the feature grid, ``class_labels``
  = CaptainCook4D step ids, ``class_names``): each maximal run of one non-background class
  becomes ``[start·period_s, end·period_s)`` with that class's step id and name. Videos with
  status ``skipped`` give no rows. :func:`cluster_table` applies it itself when handed that
  table.
* :func:`frame_label_intervals` from another dataset's per-frame step names (e.g. a Breakfast
  ``groundTruth/<video>.txt``), background names dropped.

``cluster table`` (:data:`CLUSTER_TABLE_SCHEMA`; as a DataFrame ``matched_step_id`` is a
nullable ``Int64`` column and ``matched_step`` holds ``None`` where null), one row per ``(activity_id, step_id)``:
    ``activity_id`` int64, ``step_id`` int32, ``n_segments`` int64, ``n_videos`` int64
    (videos with at least one segment of the step), ``mean_relative_position`` float64 (mean
    over its segments of segment centre / video end), ``order_rank`` int32 (0-based rank of
    ``mean_relative_position`` within the activity; ties by ``step_id``), ``duration_s``
    float64 (total time of its segments). With ground truth (else null / NaN):
    ``gt_duration_s`` (total time of its segments in videos that have ground truth, i.e. at
    least one interval row), ``matched_step_id`` int64 (null when steps have no ids),
    ``matched_step`` string: the ground-truth step whose time its segments cover most (overlap
    in seconds summed over all its segments; background excluded; ties: the smallest step key;
    null when it covers no step at all), ``matched_s`` float64 (that covered time), ``purity``
    float64 = ``matched_s / gt_duration_s`` (0 when no step is covered, NaN when none of its
    videos has ground truth). ``description`` string, e.g.
    ``step 3 ≈ 'Add 1 tsp salt' (purity 0.72)``, or without ground truth
    ``step 3: order 1, mean position 0.42``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from steploc.metrics.grid import BACKGROUND
from steploc.runs import label_runs

GROUND_TRUTH_INTERVALS_SCHEMA = pa.schema([
    ("video_id", pa.string()),
    ("start_s", pa.float64()),
    ("end_s", pa.float64()),
    ("step", pa.string()),
    ("step_id", pa.int64()),
])

CLUSTER_TABLE_SCHEMA = pa.schema([
    ("activity_id", pa.int64()),
    ("step_id", pa.int32()),
    ("n_segments", pa.int64()),
    ("n_videos", pa.int64()),
    ("mean_relative_position", pa.float64()),
    ("order_rank", pa.int32()),
    ("duration_s", pa.float64()),
    ("gt_duration_s", pa.float64()),
    ("matched_step_id", pa.int64()),
    ("matched_step", pa.string()),
    ("matched_s", pa.float64()),
    ("purity", pa.float64()),
    ("description", pa.string()),
])


def ground_truth_intervals(ground_truth: pd.DataFrame) -> pd.DataFrame:
    """Intervals (module docs) from the :mod:`steploc.ground_truth` table (as read by
    :func:`steploc.ground_truth.read_ground_truth`, or any DataFrame with its columns)."""
    missing = {"video_id", "status", "period_s", "labels", "class_labels", "class_names"} - set(ground_truth.columns)
    if missing:
        raise ValueError(f"ground_truth lacks column(s) {sorted(missing)}")
    rows = []
    for truth in ground_truth[ground_truth["status"] == "ok"].itertuples(index=False):
        period = float(truth.period_s)
        ids = np.asarray(truth.class_labels, dtype=np.int64)
        names = list(truth.class_names)
        runs = label_runs(np.asarray(truth.labels, dtype=np.int64))
        for label, start, end in zip(runs.labels, runs.starts, runs.ends, strict=True):
            if label == BACKGROUND:
                continue
            rows.append((truth.video_id, start * period, end * period, str(names[label - 1]),
                         int(ids[label - 1])))
    return _intervals_frame(rows, with_ids=True)


def frame_label_intervals(video_id: str, frame_labels: Sequence[str], period_s: float, *,
                          background: Iterable[str] = ()) -> pd.DataFrame:
    """Intervals (module docs, without ``step_id``) of one video from one step name per
    feature frame: frame ``k`` covers ``[k·period_s, (k+1)·period_s)``; each maximal run of one
    name is one row; names in ``background`` (e.g. ``{"SIL"}``) give no rows."""
    if not (np.isfinite(period_s) and period_s > 0):
        raise ValueError(f"period_s must be a positive number of seconds, got {period_s!r}")
    names = np.asarray([str(label) for label in frame_labels], dtype=object)
    runs = label_runs(names)
    skip = {str(name) for name in background}
    rows = [(video_id, start * period_s, end * period_s, str(name), None)
            for name, start, end in zip(runs.labels, runs.starts, runs.ends, strict=True) if name not in skip]
    return _intervals_frame(rows, with_ids=False)


def _intervals_frame(rows: list, with_ids: bool) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=GROUND_TRUTH_INTERVALS_SCHEMA.names)
    frame = frame.astype({"video_id": object, "start_s": np.float64, "end_s": np.float64, "step": object})
    if with_ids:
        return frame.astype({"step_id": np.int64})
    return frame.drop(columns="step_id")


def _as_intervals(ground_truth: pd.DataFrame) -> pd.DataFrame:
    if "labels" in ground_truth.columns and "class_labels" in ground_truth.columns:
        ground_truth = ground_truth_intervals(ground_truth.reset_index(drop=True))
    missing = {"video_id", "start_s", "end_s"} - set(ground_truth.columns)
    if missing:
        raise ValueError(f"ground_truth lacks column(s) {sorted(missing)}")
    if "step_id" not in ground_truth.columns and "step" not in ground_truth.columns:
        raise ValueError("ground_truth needs a step_id or a step (name) column")
    starts = ground_truth["start_s"].to_numpy(dtype=float)
    ends = ground_truth["end_s"].to_numpy(dtype=float)
    if not (np.all(np.isfinite(starts)) and np.all(np.isfinite(ends)) and np.all(ends >= starts)):
        raise ValueError("ground_truth intervals need finite start_s <= end_s (drop missing steps first)")
    if "step_id" in ground_truth.columns and ground_truth["step_id"].isna().any():
        raise ValueError("ground_truth has rows without step_id")
    return ground_truth.reset_index(drop=True)


def _merged(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The union of intervals ``[starts, ends)`` as disjoint sorted intervals."""
    order = np.argsort(starts, kind="stable")
    merged: list[list[float]] = []
    for start, end in zip(starts[order], ends[order], strict=True):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    array = np.asarray(merged, dtype=float).reshape(-1, 2)
    return array[:, 0], array[:, 1]


def _overlap_seconds(seg_starts, seg_ends, starts, ends) -> np.ndarray:
    """Overlap in seconds of each segment with the disjoint intervals, summed over them."""
    inter = (np.minimum(seg_ends[:, None], ends[None, :]) - np.maximum(seg_starts[:, None], starts[None, :]))
    return np.clip(inter, 0.0, None).sum(axis=1)


def _relative_positions(steps: pd.DataFrame) -> np.ndarray:
    if "relative_position" in steps.columns:
        return steps["relative_position"].to_numpy(dtype=float)
    video_end = steps.groupby("video_id")["end_s"].transform("max").to_numpy(dtype=float)
    return (steps["start_s"].to_numpy(dtype=float) + steps["end_s"].to_numpy(dtype=float)) / 2 / video_end


def _coverage(steps: pd.DataFrame, intervals: pd.DataFrame, key: str) -> tuple[pd.Series, pd.DataFrame]:
    """``(gt duration per (activity_id, step_id), covered seconds per (activity_id, step_id) x step key)``."""
    gt_videos = set(intervals["video_id"])
    in_gt = steps[steps["video_id"].isin(gt_videos)]
    durations = (in_gt["end_s"] - in_gt["start_s"]).groupby([in_gt["activity_id"], in_gt["step_id"]]).sum()
    keys = sorted(pd.unique(intervals[key]).tolist())
    covered = pd.DataFrame(0.0, index=durations.index, columns=keys)
    by_video = dict(tuple(in_gt.groupby("video_id", sort=False)))
    for (video_id, step_key), rows in intervals.groupby(["video_id", key], sort=True):
        segments = by_video.get(video_id)
        if segments is None:
            continue
        starts, ends = _merged(rows["start_s"].to_numpy(dtype=float), rows["end_s"].to_numpy(dtype=float))
        seconds = _overlap_seconds(segments["start_s"].to_numpy(dtype=float),
                                   segments["end_s"].to_numpy(dtype=float), starts, ends)
        per_cluster = pd.Series(seconds).groupby([segments["activity_id"].to_numpy(),
                                                  segments["step_id"].to_numpy()]).sum()
        covered.loc[per_cluster.index, step_key] += per_cluster.to_numpy()
    return durations, covered


def _step_name_lookup(intervals: pd.DataFrame, key: str, step_names: Mapping | None) -> dict:
    names: dict = {}
    if "step" in intervals.columns:
        names = dict(intervals.drop_duplicates(key)[[key, "step"]].itertuples(index=False, name=None))
    if step_names:
        names.update(step_names)
    return names


def cluster_table(steps: pd.DataFrame, ground_truth: pd.DataFrame | None = None,
                  step_names: Mapping | None = None) -> pd.DataFrame:
    """One row per procedure step ``(activity_id, step_id)`` of ``steps`` (the table of
    :func:`steploc.procedure.cluster.procedure_steps`); columns: module docs.

    ``ground_truth``: intervals (module docs), or the :mod:`steploc.ground_truth` table, which
    is converted by :func:`ground_truth_intervals`. ``step_names``: optional
    ``{step key: name}`` (keys are ``step_id`` values when the intervals have that column,
    else ``step`` names) used instead of the intervals' ``step`` text.
    """
    missing = {"video_id", "activity_id", "step_id", "start_s", "end_s"} - set(steps.columns)
    if missing:
        raise ValueError(f"steps lacks column(s) {sorted(missing)}")
    if steps.empty:
        return CLUSTER_TABLE_SCHEMA.empty_table().to_pandas().astype({"matched_step_id": "Int64"})
    steps = steps.assign(relative_position=_relative_positions(steps),
                         activity_id=steps["activity_id"].astype(np.int64),
                         step_id=steps["step_id"].astype(np.int64))
    groups = steps.groupby(["activity_id", "step_id"], sort=True)
    table = pd.DataFrame({
        "n_segments": groups.size(),
        "n_videos": groups["video_id"].nunique(),
        "mean_relative_position": groups["relative_position"].mean(),
        "duration_s": (steps["end_s"] - steps["start_s"]).groupby([steps["activity_id"], steps["step_id"]]).sum(),
    })
    ordered = table.reset_index().sort_values(["activity_id", "mean_relative_position", "step_id"], kind="stable")
    ordered["order_rank"] = ordered.groupby("activity_id").cumcount()
    table["order_rank"] = ordered.set_index(["activity_id", "step_id"])["order_rank"]
    table["gt_duration_s"] = np.nan
    table["matched_step_id"] = pd.array([pd.NA] * len(table), dtype="Int64")
    table["matched_step"] = pd.Series([None] * len(table), index=table.index, dtype=object)
    table["matched_s"] = np.nan
    table["purity"] = np.nan
    descriptions = {index: f"step {index[1]}: order {row.order_rank}, mean position {row.mean_relative_position:.2f}"
                    for index, row in zip(table.index, table.itertuples(), strict=True)}
    if ground_truth is not None:
        intervals = _as_intervals(ground_truth)
        key = "step_id" if "step_id" in intervals.columns else "step"
        names = _step_name_lookup(intervals, key, step_names)
        durations, covered = _coverage(steps, intervals, key)
        for index in table.index:
            sid = index[1]
            if index not in durations.index or not durations[index] > 0:
                descriptions[index] = f"step {sid}: no ground truth for its videos"
                continue
            total = float(durations[index])
            table.at[index, "gt_duration_s"] = total
            seconds = covered.loc[index].to_numpy(dtype=float) if covered.shape[1] else np.zeros(0)
            if seconds.size == 0 or seconds.max() <= 0:
                table.at[index, "purity"] = 0.0
                table.at[index, "matched_s"] = 0.0
                descriptions[index] = f"step {sid} ≈ background (covers no ground-truth step)"
                continue
            best = covered.columns[int(np.argmax(seconds))]  # first maximum: smallest key
            name = str(names.get(best, f"step id {best}"))
            purity = float(seconds.max()) / total
            table.at[index, "matched_s"] = float(seconds.max())
            table.at[index, "purity"] = purity
            table.at[index, "matched_step"] = name
            if key == "step_id":
                table.at[index, "matched_step_id"] = int(best)
            descriptions[index] = f"step {sid} ≈ '{name}' (purity {purity:.2f})"
    table["description"] = pd.Series(descriptions)
    table = table.reset_index()[CLUSTER_TABLE_SCHEMA.names]
    table["matched_step"] = table["matched_step"].astype(object).where(table["matched_step"].notna(), None)
    return table.astype({"activity_id": np.int64, "step_id": np.int32, "n_segments": np.int64,
                         "n_videos": np.int64, "order_rank": np.int32, "matched_step_id": "Int64"})
