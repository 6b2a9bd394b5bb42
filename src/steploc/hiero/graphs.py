"""1-D temporal graphs of the reference model, built with banded (sorted) logic.

The reference builds every graph with ``torch_cluster.radius_graph``. On a 1-D sequence whose
coordinates are sorted inside each group, the neighbours of a node within a radius form a
contiguous band, so scanning offsets 1, 2, ... until no pair qualifies gives the same edge set in
O(n * band) instead of a kd-tree or an O(n^2) distance matrix. Bare ``§x`` numbers below refer
to ``docs/hiero.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .levels import Level

# torch_cluster keeps at most ``max_num_neighbors`` = 32 matches per query, the node itself
# included, in an implementation-defined order. Beyond 31 real neighbours the reference edge set
# is therefore not reproducible, so such inputs are refused instead of silently diverging.
MAX_NEIGHBOURS = 31


@dataclass(frozen=True)
class TemporalGraph:
    """Edges j -> i (row 0 = source j, row 1 = target i) and each edge's signed distance
    ``p_j - p_i``, the ``edge_attr`` of :class:`~steploc.hiero.layers.TDGC`."""

    edge_index: Tensor  # (2, E) int64
    edge_attr: Tensor  # (E,) float32: p_j - p_i

    @classmethod
    def from_edges(cls, edge_index: Tensor, pos: Tensor) -> TemporalGraph:
        return cls(edge_index, pos[edge_index[0]] - pos[edge_index[1]])

    @property
    def num_edges(self) -> int:
        return self.edge_index.shape[1]


def radius_graph_1d(coord: Tensor, group: Tensor, radius: float) -> Tensor:
    """Symmetric edges between nodes of the same group with ``(q_i - q_j)**2 < radius**2``.

    Same contract as ``torch_cluster.radius_graph(..., loop=False)`` on 1-D points (§1.6): the test
    is strict and done in the coordinates' float precision, so a spacing of exactly ``radius``
    gives no edge (quirk §0.1). Requires ``group`` contiguous and ``coord`` non-decreasing inside
    each group.
    """
    n = coord.numel()
    radius_sq = torch.tensor(radius * radius, dtype=coord.dtype, device=coord.device)
    sources, targets = [], []
    offset = 1
    while offset < n:
        first = torch.nonzero(
            (group[:-offset] == group[offset:]) & ((coord[offset:] - coord[:-offset]) ** 2 < radius_sq)
        ).squeeze(1)
        if first.numel() == 0:
            break  # sorted coordinates: no pair at this offset means none further away either
        if offset > MAX_NEIGHBOURS:
            raise ValueError(
                f"positions are too dense for radius {radius}: some node has more than "
                f"{MAX_NEIGHBOURS} neighbours, where the reference (torch_cluster, "
                "max_num_neighbors=32) drops neighbours in an implementation-defined order"
            )
        sources.append(first)
        targets.append(first + offset)
        offset += 1
    if not sources:
        return torch.empty(2, 0, dtype=torch.long, device=coord.device)
    low = torch.cat(sources)
    high = torch.cat(targets)
    edge_index = torch.stack([torch.cat([low, high]), torch.cat([high, low])])
    degree = torch.bincount(edge_index[1], minlength=n)
    if int(degree.max()) > MAX_NEIGHBOURS:
        raise ValueError(
            f"positions are too dense for radius {radius}: a node has {int(degree.max())} "
            f"neighbours, more than the {MAX_NEIGHBOURS} the reference can keep reproducibly"
        )
    return edge_index


def encoder_graph(level: Level, radius: float) -> TemporalGraph:
    """Encoder graph of a depth (§1.6): radius ``k`` on ``pos_d / 2**d``; TDGC sees unscaled ``pos_d``.

    Depth 0 gives the input graph E0 used by the last decoder stage.
    """
    coord = level.pos / (2**level.depth)  # power-of-two division: exact in float32
    edge_index = radius_graph_1d(coord, level.video, radius)
    return TemporalGraph.from_edges(edge_index, level.pos)


def lower_bound_unsorted(values: Tensor, starts: Tensor, ends: Tensor, queries: Tensor) -> Tensor:
    """``std::lower_bound`` of each query in ``values[start:end]``, run even if that is unsorted.

    Vectorised copy of the binary search in ``torch.bucketize`` (``right=False``) on CPU and CUDA:
    ``mid = lo + (hi - lo) // 2``; go right iff ``values[mid] < query``. On unsorted input the
    result is whatever that search returns, which is what quirk §0.2 depends on.
    """
    lo = starts.clone()
    hi = ends.clone()
    last = max(values.numel() - 1, 0)
    longest = int((ends - starts).max()) if ends.numel() else 0
    for _ in range(longest.bit_length() + 1):  # enough halvings for the longest segment
        active = lo < hi
        mid = lo + (hi - lo) // 2
        go_right = values[mid.clamp(max=last)] < queries
        lo = torch.where(active & go_right, mid + 1, lo)
        hi = torch.where(active & ~go_right, mid, hi)
    return lo


def cluster_segments(level: Level, labels: Tensor, n_clusters: int) -> Tensor:
    """(n,) segment of each node in the reference's decoder radius graph (quirk §0.2).

    The reference calls ``radius_graph(rank, 1.5, batch=cluster_id)``; torch_cluster assumes a
    sorted batch vector and cuts the node array at ``bucketize(arange(B + 1), cluster_id)``. With
    cluster ids in time order (unsorted) these cuts are just contiguous index ranges, and only
    nodes of the same range can be joined. Computed per video, with video-local ids (label only),
    so that a batch gives the same result as one-by-one calls. Queries past ``max(label)`` return
    the video's end, so using all ``n_clusters`` + 1 queries equals the reference's ``B + 1``.
    """
    n_videos = level.num_videos
    device = labels.device
    queries = torch.arange(n_clusters + 1, device=device).repeat(n_videos)
    starts = level.offsets.repeat_interleave(n_clusters + 1)
    ends = (level.offsets + level.counts).repeat_interleave(n_clusters + 1)
    ptr = lower_bound_unsorted(labels, starts, ends, queries).view(n_videos, n_clusters + 1)
    flat = torch.arange(level.num_nodes, device=device)
    # node p lies in segment b with ptr[b] <= p < ptr[b + 1]; ptr[0] is always the video start
    return (ptr[level.video, 1:] <= flat[:, None]).sum(1)


def cluster_graph(level: Level, labels: Tensor, ranks: Tensor, n_clusters: int) -> TemporalGraph:
    """Decoder graph of a clustered depth (§1.9, quirk §0.2), with TDGC positions = in-cluster rank.

    Edges join any two nodes of the same segment whose ranks differ by < 1.5, whatever their
    clusters; equal ranks of different clusters give sign-0 edges that still count in the mean.
    """
    segment = cluster_segments(level, labels, n_clusters)
    group = level.video * (n_clusters + 1) + segment
    # sort by (group, rank) so that each group's ranks are non-decreasing for the banded scan
    order = torch.argsort(group * (level.num_nodes + 1) + ranks.long(), stable=True)
    edges_sorted = radius_graph_1d(ranks[order], group[order], 1.5)
    return TemporalGraph.from_edges(order[edges_sorted], ranks)
