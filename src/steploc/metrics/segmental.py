"""Segmental F1@τ and Edit score (``docs/evaluation.md`` §4, MS-TCN definitions).

Both are computed **after** the per-video Hungarian mapping of §3
(:func:`steploc.metrics.matching.hungarian_relabel`): clusters matched to a class take its id,
unmatched clusters get distinct ids above every class id, so their segments are never background
and never match a GT segment (they are false positives / edit insertions). Pass
``relabel=False`` when ``pred`` already holds GT class ids (e.g. after a per-activity mapping).

A *segment* is a maximal run of one label, ``[start, end)`` in grid indices; background
(label 0) runs are dropped in both sequences. All values are fractions in [0, 1]; tables in the
literature report them ×100.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from steploc.metrics.matching import hungarian_relabel
from steploc.metrics.validation import as_label_pair
from steploc.runs import Runs, label_runs

BACKGROUND = 0
STANDARD_OVERLAPS = (0.10, 0.25, 0.50)


class SegmentalCounts(NamedTuple):
    """True positives, false positives and false negatives of F1@τ for one or more videos."""

    tp: int
    fp: int
    fn: int


def label_segments(labels: np.ndarray) -> Runs:
    """The maximal non-background runs of a 1-D label sequence: ``labels[i]`` covers grid
    indices ``[starts[i], ends[i])``."""
    runs = label_runs(labels)
    keep = runs.labels != BACKGROUND
    return Runs(runs.labels[keep], runs.starts[keep], runs.ends[keep])


def _mapped_pair(pred, gt, relabel: bool, n_clusters: int | None, n_classes: int | None):
    pred, gt = as_label_pair(pred, gt)
    if relabel:
        pred = hungarian_relabel(pred, gt, n_clusters=n_clusters, n_classes=n_classes)
    return pred, gt


def segmental_counts(
    pred, gt, overlap: float, *, relabel: bool = True, n_clusters: int | None = None, n_classes: int | None = None
) -> SegmentalCounts:
    """TP / FP / FN of segmental F1@``overlap`` for one video (evaluation.md §4).

    Each predicted segment, in temporal order, is compared with every GT segment of the same
    label by ``IoU = (min(ends) − max(starts)) / (max(ends) − min(starts))``. If the best such
    GT segment has ``IoU ≥ overlap`` and is not matched yet, the predicted segment is a TP and the
    GT segment becomes matched; otherwise it is an FP. ``FN = #GT segments − TP``.
    Sum the counts over all videos before forming P, R and F1 (:func:`f1_from_counts`).
    """
    if not 0 < overlap <= 1:
        raise ValueError(f"overlap must be in (0, 1], got {overlap!r}")
    pred, gt = _mapped_pair(pred, gt, relabel, n_clusters, n_classes)
    predicted, truth = label_segments(pred), label_segments(gt)
    matched = np.zeros(truth.labels.size, dtype=bool)
    tp = 0
    for label, start, end in zip(*predicted, strict=True):
        same_label = truth.labels == label
        if not same_label.any():
            continue
        iou = (np.minimum(truth.ends, end) - np.maximum(truth.starts, start)) / (
            np.maximum(truth.ends, end) - np.minimum(truth.starts, start)
        )
        best = int(np.argmax(np.where(same_label, iou, -np.inf)))
        if iou[best] >= overlap and not matched[best]:
            matched[best] = True
            tp += 1
    return SegmentalCounts(tp=tp, fp=int(predicted.labels.size) - tp, fn=int(truth.labels.size) - tp)


def f1_from_counts(tp: int, fp: int, fn: int) -> float:
    """``F1 = 2PR/(P+R)`` with ``P = TP/(TP+FP)``, ``R = TP/(TP+FN)``; a 0/0 ratio counts as 0."""
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def segmental_f1(
    pred, gt, overlap: float, *, relabel: bool = True, n_clusters: int | None = None, n_classes: int | None = None
) -> float:
    """Segmental F1@``overlap`` of one video, in [0, 1] (see :func:`segmental_counts`).

    For a dataset value, sum :func:`segmental_counts` over videos instead of averaging this.
    """
    counts = segmental_counts(pred, gt, overlap, relabel=relabel, n_clusters=n_clusters, n_classes=n_classes)
    return f1_from_counts(*counts)


def levenshtein_distance(source: np.ndarray, target: np.ndarray) -> int:
    """Edit distance (unit-cost insertions, deletions, substitutions) between two sequences."""
    source, target = np.asarray(source), np.asarray(target)
    offsets = np.arange(target.size + 1)
    previous = offsets.copy()
    for row, item in enumerate(source, start=1):
        without_insertion = np.empty_like(previous)
        without_insertion[0] = row
        without_insertion[1:] = np.minimum(previous[1:] + 1, previous[:-1] + (target != item))
        # insertion: current[j] = min(without_insertion[j], current[j-1] + 1), solved by a running min
        previous = np.minimum.accumulate(without_insertion - offsets) + offsets
    return int(previous[-1])


def edit_score(
    pred, gt, *, relabel: bool = True, n_clusters: int | None = None, n_classes: int | None = None
) -> float:
    """Segmental edit score of one video, in [0, 1] (evaluation.md §4).

    ``1 − Levenshtein(pred segment labels, GT segment labels) / max(#pred segments, #GT segments)``
    on the non-background segment label sequences. Two all-background sequences score 1.
    Average over videos for a dataset value.
    """
    pred, gt = _mapped_pair(pred, gt, relabel, n_clusters, n_classes)
    predicted, truth = label_segments(pred).labels, label_segments(gt).labels
    longest = max(predicted.size, truth.size)
    if longest == 0:
        return 1.0
    return 1.0 - levenshtein_distance(predicted, truth) / longest
