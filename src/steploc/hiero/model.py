"""The HiERO backbone (hiero.md §1), in the reference's ``clustering_at_inference=True`` behaviour.

Only ``mode="reference"`` exists: the model of the paper with every quirk of hiero.md §0 reproduced
(strict radius test, double self-loop pooling, unsorted-batch decoder segments, float32 label
truncation, CPU k-means initial centres and CPU kd-tree tie rule), so that the parity fixture
passes on any device. ``hiero.md`` is ``docs/hiero.md``; bare ``§x`` numbers below refer to it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import Tensor, nn

from .clustering import KMEANS_INIT_ROWS_CPU, N_CLUSTERS, SAMPLE_POINTS, cluster_level
from .errors import VideoTooShort
from .graphs import cluster_graph, encoder_graph
from .layers import Stage
from .levels import Level
from .pooling import knn_upsample, neighbour_average_pool

PositionMode = Literal["index", "seconds"]
ArrayLike = Tensor | np.ndarray

# default node budget of one batched forward in ``extract_batch`` (several videos per forward)
DEFAULT_MAX_NODES_PER_FORWARD = 65536


@dataclass(frozen=True)
class HiEROConfig:
    """Sizes of the model; the defaults are the egovlp checkpoint's (§1.1)."""

    input_size: int = 256
    hidden_size: int = 768
    pos_hidden_channels: int = 256
    n_layers: int = 3
    depth: int = 3
    radius: float = 1.0  # config key ``k``: radius of the temporal graphs, not a k-NN k
    dropout: float = 0.1
    n_clusters: int = N_CLUSTERS
    clustering_sample_points: int = SAMPLE_POINTS
    mode: str = "reference"

    def __post_init__(self) -> None:
        if self.mode != "reference":
            raise ValueError(f"unknown HiERO mode {self.mode!r}; only 'reference' exists")
        if (self.n_clusters, self.clustering_sample_points) != (N_CLUSTERS, SAMPLE_POINTS):
            raise ValueError(
                f"reference mode needs n_clusters={N_CLUSTERS} and clustering_sample_points="
                f"{SAMPLE_POINTS}: the k-means initial centres are the hard-coded CPU table "
                f"{len(KMEANS_INIT_ROWS_CPU)}x{N_CLUSTERS} over {SAMPLE_POINTS} points"
            )
        for name in ("input_size", "hidden_size", "pos_hidden_channels", "n_layers", "depth"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


def make_positions(
    length: int, positions: PositionMode = "index", feature_period: float | None = None
) -> Tensor:
    """Node positions of a video of ``length`` feature rows (§0.1).

    ``"index"``: ``arange(T)`` (the notebook and the official EgoProceL evaluation; no encoder
    edges). ``"seconds"``: ``arange(T) * feature_period`` in float32 (Goal-Step evaluation and
    training spacing; with ``feature_period`` < 1 the encoder has +-1 edges).
    """
    index = torch.arange(length, dtype=torch.float32)
    if positions == "index":
        return index
    if positions == "seconds":
        if feature_period is None or not feature_period > 0:
            raise ValueError("positions='seconds' needs feature_period > 0 (seconds per feature row)")
        return index * feature_period
    raise ValueError(f"positions must be 'index' or 'seconds', got {positions!r}")


class HiERO(nn.Module):
    """HiERO backbone: input projection, ``depth`` encoder and decoder stages (§1.3-1.9).

    Use :meth:`extract`, :meth:`extract_levels` or :meth:`extract_batch`; they run under
    ``torch.inference_mode()`` and take ``x`` as (T, input_size) float features and ``pos`` as (T,)
    positions (default: from ``self.positions``/``self.feature_period``, see :func:`make_positions`).
    Explicit ``pos`` is used as given; it must be non-decreasing.
    """

    def __init__(
        self,
        config: HiEROConfig = HiEROConfig(),
        positions: PositionMode = "index",
        feature_period: float | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.positions = positions
        self.feature_period = feature_period
        make_positions(1, positions, feature_period)  # validate the convention early
        width = (config.hidden_size, config.n_layers, config.pos_hidden_channels, config.dropout)
        # Rearrange (index 0, no parameters) + Linear: keys ``proj.1.*`` as in the reference
        self.proj = nn.Sequential(nn.Flatten(1), nn.Linear(config.input_size, config.hidden_size))
        self.up_stages = nn.ModuleList(Stage(*width) for _ in range(config.depth))
        self.down_stages = nn.ModuleList(Stage(*width) for _ in range(config.depth))
        self.eval()  # inference-only re-implementation: dropout stays off unless train() is called

    # ----------------------------------------------------------------------------- properties
    @property
    def device(self) -> torch.device:
        weight = self.proj[1].weight
        assert isinstance(weight, Tensor)
        return weight.device

    @property
    def min_length(self) -> int:
        """Shortest video the model accepts: every clustered depth (1 .. depth-1) needs 2 nodes."""
        deepest_clustered = self.config.depth - 1
        return 2**deepest_clustered + 1 if deepest_clustered >= 1 else 1

    # ----------------------------------------------------------------------------- public API
    @torch.inference_mode()
    def extract(self, x: ArrayLike, pos: ArrayLike | None = None, depth: int = 2) -> Tensor:
        """(ceil(T / 2**depth), hidden) decoder output at ``depth``, computing only what it needs
        (for depth 2: projection, encoder and ``down_stages.0``, §0.5)."""
        features = self.extract_batch([x], None if pos is None else [pos], depth=depth)[0]
        assert features is not None  # extract_batch raises for a too-short video
        return features

    @torch.inference_mode()
    def extract_levels(
        self, x: ArrayLike, pos: ArrayLike | None = None, trace: dict[str, Tensor] | None = None
    ) -> dict[int, tuple[Tensor, Tensor]]:
        """Full forward: ``{depth: (features, assignments)}`` for depths 0 .. depth-1.

        Assignments use the reference numbering ``video * 4 + label`` (video = 0 here) at the
        clustered depths and -1 at depth 0. A ``trace`` dict, if given, receives the
        intermediates under the parity fixture's names (``proj_x``, ``enc_in_x_d1``, ...).
        """
        x_flat, level0 = self._prepare([x], None if pos is None else [pos])
        return self._forward(x_flat, level0, 0, trace)

    @torch.inference_mode()
    def extract_batch(
        self,
        xs: Sequence[ArrayLike],
        poss: Sequence[ArrayLike] | None = None,
        depth: int = 2,
        max_nodes_per_forward: int = DEFAULT_MAX_NODES_PER_FORWARD,
        skip_short: bool = False,
    ) -> list[Tensor | None]:
        """:meth:`extract` for many videos, several per forward (up to ``max_nodes_per_forward``
        input rows each, a longer video runs alone). Results equal one-by-one calls up to float
        rounding. Too-short videos raise :class:`VideoTooShort` (with ``.index``) before any work,
        or give ``None`` with ``skip_short=True``.
        """
        self._check_depth(depth)
        if poss is not None and len(poss) != len(xs):
            raise ValueError(f"got {len(xs)} feature arrays but {len(poss)} position arrays")
        lengths = [int(_as_tensor(x).shape[0]) for x in xs]
        runnable = []
        for i, length in enumerate(lengths):
            if length >= self.min_length:
                runnable.append(i)
            elif not skip_short:
                raise VideoTooShort(length, self.min_length, index=i if len(xs) > 1 else None)
        results: list[Tensor | None] = [None] * len(xs)
        for chunk in _chunks(runnable, lengths, max_nodes_per_forward):
            x_flat, level0 = self._prepare(
                [xs[i] for i in chunk], None if poss is None else [poss[i] for i in chunk]
            )
            features, _ = self._forward(x_flat, level0, depth)[depth]
            sizes = [math.ceil(lengths[i] / 2**depth) for i in chunk]
            for i, part in zip(chunk, torch.split(features, sizes), strict=True):
                results[i] = part
        return results

    def forward(self, x: ArrayLike, pos: ArrayLike | None = None) -> dict[int, tuple[Tensor, Tensor]]:
        return self.extract_levels(x, pos)

    # ----------------------------------------------------------------------------- internals
    def _check_depth(self, depth: int) -> None:
        if not 0 <= depth < self.config.depth:
            raise ValueError(f"depth must be in 0..{self.config.depth - 1}, got {depth}")

    def _prepare(
        self, xs: Sequence[ArrayLike], poss: Sequence[ArrayLike] | None
    ) -> tuple[Tensor, Level]:
        """Validate and concatenate videos into flat node arrays on the model's device."""
        device = self.device
        features, positions = [], []
        for i, x in enumerate(xs):
            x = _as_tensor(x).to(device=device, dtype=torch.float32)
            if x.dim() == 3 and x.shape[1] == 1:  # the reference's (T, 1, F) layout
                x = x.flatten(1)
            if x.dim() != 2 or x.shape[1] != self.config.input_size:
                raise ValueError(
                    f"video #{i}: features must be (T, {self.config.input_size}), got {tuple(x.shape)}"
                )
            length = x.shape[0]
            if length < self.min_length:
                raise VideoTooShort(length, self.min_length, index=i if len(xs) > 1 else None)
            if poss is None:
                pos = make_positions(length, self.positions, self.feature_period)
            else:
                pos = _as_tensor(poss[i]).to(torch.float32)
            pos = pos.to(device)
            if pos.shape != (length,):
                raise ValueError(f"video #{i}: pos must have shape ({length},), got {tuple(pos.shape)}")
            if not bool(torch.isfinite(pos).all()) or bool((pos[1:] < pos[:-1]).any()):
                raise ValueError(f"video #{i}: pos must be finite and non-decreasing")
            features.append(x)
            positions.append(pos)
        return torch.cat(features), Level.from_positions(positions)

    def _forward(
        self, x: Tensor, level0: Level, stop_depth: int, trace: dict[str, Tensor] | None = None
    ) -> dict[int, tuple[Tensor, Tensor]]:
        """Encoder, then the decoder from depth ``depth-1`` down to ``stop_depth`` (§1.8-1.9)."""

        def record(key: str, value: Tensor) -> None:
            if trace is not None:
                trace[key] = value

        radius = self.config.radius
        # encoder: X_0 = proj(x); X_d = P_d + up_stage(P_d) with P_d = pool(X_{d-1})
        levels = [level0]
        states: list[Tensor | None] = [self.proj(x)]
        record("proj_x", _kept(states[0]))
        if trace is not None:  # E0 itself is only needed by the depth-0 decoder stage
            record("enc_edge_index_d0", encoder_graph(level0, radius).edge_index)
        for d in range(1, self.config.depth + 1):
            pooled, level = neighbour_average_pool(_kept(states[-1]), levels[-1])
            if d - 1 < stop_depth:  # the decoder stops above depth d-1: free X_{d-1} early
                states[d - 1] = None
            graph = encoder_graph(level, radius)
            update = self.up_stages[d - 1](pooled, graph)
            record(f"enc_in_x_d{d}", pooled)
            record(f"enc_out_x_d{d}", update)
            record(f"enc_edge_index_d{d}", graph.edge_index)
            levels.append(level)
            states.append(pooled + update)

        # decoder: F <- X_d + U(F); stage on the cluster graph (d > 0) or on E0 (d = 0)
        out: dict[int, tuple[Tensor, Tensor]] = {}
        features = _kept(states[-1])
        for d in range(self.config.depth - 1, stop_depth - 1, -1):
            level = levels[d]
            features = _kept(states[d]) + knn_upsample(features, levels[d + 1], level)
            record(f"dec_in_x_d{d}", features)
            if d > 0:
                clustering = cluster_level(features, level)
                graph = cluster_graph(level, clustering.labels, clustering.ranks, self.config.n_clusters)
                assignments = clustering.labels  # video-local numbering: video 0 * 4 + label
                record(f"clu_km_labels_d{d}", clustering.sample_labels)
                record(f"clu_eigvals_d{d}", clustering.eigenvalues)
                record(f"clu_eigvecs_d{d}", clustering.eigenvectors)
                record(f"dec_pos_d{d}", clustering.ranks)
            else:
                graph = encoder_graph(level, radius)
                assignments = torch.full_like(level.index, -1)
            record(f"dec_edge_index_d{d}", graph.edge_index)
            features = self.down_stages[self.config.depth - 1 - d](features, graph)
            out[d] = (features, assignments)
        return out


def _kept(state: Tensor | None) -> Tensor:
    """An encoder state the decoder still needs (freed states are never read again)."""
    assert state is not None
    return state


def _as_tensor(values: ArrayLike) -> Tensor:
    return values if isinstance(values, Tensor) else torch.as_tensor(np.asarray(values))


def _chunks(items: list[int], lengths: list[int], max_nodes: int) -> list[list[int]]:
    """Consecutive groups of videos whose total length stays within ``max_nodes``."""
    chunks: list[list[int]] = []
    current: list[int] = []
    total = 0
    for i in items:
        if current and total + lengths[i] > max_nodes:
            chunks.append(current)
            current, total = [], 0
        current.append(i)
        total += lengths[i]
    if current:
        chunks.append(current)
    return chunks
