"""One-to-one Hungarian matching of predicted clusters to ground-truth classes.

Unsupervised predictions carry arbitrary cluster ids, so every metric first pairs clusters with
ground-truth classes (``docs/evaluation.md`` §2 step 2, §3). The pairing maximises the total
overlap: ``scipy.optimize.linear_sum_assignment`` on the cost ``1 − O/n``, where
``O[g, c]`` = number of grid points with ground-truth class ``g`` and cluster ``c`` and ``n`` the
number of grid points. This gives ``min(n_classes, n_clusters)`` pairs; background (class 0) is a
class like any other and can be matched.
"""

from __future__ import annotations

import numpy as np

from steploc.metrics.validation import as_label_pair, label_count


def overlap_matrix(pred, gt, *, n_clusters: int | None = None, n_classes: int | None = None) -> np.ndarray:
    """Overlap counts ``O = Z_gtᵀ Z_pred`` of shape ``(n_classes, n_clusters)`` (evaluation.md §2).

    ``O[g, c]`` counts the grid points labelled ``g`` in ``gt`` and ``c`` in ``pred``.
    ``n_classes`` / ``n_clusters`` default to ``max(label) + 1``; pass them to keep classes or
    clusters that occur nowhere in this video as all-zero rows / columns.
    """
    pred, gt = as_label_pair(pred, gt)
    n_classes = label_count(gt, n_classes, "gt", "n_classes")
    n_clusters = label_count(pred, n_clusters, "pred", "n_clusters")
    return _overlap_counts(pred, gt, n_clusters, n_classes)


def _overlap_counts(pred: np.ndarray, gt: np.ndarray, n_clusters: int, n_classes: int) -> np.ndarray:
    flat = np.bincount(gt * n_clusters + pred, minlength=n_classes * n_clusters)
    return flat.reshape(n_classes, n_clusters)


#: The cost ``1 − O/n`` is built in float32, as HiERO's ``egoprocel/evaluate.py`` does
#: (``1 - O.float() / n`` in torch): on exact ties of the total overlap, float32 rounding decides
#: which assignment ``linear_sum_assignment`` returns, and the published numbers depend on it
#: (docs/evaluation.md §2). ``np.float64`` gives the exact-arithmetic cost.
COST_DTYPE = np.float32


def hungarian_pairs(overlap: np.ndarray, cost_dtype=COST_DTYPE) -> tuple[np.ndarray, np.ndarray]:
    """Pairs ``(classes, clusters)`` maximising the total overlap, from an overlap matrix.

    Solves ``linear_sum_assignment`` on ``1 − O/n`` with ``n = O.sum()``, the cost used by the
    EgoProceL reference (evaluation.md §2 step 2), computed in ``cost_dtype`` (float32 by
    default, so that ties resolve as in HiERO's code); §3's ``−O`` has the same optimum. Returns
    two equally long int arrays: ``classes[i]`` is matched with ``clusters[i]``.
    """
    overlap = np.asarray(overlap)
    if overlap.ndim != 2 or overlap.size == 0:
        raise ValueError(f"overlap must be a non-empty 2-D matrix, got shape {overlap.shape}")
    n_points = overlap.sum()
    if n_points <= 0:
        raise ValueError("overlap matrix counts no grid points")
    cost = cost_dtype(1) - overlap.astype(cost_dtype) / cost_dtype(n_points)
    # imported here: the workflow's parse reads ground truth through this package, and
    # scipy.optimize would add half a second to every invocation
    from scipy.optimize import linear_sum_assignment

    classes, clusters = linear_sum_assignment(cost)
    return classes.astype(np.int64), clusters.astype(np.int64)


def hungarian_relabel(pred, gt, *, n_clusters: int | None = None, n_classes: int | None = None) -> np.ndarray:
    """Map each predicted cluster to its Hungarian-matched ground-truth class.

    The assignment is computed on this ``(pred, gt)`` pair alone (per video; concatenate the
    videos of an activity for a per-activity assignment, see
    :func:`steploc.metrics.framewise.mof_per_activity`). Matched clusters take their class id.
    An **unmatched** cluster ``c`` becomes ``n_classes + c``: distinct per cluster and never equal
    to a ground-truth class, so its points count as wrong (evaluation.md §3) and its segments as
    false positives (§4). A cluster paired with a class that has no grid point in ``gt`` counts
    as unmatched (such pairs are dropped, as in §2 step 3); otherwise a leftover cluster paired
    with an absent background class would silently vanish from the segmental metrics.
    ``n_classes`` defaults to ``max(gt) + 1``.
    """
    pred, gt = as_label_pair(pred, gt)
    n_classes = label_count(gt, n_classes, "gt", "n_classes")
    return cluster_classes(pred, gt, n_clusters=n_clusters, n_classes=n_classes)[pred]


def cluster_classes(pred, gt, *, n_clusters: int | None = None, n_classes: int | None = None
                    ) -> np.ndarray:
    """The class each cluster ``0 .. n_clusters - 1`` is matched to, the matching of
    :func:`hungarian_relabel`: an unmatched cluster ``c`` gets ``n_classes + c``."""
    pred, gt = as_label_pair(pred, gt)
    n_classes = label_count(gt, n_classes, "gt", "n_classes")
    n_clusters = label_count(pred, n_clusters, "pred", "n_clusters")
    overlap = _overlap_counts(pred, gt, n_clusters, n_classes)
    classes, clusters = hungarian_pairs(overlap)
    present = overlap.sum(axis=1)[classes] > 0
    class_of_cluster = n_classes + np.arange(n_clusters, dtype=np.int64)
    class_of_cluster[clusters[present]] = classes[present]
    return class_of_cluster
