"""Label sequences on the feature time grid, for ground truth and predictions (``docs/evaluation.md`` §1).

The grid is the video's feature grid: cell ``k`` (``0 <= k < n_cells``) covers
``[k·period_s, (k+1)·period_s)`` and is represented by its centre ``(k + ½)·period_s``.
An interval ``[start_s, end_s)`` covers cell ``k`` iff ``start_s <= centre_k < end_s`` (the
cell-centre rule, the same for ground truth and prediction). Intervals are painted in order of
start time (stable sort), so where intervals overlap the later one wins. Parts of intervals past
the last cell are ignored.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

BACKGROUND = 0
"""Ground-truth class of cells covered by no performed step."""

MISSING_TIME = -1.0
"""``start_s == end_s == -1`` marks a step that was not performed (CaptainCook4D)."""


def cell_centres(n_cells: int, period_s: float) -> np.ndarray:
    """Centres ``(k + ½)·period_s`` of the ``n_cells`` grid cells, in seconds."""
    if isinstance(n_cells, bool) or not isinstance(n_cells, (int, np.integer)) or n_cells < 1:
        raise ValueError(f"n_cells must be a positive integer, got {n_cells!r}")
    if not (isinstance(period_s, (int, float, np.number)) and np.isfinite(period_s) and period_s > 0):
        raise ValueError(f"period_s must be a positive finite number of seconds, got {period_s!r}")
    return (np.arange(n_cells) + 0.5) * float(period_s)


def _paint_intervals(
    centres: np.ndarray, starts: np.ndarray, ends: np.ndarray, values: np.ndarray, fill: int
) -> np.ndarray:
    """Cells whose centre lies in ``[start, end)`` take ``value``; later starts overwrite earlier."""
    labels = np.full(centres.size, fill, dtype=np.int64)
    for row in np.argsort(starts, kind="stable"):
        first, stop = np.searchsorted(centres, [starts[row], ends[row]], side="left")
        labels[first:stop] = values[row]
    return labels


def _check_interval_times(starts: np.ndarray, ends: np.ndarray, what: str) -> None:
    if not (np.all(np.isfinite(starts)) and np.all(np.isfinite(ends))):
        raise ValueError(f"{what}: start and end times must be finite numbers")
    if np.any(starts < 0) or np.any(ends < 0):
        raise ValueError(f"{what}: times must be >= 0 seconds")
    if np.any(ends < starts):
        raise ValueError(f"{what}: every end time must be >= its start time")


def _integer_values(values, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{what} must be integers, got dtype {array.dtype}")
    return array.astype(np.int64, copy=False)


def _performed_steps(steps: pd.DataFrame) -> pd.DataFrame:
    """Rows of performed steps (times given), validated, in stable start-time order."""
    if not isinstance(steps, pd.DataFrame):
        raise ValueError(f"steps must be a pandas DataFrame, got {type(steps).__name__}")
    missing_columns = {"step_id", "start_s", "end_s"} - set(steps.columns)
    if missing_columns:
        raise ValueError(f"steps lacks column(s) {sorted(missing_columns)}")
    step_ids = _integer_values(steps["step_id"].to_numpy(), "steps.step_id")
    starts = steps["start_s"].to_numpy(dtype=float)
    ends = steps["end_s"].to_numpy(dtype=float)
    absent = ((starts == MISSING_TIME) & (ends == MISSING_TIME)) | (np.isnan(starts) & np.isnan(ends))
    _check_interval_times(starts[~absent], ends[~absent], "steps (rows other than missing -1/-1 rows)")
    performed = pd.DataFrame({"step_id": step_ids[~absent], "start_s": starts[~absent], "end_s": ends[~absent]})
    return performed.sort_values("start_s", kind="stable", ignore_index=True)


def step_class_numbering(steps: pd.DataFrame) -> dict[int, int]:
    """Per-recording classes: ``{step_id: class}``, numbered 1, 2, … by first appearance.

    Order of appearance = the performed rows (missing −1/−1 rows excluded) stably sorted by
    ``start_s``. Repeated occurrences of a ``step_id`` share its class. Class 0 is background.
    """
    order = pd.unique(_performed_steps(steps)["step_id"])
    return {int(step_id): index for index, step_id in enumerate(order, start=1)}


def ground_truth_labels(
    steps: pd.DataFrame, n_cells: int, period_s: float, *, step_classes: Mapping[int, int] | None = None
) -> np.ndarray:
    """Ground-truth class of every grid cell of one recording (evaluation.md §1), int array (n_cells,).

    ``steps`` holds the recording's annotated rows with columns ``step_id`` (int), ``start_s``,
    ``end_s`` (float seconds). Rules:

    * a row with ``start_s == end_s == -1`` (or both NaN) is a missing step and is dropped;
    * a cell takes the class of the step whose ``[start_s, end_s)`` covers its centre;
    * rows are stably sorted by ``start_s`` and painted in that order, so where annotations
      overlap the later-starting row wins (EgoProceL's "later row overwrites", after sorting);
    * cells covered by no performed step are background, class 0.

    Classes: by default numbered per recording by :func:`step_class_numbering` (first appearance
    in start-time order, repeats share a class). Pass ``step_classes`` (``{step_id: class >= 1}``)
    to use one numbering for several recordings, e.g. ``{s: s for s in step_ids}`` for global step
    ids, as per-activity evaluation requires.
    """
    centres = cell_centres(n_cells, period_s)
    performed = _performed_steps(steps)
    if step_classes is None:
        step_classes = step_class_numbering(steps)
    unknown = sorted(set(performed["step_id"].tolist()) - set(step_classes))
    if unknown:
        raise ValueError(f"step_classes has no class for step_id(s) {unknown}")
    classes = np.array([step_classes[int(s)] for s in performed["step_id"]], dtype=np.int64)
    if classes.size and classes.min() <= BACKGROUND:
        raise ValueError("step_classes must map step ids to classes >= 1 (0 is background)")
    return _paint_intervals(
        centres, performed["start_s"].to_numpy(), performed["end_s"].to_numpy(), classes, fill=BACKGROUND
    )


def predicted_labels(
    segment_starts_s,
    segment_ends_s,
    segment_clusters,
    n_cells: int,
    period_s: float,
    *,
    n_clusters: int | None = None,
) -> np.ndarray:
    """Expand predicted segments ``[start_s, end_s)`` with cluster ids onto the grid, int array (n_cells,).

    A cell takes the cluster of the segment covering its centre (evaluation.md §1, "prediction →
    grid"); overlapping segments are painted in stable start-time order, later wins. Cells covered
    by no segment get the dedicated **unassigned** cluster id ``n_clusters`` (one past the real
    clusters ``0 … n_clusters − 1``), never a real cluster; metrics then see ``n_clusters + 1``
    clusters. ``n_clusters`` defaults to ``max(segment_clusters) + 1`` (0 with no segments); pass
    the clustering's cluster count so that the unassigned id is the same in every video.

    Segment times must use the true feature period (e.g. 1 s rows for CaptainCook4D-style
    features, not 16/30 s).
    """
    centres = cell_centres(n_cells, period_s)
    starts = np.asarray(segment_starts_s, dtype=float)
    ends = np.asarray(segment_ends_s, dtype=float)
    clusters = _integer_values(segment_clusters, "segment_clusters")
    if not (starts.ndim == ends.ndim == clusters.ndim == 1 and starts.size == ends.size == clusters.size):
        raise ValueError(
            "segment_starts_s, segment_ends_s and segment_clusters must be 1-D and equally long, "
            f"got shapes {starts.shape}, {ends.shape}, {clusters.shape}"
        )
    _check_interval_times(starts, ends, "predicted segments")
    if clusters.size and clusters.min() < 0:
        raise ValueError("segment_clusters must be >= 0")
    observed = int(clusters.max()) + 1 if clusters.size else 0
    if n_clusters is None:
        n_clusters = observed
    elif isinstance(n_clusters, bool) or not isinstance(n_clusters, (int, np.integer)) or n_clusters < observed:
        raise ValueError(
            f"n_clusters must be an integer > every segment cluster id (max {observed - 1}), got {n_clusters!r}"
        )
    return _paint_intervals(centres, starts, ends, clusters, fill=int(n_clusters))


def segment_cells(start_rows, end_rows, clusters, n_cells: int, *, fill: int) -> np.ndarray:
    """Predicted labels from segments given in grid cells (feature rows) ``[start, end)``,
    no seconds involved: cells no segment covers get ``fill`` (an "unassigned" cluster)."""
    starts = np.asarray(start_rows, dtype=np.int64)
    ends = np.asarray(end_rows, dtype=np.int64)
    values = _integer_values(clusters, "clusters")
    if not starts.shape == ends.shape == values.shape or starts.ndim != 1:
        raise ValueError("start_rows, end_rows and clusters must be equally long 1-D arrays")
    if np.any(starts < 0) or np.any(ends < starts):
        raise ValueError("segments need 0 <= start <= end")
    labels = np.full(int(n_cells), fill, dtype=np.int64)
    for start, end, value in zip(starts, ends, values, strict=True):
        labels[start:min(end, n_cells)] = value
    return labels
