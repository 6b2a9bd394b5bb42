"""SYNTHETIC demo features, generated deterministically from the real CaptainCook4D step times.

These are not video features. They exist so that the whole pipeline can run, and be tested,
without the (large, separately licensed) feature releases. Each recording gets a ``(T, 256)``
float32 array at 1 feature per second, ``T`` following CaptainCook4D's 1 s / 1 s extraction
(``ceil(duration)``, dropping a last partial window shorter than 0.04 s). A feature is:

* inside an annotated step: the recipe's prototype of that step (the same vector in every
  recording of the recipe), drifting linearly towards a second per-step vector over the step;
* outside every step (unannotated gaps): a per-recording background vector;
* plus isotropic Gaussian noise.

Where annotated steps overlap, the later-starting step wins (the ground-truth painting rule).
Files are named ``<recording_id>_synthetic.npy`` so nobody mistakes them for real features.
"""

from __future__ import annotations

import math
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from steploc.errors import InputError

SYNTHETIC_SUFFIX = "_synthetic.npy"
SYNTHETIC_PATTERN = "{video_id}" + SYNTHETIC_SUFFIX


def _rng(*keys: object, seed: int) -> np.random.Generator:
    return np.random.default_rng([seed, *(zlib.crc32(str(k).encode()) for k in keys)])


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def n_features_1s(duration_s: float) -> int:
    """Rows of a 1 s window / 1 s stride extraction (a last partial window >= 0.04 s is kept)."""
    full = math.floor(duration_s)
    return full + (1 if duration_s - full >= 0.04 else 0)


def synthetic_features(video_id: str, activity_id: int, duration_s: float, steps: pd.DataFrame,
                       dim: int = 256, noise: float = 0.35, drift: float = 0.5,
                       seed: int = 0) -> np.ndarray:
    """Synthetic ``(T, dim)`` features for one recording.

    ``steps`` holds the recording's annotated rows (``step_id``, ``start_s``, ``end_s``,
    ``is_missing``).
    """
    n = n_features_1s(duration_s)
    centres = np.arange(n) + 0.5
    x = np.repeat(_unit(_rng("background", video_id, seed=seed).standard_normal(dim))[None], n, 0)
    performed = steps[~steps["is_missing"]].sort_values("start_s", kind="stable")
    for step in performed.itertuples(index=False):
        inside = (centres >= step.start_s) & (centres < step.end_s)
        if not inside.any():
            continue
        rng = _rng("step", activity_id, step.step_id, seed=seed)
        proto, towards = _unit(rng.standard_normal((2, dim)))
        progress = (centres[inside] - step.start_s) / (step.end_s - step.start_s)
        x[inside] = _unit(proto[None] + drift * progress[:, None] * towards[None])
    x += noise / math.sqrt(dim) * _rng("noise", video_id, seed=seed).standard_normal((n, dim))
    return x.astype(np.float32)


def write_demo_features(params_config: dict, out_dir: str | Path, seed: int = 0,
                        overwrite: bool = False) -> list[Path]:
    """Generate the synthetic features of every selected recording into ``out_dir``.

    Uses the same annotation files and video selection as the workflow config. Existing files
    are kept (generation is deterministic) unless ``overwrite``.
    """
    from steploc import annotations as ann
    from steploc.datasets import load_dataset
    from steploc.datasets.captaincook4d import required_annotation_path
    from steploc.io import atomic_path

    annotations = params_config["annotations"]
    if annotations.get("format", "captaincook4d") != "captaincook4d":
        raise InputError("demo features are synthesised from CaptainCook4D step times: "
                         "annotations.format must be captaincook4d")
    recordings = load_dataset(annotations, params_config.get("videos", {})).videos
    steps = ann.read_step_annotations(required_annotation_path(annotations, "step_annotations"))
    durations = ann.read_video_durations(required_annotation_path(annotations, "video_metadata"))
    by_recording = dict(tuple(steps.groupby("recording_id")))
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for rec in recordings.itertuples(index=False):
        path = out_dir / f"{rec.video_id}{SYNTHETIC_SUFFIX}"
        if path.exists() and not overwrite:
            continue
        feats = synthetic_features(rec.video_id, rec.activity_id,
                                   float(durations[rec.video_id]),
                                   by_recording.get(rec.video_id, steps.iloc[:0]), seed=seed)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, feats)
        written.append(path)
    return written
