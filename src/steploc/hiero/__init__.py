"""HiERO (Peirone et al., ICCV 2025) re-implemented for steploc, in parity with the reference.

See ``docs/hiero.md`` (the model) and ``docs/training.md`` (training); bare ``§x`` numbers in
this package's comments refer to ``docs/hiero.md``. Public API:

* :func:`load_checkpoint` -> :class:`HiERO` in eval mode (safe loading of ``train.py`` files);
* :meth:`HiERO.extract` / :meth:`HiERO.extract_batch` / :meth:`HiERO.extract_levels`;
* :func:`make_positions` for the ``"index"`` and ``"seconds"`` position conventions;
* :class:`CheckpointError`, :class:`VideoTooShort`;
* :mod:`steploc.hiero.testing` for checkpoints with RANDOM weights (demo and tests only).
"""

from .checkpoint import load_checkpoint, read_checkpoint
from .errors import CheckpointError, VideoTooShort
from .model import HiERO, HiEROConfig, make_positions

__all__ = [
    "CheckpointError",
    "HiERO",
    "HiEROConfig",
    "VideoTooShort",
    "load_checkpoint",
    "make_positions",
    "read_checkpoint",
]
