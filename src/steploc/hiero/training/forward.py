"""The differentiable train-mode forward of HiERO over a batch of samples (training.md §1.4,
hiero.md §1).

:class:`steploc.hiero.HiERO` is an inference model: its batched extraction emulates one
reference call *per video*. In training the reference instead runs ONE forward over the whole
batch of 8 samples, and two parts of the clustering then depend on the batch:

* k-means: ``torch_kmeans`` draws the initial centres of all samples at once,
  ``multinomial(full((8 * B, 32), 1/32), 4, generator seeded 42)``, so sample b uses rows
  ``8b .. 8b+7`` of that draw (not the single-video table), and the Lloyd iterations stop only
  when EVERY restart of EVERY sample has converged. The draw is made on CPU (the CPU behaviour
  the parity fixture pins, on any device), cached per batch size.
* the decoder cluster graph: ``radius_graph(rank, 1.5, batch=sample * 4 + label)`` cuts the
  concatenated node array of the whole batch with one ``bucketize`` over the unsorted global
  cluster ids (hiero.md quirk §0.2), so the segments differ from per-video ones.

Everything else (projection, encoder, pooling, up-sampling, TDGC stages, the 32-point spectral
embedding and the label carry-back) reuses the modules and helpers of :mod:`steploc.hiero`. The
clustering runs under ``torch.no_grad`` from the decoder stage input, as in the reference.
Dropout is active when the model is in train mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

from steploc.hiero.clustering import (
    KMEANS_MAX_ITER,
    KMEANS_TOL,
    N_CLUSTERS,
    SAMPLE_POINTS,
    _assign,
    _cluster_means,
    carry_back,
    normalised_time,
    ranks_in_clusters,
    resample,
    sample_grid,
    spectral_embedding,
)
from steploc.hiero.graphs import (
    TemporalGraph,
    encoder_graph,
    lower_bound_unsorted,
    radius_graph_1d,
)
from steploc.hiero.levels import Level
from steploc.hiero.model import HiERO
from steploc.hiero.pooling import knn_upsample, neighbour_average_pool

KMEANS_RESTARTS = 8  # torch_kmeans num_init
KMEANS_SEED = 42


@dataclass(frozen=True)
class DepthOutput:
    """Decoder output at one depth for all samples of the batch."""

    features: Tensor  # (n_d, hidden) decoder stage output (the reference's G.x rows)
    level: Level  # video (= sample index), index, pos (anchor positions, seconds)
    assignments: Tensor  # (n_d,) int64: sample * 4 + label, -1 at depth 0


@lru_cache(maxsize=64)
def _kmeans_init_rows_cpu(n_samples: int) -> Tensor:
    generator = torch.Generator().manual_seed(KMEANS_SEED)
    weights = torch.full((n_samples * KMEANS_RESTARTS, SAMPLE_POINTS), 1.0 / SAMPLE_POINTS)
    rows = torch.multinomial(weights, N_CLUSTERS, replacement=False, generator=generator)
    return rows.view(n_samples, KMEANS_RESTARTS, N_CLUSTERS)


def kmeans_init_rows(n_samples: int) -> Tensor:
    """(B, 8, 4) initial-centre indices torch_kmeans 0.2.0 draws on CPU for a batch of B."""
    return _kmeans_init_rows_cpu(int(n_samples)).clone()


def batch_kmeans(points: Tensor, init_rows: Tensor) -> Tensor:
    """torch_kmeans 0.2.0 ``KMeans(n_clusters=4, seed=42)`` on a batch (B, P, D) -> labels (B, P).

    One call for the whole batch: per-sample initial rows ``init_rows`` (B, R, C), all restarts of
    all samples iterate until every one has moved its centres by less than 1e-4 on average
    (max 100 iterations); then the restart of least inertia (first on ties) per sample.
    """
    n_samples = points.shape[0]
    index = torch.arange(n_samples, device=points.device)[:, None, None]
    centres = points[index, init_rows.to(points.device)]  # (B, R, C, D)
    for _ in range(KMEANS_MAX_ITER):
        updated = _cluster_means(points, _assign(points, centres), init_rows.shape[-1])
        shift = (updated - centres).norm(dim=-1).mean(-1)  # (B, R)
        centres = updated
        if bool((shift < KMEANS_TOL).all()):
            break
    assignment = _assign(points, centres)
    own = torch.gather(centres, 2, assignment[..., None].expand(-1, -1, -1, centres.shape[-1]))
    inertia = ((points[:, None] - own) ** 2).sum(-1).sum(-1)
    best = inertia.argmin(-1)
    return assignment[torch.arange(n_samples, device=points.device), best]


@dataclass(frozen=True)
class BatchClustering:
    labels: Tensor  # (n,) label 0..3 of each node
    ids: Tensor  # (n,) sample * 4 + label
    ranks: Tensor  # (n,) float32 rank inside (sample, label), time order
    sample_labels: Tensor  # (B, 32) k-means labels of the sample points (CPU)
    eigenvalues: Tensor  # (B, 32) (CPU)
    eigenvectors: Tensor  # (B, 32, 4) (CPU)


@torch.no_grad()
def cluster_batch(x: Tensor, level: Level) -> BatchClustering:
    """The reference ``_clusterize`` over a whole batch (hiero.md §1.10, batched k-means)."""
    x = x.detach()
    samples = sample_grid(x.device)
    t = normalised_time(level)
    sampled = resample(x, level, t, samples).cpu()  # the 32-point spectral step runs on CPU
    eigenvalues, eigenvectors = spectral_embedding(sampled)
    sample_labels = batch_kmeans(eigenvectors, kmeans_init_rows(level.num_videos))
    labels = carry_back(t, level.video, samples, sample_labels.to(x.device))
    ranks = ranks_in_clusters(level.video, labels, N_CLUSTERS)
    ids = level.video * N_CLUSTERS + labels
    return BatchClustering(labels, ids, ranks, sample_labels, eigenvalues, eigenvectors)


def batch_cluster_graph(level: Level, ids: Tensor, ranks: Tensor) -> TemporalGraph:
    """``radius_graph(ranks, 1.5, batch=ids)`` of torch_cluster on the unsorted global ids.

    The node array is cut at ``lower_bound(ids, b)`` for b = 0 .. max(ids) + 1, computed by the
    same binary search as ``torch.bucketize`` on unsorted input (hiero.md §0.2); edges join
    nodes of a segment whose ranks differ by < 1.5.
    """
    n = level.num_nodes
    n_ids = int(ids.max()) + 1
    queries = torch.arange(n_ids + 1, device=ids.device)
    starts = torch.zeros_like(queries)
    ends = torch.full_like(queries, n)
    ptr = lower_bound_unsorted(ids, starts, ends, queries)
    flat = torch.arange(n, device=ids.device)
    segment = (ptr[1:][None, :] <= flat[:, None]).sum(1)
    order = torch.argsort(segment * (n + 1) + ranks.long(), stable=True)
    edges_sorted = radius_graph_1d(ranks[order], segment[order], 1.5)
    return TemporalGraph.from_edges(order[edges_sorted], ranks)


def train_forward(
    model: HiERO, x: Tensor, level0: Level, trace: dict[str, Tensor] | None = None
) -> dict[int, DepthOutput]:
    """Train-mode forward of a batch: ``{depth: DepthOutput}`` for depths 0 .. depth-1.

    ``x`` (sum T, input_size) float32 on the model's device; ``level0`` the depth-0 layout
    (``Level.from_positions`` of the per-sample positions in seconds). Gradients flow through
    every module; the clustering is computed without gradient. ``trace`` (optional) receives
    the clustering intermediates under the fixture's names (``clu_d{d}_in_x``, ...).
    """
    config = model.config
    radius = config.radius
    levels = [level0]
    states = [model.proj(x)]
    for d in range(1, config.depth + 1):
        pooled, level = neighbour_average_pool(states[-1], levels[-1])
        update = model.up_stages[d - 1](pooled, encoder_graph(level, radius))
        levels.append(level)
        states.append(pooled + update)

    out: dict[int, DepthOutput] = {}
    features = states[-1]
    for d in range(config.depth - 1, -1, -1):
        level = levels[d]
        features = states[d] + knn_upsample(features, levels[d + 1], level)
        if d > 0:
            clustering = cluster_batch(features, level)
            graph = batch_cluster_graph(level, clustering.ids, clustering.ranks)
            assignments = clustering.ids
            if trace is not None:
                trace[f"clu_d{d}_in_x"] = features.detach()
                trace[f"clu_d{d}_km_labels"] = clustering.sample_labels
                trace[f"clu_d{d}_eigvals"] = clustering.eigenvalues
                trace[f"clu_d{d}_eigvecs4"] = clustering.eigenvectors
                trace[f"clu_d{d}_assign"] = clustering.ids
                trace[f"clu_d{d}_rank"] = clustering.ranks
        else:
            graph = encoder_graph(level, radius)
            assignments = torch.full_like(level.index, -1)
        features = model.down_stages[config.depth - 1 - d](features, graph)
        out[d] = DepthOutput(features, level, assignments)
    return out
