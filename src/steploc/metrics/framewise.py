"""MoF (mean over frames) after Hungarian matching (``docs/evaluation.md`` §3).

Background is a class like any other (the EgoProceL convention): background grid points count
in the denominator, and a cluster matched to background scores on them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from steploc.metrics.matching import hungarian_relabel
from steploc.metrics.validation import as_label_pair, as_label_pair_lists


def mof(pred, gt, *, n_clusters: int | None = None, n_classes: int | None = None) -> float:
    """Per-video MoF: fraction of grid points whose mapped prediction equals the GT label.

    The cluster → class mapping is a one-to-one Hungarian assignment maximising the overlap,
    computed on this video alone (the "per-video" variant of evaluation.md §3); points of
    unmatched clusters count as wrong. To aggregate over videos as §3 asks
    (Σ correct / Σ points), weight each video's MoF by its number of grid points
    (:func:`steploc.metrics.aggregate.aggregate_metrics` does this).
    """
    pred, gt = as_label_pair(pred, gt)
    mapped = hungarian_relabel(pred, gt, n_clusters=n_clusters, n_classes=n_classes)
    return float(np.mean(mapped == gt))


def mof_per_activity(
    preds: Sequence, gts: Sequence, *, n_clusters: int | None = None, n_classes: int | None = None
) -> float:
    """Per-activity MoF: **one** Hungarian assignment for all videos of an activity (evaluation.md §3).

    The grid points of all videos are pooled, a single cluster → class assignment is computed on
    the pooled overlap, and the result is Σ correct / Σ points over the pooled points. Only
    meaningful when cluster ids **and** ground-truth classes mean the same thing in every video
    (e.g. clusters matched to task-graph nodes; GT built with a shared ``step_classes`` mapping in
    :func:`steploc.metrics.grid.ground_truth_labels`). Never mix with per-video :func:`mof` in one
    table.
    """
    pairs = as_label_pair_lists(preds, gts)
    pooled_pred = np.concatenate([pred for pred, _ in pairs])
    pooled_gt = np.concatenate([gt for _, gt in pairs])
    return mof(pooled_pred, pooled_gt, n_clusters=n_clusters, n_classes=n_classes)
