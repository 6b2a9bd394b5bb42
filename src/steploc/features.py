"""Per-video feature files: discovery by id, loading, validation and the feature period.

Discovery matches every file of ``features_dir`` against ``feature_pattern`` (a glob in which
``{video_id}`` stands for the recording id), so a folder holding both ``1_7.npy`` and
``1_7.npz`` under a pattern like ``{video_id}.*`` is an error listing both files instead of the
notebook's "whichever ``os.listdir`` returns first". macOS ``._*`` sidecars are ignored.
"""

from __future__ import annotations

import fnmatch
import math
import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from steploc.errors import InputError

#: Keys tried, in order, in an ``.npz`` (or a dict saved in a ``.pt``) when none is configured.
DEFAULT_ARRAY_KEYS = ("arr_0", "features")
SUPPORTED_SUFFIXES = (".npy", ".npz", ".pt", ".txt")
ID_PLACEHOLDER = "{video_id}"
#: How a 2-D array is stored: ``TxD`` (one row per frame) or ``DxT`` (MS-TCN's ``.npy``).
LAYOUTS = ("TxD", "DxT")


def _split_pattern(pattern: str) -> tuple[str, str]:
    if pattern.count(ID_PLACEHOLDER) != 1:
        raise InputError(f"feature_pattern {pattern!r} must contain {ID_PLACEHOLDER} exactly once")
    before, after = pattern.split(ID_PLACEHOLDER)
    if any(c in before for c in "*?["):
        raise InputError(
            f"feature_pattern {pattern!r}: wildcards are allowed only after {ID_PLACEHOLDER}"
        )
    return before, after


def discover_feature_files(features_dir: str | Path, pattern: str,
                           video_ids: Iterable[str]) -> tuple[dict[str, Path], list[str]]:
    """Map each video id to its one feature file.

    A file belongs to video ``v`` when its name matches ``pattern`` with ``{video_id}`` replaced
    by ``v`` (glob wildcards allowed after the id). Every id is tested against every prefix of
    the name, so with a pattern like ``{video_id}*`` the file ``1_70.npy`` is a candidate of both
    ``1_7`` and ``1_70``, and both are reported instead of one being picked silently.

    Returns ``(found, missing)``; two or more candidate files for one id raise
    :class:`InputError` listing them all.
    """
    features_dir = Path(features_dir)
    if not features_dir.is_dir():
        raise InputError("features directory does not exist", path=features_dir)
    before, after = _split_pattern(pattern)
    wanted = set(video_ids)
    candidates: dict[str, list[Path]] = {}
    for entry in os.scandir(features_dir):
        name = entry.name
        if name.startswith("._") or not name.startswith(before) or not entry.is_file():
            continue
        rest = name[len(before):]
        for cut in range(1, len(rest) + 1):
            vid = rest[:cut]
            if vid in wanted and fnmatch.fnmatchcase(rest[cut:], after):
                candidates.setdefault(vid, []).append(Path(entry.path))
    found: dict[str, Path] = {}
    for vid in sorted(wanted):
        files = sorted(candidates.get(vid, []))
        if len(files) > 1:
            raise InputError(
                f"{len(files)} feature files match pattern {pattern!r}: "
                + ", ".join(str(f) for f in files)
                + "; make the pattern match exactly one",
                video=vid,
            )
        if files:
            found[vid] = files[0]
    missing = sorted(wanted - set(found))
    return found, missing


def _select_key(keys: list[str], key: str | None, path: Path, video: str | None) -> str:
    if key is not None:
        if key not in keys:
            raise InputError(f"array key {key!r} not in the file (keys: {keys})", video=video, path=path)
        return key
    for k in DEFAULT_ARRAY_KEYS:
        if k in keys:
            return k
    raise InputError(
        f"no array key given and none of {list(DEFAULT_ARRAY_KEYS)} in the file (keys: {keys}); "
        "set features.array_key",
        video=video,
        path=path,
    )


_NPY_MAGIC = b"\x93NUMPY"


