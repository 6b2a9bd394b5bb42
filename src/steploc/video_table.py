"""The video table: one row per video, everything later stages need to know about it.

Built once per run from the dataset (:mod:`steploc.datasets`, any ``annotations.format``) and
the feature folder. Columns:
``video_id, activity_id, activity_name, n_clusters, k_strategy, duration_s, feature_path,
n_features, feature_dim, feature_period_s, feature_dtype, feature_layout,
feature_fingerprint, shard, status, reason``.
``status`` is ``ok``, or ``skipped`` for a video without features under
``features.missing: skip`` (``reason`` says why; its feature columns are empty).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from steploc.batching import assign_shards
from steploc.errors import InputError
from steploc.features import (
    check_feature_shape,
    discover_feature_files,
    feature_period,
    read_feature_shape,
    resolve_layout,
)
from steploc.fingerprint import FingerprintCache

if TYPE_CHECKING:  # building imports the datasets (and scipy); jobs only read the table
    from steploc.datasets import Dataset

COLUMNS = [
    "video_id", "activity_id", "activity_name", "n_clusters", "k_strategy", "duration_s",
    "feature_path", "n_features", "feature_dim", "feature_period_s", "feature_dtype",
    "feature_layout", "feature_fingerprint", "shard", "status", "reason",
]


def configured_period(features_cfg: dict) -> float | None:
    """Seconds per feature row from ``features.period_s`` or ``features.fps`` (not both)."""
    period, fps = features_cfg.get("period_s"), features_cfg.get("fps")
    if period is not None and fps is not None:
        raise InputError(f"features.period_s ({period}) and features.fps ({fps}) are both set: "
                         "give one")
    return 1.0 / fps if fps is not None else period


def build_video_table(config: dict, fingerprints: FingerprintCache | None = None,
                      dataset: Dataset | None = None) -> pd.DataFrame:
    """The video table for ``config`` (a validated config: schema defaults filled in, see
    :func:`steploc.config.validate_config`).

    ``dataset`` is ``load_dataset(config["annotations"], config["videos"])`` when the caller
    already has it; ``fingerprints`` reuses the content hashes of unchanged feature files
    between runs.
    """
    from steploc.datasets import GROUND_TRUTH_K, load_dataset

    fingerprints = fingerprints or FingerprintCache()
    if dataset is None:
        dataset = load_dataset(config["annotations"], config.get("videos", {}))
    videos = dataset.videos
    strategy = config["params"]["k_strategy"]
    fmt = config["annotations"].get("format", "captaincook4d")
    ks = _annotation_k(dataset, strategy, config["params"]["k_fixed"], fmt)

    feat_cfg = config["features"]
    period_cfg = configured_period(feat_cfg)
    found, missing = discover_feature_files(feat_cfg["dir"], feat_cfg["pattern"],
                                            videos["video_id"])
    if missing and feat_cfg["missing"] != "skip":
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise InputError(
            f"no feature file for {len(missing)} video(s) ({shown}) matching "
            f"{feat_cfg['pattern']!r}; set features.missing: skip to record them as skipped",
            path=feat_cfg["dir"],
        )

    rows = []
    for rec in videos.itertuples(index=False):
        vid = rec.video_id
        duration = float(rec.duration_s)
        row = {
            "video_id": vid, "activity_id": int(rec.activity_id),
            "activity_name": rec.activity_name, "n_clusters": ks.get(vid, 0),
            "k_strategy": strategy, "duration_s": duration, "feature_path": None,
            "n_features": None, "feature_dim": None, "feature_period_s": np.nan,
            "feature_dtype": None, "feature_layout": None, "feature_fingerprint": None,
            "shard": None, "status": "ok", "reason": "",
        }
        if vid not in found:
            row.update(status="skipped", reason=f"no feature file matching "
                                                f"{feat_cfg['pattern']!r} in {feat_cfg['dir']}")
            rows.append(row)
            continue
        path = found[vid]
        shape, dtype = read_feature_shape(path, feat_cfg["array_key"], vid)
        n_frames = None if dataset.truth is None else dataset.truth.n_frames(vid)
        layout = resolve_layout(feat_cfg["layout"], shape, n_frames, path, vid)
        n, d = check_feature_shape(shape, path, vid, layout)
        period = feature_period(n, None if np.isnan(duration) else duration, period_cfg,
                                float(feat_cfg["period_tolerance"]), video=vid, path=path)
        row.update(feature_path=str(path), n_features=n, feature_dim=d,
                   feature_period_s=period, feature_dtype=dtype, feature_layout=layout,
                   feature_fingerprint=fingerprints.fingerprint(path))
        rows.append(row)

    out = pd.DataFrame(rows, columns=COLUMNS)
    _check_same_dimension(out)
    if strategy in GROUND_TRUTH_K:
        _ground_truth_k(out, dataset, strategy, config["annotations"]["invalid_steps"])
    ok = out["status"] == "ok"
    shards = assign_shards(out.loc[ok, "video_id"].tolist(), config["batching"]["shards"])
    out.loc[ok, "shard"] = out.loc[ok, "video_id"].map(
        {video: shard for shard, videos in shards.items() for video in videos})
    return out.astype({"n_features": "Int64", "feature_dim": "Int64", "n_clusters": "int64",
                       "activity_id": "int64"})


def _annotation_k(dataset: Dataset, strategy: str, fixed: int | None, fmt: str
                  ) -> dict[str, int]:
    """K of every video for the strategies that need no features (ground-truth K later)."""
    from steploc.datasets import GROUND_TRUTH_K

    videos = dataset.videos
    if strategy == "fixed":
        if fixed is None:
            raise InputError("params.k_strategy 'fixed' needs params.k_fixed (an integer >= 2)")
        return dict.fromkeys(videos["video_id"], int(fixed))
    if strategy in GROUND_TRUTH_K:
        if dataset.truth is None:
            raise InputError(f"params.k_strategy {strategy!r} needs ground truth, and "
                             f"annotations (format {fmt}) give none", path=dataset.source)
        return {}
    if strategy in dataset.k_strategies and dataset.annotation_k is not None:
        return dataset.annotation_k(strategy, videos)
    usable = ["fixed", *dataset.k_strategies,
              *(GROUND_TRUTH_K if dataset.truth is not None else ())]
    raise InputError(f"params.k_strategy {strategy!r} does not apply to annotations.format "
                     f"{fmt} (it takes: {', '.join(usable)})")


def _ground_truth_k(table: pd.DataFrame, dataset: Dataset, strategy: str,
                    invalid_steps: str) -> None:
    """Fill ``n_clusters`` from the ground truth on each video's grid (in place):
    ``video_labels`` = distinct labels of the video (background included when present),
    ``activity_labels`` = distinct labels over the activity's videos."""
    assert dataset.truth is not None
    truth = dataset.truth.check(table)
    labels: dict[str, set[int]] = {}
    for index in table.index[table["status"] == "ok"]:
        r = table.loc[index]
        grid = truth.grid(r.video_id, int(r.n_features), float(r.feature_period_s))
        if isinstance(grid, str):
            if invalid_steps == "skip":
                table.loc[index, ["status", "reason"]] = ["skipped", f"K from the ground truth "
                                                          f"({strategy}) impossible: {grid}"]
                continue
            raise InputError(f"params.k_strategy {strategy!r} needs ground truth for every "
                             f"video: {grid}", video=r.video_id)
        labels[r.video_id] = grid.dataset_labels()
    for _, group in table[table["video_id"].isin(list(labels))].groupby("activity_id"):
        union = set().union(*(labels[v] for v in group["video_id"]))
        for index, video in zip(group.index, group["video_id"], strict=True):
            k = len(labels[video] if strategy == "video_labels" else union)
            table.at[index, "n_clusters"] = k
            if k < 2:
                table.loc[index, ["status", "reason"]] = [
                    "skipped", f"K = {k} from the ground truth ({strategy}): one label only, "
                               "nothing to segment"]


