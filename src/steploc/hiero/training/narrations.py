"""Narration tables for training: one row per narration, ``video_id``, ``time_s`` and a vector.

Accepted layouts (:func:`read_narrations`):

* **Parquet** with ``video_id``, ``time_s`` and a ``vector`` list column (``list<float>`` or
  ``fixed_size_list``), or wide float columns ``v0 .. v{D-1}``;
* **CSV** with ``video_id``, ``time_s`` and either wide columns ``v0 .. v{D-1}`` or a ``vector``
  column holding the numbers as text (``"0.1 0.2 ..."`` or ``"[0.1, 0.2, ...]"``);
* a Parquet or CSV table with ``video_id``, ``time_s`` and an integer ``row`` column, plus a
  ``.npy`` array of vectors (``vectors=``), read memory-mapped: narration i uses
  ``vectors[row_i]``. This is the layout for EgoClip-sized data (3.8 M x 768 in float16 is
  5.9 GB; other columns are ignored).

``time_s`` is ONE timestamp per narration, in seconds from the start of the video (EgoClip's
``narration_time``); clip start/end times are not used by HiERO training.

Validation (:func:`validate_narrations`) names the offending row: an unknown video id, a time
outside ``[0, duration)`` of its video, a vector of the wrong size, a non-finite time or vector,
or a ``row`` outside the ``.npy`` array all raise :class:`steploc.errors.InputError`. Unknown
videos and out-of-range times can instead be dropped (``unknown_videos="drop"``,
``outside="drop"``; the reference silently drops both, docs/training.md §1.2).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from steploc.errors import InputError

Policy = Literal["error", "drop"]
_WIDE_COLUMN = re.compile(r"^v(\d+)$")


@dataclass(frozen=True)
class NarrationTable:
    """Narrations with their vectors: row i is (``video_id[i]``, ``time_s[i]``,
    ``vectors[vector_row[i]]``). ``vectors`` may be a read-only memory map."""

    video_id: np.ndarray  # (M,) str
    time_s: np.ndarray  # (M,) float64
    vectors: np.ndarray  # (N, D) float16/float32/float64
    vector_row: np.ndarray  # (M,) int64 row of ``vectors``
    source: str | None = None  # file the table came from (for error messages)
    source_rows: np.ndarray | None = None  # (M,) row numbers in ``source`` (after drops)

    def __len__(self) -> int:
        return int(self.time_s.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def row_number(self, i: int) -> int:
        """Row number of narration i in the source table (0-based data rows)."""
        return int(self.source_rows[i]) if self.source_rows is not None else int(i)

    def subset(self, keep: np.ndarray) -> NarrationTable:
        rows = self.source_rows if self.source_rows is not None else np.arange(len(self))
        return replace(
            self,
            video_id=self.video_id[keep],
            time_s=self.time_s[keep],
            vector_row=self.vector_row[keep],
            source_rows=rows[keep],
        )


def narrations_from_arrays(
    video_id, time_s, vectors, vector_row=None, source: str | None = None
) -> NarrationTable:
    """A :class:`NarrationTable` from in-memory arrays (``vector_row`` defaults to ``arange``)."""
    ids = np.asarray(video_id).astype(str)
    times = np.asarray(time_s, dtype=np.float64)
    vecs = vectors if isinstance(vectors, np.ndarray) else np.asarray(vectors, dtype=np.float32)
    if ids.ndim != 1 or times.shape != ids.shape:
        raise InputError(
            f"video_id and time_s must be 1-D of the same length, got {ids.shape} and "
            f"{times.shape}", path=source,
        )
    if vecs.ndim != 2:
        raise InputError(f"narration vectors must be a 2-D array, got shape {vecs.shape}",
                         path=source)
    rows = np.arange(ids.shape[0]) if vector_row is None else np.asarray(vector_row)
    if rows.shape != ids.shape:
        raise InputError(f"vector_row must have {ids.shape[0]} entries, got {rows.shape}",
                         path=source)
    return NarrationTable(ids, times, vecs, rows.astype(np.int64, copy=False), source)


def _row_label(table: NarrationTable, i: int) -> str:
    line = ""
    if table.source is not None and table.source.lower().endswith(".csv"):
        line = f", line {table.row_number(i) + 2}"
    return (
        f"narration row {table.row_number(i)}{line} (video_id {str(table.video_id[i])!r}, "
        f"time_s {float(table.time_s[i])!r})"
    )


def validate_narrations(
    table: NarrationTable,
    durations: Mapping[str, float],
    dim: int | None = None,
    *,
    unknown_videos: Policy = "error",
    outside: Policy = "error",
) -> NarrationTable:
    """Check every row against the videos (``durations``: video id -> seconds) and ``dim``.

    Returns the table, without the dropped rows when a policy is ``"drop"``. Raises
    :class:`~steploc.errors.InputError` naming the first bad row otherwise.
    """
    for name, policy in (("unknown_videos", unknown_videos), ("outside", outside)):
        if policy not in ("error", "drop"):
            raise ValueError(f"{name} must be 'error' or 'drop', got {policy!r}")
    path = table.source
    n_vectors, width = table.vectors.shape
    if dim is not None and width != dim:
        first = 0 if len(table) else None
        where = f"{_row_label(table, first)}: " if first is not None else ""
        raise InputError(
            f"{where}narration vectors have {width} values, expected {dim} (the width of the "
            "pre-computed text vectors, task.text_size)", path=path,
        )
    bad_row = np.flatnonzero((table.vector_row < 0) | (table.vector_row >= n_vectors))
    if bad_row.size:
        i = int(bad_row[0])
        raise InputError(
            f"{_row_label(table, i)}: vector row {int(table.vector_row[i])} is outside the "
            f"vector array of {n_vectors} rows", video=str(table.video_id[i]), path=path,
        )
    bad_time = np.flatnonzero(~np.isfinite(table.time_s))
    if bad_time.size:
        i = int(bad_time[0])
        raise InputError(f"{_row_label(table, i)}: time_s is not a finite number",
                         video=str(table.video_id[i]), path=path)

    known = np.array([vid in durations for vid in table.video_id], dtype=bool)
    if not known.all() and unknown_videos == "error":
        i = int(np.flatnonzero(~known)[0])
        raise InputError(
            f"{_row_label(table, i)}: unknown video id (no feature array for it; "
            f"{len(durations)} videos have features)", video=str(table.video_id[i]), path=path,
        )
    duration = np.array([durations.get(vid, np.inf) for vid in table.video_id], dtype=np.float64)
    inside = (table.time_s >= 0) & (table.time_s < duration)
    if not inside[known].all() and outside == "error":
        i = int(np.flatnonzero(known & ~inside)[0])
        raise InputError(
            f"{_row_label(table, i)}: time_s is outside the video, which lasts "
            f"{duration[i]!r} s (features x period); times must be in [0, duration)",
            video=str(table.video_id[i]), path=path,
        )
    keep = known & inside
    if not keep.all():
        table = table.subset(keep)
    _check_vectors_finite(table)
    return table


def _check_vectors_finite(table: NarrationTable, chunk: int = 65536) -> None:
    rows = table.vector_row
    for start in range(0, len(rows), chunk):
        block = np.asarray(table.vectors[np.sort(np.unique(rows[start : start + chunk]))])
        if np.isfinite(block).all():
            continue
        used = rows[start : start + chunk]
        finite = np.isfinite(np.asarray(table.vectors[used])).all(axis=1)
        i = start + int(np.flatnonzero(~finite)[0])
        raise InputError(f"{_row_label(table, i)}: the vector holds NaN or infinite values",
                         video=str(table.video_id[i]), path=table.source)


# --------------------------------------------------------------------------- reading files
def read_narrations(
    path: str | Path,
    *,
    vectors: str | Path | None = None,
    dim: int | None = None,
    durations: Mapping[str, float] | None = None,
    unknown_videos: Policy = "error",
    outside: Policy = "error",
) -> NarrationTable:
    """Read a narrations table (``.parquet`` or ``.csv``; see the module docstring).

    With ``vectors`` (a ``.npy`` file) the table needs a ``row`` column. With ``durations`` the
    table is validated (:func:`validate_narrations`); ``dim`` checks the vector width.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("no such narrations file", path=path)
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise InputError(f"narrations must be a .parquet or .csv table, got {suffix!r}", path=path)
    if vectors is not None:
        table = _read_with_npy(path, Path(vectors))
    elif suffix == ".parquet":
        table = _read_parquet_inline(path)
    else:
        table = _read_csv_inline(path)
    if dim is not None and table.dim != dim and durations is None:
        raise InputError(
            f"{_row_label(table, 0) + ': ' if len(table) else ''}narration vectors have "
            f"{table.dim} values, expected {dim}", path=path,
        )
    if durations is not None:
        table = validate_narrations(
            table, durations, dim, unknown_videos=unknown_videos, outside=outside
        )
    return table


