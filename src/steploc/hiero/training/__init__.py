"""HiERO training (EgoClip-style pre-training) from pre-computed features and narration vectors.

This re-implements the training side of the reference (github.com/sapeirone/HiERO @ 1b56b0d,
``train.py`` and ``models/tasks/hiero.py``): the two losses L_vna + L_ft, Adam with coupled L2
decay on >= 2-D tensors, gradient clipping, the warm-up + cosine schedule (the reference's
off-by-two lag is reproduced behind ``train.reference_schedule``, fixed by default), the
official ``train.py`` checkpoint format (loadable with :func:`steploc.hiero.load_checkpoint`)
and, unlike the reference, exact resumption after a crash or kill. The recipe, the deviations
from the reference and the parity tests are described in ``docs/training.md`` (cited as
``training.md §x``); the model in ``docs/hiero.md`` (``hiero.md §x``).

Entry point for a workflow stage::

    from steploc.hiero.training import VideoFeatures, read_narrations, train

    videos = [VideoFeatures(vid, np.load(path, mmap_mode="r"), period_s=16 / 30) for ...]
    narr = read_narrations("narrations.parquet")  # validated against the videos by train()
    result = train(None, videos, narr, "results/train", overrides=["train.lr=1e-5"])
    result.checkpoint, result.metrics_path  # model.pth, metrics.parquet

Inputs
------
* Per video: a feature array (T, D) (D = 256 for the EgoVLP checkpoint shape) and its real
  feature period P in seconds (the extractor's stride / fps; EgoVLP: 16 / 30 s). Feature i is
  taken to be centred at ``(i + 0.5) * P`` seconds (window = stride, as the reference).
* A narration table: ``video_id``, ``time_s`` (ONE timestamp per narration, seconds from the
  start of the video: EgoClip's ``narration_time``) and a text vector (formats:
  :mod:`.narrations`).

The text vectors
----------------
steploc has no text model. The reference feeds the narration text (``clip_text`` unchanged,
with its ``#C C`` prefix) through the EgoVLP DistilBERT (frozen) and uses the 768-d **[CLS]
vector before EgoVLP's own ``txt_proj``** as the input of its trainable ``text_proj``. Compute
it once per narration, in eval mode::

    from transformers import AutoTokenizer, DistilBertModel
    tok = AutoTokenizer.from_pretrained("distilbert-base-uncased")
    bert = DistilBertModel.from_pretrained("distilbert-base-uncased")
    bert.load_state_dict(torch.load("pretrained/egovlp_text.pth"))  # strict, as the reference
    bert.eval()
    with torch.no_grad():
        tokens = tok(texts, return_tensors="pt", padding=True, truncation=True)
        vectors = bert(**tokens).last_hidden_state[:, 0, :]  # (M, 768) float32

In eval mode the [CLS] vector does not depend on the padding of the batch (training.md §1.5), so any
batching gives the same vectors. It is NOT the 256-d EgoVLP joint-space embedding (that would
make ``text_proj.0.weight`` 16 x 256 wide and the checkpoint unfit for the official code).
The one unavoidable deviation: the reference runs the frozen DistilBERT in train mode, so its
text features carry fresh dropout noise at every step; pre-computed vectors do not.
For the official scripts' strict load of ``task``, point ``task.text_model_weights`` at the same
``egovlp_text.pth``: its 100 tensors are copied into the checkpoint as ``text_model.*``.

Modules: :mod:`.config`, :mod:`.narrations`, :mod:`.data`, :mod:`.forward`, :mod:`.heads`,
:mod:`.losses`, :mod:`.optim`, :mod:`.checkpoint`, :mod:`.loop`, :mod:`.synthetic` (a SYNTHETIC
narrated data generator and the trained-vs-random segmentation check; not imported here, as it
needs :mod:`steploc.metrics` and :mod:`steploc.segment`) and :mod:`.stage` (the workflow's train
stage: video-table rows and files in, checkpoint, metrics and loss figure out; not imported
here either).
"""

from .checkpoint import (
    OFFICIAL_KEYS,
    official_checkpoint,
    save_atomic,
    write_official_checkpoint,
)
from .config import (
    DataConfig,
    ModelConfig,
    TaskConfig,
    TrainConfig,
    TrainingConfig,
    config_yaml,
    make_config,
)
from .data import DataReport, Sample, TrainingBatch, TrainingData, VideoFeatures, build_samples
from .forward import train_forward
from .heads import TaskHeads
from .loop import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    METRICS_NAME,
    STATE_NAME,
    ResumeMismatch,
    StepReport,
    TrainResult,
    build_model,
    build_task,
    compute_losses,
    train,
    train_step,
)
from .losses import ft_loss, vna_loss
from .narrations import NarrationTable, narrations_from_arrays, read_narrations, validate_narrations
from .optim import LRSchedule, build_optimizer, clip_gradients

__all__ = [
    "CHECKPOINT_NAME",
    "CONFIG_NAME",
    "METRICS_NAME",
    "OFFICIAL_KEYS",
    "STATE_NAME",
    "DataConfig",
    "DataReport",
    "LRSchedule",
    "ModelConfig",
    "NarrationTable",
    "ResumeMismatch",
    "Sample",
    "StepReport",
    "TaskConfig",
    "TaskHeads",
    "TrainConfig",
    "TrainResult",
    "TrainingBatch",
    "TrainingConfig",
    "TrainingData",
    "VideoFeatures",
    "build_model",
    "build_optimizer",
    "build_samples",
    "build_task",
    "clip_gradients",
    "compute_losses",
    "config_yaml",
    "ft_loss",
    "make_config",
    "narrations_from_arrays",
    "official_checkpoint",
    "read_narrations",
    "save_atomic",
    "train",
    "train_forward",
    "train_step",
    "validate_narrations",
    "vna_loss",
    "write_official_checkpoint",
]
