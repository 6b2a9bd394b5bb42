"""Evaluation metrics for step localisation (definitions: ``docs/evaluation.md``).

* :mod:`~steploc.metrics.grid` — ground-truth and predicted labels on the feature grid (§1).
* :mod:`~steploc.metrics.matching` — per-video / pooled Hungarian cluster → class matching.
* :mod:`~steploc.metrics.egoprocel` — EgoProceL precision / recall / IoU, dataset F1 (§2).
* :mod:`~steploc.metrics.framewise` — MoF, per video and per activity (§3).
* :mod:`~steploc.metrics.segmental` — F1@{10, 25, 50} and Edit (§4).
* :mod:`~steploc.metrics.aggregate` — per-video rows → per-activity and overall rows.

All metric values are fractions in [0, 1] (tables usually print them ×100).
"""

from steploc.metrics.aggregate import aggregate_metrics, score_video
from steploc.metrics.egoprocel import dataset_f1, egoprocel_scores, f1_from_precision_recall
from steploc.metrics.framewise import mof, mof_per_activity
from steploc.metrics.grid import (
    BACKGROUND,
    cell_centres,
    ground_truth_labels,
    predicted_labels,
    segment_cells,
    step_class_numbering,
)
from steploc.metrics.matching import cluster_classes, hungarian_pairs, hungarian_relabel, overlap_matrix
from steploc.metrics.segmental import (
    STANDARD_OVERLAPS,
    SegmentalCounts,
    edit_score,
    f1_from_counts,
    label_segments,
    levenshtein_distance,
    segmental_counts,
    segmental_f1,
)

__all__ = [
    "BACKGROUND",
    "STANDARD_OVERLAPS",
    "SegmentalCounts",
    "aggregate_metrics",
    "cell_centres",
    "cluster_classes",
    "dataset_f1",
    "edit_score",
    "egoprocel_scores",
    "f1_from_counts",
    "f1_from_precision_recall",
    "ground_truth_labels",
    "hungarian_pairs",
    "hungarian_relabel",
    "label_segments",
    "levenshtein_distance",
    "mof",
    "mof_per_activity",
    "overlap_matrix",
    "predicted_labels",
    "score_video",
    "segment_cells",
    "segmental_counts",
    "segmental_f1",
    "step_class_numbering",
]
