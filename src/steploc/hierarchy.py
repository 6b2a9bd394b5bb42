"""The hierarchy stage: per-video node features at a depth of the temporal hierarchy.

Every model maps a video's ``(T, D)`` features to ``ceil(T / 2**depth)`` nodes; node ``j`` at
depth ``d`` covers features ``[j * 2**d, (j + 1) * 2**d)`` clipped to the video, and its times
are those feature indices times the video's real feature period.

Models (``type`` in the config's ``models`` entries):

* ``raw``: HiERO's encoder pooling without learned weights (``docs/hiero_spec.md`` §1.7): per
  level, neighbour average ``(x[i-1] + 2 x[i] + x[i+1]) / 4`` (``(2 x0 + x1) / 3`` and
  ``(x[n-2] + 2 x[n-1]) / 3`` at the ends), then keep the even nodes. The paper's "raw features
  + spectral clustering" baseline.
* ``hiero``: the HiERO model loaded from an official checkpoint (:mod:`steploc.hiero`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from steploc.errors import InputError

log = logging.getLogger(__name__)

#: Version of the hierarchy output layout; bump when the file contents change meaning.
OUTPUT_FORMAT = 1


def n_nodes_at_depth(n_features: int, depth: int) -> int:
    """``ceil(T / 2**depth)``: odd lengths keep their last node, nothing is padded."""
    return -(-n_features // (1 << depth))


@dataclass(frozen=True)
class NodeSpans:
    """Which features and which seconds each node covers."""

    start_feature: np.ndarray  # (n,) int64, inclusive
    end_feature: np.ndarray  # (n,) int64, exclusive
    start_s: np.ndarray  # (n,) float64
    end_s: np.ndarray  # (n,) float64


def node_spans(n_features: int, depth: int, period_s: float, duration_s: float | None = None
               ) -> NodeSpans:
    """Node ``j`` covers features ``[j 2^d, (j+1) 2^d)`` clipped to ``T``; seconds are feature
    indices times ``period_s``, the last end clipped to the video (``T * period_s``, or the
    video's duration when it is known and shorter: a last partial feature window)."""
    block = 1 << depth
    n = n_nodes_at_depth(n_features, depth)
    start = np.arange(n, dtype=np.int64) * block
    end = np.minimum(start + block, n_features)
    video_end = n_features * period_s
    if duration_s is not None and np.isfinite(duration_s):
        video_end = min(video_end, float(duration_s))
    start_s = np.minimum(start * period_s, video_end)
    end_s = np.minimum(end * period_s, video_end)
    return NodeSpans(start, end, start_s.astype(np.float64), end_s.astype(np.float64))


class HierarchyModel(Protocol):
    depth: int

    def extract_batch(self, features: list[np.ndarray], periods: list[float]) -> list:
        """Node features ``(ceil(T/2**depth), H)`` for each video, in order, or a
        :class:`~steploc.errors.VideoSkipped` in place of a video the model cannot process."""


def _nvidia_device_present() -> bool:
    """Cheap test that CUDA cannot be available (no NVIDIA driver node), so a CPU-only job need
    not import torch (about 0.8 s per job, paid for every shard of a batch)."""
    return any(Path(p).exists() for p in ("/dev/nvidiactl", "/proc/driver/nvidia/version"))


def select_device(device: str) -> str:
    """``auto`` is CUDA when available, else CPU; an explicit ``cuda`` without one is an error."""
    if device == "cpu" or (device == "auto" and not _nvidia_device_present()):
        return "cpu"
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(f"device {device!r} requested but CUDA is not available")
    return device


def neighbour_average_pool(x, levels: int):
    """Apply HiERO's pooling ``levels`` times to a ``(T, D)`` array: numpy or torch (any device),
    with the same code, using only slicing and in-place arithmetic both libraries share."""
    for _ in range(levels):
        if x.shape[0] > 1:
            pooled = 2 * x
            pooled[1:] += x[:-1]
            pooled[:-1] += x[1:]
            pooled[1:-1] /= 4  # (x[i-1] + 2 x[i] + x[i+1]) / 4 inside the sequence
            pooled[0] /= 3  # (2 x[0] + x[1]) / 3
            pooled[-1] /= 3  # (x[n-2] + 2 x[n-1]) / 3
            x = pooled
        x = x[::2]
    return x


class RawPooling:
    """The ``raw`` model: parameter-free pooling to ``depth``; numpy on CPU, torch on CUDA."""

    def __init__(self, depth: int = 2, device: str = "auto"):
        self.depth = int(depth)
        self.device = select_device(device)

    def extract_batch(self, features: list[np.ndarray], periods: list[float]) -> list[np.ndarray]:
        if self.device == "cpu":
            return [np.ascontiguousarray(neighbour_average_pool(
                np.asarray(x, dtype=np.float32), self.depth)) for x in features]
        import torch

        out = []
        with torch.inference_mode():
            for x in features:
                t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).to(self.device)
                out.append(neighbour_average_pool(t, self.depth).cpu().numpy())
        return out


