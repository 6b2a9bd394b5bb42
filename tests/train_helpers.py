"""Helpers of the train-stage tests: SYNTHETIC narration tables for the tiny recordings of
conftest, and a tiny training config (reduced widths, a few steps).

Everything here is SYNTHETIC (random vectors at random times); it tests the plumbing only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

#: Width of the SYNTHETIC narration vectors (task.text_size of the tiny config).
TEXT_SIZE = 8

#: A tiny training config for 16-d SYNTHETIC features at 1 s per row (conftest): 20 s parts, so
#: the 40-52 s recordings give 2-3 samples each; batch 2, 2 epochs, no warm-up.
TINY_TRAIN_OVERRIDES = [
    "model.hidden_size=16",
    "model.pos_hidden_channels=8",
    "task.features_size=8",
    f"task.text_size={TEXT_SIZE}",
    "data.part_seconds=20",
    "train.batch_size=2",
    "train.num_epochs=2",
    "train.lr=1e-3",
    "train.lr_warmup=false",
    "train.seed=5",
]


def write_synthetic_narrations(path: Path, durations: dict[str, float], *, every_s: float = 3.0,
                               extra: list[tuple[str, float]] = (), seed: int = 0) -> Path:
    """Write a SYNTHETIC narrations Parquet (``video_id``, ``time_s``, ``vector``): one narration
    every ``every_s`` seconds of each video (jittered), then the ``extra`` (video, time) rows."""
    rng = np.random.default_rng(seed)
    ids, times = [], []
    for video, duration in durations.items():
        t = np.arange(0.5, duration - 0.5, every_s) + rng.uniform(0, 0.4, size=1)
        ids += [video] * len(t)
        times += t.tolist()
    for video, time in extra:
        ids.append(video)
        times.append(time)
    vectors = rng.standard_normal((len(ids), TEXT_SIZE)).astype(np.float32)
    frame = pd.DataFrame({"video_id": ids, "time_s": times, "vector": list(vectors)})
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, index=False)
    return path
