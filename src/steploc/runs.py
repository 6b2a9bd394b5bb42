"""Run-length view of a label sequence: the one implementation segments, metrics and the
report figures share."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Runs(NamedTuple):
    """Maximal runs of equal labels: run ``i`` is ``labels[i]`` over ``[starts[i], ends[i])``."""

    labels: np.ndarray
    starts: np.ndarray
    ends: np.ndarray


def label_runs(labels) -> Runs:
    """The maximal runs of equal values of a 1-D sequence (empty input: no runs)."""
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"labels must be 1-D, got shape {labels.shape}")
    if labels.size == 0:
        empty = np.zeros(0, np.int64)
        return Runs(labels[:0], empty, empty)
    boundaries = np.flatnonzero(labels[1:] != labels[:-1]) + 1
    starts = np.concatenate(([0], boundaries)).astype(np.int64)
    ends = np.concatenate((boundaries, [labels.size])).astype(np.int64)
    return Runs(labels[starts], starts, ends)
