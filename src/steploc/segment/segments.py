"""Label sequences to step segments: run lengths, times and step embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from steploc.hierarchy import NodeSpans
from steploc.runs import label_runs


@dataclass(frozen=True)
class Segments:
    start_node: np.ndarray  # (S,) int64, inclusive
    end_node: np.ndarray  # (S,) int64, exclusive
    cluster: np.ndarray  # (S,) int64
    start_s: np.ndarray  # (S,) float64
    end_s: np.ndarray  # (S,) float64
    embeddings: np.ndarray  # (S, D) float32

    def __len__(self) -> int:
        return len(self.cluster)


def runs_to_segments(labels: np.ndarray, spans: NodeSpans, features: np.ndarray) -> Segments:
    """One segment per run of equal node labels.

    Times come from the nodes' spans (the real feature period); the step embedding of a segment
    is the mean of the ORIGINAL per-feature vectors inside it, indexed in the features' own
    period, not the node features.
    """
    _, starts, ends = label_runs(labels)
    first_feature = spans.start_feature[starts]
    end_feature = spans.end_feature[ends - 1]
    # Cumulative sums give every segment's mean in one pass over the features.
    cumsum = np.zeros((features.shape[0] + 1, features.shape[1]), dtype=np.float64)
    np.cumsum(features, axis=0, dtype=np.float64, out=cumsum[1:])
    counts = (end_feature - first_feature)[:, None]
    embeddings = (cumsum[end_feature] - cumsum[first_feature]) / counts
    return Segments(
        start_node=starts,
        end_node=ends,
        cluster=np.asarray(labels, dtype=np.int64)[starts],
        start_s=spans.start_s[starts],
        end_s=spans.end_s[ends - 1],
        embeddings=embeddings.astype(np.float32),
    )