def _npy_header(fh, data_size: int, path: Path, video: str | None, member: str = ""
                ) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype from an ``.npy`` header, checking that it is a NumPy file, that it holds
    plain numbers (never Python objects: those would need unpickling, which steploc never
    does) and that the data is complete. ``data_size`` is the size of the whole ``.npy``
    stream in bytes."""
    where = f" (array {member!r})" if member else ""
    start = fh.read(len(_NPY_MAGIC))
    if start != _NPY_MAGIC:
        raise InputError(
            f"not a NumPy .npy file{where}: it starts with {start[:8]!r}, not the .npy "
            "header; save the features with numpy.save (text files: name them .txt)",
            video=video, path=path)
    try:
        version = np.lib.format.read_magic(_Rewound(fh, start))
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        else:  # versions 2.0 and 3.0 share the 4-byte header length
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
    except ValueError as exc:
        raise InputError(f"corrupt .npy header{where}: {exc}", video=video, path=path) from exc
    if dtype.hasobject:
        raise InputError(
            f"the array{where} holds Python objects (dtype {dtype}), not numbers; steploc "
            "never unpickles data files. Save the features as a numeric (T, D) array",
            video=video, path=path)
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    available = data_size - fh.tell()
    if available < expected:
        raise InputError(
            f"the file is truncated{where}: its header declares a {shape} {dtype} array "
            f"({expected} bytes of data) but only {available} bytes follow",
            video=video, path=path)
    return tuple(int(n) for n in shape), dtype


class _Rewound:
    """A file object whose first bytes were already read (``read_magic`` reads them again)."""

    def __init__(self, fh, head: bytes):
        self._fh, self._head = fh, head

    def read(self, n: int = -1, /) -> bytes:
        if n < 0:
            head, self._head = self._head, b""
            return head + self._fh.read()
        head, self._head = self._head[:n], self._head[n:]
        return head + (self._fh.read(n - len(head)) if n > len(head) else b"")


def _npz_member_header(path: Path, key: str | None, video: str | None
                       ) -> tuple[str, tuple[int, ...], np.dtype]:
    try:
        zf = zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        raise InputError(f"not a valid .npz (zip) file: {exc}", video=video, path=path) from exc
    with zf:
        keys = [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
        k = _select_key(keys, key, path, video)
        info = zf.getinfo(k + ".npy")
        with zf.open(info) as fh:
            shape, dtype = _npy_header(fh, info.file_size, path, video, member=k)
    return k, shape, dtype


def read_feature_shape(path: str | Path, key: str | None = None, video: str | None = None
                       ) -> tuple[tuple[int, ...], str]:
    """Shape and dtype of a feature file, reading only its header where the format allows."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            with open(path, "rb") as fh:
                shape, dtype = _npy_header(fh, os.fstat(fh.fileno()).st_size, path, video)
            return shape, str(dtype)
        if suffix == ".npz":
            _, shape, dtype = _npz_member_header(path, key, video)
            return shape, str(dtype)
        if suffix == ".txt":
            return _text_shape(path, video), "float32"
        if suffix == ".pt":
            arr = load_feature_array(path, key, video)
            return tuple(arr.shape), str(arr.dtype)
    except InputError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"cannot read feature file: {exc}", video=video, path=path) from exc
    raise InputError(
        f"unsupported feature file type {suffix!r} (supported: {', '.join(SUPPORTED_SUFFIXES)})",
        video=video,
        path=path,
    )


