"""Structured training configuration (Hydra style, no Hydra app needed).

The configuration is a tree of dataclasses that ``omegaconf.OmegaConf.structured`` accepts, so a
YAML file or dotlist overrides such as ``train.lr=1e-4`` are type-checked against it:

>>> cfg = make_config(overrides=["train.lr=1e-4", "train.batch_size=4"])
>>> cfg.train.lr
0.0001

The defaults are the official EgoVLP recipe of the reference (``configs/egovlp.yaml`` +
``configs/defaults.yaml``): hidden 768, dropout 0.1, Adam lr 1e-5, weight decay 1e-5 on tensors
with >= 2 dims, clipping 1.0, batch 8, 15 epochs with 5 of linear warm-up and cosine decay to
1e-8, seed 1234567891, a checkpoint every 1000 steps. Key names follow the reference where one
exists (its name is given in the field comment).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from steploc.errors import InputError


@dataclass
class ModelConfig:
    """HiERO backbone sizes (reference ``model.*``)."""

    input_size: int = 256  # features.size: width D of the per-video feature arrays
    hidden_size: int = 768  # model.hidden_size
    pos_hidden_channels: int = 256  # model.conv.pos_hidden_channels
    n_layers: int = 3  # model.n_layers (TDGC layers per stage)
    depth: int = 3  # model.depth
    radius: float = 1.0  # model.k: radius in seconds of the temporal graphs
    dropout: float = 0.1  # model.dropout: stage-input dropout, active in training


@dataclass
class TaskConfig:
    """The trainable heads and the two losses (reference ``task.*``)."""

    features_size: int = 768  # task.features_size: width of projector / text_proj
    text_size: int = 768  # width of the pre-computed narration vectors (DistilBERT [CLS]: 768)
    projector_dropout: float = 0.0  # task.dropout
    temperature: float = 0.05  # task.temperature (both losses)
    vna_weight: float = 1.0  # task.loss_weight (L_vna)
    ft_weight: float = 1.0  # task.proc_loss_weight (L_ft)
    alpha: float = 1.0  # task.alpha: L_vna positives lie within 2**0 / alpha seconds
    # Optional state dict of the frozen DistilBERT (EgoVLP ``egovlp_text.pth``). Its tensors are
    # copied verbatim as ``task.text_model.*`` into the official checkpoint, which the official
    # scripts need for their strict load. It is never used for training.
    text_model_weights: str | None = None


@dataclass
class DataConfig:
    """How samples are cut from the videos (reference ``data/egoclip.py``)."""

    part_seconds: float = 300.0  # one sample = one 300 s part of one video
    # Samples with fewer feature rows are dropped (the reference mishandles T <= 4,
    # training.md §7.9).
    # None: the model's minimum, 2**(depth - 1) + 1 (5 for depth 3).
    min_sample_features: int | None = None
    shuffle: bool = True  # reshuffle the samples every epoch (seeded, resumable)


@dataclass
class TrainConfig:
    """Optimisation, schedule, seeds, device and checkpointing (reference top-level keys)."""

    seed: int = 1234567891  # seed
    device: str = "cpu"  # device ("cpu", "cuda", "cuda:1", ...)
    batch_size: int = 8  # batch_size (samples per step; the last partial batch is dropped)
    num_epochs: int = 15  # num_epochs
    max_steps: int | None = None  # stop early after this many steps (the schedule is unchanged)
    lr: float = 1e-5  # optimizer.lr
    weight_decay: float = 1e-5  # optimizer.weight_decay (coupled L2, >= 2-D tensors only)
    beta1: float = 0.9  # Adam betas[0]
    beta2: float = 0.999  # Adam betas[1]
    eps: float = 1e-8
    grad_clip: float = 1.0  # gradient_clip (total L2 norm; <= 0 disables)
    lr_warmup: bool = True  # lr_warmup
    lr_warmup_epochs: int = 5  # lr_warmup_epochs
    lr_warmup_start_factor: float = 0.001  # LinearLR start factor
    lr_min: float = 1e-8  # lr_min (cosine floor)
    # True: reproduce the reference's lr sequence exactly, including its 2-step lag (spurious
    # 0.001*lr at step 0, a possibly NEGATIVE lr at step 1, cosine never reaching lr_min).
    # False (default): the intended schedule, the reference shifted by those 2 steps.
    reference_schedule: bool = False
    save_every: int = 1000  # steps_per_round: official checkpoint model.pth every N steps
    state_every: int | None = None  # resume state every N steps (None: = save_every)
    deterministic: bool = True  # torch.use_deterministic_algorithms(True, warn_only=True)
    # Start from the weights of an official-format checkpoint (model, and projector/text_proj
    # from its task when their shapes fit) instead of the reference's random initialisation.
    init_from: str | None = None


@dataclass
class TrainingConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ConfigSource = TrainingConfig | Mapping[str, Any] | str | Path | None


def make_config(base: ConfigSource = None, overrides: Sequence[str] = ()) -> TrainingConfig:
    """A validated :class:`TrainingConfig` from defaults, a base and dotlist overrides.

    ``base`` may be a :class:`TrainingConfig`, a nested mapping, the path of a YAML file or None
    (defaults). ``overrides`` are ``key=value`` strings (``train.lr=1e-4``). Unknown keys, values
    of the wrong type and invalid combinations raise :class:`~steploc.errors.InputError`.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    path = Path(base) if isinstance(base, (str, Path)) else None
    try:
        merged = OmegaConf.structured(TrainingConfig)
        if isinstance(base, TrainingConfig):
            merged = OmegaConf.merge(merged, OmegaConf.structured(base))
        elif isinstance(base, Mapping):
            merged = OmegaConf.merge(merged, OmegaConf.create(dict(base)))
        elif path is not None:
            if not path.is_file():
                raise InputError("no such training config file", path=path)
            merged = OmegaConf.merge(merged, OmegaConf.load(path))
        if overrides:
            merged = OmegaConf.merge(merged, OmegaConf.from_dotlist(list(overrides)))
        config = OmegaConf.to_object(merged)
    except OmegaConfBaseException as error:
        raise InputError(f"invalid training config: {error}".strip(), path=path) from error
    assert isinstance(config, TrainingConfig)
    validate_config(config)
    return config


