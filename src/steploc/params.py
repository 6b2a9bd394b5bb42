"""The params table: one row per video, everything later stages need to know about it.

Built from the annotation files and the feature folder. Columns:
``video_id, activity_id, activity_name, n_clusters, k_strategy, duration_s, feature_path,
n_features, feature_dim, feature_period_s, feature_dtype, status, reason``.
``status`` is ``ok``, or ``skipped`` for a video without features under
``features.missing: skip`` (``reason`` says why; its feature columns are empty).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from steploc import annotations as ann
from steploc.errors import InputError
from steploc.features import check_feature_shape, discover_feature_files, feature_period, read_feature_shape
from steploc.fingerprint import FingerprintCache

COLUMNS = [
    "video_id", "activity_id", "activity_name", "n_clusters", "k_strategy", "duration_s",
    "feature_path", "n_features", "feature_dim", "feature_period_s", "feature_dtype",
    "feature_fingerprint", "status", "reason",
]


def annotation_paths(annotations_cfg: dict) -> dict[str, Path | None]:
    """Absolute-or-relative paths of the annotation files (``None`` for an unset optional one)."""
    root = Path(annotations_cfg.get("root", "."))
    out: dict[str, Path | None] = {}
    for key, default in ann.DEFAULT_FILES.items():
        value = annotations_cfg.get(key, default)
        out[key] = None if value in (None, "") else root / value
    return out


def select_videos(recordings: pd.DataFrame, selection: dict, path: Path) -> pd.DataFrame:
    """Recordings chosen by ``videos.{activity_ids, recording_ids, max_per_activity}``."""
    chosen = recordings
    activity_ids = selection.get("activity_ids") or []
    recording_ids = [str(r) for r in (selection.get("recording_ids") or [])]
    if activity_ids:
        unknown = sorted(set(activity_ids) - set(recordings["activity_id"]))
        if unknown:
            raise InputError(f"videos.activity_ids {unknown} have no recordings", path=path)
        chosen = chosen[chosen["activity_id"].isin(activity_ids)]
    if recording_ids:
        unknown = sorted(set(recording_ids) - set(recordings["recording_id"]))
        if unknown:
            raise InputError(f"videos.recording_ids {unknown} are not in the recordings file",
                             path=path)
        chosen = chosen[chosen["recording_id"].isin(recording_ids)]
    limit = selection.get("max_per_activity")
    if limit:
        chosen = chosen.groupby("activity_id", sort=False).head(int(limit))
    if chosen.empty:
        raise InputError("the video selection is empty", path=path)
    return chosen.reset_index(drop=True)


def build_params_table(config: dict, fingerprints: FingerprintCache | None = None
                       ) -> pd.DataFrame:
    """The params table for ``config`` (the workflow config after schema defaults).

    ``fingerprints`` reuses the content hashes of unchanged feature files between runs.
    """
    fingerprints = fingerprints or FingerprintCache()
    paths = annotation_paths(config["annotations"])
    activities = ann.read_activities(paths["activities"])
    recordings = select_videos(ann.read_recordings(paths["recordings"]),
                               config.get("videos", {}), paths["recordings"])

    unknown = recordings[~recordings["activity_id"].isin(activities["activity_id"])]
    if len(unknown):
        row = unknown.iloc[0]
        raise InputError(
            f"activity {row.activity_id} is not in {paths['activities']}",
            video=row.recording_id, path=paths["recordings"],
        )
    table = recordings.merge(activities, on="activity_id", how="left", validate="many_to_one")

    params_cfg = config.get("params", {})
    strategy = params_cfg.get("k_strategy", "task_graph_steps")
    fixed = params_cfg.get("k_fixed")
    graphs: dict[int, ann.TaskGraph] = {}
    if strategy in ("task_graph_nodes", "task_graph_steps"):
        needed = activities[activities["activity_id"].isin(table["activity_id"])]
        graphs = ann.load_task_graphs(paths["task_graphs"], needed)
    recording_steps = pd.Series(dtype="int64")
    if strategy == "recording_steps":
        recording_steps = ann.recording_step_counts(ann.read_step_annotations(paths["step_annotations"]))

    durations = pd.Series(dtype="float64")
    if paths["video_metadata"] is not None:
        durations = ann.read_video_durations(paths["video_metadata"])

    feat_cfg = config["features"]
    found, missing = discover_feature_files(feat_cfg["dir"], feat_cfg.get("pattern", "{video_id}.npy"),
                                            table["recording_id"])
    if missing and feat_cfg.get("missing", "error") != "skip":
        shown = ", ".join(missing[:10]) + (" ..." if len(missing) > 10 else "")
        raise InputError(
            f"no feature file for {len(missing)} video(s) ({shown}) matching "
            f"{feat_cfg.get('pattern')!r}; set features.missing: skip to record them as skipped",
            path=feat_cfg["dir"],
        )

    rows = []
    for rec in table.itertuples(index=False):
        vid = rec.recording_id
        try:
            k = ann.n_clusters(strategy, graphs.get(rec.activity_id),
                               recording_steps.get(vid), fixed)
        except InputError as exc:
            raise InputError(exc.problem, video=vid) from exc
        if k < 2:
            graph = graphs.get(rec.activity_id)
            raise InputError(
                f"k_strategy {strategy!r} gives K = {k} cluster(s); spectral clustering needs "
                "at least 2", video=vid, path=None if graph is None else graph.path)
        duration = float(durations[vid]) if vid in durations.index else np.nan
        row = {
            "video_id": vid, "activity_id": int(rec.activity_id),
            "activity_name": rec.activity_name, "n_clusters": k, "k_strategy": strategy,
            "duration_s": duration, "feature_path": None, "n_features": None,
            "feature_dim": None, "feature_period_s": np.nan, "feature_dtype": None,
            "feature_fingerprint": None, "status": "ok", "reason": "",
        }
        if vid not in found:
            row.update(status="skipped", reason=f"no feature file matching "
                                                f"{feat_cfg.get('pattern')!r} in {feat_cfg['dir']}")
            rows.append(row)
            continue
        path = found[vid]
        shape, dtype = read_feature_shape(path, feat_cfg.get("array_key"), vid)
        n, d = check_feature_shape(shape, path, vid)
        period = feature_period(n, None if np.isnan(duration) else duration,
                                feat_cfg.get("period_s"), float(feat_cfg.get("period_tolerance", 0.05)),
                                video=vid, path=path)
        row.update(feature_path=str(path), n_features=n, feature_dim=d,
                   feature_period_s=period, feature_dtype=dtype,
                   feature_fingerprint=fingerprints.fingerprint(path))
        rows.append(row)

    out = pd.DataFrame(rows, columns=COLUMNS)
    _check_same_dimension(out)
    return out.astype({"n_features": "Int64", "feature_dim": "Int64", "n_clusters": "int64",
                       "activity_id": "int64"})


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


def write_params_table(table: pd.DataFrame, path: str | Path) -> None:
    from steploc.io import atomic_path

    with atomic_path(path) as tmp:
        table.to_parquet(tmp, index=False)