def load_feature_array(path: str | Path, key: str | None = None, video: str | None = None
                       ) -> np.ndarray:
    """Load a feature file as stored (``.npy``, ``.npz``, ``.pt`` or whitespace-separated
    ``.txt``, one row per line), without validation.

    Headers are checked first (:func:`_npy_header`), so a file that is not what its name says,
    holds Python objects or is truncated gets a message saying exactly that. Nothing is ever
    unpickled (``allow_pickle=False``, ``torch.load(weights_only=True)``).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".npy":
            read_feature_shape(path, key, video)
            return np.load(path, allow_pickle=False)
        if suffix == ".npz":
            k, _, _ = _npz_member_header(path, key, video)
            with np.load(path, allow_pickle=False) as data:
                return data[k]
        if suffix == ".pt":
            import torch  # only needed for .pt files

            obj = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(obj, dict):
                obj = obj[_select_key([str(k) for k in obj], key, path, video)]
            if not isinstance(obj, torch.Tensor):
                raise InputError(f"expected a tensor, found {type(obj).__name__}", video=video, path=path)
            return obj.detach().cpu().numpy()
        if suffix == ".txt":
            return _load_text(path, video)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - any reader failure is a bad input file
        raise InputError(f"cannot read feature file: {exc}", video=video, path=path) from exc
    raise InputError(
        f"unsupported feature file type {suffix!r} (supported: {', '.join(SUPPORTED_SUFFIXES)})",
        video=video,
        path=path,
    )


def _text_shape(path: Path, video: str | None) -> tuple[int, int]:
    """``(lines, values on the first line)`` of a text matrix, without parsing the numbers
    (they are parsed, and every line's width checked, when the features are loaded)."""
    rows, width = 0, 0
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                rows += 1
                width = width or len(line.split())
    if not rows:
        raise InputError("empty feature file (no numbers)", video=video, path=path)
    return rows, width


def _load_text(path: Path, video: str | None) -> np.ndarray:
    """A whitespace-separated text matrix (the CTE layout's ``.txt``), as float32."""
    with open(path, encoding="utf-8") as fh:
        widths = set()
        rows = []
        for number, line in enumerate(fh, start=1):
            fields = line.split()
            if not fields:
                continue
            widths.add(len(fields))
            if len(widths) > 1:
                raise InputError(f"line {number} has {len(fields)} values, earlier lines "
                                 f"{min(widths - {len(fields)})}", video=video, path=path)
            try:
                rows.append([float(v) for v in fields])
            except ValueError as exc:
                raise InputError(f"line {number}: {exc}", video=video, path=path) from None
    if not rows:
        raise InputError("empty feature file (no numbers)", video=video, path=path)
    return np.asarray(rows, dtype=np.float32)


def check_feature_shape(shape: tuple[int, ...], path: str | Path, video: str | None,
                        layout: str = "TxD") -> tuple[int, int]:
    """``(n_features, feature_dim)`` of a 2-D array stored as ``layout`` (``TxD``: rows are
    frames; ``DxT``: columns are), or of a ``(T, 1, D)`` array."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    if len(shape) == 3 and shape[1] == 1 and layout == "TxD":
        shape = (shape[0], shape[2])
    if len(shape) != 2:
        raise InputError(f"expected a 2-D ({layout.replace('x', ', ')}) array, got shape "
                         f"{shape}", video=video, path=path)
    if shape[0] == 0 or shape[1] == 0:
        raise InputError(f"empty feature array, shape {shape}", video=video, path=path)
    n, d = (shape[0], shape[1]) if layout == "TxD" else (shape[1], shape[0])
    return int(n), int(d)


def frame_rows(arr: np.ndarray, layout: str, n_features: int, feature_dim: int) -> np.ndarray:
    """The ``(T, D)`` view of an array stored as ``layout`` (a ``(T, 1, D)`` TxD array is
    squeezed; a DxT array transposed)."""
    if layout == "DxT":
        return arr.reshape(feature_dim, n_features).T
    return arr.reshape(n_features, feature_dim)


def resolve_layout(layout: str, shape: tuple[int, ...], n_frames: int | None,
                   path: str | Path, video: str | None) -> str:
    """The layout of one file: the configured one, or for ``auto`` the only orientation whose
    frame axis has the ground truth's ``n_frames`` (an error naming both shapes otherwise)."""
    if layout != "auto":
        return layout
    if n_frames is None:
        raise InputError("features.layout: auto needs per-frame ground truth to tell the frame "
                         "axis; set features.layout to TxD or DxT", video=video, path=path)
    if len(shape) != 2:
        raise InputError(f"expected a 2-D array, got shape {shape}", video=video, path=path)
    matches = [name for name, frames in (("TxD", shape[0]), ("DxT", shape[1]))
               if frames == n_frames]
    if len(matches) != 1:
        t_d, d_t = f"({shape[0]} frames, {shape[1]} dims)", f"({shape[1]} frames, {shape[0]} dims)"
        why = ("both orientations fit" if matches else "neither orientation fits")
        raise InputError(
            f"features.layout: auto: the ground truth has {n_frames} frames and the array has "
            f"shape {tuple(shape)}: TxD would read {t_d}, DxT {d_t}; {why}. Set features.layout "
            "to TxD or DxT", video=video, path=path)
    return matches[0]


def load_features(path: str | Path, key: str | None = None, video: str | None = None,
                  expected_shape: tuple[int, int] | None = None, layout: str = "TxD"
                  ) -> np.ndarray:
    """Load and validate one video's features as a float32 ``(T, D)`` array (a ``DxT`` file
    is transposed).

    Rejects non-numeric data, arrays that are not 2-D (a ``(T, 1, D)`` array is squeezed),
    empty arrays, NaN/Inf values and, when given, a shape other than ``expected_shape`` (the
    file changed since the params table was built).
    """
    arr = load_feature_array(path, key, video)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise InputError(f"feature array has non-numeric dtype {arr.dtype}", video=video, path=path)
    n, d = check_feature_shape(tuple(arr.shape), path, video, layout)
    arr = frame_rows(arr, layout, n, d)
    if expected_shape is not None and (n, d) != tuple(expected_shape):
        raise InputError(
            f"feature array has shape {(n, d)} but the video table says {tuple(expected_shape)}: "
            "the file changed since the run started; run again",
            video=video,
            path=path,
        )
    if np.issubdtype(arr.dtype, np.floating):
        finite = np.isfinite(arr)
        if not finite.all():
            bad_rows = np.flatnonzero(~finite.all(axis=1))
            kinds = " and ".join(name for name, present in
                                 (("NaN", np.isnan(arr).any()), ("Inf", np.isinf(arr).any()))
                                 if present)
            raise InputError(
                f"{(~finite).sum()} {kinds} value(s) in {len(bad_rows)} row(s), first at row "
                f"{bad_rows[0]}",
                video=video,
                path=path,
            )
    check_float32_range(arr, video=video, path=path)
    return np.ascontiguousarray(arr, dtype=np.float32)


#: Largest magnitude accepted in a feature file. Real embeddings are O(1); values near the
#: float32 maximum overflow in the first sum of any model (pooling, matrix products).
MAX_FEATURE_MAGNITUDE = 1e30


def check_float32_range(arr: np.ndarray, *, video: str | None, path: str | Path | None) -> None:
    """Refuse finite values too large to compute with in float32, naming the worst row."""
    if arr.size == 0:
        return
    magnitude = np.abs(arr, dtype=np.float64)
    worst = float(magnitude.max())
    if worst > MAX_FEATURE_MAGNITUDE:
        row = int(np.unravel_index(int(magnitude.argmax()), arr.shape)[0])
        limit = float(np.finfo(np.float32).max)
        what = ("exceeds the float32 range" if worst > limit
                else "is too close to the float32 maximum to compute with")
        raise InputError(
            f"feature value {worst:.3g} at row {row} {what} (steploc accepts |x| <= "
            f"{MAX_FEATURE_MAGNITUDE:.0e}); rescale or normalise the features",
            video=video, path=path)


def feature_period(n_features: int, duration_s: float | None, configured_s: float | None,
                   tolerance: float, video: str | None = None, path: str | Path | None = None
                   ) -> float:
    """Seconds between consecutive features: every timestamp derives from this number.

    Configured, or inferred as ``duration_s / n_features``. When both exist they must agree
    within ``tolerance`` (relative); otherwise this fails and prints both numbers. (The notebook's
    fixed 16/30 s is 1.875x off for CaptainCook4D's 1-feature-per-second releases.)
    """
    inferred = None if duration_s is None or not math.isfinite(duration_s) else duration_s / n_features
    if configured_s is None:
        if inferred is None:
            raise InputError(
                "feature period unknown: configure features.period_s or give the video's "
                "duration in the video metadata",
                video=video,
                path=path,
            )
        return float(inferred)
    if configured_s <= 0:
        raise InputError(f"features.period_s must be positive, got {configured_s}")
    if inferred is not None and abs(inferred - configured_s) > tolerance * configured_s:
        raise InputError(
            f"feature period mismatch: configured {configured_s:.6g} s per feature, but the video "
            f"lasts {duration_s:.6g} s over {n_features} features = {inferred:.6g} s per feature "
            f"(ratio {inferred / configured_s:.4g}, tolerance {tolerance:.0%})",
            video=video,
            path=path,
        )
    return float(configured_s)