class HieroModel:
    """The ``hiero`` model: our HiERO re-implementation on an official checkpoint.

    The checkpoint is loaded (safely, strictly checked) when the model is built, so a missing or
    bad file fails the job before any video is read. Videos are batched per forward.
    ``positions: index`` feeds feature indices (the notebook and the official EgoProceL
    evaluation); ``seconds`` feeds index x the video's real feature period.
    """

    def __init__(self, model_config: dict, device: str = "auto"):
        from steploc.hiero import load_checkpoint

        self.depth = int(model_config.get("depth", 2))
        self.positions = model_config.get("positions", "index")
        self.device = select_device(device)
        self.checkpoint = model_config["checkpoint"]
        self.model = load_checkpoint(self.checkpoint, device=self.device)

    def check_dimensions(self, dims: list[int], videos: list[str | None],
                         paths: list[str | None]) -> None:
        """Every video's feature dimension must be the checkpoint's input size."""
        expected = self.model.config.input_size
        for dim, video, path in zip(dims, videos, paths):
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
        positions = [make_positions(len(x), self.positions, period)
                     for x, period in zip(features, periods)]
        outputs = self.model.extract_batch(features, positions, depth=self.depth, skip_short=True)
        return [
            VideoSkipped(f"too short for HiERO with clustering: {len(x)} features "
                         f"(needs at least {self.model.min_length})")
            if out is None else out.float().cpu().numpy()
            for x, out in zip(features, outputs)
        ]


def build_model(model_config: dict, device: str = "auto") -> HierarchyModel:
    """A hierarchy model from its config entry (``{"type": "raw", "depth": 2}``, ...)."""
    kind = model_config.get("type")
    depth = int(model_config.get("depth", 2))
    if kind == "raw":
        return RawPooling(depth=depth, device=device)
    if kind == "hiero":
        return HieroModel(model_config, device=device)
    raise InputError(f"unknown model type {kind!r} (known: raw, hiero)")


@dataclass(frozen=True)
class HierarchyVideo:
    """What the hierarchy stage needs to know about one video (a row of the params table)."""

    video_id: str
    feature_path: str
    n_features: int
    feature_dim: int
    feature_period_s: float
    duration_s: float | None
    output_path: str
    array_key: str | None = None
    feature_fingerprint: str | None = None


def hierarchy_record(video: HierarchyVideo, model_name: str, depth: int,
                     node_features: np.ndarray | None, status: str = "ok", reason: str = "") -> dict:
    spans = node_spans(video.n_features, depth, video.feature_period_s, video.duration_s)
    n = len(spans.start_feature)
    if node_features is not None and node_features.shape[0] != n:
        raise RuntimeError(
            f"model returned {node_features.shape[0]} nodes for video {video.video_id!r}, "
            f"expected ceil({video.n_features}/2^{depth}) = {n}"
        )
    return {
        "format": OUTPUT_FORMAT,
        "video_id": video.video_id,
        "model": model_name,
        "status": status,
        "reason": reason,
        "depth": depth,
        "n_features": video.n_features,
        "feature_period_s": video.feature_period_s,
        "duration_s": np.nan if video.duration_s is None else video.duration_s,
        "feature_fingerprint": video.feature_fingerprint or "",
        "node_features": (np.zeros((0, 0), np.float32) if node_features is None
                          else node_features.astype(np.float32, copy=False)),
        "node_start_feature": spans.start_feature,
        "node_end_feature": spans.end_feature,
        "node_start_s": spans.start_s,
        "node_end_s": spans.end_s,
    }


def check_finite_output(values: np.ndarray, video: HierarchyVideo, stage: str) -> None:
    """Numeric overflow is caught where it happens: a stage never writes Inf/NaN."""
    finite = np.isfinite(values)
    if not finite.all():
        rows = np.flatnonzero(~finite.reshape(len(values), -1).all(axis=1))
        raise InputError(
            f"{stage} produced {(~finite).sum()} non-finite value(s) (overflow) in "
            f"{len(rows)} node(s), first at node {rows[0]}; the input features are too large "
            "for float32 arithmetic: rescale or normalise them", video=video.video_id,
            path=video.feature_path)


def run_hierarchy(videos: list[HierarchyVideo], model_name: str, model_config: dict,
                  device: str = "auto", batch_size: int = 16) -> None:
    """Compute and write the hierarchy output of each video.

    The model is built first, so a bad checkpoint fails before any video is read. Every video's
    features are loaded and validated before anything is written: one bad file fails the whole
    job with an error naming it, and no output is left behind.
    """
    from steploc.errors import VideoSkipped
    from steploc.features import load_features
    from steploc.io import write_npz

    from steploc.fingerprint import file_fingerprint

    model = build_model(model_config, device=device)
    log.info("model %r (%s) on %s, depth %d", model_name, model_config.get("type"),
             getattr(model, "device", "cpu"), model.depth)
    if isinstance(model, HieroModel):
        model.check_dimensions([v.feature_dim for v in videos], [v.video_id for v in videos],
                               [v.feature_path for v in videos])
    for v in videos:
        if v.feature_fingerprint is not None and file_fingerprint(v.feature_path) != v.feature_fingerprint:
            raise InputError("the feature file changed while the run was going on (its content "
                             "differs from when the video table was built); run again",
                             video=v.video_id, path=v.feature_path)
    arrays = [
        load_features(v.feature_path, v.array_key, v.video_id, (v.n_features, v.feature_dim))
        for v in videos
    ]
    records = []
    for start in range(0, len(videos), max(1, batch_size)):
        chunk = videos[start:start + batch_size]
        outputs = model.extract_batch(arrays[start:start + batch_size],
                                      [v.feature_period_s for v in chunk])
        for v, out in zip(chunk, outputs):
            if isinstance(out, VideoSkipped):
                log.warning("video %s skipped: %s", v.video_id, out.reason)
                records.append((v, hierarchy_record(v, model_name, model.depth, None,
                                                    "skipped", out.reason)))
            else:
                check_finite_output(out, v, f"hierarchy stage (model {model_name!r})")
                records.append((v, hierarchy_record(v, model_name, model.depth, out)))
    for v, record in records:
        write_npz(v.output_path, record)
        log.info("video %s: %d features -> %d nodes (%s)", v.video_id, v.n_features,
                 len(record["node_start_feature"]), record["status"])
