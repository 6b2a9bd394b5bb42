"""Exceptions raised by :mod:`steploc.hiero`."""

from __future__ import annotations


class CheckpointError(ValueError):
    """A checkpoint file was refused: unreadable, unsafe, or not a HiERO ``train.py`` checkpoint.

    The message always names the file and the problem.
    """


class VideoTooShort(ValueError):
    """The video has too few feature rows for the model's clustering step.

    With clustering on, the reference crashes when the depth-2 graph has a single node
    (T <= 4 for the egovlp config, docs/hiero.md §0.7): the normalised index ``0/0`` is NaN. The
    pipeline catches this exception and records the video as skipped.
    """

    def __init__(self, length: int, min_length: int, index: int | None = None) -> None:
        self.length = length
        self.min_length = min_length
        self.index = index
        where = "" if index is None else f"video #{index}: "
        super().__init__(
            f"{where}{length} feature rows is too short for HiERO with clustering "
            f"(needs at least {min_length})"
        )
