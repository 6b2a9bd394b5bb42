"""HiERO checkpoints with RANDOM weights, for demos and tests only. NOT a trained model.

Nothing here gives meaningful features: the weights come from the parity fixture's numpy recipe
(``tests/fixtures/hiero_parity/README.md``, "Weight recipe"), so they are reproducible and the
tiny default width reproduces the fixture's ``hiero_random_egovlp.pth`` exactly. The files are
written in the official ``train.py`` format (docs/hiero.md §2), so the real loader is exercised.
Bare ``§x`` numbers below refer to ``docs/hiero.md``.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .checkpoint import CONV_TARGET, MODEL_TARGET
from .model import HiERO, HiEROConfig

FIXTURE_WEIGHT_SEED = 20250512  # fixture_meta.json["weight_seed"]
RANDOM_WEIGHTS_NOTE = (
    "RANDOM WEIGHTS written by steploc.hiero.testing.write_random_checkpoint: "
    "NOT a trained HiERO model, for demos and tests only"
)


def recipe_state_dict(
    shapes: Iterable[tuple[str, Sequence[int]]], seed: int = FIXTURE_WEIGHT_SEED
) -> OrderedDict[str, torch.Tensor]:
    """Random weights by the fixture recipe, drawn key by key in the given order.

    ``z = RandomState(seed).standard_normal(shape)``; 2-D ``*.weight`` -> ``z / sqrt(shape[1])``,
    1-D ``*.weight`` (LayerNorm gamma) -> ``1 + 0.1 z``, anything else -> ``0.1 z``; float32.
    """
    rng = np.random.RandomState(seed)
    state: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, shape in shapes:
        shape = tuple(int(size) for size in shape)
        z = rng.standard_normal(shape)
        if key.endswith(".weight") and len(shape) == 2:
            value = z / np.sqrt(shape[1])
        elif key.endswith(".weight") and len(shape) == 1:
            value = 1.0 + 0.1 * z
        else:
            value = 0.1 * z
        state[key] = torch.from_numpy(value.astype(np.float32))
    return state


def full_width_state_dict(
    fixture_meta: str | Path | Mapping[str, Any], seed: int | None = None
) -> OrderedDict[str, torch.Tensor]:
    """The full-width (hidden 768) egovlp weights of the fixture's ``full.*`` cases (~100 MB).

    ``fixture_meta`` is ``fixture_meta.json`` (path or parsed); its ``full_state_dict`` gives the
    key order and shapes, its ``weight_seed`` the seed unless ``seed`` is given.
    """
    meta = fixture_meta
    if not isinstance(meta, Mapping):
        meta = json.loads(Path(meta).read_text())
    entries = meta["full_state_dict"]
    shapes = entries.items() if isinstance(entries, Mapping) else entries
    return recipe_state_dict(shapes, meta.get("weight_seed", FIXTURE_WEIGHT_SEED) if seed is None else seed)


def random_model(
    hidden_size: int = 768, pos_hidden_channels: int = 256, seed: int = FIXTURE_WEIGHT_SEED, **kwargs: Any
) -> HiERO:
    """A :class:`HiERO` with RANDOM recipe weights (eval mode), without going through a file."""
    model = HiERO(HiEROConfig(hidden_size=hidden_size, pos_hidden_channels=pos_hidden_channels), **kwargs)
    shapes = [(key, value.shape) for key, value in model.state_dict().items()]
    model.load_state_dict(recipe_state_dict(shapes, seed), strict=True)
    return model.eval()


def egovlp_train_config(hidden_size: int = 768, pos_hidden_channels: int = 256, features_size: int = 768):
    """The Hydra-composed ``configs/egovlp.yaml`` job config of hiero.md §2 as an ``omegaconf.DictConfig``:
    struct flag on, ``${model.hidden_size}``-style interpolations unresolved, no ``hydra`` node."""
    from omegaconf import OmegaConf

    config = OmegaConf.create(
        {
            "model": {
                "conv": {
                    "_target_": CONV_TARGET,
                    "bias": True,
                    "pos_hidden_channels": pos_hidden_channels,
                    "aggr": "mean",
                    "pos_act": "tanh",
                    "use_signed_temporal_distance": True,
                    "use_pos_attr": True,
                    "in_channels": "${model.hidden_size}",
                    "out_channels": "${model.hidden_size}",
                },
                "_target_": MODEL_TARGET,
                "hidden_size": hidden_size,
                "n_layers": 3,
                "k": 1.0,
                "depth": 3,
                "input_projection": True,
                "dropout": 0.1,
                "pool": "mean",
                "n_clusters": 4,
                "clustering_sample_points": 32,
                "clustering_at_inference": False,
            },
            "task": {
                "_target_": "models.tasks.hiero.HiEROTask",
                "input_size": "${model.hidden_size}",
                "features_size": features_size,
                "dropout": 0,
                "loss_weight": 1.0,
                "proc_loss_weight": 1.0,
                "temperature": 0.05,
                "text_encoder": "distillbert",
                "text_encoder_weights": "pretrained/egovlp_text.pth",
                "text_encoder_full_ft": False,
                "contrastive_mode": "sym",
                "alpha": 1.0,
                "beta": -1.0,
            },
            "device": "cuda",
            "seed": 1234567891,
            "resume_from": None,
            "save_to": "checkpoints",
            "train_dataset": {"_target_": "data.egoclip.EgoClipDataset", "root": "data/ego4d"},
            "val_dataset": {
                "_target_": "data.egomcq.EgoMCQDataset",
                "root": "${train_dataset.root}",
                "context_window_size": 4,
            },
            "batch_size": 8,
            "num_workers": 1,
            "persistent_workers": True,
            "num_epochs": 15,
            "steps_per_round": 1000,
            "lr_warmup": True,
            "lr_warmup_epochs": 5,
            "lr_min": 1e-8,
            "optimizer": {"_target_": "torch.optim.Adam", "lr": 1e-5, "weight_decay": 1e-5},
            "gradient_clip": 1.0,
            "save_model": False,
            "features": {"name": "egovlp", "stride": 16, "window": 16, "fps": 30.0, "size": 256},
        }
    )
    OmegaConf.set_struct(config, True)
    return config


def _random_task_state_dict(hidden_size: int, features_size: int, seed: int) -> OrderedDict[str, torch.Tensor]:
    """A small stand-in for ``HiEROTask``'s state: projector and text_proj (no DistilBERT)."""
    shapes = [
        ("projector.net.1.weight", (hidden_size, hidden_size)),
        ("projector.net.1.bias", (hidden_size,)),
        ("projector.net.2.weight", (hidden_size,)),
        ("projector.net.2.bias", (hidden_size,)),
        ("projector.net.4.weight", (hidden_size, hidden_size)),
        ("projector.net.4.bias", (hidden_size,)),
        ("text_proj.0.weight", (features_size, features_size)),
        ("text_proj.0.bias", (features_size,)),
        ("text_proj.2.weight", (hidden_size, features_size)),
        ("text_proj.2.bias", (hidden_size,)),
    ]
    return recipe_state_dict(shapes, seed)


