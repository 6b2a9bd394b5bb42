"""Label sequences to step segments: runs of equal labels and their step embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from steploc.runs import label_runs


@dataclass(frozen=True)
class StepSegments:
    """The segments of one video, in time order: node and feature-row ranges ``[start, end)``."""

    start_node: np.ndarray  # (S,) int64
    end_node: np.ndarray  # (S,) int64
    start_feature: np.ndarray  # (S,) int64
    end_feature: np.ndarray  # (S,) int64
    cluster: np.ndarray  # (S,) int64
    embeddings: np.ndarray  # (S, D) float32

    def __len__(self) -> int:
        return len(self.cluster)


def runs_to_segments(labels: np.ndarray, node_start_feature: np.ndarray,
                     node_end_feature: np.ndarray, features: np.ndarray) -> StepSegments:
    """One segment per run of equal node labels.

    The step embedding of a segment is the mean of the ORIGINAL per-feature vectors inside it
    (indexed in the features' own period), not of the node features.
    """
    _, starts, ends = label_runs(labels)
    first_feature = node_start_feature[starts]
    end_feature = node_end_feature[ends - 1]
    # Cumulative sums give every segment's mean in one pass over the features.
    cumsum = np.zeros((features.shape[0] + 1, features.shape[1]), dtype=np.float64)
    np.cumsum(features, axis=0, dtype=np.float64, out=cumsum[1:])
    counts = (end_feature - first_feature)[:, None]
    embeddings = (cumsum[end_feature] - cumsum[first_feature]) / counts
    return StepSegments(
        start_node=starts,
        end_node=ends,
        start_feature=first_feature.astype(np.int64),
        end_feature=end_feature.astype(np.int64),
        cluster=np.asarray(labels, dtype=np.int64)[starts],
        embeddings=embeddings.astype(np.float32),
    )
