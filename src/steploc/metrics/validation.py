"""Input checks shared by every metric (label sequences on a common time grid).

Every metric of ``docs/evaluation.md`` starts from two integer label sequences of equal length:
the prediction ``pred`` (cluster ids, or class ids after mapping) and the ground truth ``gt``
(class ids, 0 = background). Invalid input raises :class:`ValueError` naming the problem.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def as_label_array(labels, name: str) -> np.ndarray:
    """Return ``labels`` as a 1-D ``int64`` array of non-negative labels, or raise ValueError.

    Rejected: non-1-D input, an empty sequence, a non-integer dtype (floats and booleans, even
    when their values look integral) and negative labels.
    """
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D label sequence, got an array of shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty; a label sequence needs at least one grid point")
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integer labels, got dtype {array.dtype}")
    if array.min() < 0:
        raise ValueError(
            f"{name} holds negative labels (minimum {int(array.min())}); labels must be >= 0"
        )
    return array.astype(np.int64, copy=False)


def as_label_pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    """Validate a (prediction, ground truth) pair: both valid label arrays of the same length."""
    pred_array = as_label_array(pred, "pred")
    gt_array = as_label_array(gt, "gt")
    if pred_array.shape != gt_array.shape:
        raise ValueError(
            f"pred and gt must have the same length, got {pred_array.size} and {gt_array.size}"
        )
    return pred_array, gt_array


def label_count(labels: np.ndarray, declared: int | None, name: str, what: str) -> int:
    """Number of label values (one-hot width): ``declared`` if given, else ``max(labels) + 1``.

    ``declared`` lets labels that occur nowhere in ``labels`` exist as (empty) one-hot columns;
    every label must then be ``< declared``.
    """
    observed = int(labels.max()) + 1
    if declared is None:
        return observed
    if isinstance(declared, bool) or not isinstance(declared, (int, np.integer)) or declared < 1:
        raise ValueError(f"{what} must be a positive integer, got {declared!r}")
    if observed > declared:
        raise ValueError(
            f"{name} holds label {observed - 1}, but {what} = {declared} allows only 0..{declared - 1}"
        )
    return int(declared)


def as_label_pair_lists(preds: Sequence, gts: Sequence) -> list[tuple[np.ndarray, np.ndarray]]:
    """Validate two equally long, non-empty lists of per-video (pred, gt) label sequences."""
    if isinstance(preds, np.ndarray) or isinstance(gts, np.ndarray):
        raise ValueError("pass one label sequence per video as a list, not a single array")
    preds, gts = list(preds), list(gts)
    if not preds:
        raise ValueError("no videos given; pass at least one (pred, gt) pair")
    if len(preds) != len(gts):
        raise ValueError(f"got {len(preds)} predictions but {len(gts)} ground truths")
    pairs = []
    for index, (pred, gt) in enumerate(zip(preds, gts, strict=True)):
        try:
            pairs.append(as_label_pair(pred, gt))
        except ValueError as error:
            raise ValueError(f"video {index}: {error}") from None
    return pairs
