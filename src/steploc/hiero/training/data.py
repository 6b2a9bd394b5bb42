"""Training samples and batches (docs/training.md §1.2-1.4), from per-video features and narrations.

* One sample is one ``part_seconds`` (300 s) part of one video: ALL its feature rows (no crop,
  no padding) plus every narration whose timestamp falls in ``[t0, t1)``. Parts without a
  narration are dropped, and so are samples shorter than the model can cluster (T < 5 for
  depth 3; the reference crashes or mislabels them, training.md §7.9: a deliberate fix).
* The feature slice is ``[floor(t0 / P), min(T, floor((t0 + 300) / P)))`` for a feature period of
  P seconds (the reference hard-codes P = 16/30; its ``ceil`` is a no-op). Exact multiples are
  recognised despite float rounding, so P = 16/30 gives the reference boundaries 0, 562, 1125,
  1687, 2250, ...
* Positions are the centres of the features in **seconds from the video start**,
  ``(i + 0.5) * P`` (rounded once to float32; the reference's float32 arithmetic may differ by
  one ulp), so the +-1 s narration window and the radius-1 s graphs see real seconds.
* Batches are ``batch_size`` samples; the last partial batch of an epoch is dropped. The order is
  a seeded permutation per epoch (``shuffle``) or the sorted (video, part) order, and is a pure
  function of (seed, step): resuming at any step reproduces the same batches.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from steploc.errors import InputError

from .narrations import NarrationTable, validate_narrations


@dataclass(frozen=True)
class VideoFeatures:
    """One video: ``features`` (T, D) (numpy array, memory map or tensor) at ``period_s`` seconds
    per row (the stride of the feature extractor; EgoVLP features: 16 / 30)."""

    video_id: str
    features: Any
    period_s: float

    @classmethod
    def from_file(cls, video_id: str, path: str | Path, period_s: float) -> VideoFeatures:
        """A ``.npy`` (memory-mapped) or ``.pt``/``.pth`` (one tensor, ``weights_only``) file."""
        path = Path(path)
        if not path.is_file():
            raise InputError("no such feature file", video=video_id, path=path)
        try:
            if path.suffix == ".npy":
                features: Any = np.load(path, mmap_mode="r", allow_pickle=False)
            else:
                features = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise InputError(f"cannot read the features: {error}", video=video_id,
                             path=path) from error
        if not hasattr(features, "shape") or len(features.shape) != 2:
            raise InputError("features must be one 2-D (T, D) array", video=video_id, path=path)
        return cls(video_id, features, float(period_s))

    @property
    def length(self) -> int:
        return int(self.features.shape[0])

    @property
    def duration_s(self) -> float:
        return self.length * self.period_s


def _floor_div(value: float, period: float) -> int:
    """``floor(value / period)``, treating a quotient within 1e-9 of an integer as that integer."""
    quotient = value / period
    nearest = round(quotient)
    if abs(quotient - nearest) <= 1e-9 * max(1.0, abs(quotient)):
        return int(nearest)
    return math.floor(quotient)


@dataclass(frozen=True)
class Sample:
    video_id: str
    part: int
    t0: float  # part start, seconds
    i0: int  # first feature row of the part
    i1: int  # one past the last feature row
    period_s: float
    narrations: np.ndarray  # (M,) row indices into the NarrationTable, in time order

    @property
    def length(self) -> int:
        return self.i1 - self.i0

    def positions(self) -> np.ndarray:
        """(T,) float32 feature centres in seconds from the video start."""
        return ((np.arange(self.length, dtype=np.float64) + self.i0 + 0.5) * self.period_s).astype(
            np.float32
        )


@dataclass(frozen=True)
class DataReport:
    n_videos: int
    n_videos_without_narrations: int
    n_samples: int
    n_parts_without_narrations: int
    n_samples_too_short: int
    n_narrations_in_samples: int
    n_narrations_in_short_samples: int


def build_samples(
    videos: Sequence[VideoFeatures],
    narrations: NarrationTable,
    part_seconds: float = 300.0,
    min_features: int = 5,
) -> tuple[list[Sample], DataReport]:
    """Samples in (video id, part) order, and counts of what was dropped.

    ``narrations`` must already be validated against the videos (every id known, every time in
    ``[0, duration)``).
    """
    by_video: dict[str, list[int]] = {}
    for i, vid in enumerate(narrations.video_id.tolist()):
        by_video.setdefault(vid, []).append(i)
    samples: list[Sample] = []
    no_narration_videos = empty_parts = short = in_short = 0
    for video in sorted(videos, key=lambda v: v.video_id):
        rows = np.asarray(by_video.get(video.video_id, []), dtype=np.int64)
        if rows.size == 0:
            no_narration_videos += 1
            continue
        times = narrations.time_s[rows]
        order = np.argsort(times, kind="stable")
        rows, times = rows[order], times[order]
        period, length = video.period_s, video.length
        duration = length * period
        for part in range(int(duration // part_seconds) + 1):
            t0, t1 = part * part_seconds, min((part + 1) * part_seconds, duration)
            inside = (times >= t0) & (times < t1)
            if not inside.any():
                empty_parts += 1
                continue
            i0 = _floor_div(t0, period)
            i1 = min(length, _floor_div(t0 + part_seconds, period))
            if i1 - i0 < min_features:
                short += 1
                in_short += int(inside.sum())
                continue
            samples.append(Sample(video.video_id, part, t0, i0, i1, period, rows[inside]))
    report = DataReport(
        n_videos=len(videos),
        n_videos_without_narrations=no_narration_videos,
        n_samples=len(samples),
        n_parts_without_narrations=empty_parts,
        n_samples_too_short=short,
        n_narrations_in_samples=int(sum(s.narrations.size for s in samples)),
        n_narrations_in_short_samples=in_short,
    )
    return samples, report


@dataclass
class TrainingBatch:
    """A batch of samples, concatenated (the reference's PyG batch, training.md §1.4)."""

    x: Tensor  # (sum T, D) float32
    positions: list[Tensor]  # per sample (T_b,) float32 seconds
    narration_times: Tensor  # (sum M,) float32 seconds
    narration_sample: Tensor  # (sum M,) int64 sample index in the batch
    text: Tensor  # (sum M, text_size) float32 pre-computed narration vectors
    samples: list[tuple[str, int]]  # (video_id, part) of each sample

    def to(self, device: torch.device | str) -> TrainingBatch:
        return TrainingBatch(
            self.x.to(device),
            [p.to(device) for p in self.positions],
            self.narration_times.to(device),
            self.narration_sample.to(device),
            self.text.to(device),
            self.samples,
        )

    @property
    def num_nodes(self) -> int:
        return int(self.x.shape[0])

    @property
    def num_narrations(self) -> int:
        return int(self.narration_times.shape[0])


def _as_videos(
    videos: Iterable[VideoFeatures] | Mapping[str, VideoFeatures],
) -> list[VideoFeatures]:
    items = list(videos.values()) if isinstance(videos, Mapping) else list(videos)
    seen: set[str] = set()
    for video in items:
        if not isinstance(video, VideoFeatures):
            raise TypeError(f"videos must be VideoFeatures, got {type(video).__name__}")
        if video.video_id in seen:
            raise InputError("the same video id is given twice", video=video.video_id)
        seen.add(video.video_id)
    return items


class TrainingData:
    """Validated videos + narrations -> samples -> deterministic batches."""

    def __init__(
        self,
        videos: Iterable[VideoFeatures] | Mapping[str, VideoFeatures],
        narrations: NarrationTable,
        *,
        input_size: int,
        text_size: int,
        batch_size: int,
        part_seconds: float = 300.0,
        min_features: int = 5,
        shuffle: bool = True,
        seed: int = 0,
        unknown_videos: str = "error",
        outside: str = "error",
    ) -> None:
        self.videos = {v.video_id: v for v in _as_videos(videos)}
        for video in self.videos.values():
            shape = tuple(video.features.shape)
            if len(shape) != 2 or shape[1] != input_size:
                raise InputError(
                    f"features must be (T, {input_size}) (model.input_size), got {shape}",
                    video=video.video_id,
                )
            if not (isinstance(video.period_s, (int, float)) and video.period_s > 0
                    and math.isfinite(video.period_s)):
                raise InputError(f"feature period must be a positive number of seconds, got "
                                 f"{video.period_s!r}", video=video.video_id)
        durations = {vid: v.duration_s for vid, v in self.videos.items()}
        self.narrations = validate_narrations(
            narrations, durations, text_size,
            unknown_videos=unknown_videos,  # type: ignore[arg-type]
            outside=outside,  # type: ignore[arg-type]
        )
        self.samples, self.report = build_samples(
            list(self.videos.values()), self.narrations, part_seconds, min_features
        )
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.steps_per_epoch = len(self.samples) // batch_size
        if self.steps_per_epoch == 0:
            raise InputError(
                f"only {len(self.samples)} training samples (narrated {part_seconds:g} s parts "
                f"with >= {min_features} features) for a batch size of {batch_size}: no full "
                "batch (the last partial batch is dropped, as in the reference)"
            )
        self._order_cache: tuple[int, np.ndarray] | None = None
        self._fingerprint: str | None = None

    def __len__(self) -> int:
        return len(self.samples)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """The sample order of ``epoch``: a permutation seeded by (seed, epoch), or 0..n-1."""
        if not self.shuffle:
            return np.arange(len(self.samples))
        if self._order_cache is not None and self._order_cache[0] == epoch:
            return self._order_cache[1]
        state = np.random.SeedSequence([self.seed & 0xFFFFFFFF, epoch]).generate_state(2)
        generator = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
        order = torch.randperm(len(self.samples), generator=generator).numpy()
        self._order_cache = (epoch, order)
        return order

    def batch_indices(self, step: int) -> list[int]:
        epoch, k = divmod(step, self.steps_per_epoch)
        order = self.epoch_order(epoch)
        return order[k * self.batch_size : (k + 1) * self.batch_size].tolist()

    def batch(self, step: int) -> TrainingBatch:
        return self.make_batch([self.samples[i] for i in self.batch_indices(step)])

    def make_batch(self, samples: Sequence[Sample]) -> TrainingBatch:
        xs, positions, times, owner, rows = [], [], [], [], []
        table = self.narrations
        for b, sample in enumerate(samples):
            feats = self.videos[sample.video_id].features[sample.i0 : sample.i1]
            x = torch.as_tensor(np.asarray(feats) if not isinstance(feats, Tensor) else feats)
            x = x.to(torch.float32)
            if not bool(torch.isfinite(x).all()):
                raise InputError(
                    f"feature rows {sample.i0}..{sample.i1 - 1} hold NaN or infinite values",
                    video=sample.video_id,
                )
            xs.append(x)
            positions.append(torch.from_numpy(sample.positions()))
            times.append(table.time_s[sample.narrations])
            owner.append(np.full(sample.narrations.size, b, dtype=np.int64))
            rows.append(table.vector_row[sample.narrations])
        vector_rows = np.concatenate(rows)
        text = np.asarray(table.vectors[vector_rows], dtype=np.float32)
        return TrainingBatch(
            x=torch.cat(xs),
            positions=positions,
            narration_times=torch.from_numpy(np.concatenate(times).astype(np.float32)),
            narration_sample=torch.from_numpy(np.concatenate(owner)),
            text=torch.from_numpy(text),
            samples=[(s.video_id, s.part) for s in samples],
        )

    def fingerprint(self) -> str:
        """sha256 over what determines the batches: samples, narration times, vector rows
        (not the vector values themselves). Computed once."""
        if self._fingerprint is None:
            self._fingerprint = self._compute_fingerprint()
        return self._fingerprint

    def _compute_fingerprint(self) -> str:
        digest = hashlib.sha256()
        digest.update(f"{self.batch_size}|{self.shuffle}|{self.seed}|".encode())
        for s in self.samples:
            digest.update(f"{s.video_id}|{s.part}|{s.i0}|{s.i1}|{s.period_s!r}|".encode())
            digest.update(np.ascontiguousarray(self.narrations.time_s[s.narrations]).tobytes())
            digest.update(np.ascontiguousarray(self.narrations.vector_row[s.narrations]).tobytes())
        return digest.hexdigest()