def validate_config(config: TrainingConfig) -> None:
    """Raise :class:`~steploc.errors.InputError` naming the first invalid setting."""
    m, t, d, tr = config.model, config.task, config.data, config.train
    positive_ints = {
        "model.input_size": m.input_size,
        "model.hidden_size": m.hidden_size,
        "model.pos_hidden_channels": m.pos_hidden_channels,
        "model.n_layers": m.n_layers,
        "model.depth": m.depth,
        "task.features_size": t.features_size,
        "task.text_size": t.text_size,
        "train.batch_size": tr.batch_size,
        "train.num_epochs": tr.num_epochs,
        "train.save_every": tr.save_every,
    }
    for key, value in positive_ints.items():
        if value < 1:
            raise InputError(f"training config {key} must be >= 1, got {value}")
    checks = [
        ("model.radius", m.radius > 0, m.radius),
        ("model.dropout", 0 <= m.dropout < 1, m.dropout),
        ("task.projector_dropout", 0 <= t.projector_dropout < 1, t.projector_dropout),
        ("task.temperature", t.temperature > 0, t.temperature),
        ("task.alpha", t.alpha > 0, t.alpha),
        ("task.vna_weight", t.vna_weight >= 0, t.vna_weight),
        ("task.ft_weight", t.ft_weight >= 0, t.ft_weight),
        ("data.part_seconds", d.part_seconds > 0, d.part_seconds),
        ("train.lr", tr.lr >= 0, tr.lr),
        ("train.weight_decay", tr.weight_decay >= 0, tr.weight_decay),
        ("train.eps", tr.eps > 0, tr.eps),
        ("train.lr_min", tr.lr_min >= 0, tr.lr_min),
        ("train.lr_warmup_start_factor", 0 < tr.lr_warmup_start_factor <= 1,
         tr.lr_warmup_start_factor),
        ("train.beta1", 0 <= tr.beta1 < 1, tr.beta1),
        ("train.beta2", 0 <= tr.beta2 < 1, tr.beta2),
        ("train.max_steps", tr.max_steps is None or tr.max_steps >= 0, tr.max_steps),
        ("train.state_every", tr.state_every is None or tr.state_every >= 1, tr.state_every),
        ("data.min_sample_features",
         d.min_sample_features is None or d.min_sample_features >= 1, d.min_sample_features),
    ]
    for key, ok, setting in checks:
        if not ok:
            raise InputError(f"training config {key} has an invalid value {setting!r}")
    if tr.lr_warmup and not 1 <= tr.lr_warmup_epochs < tr.num_epochs:
        raise InputError(
            f"training config train.lr_warmup_epochs={tr.lr_warmup_epochs} must be in "
            f"1 .. num_epochs-1 = {tr.num_epochs - 1} when train.lr_warmup is true"
        )
    if not (tr.device == "cpu" or tr.device.startswith("cuda") or tr.device == "mps"):
        raise InputError(f"training config train.device={tr.device!r} is not a torch device")


def config_yaml(config: TrainingConfig) -> str:
    """The configuration as YAML text (readable back with :func:`make_config`)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(OmegaConf.structured(config))