def _id_time(frame: pd.DataFrame, path: Path) -> tuple[np.ndarray, np.ndarray]:
    missing = [c for c in ("video_id", "time_s") if c not in frame.columns]
    if missing:
        raise InputError(
            f"narrations table lacks column(s) {missing} (found {list(frame.columns)[:12]})",
            path=path,
        )
    ids = frame["video_id"]
    if ids.isna().any():
        i = int(np.flatnonzero(ids.isna().to_numpy())[0])
        raise InputError(f"narration row {i}: video_id is empty", path=path)
    try:
        times = pd.to_numeric(frame["time_s"], errors="raise").to_numpy(dtype=np.float64)
    except (ValueError, TypeError) as error:
        raise InputError(f"narrations column time_s is not numeric: {error}", path=path) from error
    return ids.astype(str).to_numpy(), times


def _wide_columns(columns) -> list[str]:
    found = sorted(
        ((int(m.group(1)), c) for c in columns if (m := _WIDE_COLUMN.match(str(c)))),
    )
    names = [c for _, c in found]
    if names and [i for i, _ in found] != list(range(len(found))):
        raise InputError(f"wide vector columns must be v0 .. v{len(found) - 1} without gaps")
    return names


def _read_parquet_inline(path: Path) -> NarrationTable:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        arrow = pq.read_table(path)
    except Exception as error:  # pyarrow reports corrupt files with several exception types
        raise InputError(f"cannot read the Parquet narrations table: {error}", path=path) from error
    names = arrow.column_names
    base = arrow.select([c for c in ("video_id", "time_s") if c in names]).to_pandas()
    ids, times = _id_time(base, path)
    if "vector" in names:
        column = arrow.column("vector").combine_chunks()
        if not (pa.types.is_list(column.type) or pa.types.is_large_list(column.type)
                or pa.types.is_fixed_size_list(column.type)):
            raise InputError(f"column 'vector' must be a list of floats, got {column.type}",
                             path=path)
        if column.null_count:
            i = int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])
            raise InputError(f"narration row {i}: the vector is missing (null)",
                             video=str(ids[i]), path=path)
        if pa.types.is_fixed_size_list(column.type):
            width = column.type.list_size
            values = column.flatten().to_numpy(zero_copy_only=False)
        else:
            offsets = column.offsets.to_numpy()
            lengths = np.diff(offsets)
            width = int(lengths[0]) if lengths.size else 0
            wrong = np.flatnonzero(lengths != width)
            if wrong.size:
                i = int(wrong[0])
                raise InputError(
                    f"narration row {i} (video_id {str(ids[i])!r}): the vector has "
                    f"{int(lengths[i])} values, but row 0 has {width}; every vector must "
                    "have the same size", video=str(ids[i]), path=path,
                )
            values = column.flatten().to_numpy(zero_copy_only=False)
        vecs = np.asarray(values, dtype=np.float32).reshape(len(ids), width)
    else:
        wide = _wide_columns(names)
        if not wide:
            raise InputError("narrations table has neither a 'vector' column nor v0.. columns "
                             "(or pass vectors= with a 'row' column)", path=path)
        vecs = np.stack(
            [arrow.column(c).to_numpy(zero_copy_only=False) for c in wide], axis=1
        ).astype(np.float32)
    return narrations_from_arrays(ids, times, vecs, source=str(path))


