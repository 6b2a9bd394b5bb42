"""The vendored HiERO training parity fixture (tests/fixtures/hiero_training) and helpers.

The fixture was made with the reference HiERO training code on CPU (see its README.md): a
batch of 2 samples (part 1 of two fake videos), 12 narrations with random 768-d vectors, reduced
widths, dropout 0, lr 1e-3, no warm-up, 3 steps.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from steploc.hiero.training import (
    TrainingConfig,
    VideoFeatures,
    build_model,
    build_task,
    make_config,
    narrations_from_arrays,
)
from steploc.hiero.training.data import TrainingBatch

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "hiero_training"
PERIOD = 16 / 30
STEPS = 3
# fixture_meta.json["hydra_overrides"], in this package's key names
FIXTURE_OVERRIDES = (
    "model.hidden_size=32",
    "model.pos_hidden_channels=16",
    "task.features_size=16",
    "model.dropout=0.0",
    "train.batch_size=2",
    "train.num_epochs=3",
    "train.lr_warmup=false",
    "train.lr=1e-3",
    "data.shuffle=false",  # the fixture's loader did not shuffle (README §3.5)
)


@lru_cache(maxsize=1)
def arrays() -> dict[str, np.ndarray]:
    with np.load(FIXTURE_DIR / "hiero_training.npz") as data:
        return {key: data[key] for key in data.files}


@lru_cache(maxsize=1)
def meta() -> dict:
    return json.loads((FIXTURE_DIR / "fixture_meta.json").read_text())


def fixture_config(*overrides: str) -> TrainingConfig:
    return make_config(overrides=[*FIXTURE_OVERRIDES, *overrides])


def fixture_batch() -> TrainingBatch:
    z = arrays()
    sample = z["in/batch"]
    return TrainingBatch(
        x=torch.from_numpy(z["in/x"].astype(np.float32)),
        positions=[torch.from_numpy(z["in/pos"][sample == b]) for b in (0, 1)],
        narration_times=torch.from_numpy(z["in/narr_t"]),
        narration_sample=torch.from_numpy(z["in/narr_batch"].astype(np.int64)),
        text=torch.from_numpy(z["in/text_emb"]),
        samples=[("vidA", 1), ("vidB", 1)],
    )


def weights(prefix: str) -> dict[str, np.ndarray]:
    """``{model.<key> | task.<key>: array}`` of ``init``, ``after1`` .. ``after3``."""
    z = arrays()
    return {name: z[f"{prefix}/{name}"] for name in z["state_names"].tolist()}


def model_and_task(prefix: str = "init", config: TrainingConfig | None = None):
    config = config or fixture_config()
    model, task = build_model(config), build_task(config)
    state = weights(prefix)
    model.load_state_dict({k: torch.from_numpy(state[f"model.{k}"]) for k in model.state_dict()})
    task.load_state_dict({k: torch.from_numpy(state[f"task.{k}"]) for k in task.state_dict()})
    return model.train(), task.train()


def fixture_videos() -> list[VideoFeatures]:
    """The two fake videos: zeros before row 562 (never read), then the fixture features."""
    z = arrays()
    videos = []
    for b, vid in enumerate(z["in/video_uid"].tolist()):
        x = z["in/x"][z["in/batch"] == b]
        i0 = int(z["in/i0"][b])
        features = np.zeros((i0 + x.shape[0], x.shape[1]), dtype=np.float16)
        features[i0:] = x
        videos.append(VideoFeatures(vid, features, PERIOD))
    return videos


def fixture_narrations():
    rows = meta()["narrations"]
    return narrations_from_arrays(
        [r["video_uid"] for r in rows], [r["time_csv"] for r in rows], arrays()["in/text_emb"]
    )