def _optimizer_and_schedulers(tensors: list[torch.Tensor]) -> tuple[dict, dict, dict]:
    """Adam state after one zero-gradient step, plus LinearLR/CosineAnnealingLR states (§2).

    Copies of the weights are stepped so that the saved weights stay exactly the recipe's.
    """
    params = [nn.Parameter(tensor.clone()) for tensor in tensors]
    one_dim = [p for p in params if p.dim() == 1]
    others = [p for p in params if p.dim() != 1]
    optimizer = torch.optim.Adam(
        [{"params": one_dim, "weight_decay": 0.0}, {"params": others, "weight_decay": 1e-5}], lr=1e-5
    )
    steps_per_epoch = 100  # fake epoch length
    warmup = torch.optim.lr_scheduler.LinearLR(
        optimizer, start_factor=0.001, end_factor=1.0, total_iters=5 * steps_per_epoch
    )
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=10 * steps_per_epoch, eta_min=1e-8)
    for p in params:
        p.grad = torch.zeros_like(p)
    optimizer.step()
    return optimizer.state_dict(), warmup.state_dict(), cosine.state_dict()


def write_random_checkpoint(
    path: str | Path,
    hidden_size: int = 32,
    pos_hidden_channels: int = 16,
    seed: int = FIXTURE_WEIGHT_SEED,
) -> Path:
    """Write a checkpoint with RANDOM weights in the official ``train.py`` format; returns the path.

    Top-level keys ``model, task, optimizer, warmup_scheduler, scheduler, step, config`` (hiero.md §2);
    ``config`` is a real ``omegaconf.DictConfig`` of the egovlp job with unresolved
    ``${model.hidden_size}`` interpolations, plus a ``note`` saying the weights are random.
    ``model`` follows the fixture's weight recipe: with the defaults it equals the ``model`` of
    the fixture's ``hiero_random_egovlp.pth``. ``task`` holds a small random stand-in (projector
    and text_proj only, seed + 1). Not a trained model: the features it gives are meaningless.
    """
    path = Path(path)
    model_state = random_model(hidden_size, pos_hidden_channels, seed).state_dict()
    task_state = _random_task_state_dict(hidden_size, hidden_size, seed + 1)
    optimizer, warmup, scheduler = _optimizer_and_schedulers(
        list(model_state.values()) + list(task_state.values())
    )
    config = egovlp_train_config(hidden_size, pos_hidden_channels, features_size=hidden_size)
    from omegaconf import open_dict

    with open_dict(config):
        config.note = RANDOM_WEIGHTS_NOTE
    checkpoint = {
        "model": model_state,
        "task": task_state,
        "optimizer": optimizer,
        "warmup_scheduler": warmup,
        "scheduler": scheduler,
        "step": 1000,
        "config": config,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, path)
    return path