def _parse_vector_text(text) -> np.ndarray:
    if not isinstance(text, str):
        return np.zeros(0)
    cleaned = text.strip().strip("[]()").replace(",", " ").replace(";", " ")
    return np.array(cleaned.split(), dtype=np.float64)


def _read_csv_inline(path: Path) -> NarrationTable:
    try:
        frame = pd.read_csv(path, dtype={"video_id": str})
    except Exception as error:
        raise InputError(f"cannot read the CSV narrations table: {error}", path=path) from error
    ids, times = _id_time(frame, path)
    if "vector" in frame.columns:
        parsed = []
        for i, text in enumerate(frame["vector"].tolist()):
            try:
                parsed.append(_parse_vector_text(text))
            except ValueError as error:
                raise InputError(f"narration row {i}, line {i + 2}: the vector is not a list "
                                 f"of numbers ({error})", video=str(ids[i]), path=path) from error
        width = parsed[0].size if parsed else 0
        for i, vec in enumerate(parsed):
            if vec.size != width or width == 0:
                raise InputError(
                    f"narration row {i}, line {i + 2} (video_id {str(ids[i])!r}): the vector "
                    f"has {vec.size} values, but row 0 has {width}; every vector must have "
                    "the same, non-zero size", video=str(ids[i]), path=path,
                )
        vecs = np.stack(parsed).astype(np.float32) if parsed else np.zeros((0, 0), np.float32)
    else:
        wide = _wide_columns(frame.columns)
        if not wide:
            raise InputError("narrations table has neither a 'vector' column nor v0.. columns "
                             "(or pass vectors= with a 'row' column)", path=path)
        block = frame[wide].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
        missing = np.flatnonzero(np.isnan(block).any(axis=1))
        if missing.size:
            i = int(missing[0])
            count = int((~np.isnan(block[i])).sum())
            raise InputError(
                f"narration row {i}, line {i + 2} (video_id {str(ids[i])!r}): the vector has "
                f"{count} numeric values of {len(wide)} columns v0..v{len(wide) - 1} (missing "
                "or non-numeric entries)", video=str(ids[i]), path=path,
            )
        vecs = block.astype(np.float32)
    return narrations_from_arrays(ids, times, vecs, source=str(path))


