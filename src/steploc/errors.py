"""Errors that name what is wrong with the user's input.

Every message says which video, which file and what is wrong, so a failed run over hundreds of
videos can be fixed without a debugger.
"""

from __future__ import annotations

from pathlib import Path


class InputError(ValueError):
    """Bad input data or configuration: a file, a value or a video that cannot be processed."""

    def __init__(self, problem: str, *, video: str | None = None, path: str | Path | None = None):
        self.problem = problem
        self.video = video
        self.path = None if path is None else str(path)
        where = []
        if video is not None:
            where.append(f"video {video!r}")
        if path is not None:
            where.append(f"file {str(path)!r}")
        prefix = (", ".join(where) + ": ") if where else ""
        super().__init__(prefix + problem)


class VideoSkipped(Exception):
    """A video that cannot be processed for a reason the run records instead of failing.

    Raised inside a per-video stage (e.g. a video too short to cluster); the stage writes an
    output with ``status="skipped"`` and this reason, and the summaries list it.
    """

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)
