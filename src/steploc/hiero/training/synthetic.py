"""SYNTHETIC narrated videos, and the step-segmentation check of trained vs random weights.

Everything generated here is SYNTHETIC (random numbers with a planted structure), for tests and
for a smoke check of the training stage. It says nothing about real data.

The planted structure: a video is a sequence of steps, each of a step *type*. Its features are

    x_t = signal * A[type(t)]  +  drift_t  +  noise * e_t

where ``A`` holds one random prototype per type, ``drift`` is a slow random walk of larger
amplitude (a nuisance that follows time, not steps) and ``e`` is white noise. Narrations are
placed at random times inside each step; their vectors are ``B[type] + text_noise * e`` with
one random text prototype ``B`` per type. So the narrations tell which step type is on screen,
and L_vna can teach the model to keep the step signal and drop the drift; random weights mix
both. :func:`segmentation_quality` measures that: depth-2 node features of ``model.extract``,
:class:`steploc.segment.spectral.SpectralStepSegmenter` with K = the video's number of steps,
scored with :func:`steploc.metrics.score_video` (per-video Hungarian MoF, F1@0.50, ...).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from steploc.hiero.model import HiERO
from steploc.metrics import score_video
from steploc.segment.spectral import SpectralStepSegmenter

from .config import ConfigSource, make_config
from .data import VideoFeatures
from .loop import build_model, train
from .narrations import NarrationTable, narrations_from_arrays

SYNTHETIC_NOTE = "SYNTHETIC data from steploc.hiero.training.synthetic: not real video features"


@dataclass(frozen=True)
class SyntheticDataset:
    """SYNTHETIC videos: features, per-row step labels, narrations (clearly not real data)."""

    videos: list[VideoFeatures]
    labels: dict[str, np.ndarray]  # video id -> (T,) step number 1..K (in order of appearance)
    step_types: dict[str, np.ndarray]  # video id -> (K,) type of each step
    narrations: NarrationTable
    note: str = SYNTHETIC_NOTE

    def split(self, n_train: int) -> tuple[SyntheticDataset, SyntheticDataset]:
        """The first ``n_train`` videos and the rest, each with its own narrations."""
        ids = [v.video_id for v in self.videos]
        return self._subset(set(ids[:n_train])), self._subset(set(ids[n_train:]))

    def _subset(self, keep: set[str]) -> SyntheticDataset:
        mask = np.array([vid in keep for vid in self.narrations.video_id], dtype=bool)
        return SyntheticDataset(
            videos=[v for v in self.videos if v.video_id in keep],
            labels={k: v for k, v in self.labels.items() if k in keep},
            step_types={k: v for k, v in self.step_types.items() if k in keep},
            narrations=self.narrations.subset(mask),
        )


def synthetic_narrated_dataset(
    n_videos: int = 32,
    *,
    input_size: int = 32,
    text_size: int = 32,
    n_types: int = 6,
    steps_per_video: int = 4,
    step_seconds: tuple[float, float] = (15.0, 35.0),
    period_s: float = 0.5,
    narration_every_s: float = 3.0,
    signal: float = 1.0,
    drift: float = 2.0,
    drift_seconds: float = 20.0,
    noise: float = 0.3,
    text_noise: float = 0.3,
    seed: int = 0,
) -> SyntheticDataset:
    """Generate a SYNTHETIC narrated dataset (see the module docstring for the model).

    Each video has ``steps_per_video`` steps of distinct random types, lasting
    ``step_seconds`` (uniform) each; ``drift`` is the standard deviation of the slow nuisance
    (an AR(1) walk with correlation time ``drift_seconds``). Video ids are ``synthetic_000``...
    """
    rng = np.random.default_rng(seed)
    if not 0 < n_types < input_size:
        raise ValueError(f"need 0 < n_types < input_size, got {n_types} and {input_size}")
    # a random orthonormal basis: the step signal lives in the span of the first n_types
    # directions, the drift in the rest (so a learnt projection can remove it entirely)
    basis = np.linalg.qr(rng.standard_normal((input_size, input_size)))[0]
    signal_basis, drift_basis = basis[:, :n_types], basis[:, n_types:]
    prototypes = rng.standard_normal((n_types, n_types)) @ signal_basis.T
    prototypes /= np.linalg.norm(prototypes, axis=1, keepdims=True)
    text_prototypes = rng.standard_normal((n_types, text_size))
    text_prototypes /= np.linalg.norm(text_prototypes, axis=1, keepdims=True)
    rho = float(np.exp(-period_s / drift_seconds))
    videos, labels, types = [], {}, {}
    narr_ids, narr_times, narr_vectors = [], [], []
    for v in range(n_videos):
        vid = f"synthetic_{v:03d}"
        step_types = rng.choice(n_types, size=steps_per_video, replace=False)
        lengths = np.maximum(
            2, np.round(rng.uniform(*step_seconds, size=steps_per_video) / period_s).astype(int)
        )
        row_step = np.repeat(np.arange(steps_per_video), lengths)
        n = row_step.size
        n_drift = drift_basis.shape[1]
        walk = np.empty((n, n_drift))
        walk[0] = rng.standard_normal(n_drift)
        innovations = rng.standard_normal((n, n_drift)) * np.sqrt(1 - rho**2)
        for t in range(1, n):
            walk[t] = rho * walk[t - 1] + innovations[t]
        x = (
            prototypes[step_types[row_step]] * signal
            + drift * (walk / np.sqrt(n_drift)) @ drift_basis.T
            + noise * rng.standard_normal((n, input_size)) / np.sqrt(input_size)
        )
        videos.append(VideoFeatures(vid, x.astype(np.float32), period_s))
        labels[vid] = (row_step + 1).astype(np.int64)
        types[vid] = step_types
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]) * period_s
        for k in range(steps_per_video):
            seconds = lengths[k] * period_s
            count = max(1, int(seconds // narration_every_s))
            times = starts[k] + np.sort(rng.uniform(0.0, seconds, size=count))
            vecs = text_prototypes[step_types[k]] + text_noise * rng.standard_normal(
                (count, text_size)) / np.sqrt(text_size)
            narr_ids += [vid] * count
            narr_times.append(times)
            narr_vectors.append(vecs)
    narrations = narrations_from_arrays(
        narr_ids, np.concatenate(narr_times), np.concatenate(narr_vectors).astype(np.float32),
        source="<synthetic>",
    )
    return SyntheticDataset(videos, labels, types, narrations)


def feature_positions(video: VideoFeatures) -> torch.Tensor:
    """The training convention: feature centres ``(i + 0.5) * P`` in seconds (float32)."""
    return torch.from_numpy(
        ((np.arange(video.length, dtype=np.float64) + 0.5) * video.period_s).astype(np.float32)
    )


def segmentation_quality(
    model: HiERO,
    videos: Sequence[VideoFeatures],
    labels: Mapping[str, np.ndarray],
    *,
    depth: int = 2,
    n_clusters: Mapping[str, int] | int | None = None,
    temperature: float = 0.05,
    random_state: int = 42,
) -> pd.DataFrame:
    """Per-video step-segmentation scores of ``model``'s depth-``depth`` node features.

    For each video: ``model.extract(x, pos, depth)`` with positions in seconds (the training
    convention), the ground truth at the nodes (the label of the node's anchor row ``j * 2**d``),
    :class:`SpectralStepSegmenter` with ``n_clusters`` (default: the number of distinct labels
    of the video) and :func:`steploc.metrics.score_video`. One row per video with ``video_id``,
    ``n_nodes``, ``k`` and the metric columns (``mof``, ``f1@0.50``, ``edit``, ``iou``, ...).
    """
    was_training = model.training
    model.eval()
    rows: list[dict[str, Any]] = []
    try:
        for video in videos:
            feats = model.extract(torch.as_tensor(np.asarray(video.features)),
                                  feature_positions(video), depth=depth)
            x = feats.detach().to("cpu", torch.float64).numpy()
            gt = np.asarray(labels[video.video_id])[:: 2**depth][: x.shape[0]]
            if isinstance(n_clusters, Mapping):
                k = int(n_clusters[video.video_id])
            elif n_clusters is not None:
                k = int(n_clusters)
            else:
                k = int(np.unique(gt).size)
            pred = SpectralStepSegmenter(
                n_clusters=k, temperature=temperature, random_state=random_state
            ).fit(x).labels_
            rows.append({"video_id": video.video_id, "n_nodes": int(x.shape[0]), "k": k,
                         **score_video(pred, gt)})
    finally:
        model.train(was_training)
    return pd.DataFrame(rows)


# The small configuration of the synthetic check (reduced widths, lr 1e-3, no warm-up).
SYNTHETIC_OVERRIDES = (
    "model.input_size=32",
    "model.hidden_size=32",
    "model.pos_hidden_channels=16",
    "task.features_size=16",
    "task.text_size=32",
    "train.batch_size=4",
    "train.lr=1e-3",
    "train.lr_warmup=false",
    "train.num_epochs=30",
    "train.seed=7",
)


def trained_vs_random(
    out_dir: str | Path,
    dataset: SyntheticDataset | None = None,
    *,
    n_train: int = 16,
    config: ConfigSource = None,
    overrides: Sequence[str] = (),
    metrics: Sequence[str] = ("mof", "f1@0.50", "edit", "iou"),
) -> dict[str, Any]:
    """Train on the first ``n_train`` SYNTHETIC videos and compare the step segmentation of the
    held-out videos with the trained weights and with the same model at its random init.

    Returns ``{"trained": {metric: mean}, "random": {...}, "per_video": DataFrame (column
    ``weights`` = trained/random), "loss_first": ..., "loss_last": ..., "result": TrainResult}``;
    the metrics are means over the held-out videos. ``config=None`` uses the small synthetic
    configuration :data:`SYNTHETIC_OVERRIDES` (plus ``overrides``); a given ``config`` is used
    as is (plus ``overrides``). ``loss_first``/``loss_last``: mean loss of the first/last epoch.
    """
    dataset = dataset or synthetic_narrated_dataset()
    train_set, test_set = dataset.split(n_train)
    cfg = make_config(config, [*SYNTHETIC_OVERRIDES, *overrides] if config is None else overrides)
    period = float(train_set.videos[0].period_s)
    torch.manual_seed(cfg.train.seed)  # the same draws as train()'s initialisation
    random_model = build_model(cfg, period)
    result = train(cfg, train_set.videos, train_set.narrations, out_dir, resume=False)
    trained = segmentation_quality(result.model.cpu(), test_set.videos, test_set.labels)
    untrained = segmentation_quality(random_model, test_set.videos, test_set.labels)
    per_video = pd.concat([trained.assign(weights="trained"), untrained.assign(weights="random")],
                          ignore_index=True)
    losses = result.metrics["loss"].to_numpy()
    window = max(1, result.steps_per_epoch)
    return {
        "trained": {m: float(trained[m].mean()) for m in metrics},
        "random": {m: float(untrained[m].mean()) for m in metrics},
        "per_video": per_video,
        "loss_first": float(losses[:window].mean()),
        "loss_last": float(losses[-window:].mean()),
        "result": result,
    }
