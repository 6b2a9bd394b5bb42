"""EgoProceL precision / recall / IoU and dataset F1 (``docs/evaluation.md`` §2).

This is the CnC / OPEL / HiERO protocol: per-video Hungarian matching, background a matchable
class, plain means over the matched pairs, dataset F1 from the mean P and R.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from steploc.metrics.matching import _overlap_counts, hungarian_pairs
from steploc.metrics.validation import as_label_pair, label_count


def egoprocel_scores(
    pred, gt, *, n_clusters: int | None = None, n_classes: int | None = None
) -> dict[str, float]:
    """EgoProceL ``{"precision", "recall", "iou"}`` of one video, each in [0, 1] (evaluation.md §2).

    Definition: one-hot ``Z_gt`` (n × n_classes, column 0 = background) and ``Z_pred``
    (n × n_clusters); overlap ``O = Z_gtᵀ Z_pred``; Hungarian assignment on ``1 − O/n``
    (background takes part). For each pair (g, c) with ``inter = O[g, c]``, ``n_gt = |g|``,
    ``n_pred = |c|``: recall ``inter/n_gt``, precision ``inter/n_pred`` (0 for an empty cluster,
    ``n_pred = 0``), IoU ``inter/(n_gt + n_pred − inter)``. Pairs whose class is absent from the
    video (``n_gt = 0``) are dropped; unmatched classes and clusters cost nothing. The video
    values are plain means over the remaining pairs.

    ``n_clusters`` is ``M``, the number of clusters the clustering was asked for (the reference
    uses ``M = 7``); clusters with no grid point still exist as columns and can be matched (then
    scoring 0). ``n_classes`` is ``K + 1`` (key steps plus background); classes with no grid
    point can be matched but their pairs are dropped. Both default to ``max(label) + 1``.
    """
    pred, gt = as_label_pair(pred, gt)
    n_classes = label_count(gt, n_classes, "gt", "n_classes")
    n_clusters = label_count(pred, n_clusters, "pred", "n_clusters")
    overlap = _overlap_counts(pred, gt, n_clusters, n_classes)
    classes, clusters = hungarian_pairs(overlap)

    intersection = overlap[classes, clusters].astype(float)
    gt_size = overlap.sum(axis=1)[classes].astype(float)
    cluster_size = overlap.sum(axis=0)[clusters].astype(float)
    present = gt_size > 0  # never all False: an optimal assignment has a pair with overlap > 0
    intersection, gt_size, cluster_size = intersection[present], gt_size[present], cluster_size[present]

    precision = np.divide(intersection, cluster_size, out=np.zeros_like(intersection), where=cluster_size > 0)
    return {
        "precision": float(precision.mean()),
        "recall": float((intersection / gt_size).mean()),
        "iou": float((intersection / (gt_size + cluster_size - intersection)).mean()),
    }


def f1_from_precision_recall(precision: float, recall: float) -> float:
    """Harmonic mean ``2·P·R / (P + R)``; 0 when ``P + R = 0``."""
    total = precision + recall
    return 0.0 if total == 0 else 2.0 * precision * recall / total


def dataset_f1(precisions: Sequence[float], recalls: Sequence[float]) -> float:
    """Dataset F1 of evaluation.md §2 (aggregation step 3): ``2·P̄·R̄ / (P̄ + R̄)``.

    ``P̄`` and ``R̄`` are the plain means of the given (per-video, or per-task) precisions and
    recalls. This is **not** the mean of per-unit F1 values.
    """
    precision_values = _as_unit_interval_values(precisions, "precisions")
    recall_values = _as_unit_interval_values(recalls, "recalls")
    if precision_values.size != recall_values.size:
        raise ValueError(
            f"got {precision_values.size} precisions but {recall_values.size} recalls; pass one of each per unit"
        )
    return f1_from_precision_recall(float(precision_values.mean()), float(recall_values.mean()))


def _as_unit_interval_values(values, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {array.shape}")
    if not np.all(np.isfinite(array)) or array.min() < 0 or array.max() > 1:
        raise ValueError(f"{name} must be finite values in [0, 1]")
    return array