def _check_same_dimension(table: pd.DataFrame) -> None:
    dims = table["feature_dim"].dropna().astype(int)
    if dims.nunique() <= 1:
        return
    common = int(dims.mode().iloc[0])
    odd = table[table["feature_dim"].notna() & (table["feature_dim"] != common)].iloc[0]
    raise InputError(
        f"features have dimension {odd.feature_dim}, but {int((dims == common).sum())} other "
        f"video(s) have {common}: all videos must come from the same feature extractor",
        video=odd.video_id, path=odd.feature_path,
    )


def write_video_table(table: pd.DataFrame, path: str | Path) -> None:
    """Write the table atomically (byte-identical for an identical table)."""
    from steploc.io import atomic_path

    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)


def read_video_table(path: str | Path) -> pd.DataFrame:
    table = pd.read_parquet(path)
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise InputError(f"not a steploc video table (missing columns {missing}); rerun the "
                         "workflow to rebuild it", path=path)
    return table


def video_table_digest(table: pd.DataFrame) -> str:
    """A short content hash of the table: the rerun trigger of the rule that writes it."""
    import hashlib

    rows = pd.util.hash_pandas_object(table[COLUMNS].astype(str), index=False)
    return hashlib.blake2b(rows.to_numpy().tobytes() + ",".join(COLUMNS).encode(),
                           digest_size=12).hexdigest()


