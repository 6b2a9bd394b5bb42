"""The hierarchy stage: per-video node features at a depth of the temporal hierarchy.

Every model maps a video's ``(T, D)`` features to ``ceil(T / 2**depth)`` nodes; node ``j`` at
depth ``d`` covers feature rows ``[j * 2**d, (j + 1) * 2**d)`` clipped to the video (seconds
follow from the video's real feature period, in the summaries).

Models (``type`` in the config's ``models`` entries):

* ``raw``: HiERO's encoder pooling without learned weights (:mod:`steploc.pooling`). The
  paper's "raw features + spectral clustering" baseline.
* ``hiero``: the HiERO model loaded from an official checkpoint (:mod:`steploc.hiero`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from steploc.errors import InputError
from steploc.pooling import pool_video

log = logging.getLogger(__name__)

def n_nodes_at_depth(n_features: int, depth: int) -> int:
    """``ceil(T / 2**depth)``: odd lengths keep their last node, nothing is padded."""
    return -(-n_features // (1 << depth))


def node_feature_ranges(n_features: int, depth: int) -> tuple[np.ndarray, np.ndarray]:
    """``(start, end)`` feature rows of each node: ``[j 2^d, (j+1) 2^d)`` clipped to ``T``."""
    block = 1 << depth
    start = np.arange(n_nodes_at_depth(n_features, depth), dtype=np.int64) * block
    return start, np.minimum(start + block, n_features)


class HierarchyModel(Protocol):
    @property
    def depth(self) -> int: ...

    @property
    def hidden_size(self) -> int: ...

    def extract_batch(self, features: list[np.ndarray], periods: list[float]) -> list:
        """Node features ``(ceil(T/2**depth), H)`` for each video, in order, or a
        :class:`~steploc.errors.VideoSkipped` in place of a video the model cannot process."""


def nvidia_driver_present() -> bool:
    """Cheap test that CUDA cannot be available (no NVIDIA driver node), so a CPU-only job need
    not import torch (about 0.8 s per job, paid for every shard of a batch)."""
    return any(Path(p).exists() for p in ("/dev/nvidiactl", "/proc/driver/nvidia/version"))


def select_device(device: str) -> str:
    """``auto`` is CUDA when available, else CPU; an explicit ``cuda`` without one is an error."""
    if device == "cpu" or (device == "auto" and not nvidia_driver_present()):
        return "cpu"
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but CUDA is not available")
    return device


class RawPooling:
    """The ``raw`` model: parameter-free pooling to ``depth``; numpy on CPU, torch on CUDA."""

    def __init__(self, depth: int, feature_dim: int, device: str = "auto"):
        self.depth = int(depth)
        self.hidden_size = int(feature_dim)
        self.device = select_device(device)

    def extract_batch(self, features: list[np.ndarray], periods: list[float]) -> list[np.ndarray]:
        if self.device == "cpu":
            return [np.ascontiguousarray(pool_video(np.asarray(x, dtype=np.float32), self.depth))
                    for x in features]
        import torch

        out = []
        with torch.inference_mode():
            for x in features:
                t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)
                out.append(pool_video(t, self.depth).cpu().numpy())
        return out


class HieroModel:
    """The ``hiero`` model: our HiERO re-implementation on an official checkpoint.

    The checkpoint is loaded (safely, strictly checked) when the model is built, so a missing or
    bad file fails the job before any video is read: this load is the checkpoint's validation
    (no separate job loads it first). Videos are batched per forward.
    ``positions: index`` feeds feature indices (the notebook and the official EgoProceL
    evaluation); ``seconds`` feeds index x the video's real feature period.
    """

    def __init__(self, checkpoint: str, depth: int, positions: str, device: str = "auto"):
        from steploc.hiero import CheckpointError, load_checkpoint

        self.depth = int(depth)
        self.positions = positions
        self.device = select_device(device)
        self.checkpoint = checkpoint
        try:
            self.model = load_checkpoint(self.checkpoint, device=self.device)
        except CheckpointError as exc:  # names the file and the problem
            raise InputError(f"not a usable HiERO checkpoint: {exc}") from exc

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)

    def check_dimensions(self, dims: list[int], videos: list[str | None],
                         paths: list[str | None]) -> None:
        """Every video's feature dimension must be the checkpoint's input size."""
        expected = self.model.config.input_size
        for dim, video, path in zip(dims, videos, paths, strict=True):
            if dim != expected:
                raise InputError(
                    f"features are {dim}-d but HiERO checkpoint {self.checkpoint!r} expects "
                    f"{expected}-d input (features of the extractor it was trained on)",
                    video=video, path=path)

    def extract_batch(self, features: list[np.ndarray], periods: list[float]) -> list:
        from steploc.errors import VideoSkipped
        from steploc.hiero import make_positions

        self.check_dimensions([x.shape[1] for x in features], [None] * len(features),
                              [None] * len(features))
        positions = [make_positions(len(x), self.positions, period)  # type: ignore[arg-type]
                     for x, period in zip(features, periods, strict=True)]
        outputs = self.model.extract_batch(features, positions, depth=self.depth, skip_short=True)
        return [
            VideoSkipped(f"too short for HiERO with clustering: {len(x)} features "
                         f"(needs at least {self.model.min_length})")
            if out is None else out.float().cpu().numpy()
            for x, out in zip(features, outputs, strict=True)
        ]


def build_model(model_type: str, depth: int, *, feature_dim: int, checkpoint: str | None = None,
                positions: str = "index", device: str = "auto") -> HierarchyModel:
    """A hierarchy model from its config entry's values (``type``, ``depth``, ...)."""
    if model_type == "raw":
        return RawPooling(depth, feature_dim, device=device)
    if model_type == "hiero":
        if checkpoint is None:
            raise InputError("a hiero model needs a checkpoint")
        return HieroModel(checkpoint, depth, positions, device=device)
    raise InputError(f"unknown model type {model_type!r} (known: raw, hiero)")