def _read_with_npy(path: Path, vectors: Path) -> NarrationTable:
    if not vectors.is_file():
        raise InputError("no such narration vectors file", path=vectors)
    if path.suffix.lower() == ".parquet":
        frame = pd.read_parquet(path)
    else:
        frame = pd.read_csv(path, dtype={"video_id": str})
    ids, times = _id_time(frame, path)
    if "row" not in frame.columns:
        raise InputError("with a separate .npy of vectors the table needs an integer 'row' "
                         "column (the row of each narration's vector)", path=path)
    rows = pd.to_numeric(frame["row"], errors="coerce")
    bad = np.flatnonzero(rows.isna().to_numpy() | (rows.to_numpy() % 1 != 0))
    if bad.size:
        i = int(bad[0])
        raise InputError(f"narration row {i}: 'row' is not an integer", video=str(ids[i]),
                         path=path)
    try:
        array = np.load(vectors, mmap_mode="r", allow_pickle=False)
    except Exception as error:
        raise InputError(f"cannot read the .npy narration vectors: {error}",
                         path=vectors) from error
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"narration vectors must be a 2-D float array, got shape "
                         f"{array.shape} and dtype {array.dtype}", path=vectors)
    return narrations_from_arrays(ids, times, array, rows.to_numpy(dtype=np.int64),
                                  source=str(path))