_DIGEST_KEY = b"steploc.video_table_digest"


def published_digest(path: str | Path) -> str | None:
    """The digest stored in a published table, ``None`` if absent or unreadable."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        value = (pq.read_schema(path).metadata or {}).get(_DIGEST_KEY)
    except (OSError, pa.ArrowInvalid):
        return None
    return None if value is None else value.decode()


def publish_video_table(table: pd.DataFrame, path: str | Path, lock_path: str | Path) -> bool:
    """Write ``table`` to ``path`` unless the file already holds the same content (its digest
    is stored in the file's metadata). Writing needs the working directory's lock
    (:func:`lock_working_directory`), so a run's table is never replaced under its running
    jobs by another process. Returns whether the file was written."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from steploc.io import atomic_path

    digest = video_table_digest(table)
    path = Path(path)
    locked = lock_working_directory(lock_path)
    if published_digest(path) == digest:
        return False
    if not locked:
        raise InputError("another steploc run is using this working directory with a "
                         "different video table; wait for it to finish, or run in another "
                         "directory (--directory)", path=lock_path)
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    arrow = arrow.replace_schema_metadata({**(arrow.schema.metadata or {}),
                                           _DIGEST_KEY: digest.encode()})
    with atomic_path(path) as tmp:
        pq.write_table(arrow, tmp)
    return True


_RUN_LOCK = None


def lock_working_directory(lock_path: str | Path) -> bool:
    """Try to hold an exclusive lock for the life of this process (released by the operating
    system when the process ends, however it ends). Returns whether this process holds it."""
    import fcntl

    global _RUN_LOCK
    if _RUN_LOCK is not None:
        return True
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(lock_path, "a")  # noqa: SIM115 - held open until the process exits
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return False
    _RUN_LOCK = handle
    return True


def check_feature_paths(rows: list, feature_paths, what: str = "videos") -> None:
    """``feature_paths`` (a job's inputs) must be the video table's files of ``rows``, one
    per video, in the same order."""
    if len(feature_paths) != len(rows):
        raise InputError(f"{len(feature_paths)} feature files given for the {len(rows)} "
                         f"{what} (one per video, in video-id order)")
    for r, path in zip(rows, feature_paths, strict=True):
        if str(path) != str(r.feature_path):
            raise InputError(f"feature file {str(path)!r} is not the video table's "
                             f"{r.feature_path!r} for this video", video=r.video_id)


def load_table_features(rows: list, array_key: str | None = None) -> list[np.ndarray]:
    """The validated ``(T, D)`` features of video-table ``rows``, each file checked against
    the content fingerprint recorded when the table was built."""
    from steploc.features import load_features
    from steploc.fingerprint import file_fingerprint

    arrays = []
    for r in rows:
        if file_fingerprint(r.feature_path) != r.feature_fingerprint:
            raise InputError("the feature file changed while the run was going on (its content "
                             "differs from when the video table was built); run again",
                             video=r.video_id, path=r.feature_path)
        arrays.append(load_features(r.feature_path, array_key, r.video_id,
                                    (int(r.n_features), int(r.feature_dim)),
                                    layout=str(r.feature_layout)))
    return arrays


def shard_rows(table: pd.DataFrame, shard: str) -> pd.DataFrame:
    """The processable videos of one batch job, in id order."""
    rows = table[(table["status"] == "ok") & (table["shard"] == shard)]
    if rows.empty:
        raise InputError(f"no video of the video table is in shard {shard!r}")
    return rows.sort_values("video_id", kind="stable")