def check_finite_output(values: np.ndarray, video_id: str, feature_path: str, stage: str) -> None:
    """Numeric overflow is caught where it happens: a stage never writes Inf/NaN."""
    finite = np.isfinite(values)
    if not finite.all():
        rows = np.flatnonzero(~finite.reshape(len(values), -1).all(axis=1))
        raise InputError(
            f"{stage} produced {(~finite).sum()} non-finite value(s) (overflow) in "
            f"{len(rows)} node(s), first at node {rows[0]}; the input features are too large "
            "for float32 arithmetic: rescale or normalise them", video=video_id,
            path=feature_path)


def run_hierarchy(videos: pd.DataFrame, feature_paths: list[str], model_name: str,
                  model: HierarchyModel, nodes_out: str | Path, videos_out: str | Path,
                  array_key: str | None = None, batch_size: int = 16) -> None:
    """Node features of one shard's ``videos`` (video-table rows; ``feature_paths`` in the same
    order), written to ``nodes_out`` and ``videos_out`` (:mod:`steploc.intermediate`).

    Every video's file is checked against its fingerprint and loaded and validated before
    anything is computed or written: one bad file fails the whole job with an error naming it,
    and no output is left behind. A video the model cannot process is a recorded skip.
    """
    import pyarrow as pa

    from steploc.errors import VideoSkipped
    from steploc.intermediate import HIERARCHY_VIDEOS_SCHEMA, fixed_size_rows, nodes_schema, write_table
    from steploc.video_table import check_feature_paths, load_table_features

    rows = list(videos.itertuples(index=False))
    check_feature_paths(rows, feature_paths)
    if isinstance(model, HieroModel):
        model.check_dimensions([int(r.feature_dim) for r in rows], [r.video_id for r in rows],
                               [r.feature_path for r in rows])
    arrays = load_table_features(rows, array_key)
    log.info("model %r on %s, depth %d: %d video(s)", model_name,
             getattr(model, "device", "cpu"), model.depth, len(rows))

    node_ids, node_index, node_start, node_end, node_rows, video_rows = [], [], [], [], [], []
    for start in range(0, len(rows), max(1, batch_size)):
        chunk = rows[start:start + batch_size]
        outputs = model.extract_batch(arrays[start:start + batch_size],
                                      [float(r.feature_period_s) for r in chunk])
        for r, out in zip(chunk, outputs, strict=True):
            n_features = int(r.n_features)
            status, reason, n_nodes = "ok", "", 0
            if isinstance(out, VideoSkipped):
                status, reason = "skipped", out.reason
                log.warning("video %s skipped: %s", r.video_id, reason)
            else:
                first, end = node_feature_ranges(n_features, model.depth)
                if out.shape[0] != len(first):
                    raise RuntimeError(f"model returned {out.shape[0]} nodes for video "
                                       f"{r.video_id!r}, expected {len(first)}")
                check_finite_output(out, r.video_id, r.feature_path,
                                    f"hierarchy stage (model {model_name!r})")
                n_nodes = len(first)
                node_ids.extend([r.video_id] * n_nodes)
                node_index.append(np.arange(n_nodes, dtype=np.int32))
                node_start.append(first)
                node_end.append(end)
                node_rows.append(np.asarray(out, np.float32))
            video_rows.append({"video_id": r.video_id, "model": model_name, "status": status,
                               "reason": reason, "depth": model.depth, "n_features": n_features,
                               "n_nodes": n_nodes, "feature_fingerprint": r.feature_fingerprint})
            log.info("video %s: %d features -> %d nodes (%s)", r.video_id, n_features, n_nodes,
                     status)

    def concat(parts, dtype):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    nodes = pa.table({
        "video_id": pa.array(node_ids, pa.string()),
        "node": pa.array(concat(node_index, np.int32)),
        "start_feature": pa.array(concat(node_start, np.int64)),
        "end_feature": pa.array(concat(node_end, np.int64)),
        "features": fixed_size_rows(node_rows, model.hidden_size),
    }, schema=nodes_schema(model.hidden_size))
    write_table(nodes, nodes_out)
    write_table(pa.Table.from_pylist(video_rows, schema=HIERARCHY_VIDEOS_SCHEMA), videos_out)
