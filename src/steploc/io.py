"""Atomic output writing: a failed or interrupted job never leaves a half-written file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path


class OutputWriteError(OSError):
    """An output could not be written (disk full, read-only folder, ...): names the output."""

    def __init__(self, path: Path, cause: OSError):
        self.path = path
        super().__init__(cause.errno, f"cannot write {str(path)!r}: {cause.strerror or cause}; "
                                      "nothing was written (a rerun starts it again)")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only if the block succeeds.

    An :class:`OSError` while writing (a full disk, a read-only folder) becomes an
    :class:`OutputWriteError` naming ``path``; the temporary file is removed either way.
    """
    path = Path(path)
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Keep the suffix: writers that infer the format from it (matplotlib) see the real one.
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}",
                                        dir=path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        yield tmp
        os.replace(tmp, path)
    except OutputWriteError:
        raise
    except OSError as exc:
        raise OutputWriteError(path, exc) from exc
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
