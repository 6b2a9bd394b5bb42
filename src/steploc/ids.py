"""Video ids are data, never code: the one definition of what an id may contain.

Ids become file names (``results/.../<id>.npz``, ``logs/.../<id>.log``), Snakemake wildcard
values and command-line arguments, so they are validated once, where the video list is read,
against a small allowed set: ASCII letters, digits, ``_``, ``-`` and ``.``, starting with a
letter or digit, at most :data:`MAX_ID_LENGTH` characters, and no ``..``. Anything else (shell
syntax, spaces, path separators, a leading dot, non-ASCII look-alikes) is an error naming the
id, the file and the row. Two ids that differ only in letter case are refused too: on
case-insensitive file systems (macOS, Windows shares) their files would be one file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from steploc.errors import InputError

MAX_ID_LENGTH = 128
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
ALLOWED_DESCRIPTION = (
    "ASCII letters, digits, '_', '-' and '.', starting with a letter or digit, "
    f"at most {MAX_ID_LENGTH} characters, no '..'"
)


def id_problem(value: str) -> str | None:
    """Why ``value`` is not a valid id, or ``None`` when it is."""
    if not value:
        return "is empty"
    if len(value) > MAX_ID_LENGTH:
        return f"is {len(value)} characters long (at most {MAX_ID_LENGTH})"
    if not ID_PATTERN.fullmatch(value) or ".." in value:
        return f"has characters outside the allowed set ({ALLOWED_DESCRIPTION})"
    return None


def check_id(value: str, *, what: str = "video id", path: str | Path | None = None,
             row: str | None = None) -> str:
    """Return ``value`` if it is a valid id, else raise :class:`InputError` naming it, the file
    and the row (``row`` is a phrase such as ``"line 7"``)."""
    problem = id_problem(value)
    if problem is not None:
        where = f"{row}: " if row else ""
        raise InputError(f"{where}{what} {value!r} {problem}", path=path)
    return value


def check_ids(values: Iterable[str], *, rows: Iterable[str] | None = None,
              what: str = "video id", path: str | Path | None = None) -> None:
    """Validate every id (see :func:`check_id`) and refuse ids equal up to letter case."""
    values = list(values)
    rows = list(rows) if rows is not None else [f"row {i + 1}" for i in range(len(values))]
    seen: dict[str, tuple[str, str]] = {}
    for value, row in zip(values, rows, strict=True):
        check_id(value, what=what, path=path, row=row)
        folded = value.casefold()
        if folded in seen and seen[folded][0] != value:
            other, other_row = seen[folded]
            raise InputError(
                f"{row}: {what} {value!r} differs from {other!r} ({other_row}) only in letter "
                "case; their files would collide on case-insensitive file systems",
                path=path)
        seen.setdefault(folded, (value, row))
