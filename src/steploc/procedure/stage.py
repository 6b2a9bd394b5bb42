"""The procedure stage of the workflow: one model x setting, every activity.

Reads the summary tables (and the ground truth when there is one), clusters the step
embeddings of each activity jointly (:func:`~steploc.procedure.cluster.procedure_steps`),
describes and checks the clusters, scores them under the activity-level protocol and writes:

``results/procedure/{model}/{setting}/steps.parquet``, ``clusters.parquet``,
``quality.parquet`` (skipped activities are rows with their reason) and
``results/metrics/{model}/{setting}/activity_level.parquet`` (procedure steps, and the raw
per-video cluster ids under the same protocol as a reference row).

K_a per activity (``procedure.k_strategy``) is decided at parse time by
:func:`procedure_k` and arrives on the command line.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from steploc.datasets import Dataset
from steploc.errors import InputError
from steploc.intermediate import write_table
from steploc.procedure.cluster import (
    SKIPPED_SCHEMA,
    STEPS_SCHEMA,
    activity_features,
    procedure_steps,
)
from steploc.procedure.describe import CLUSTER_TABLE_SCHEMA, cluster_table
from steploc.procedure.quality import QUALITY_SCHEMA, quality_from_steps
from steploc.procedure.scoring import (
    ACTIVITY_SCORES_SCHEMA,
    activity_level_scores,
    raw_cluster_activity_scores,
)

K_STRATEGIES = ("auto", "task_graph", "activity_labels", "fixed")


def procedure_k(strategy: str, k_fixed: int | None, video_table: pd.DataFrame,
                dataset: Dataset, fmt: str) -> dict[int, int]:
    """K_a of every activity of the video table.

    ``task_graph``: CaptainCook4D task-graph steps; ``activity_labels``: distinct ground-truth
    labels over the activity's videos (background included when present); ``fixed``:
    ``k_fixed``; ``auto``: ``task_graph`` for CaptainCook4D, else ``activity_labels``.
    """
    activities = sorted(set(video_table["activity_id"].astype(int)))
    if strategy == "auto":
        strategy = "task_graph" if fmt == "captaincook4d" else "activity_labels"
    if strategy == "fixed":
        if k_fixed is None:
            raise InputError("procedure.k_strategy 'fixed' needs procedure.k_fixed")
        return dict.fromkeys(activities, int(k_fixed))
    if strategy == "task_graph":
        if "task_graph_steps" not in dataset.k_strategies or dataset.annotation_k is None:
            raise InputError(f"procedure.k_strategy 'task_graph' needs CaptainCook4D task "
                             f"graphs (annotations.format is {fmt})")
        first = video_table.groupby("activity_id", sort=True).head(1)
        ks = dataset.annotation_k("task_graph_steps", first)
        return {int(a): ks[v] for a, v in zip(first["activity_id"], first["video_id"],
                                               strict=True)}
    if strategy == "activity_labels":
        if dataset.truth is None:
            raise InputError("procedure.k_strategy 'activity_labels' needs ground truth; set "
                             "procedure.k_strategy: fixed and procedure.k_fixed",
                             path=dataset.source)
        truth = dataset.truth.check(video_table)
        labels: dict[int, set[int]] = {}
        for r in video_table[video_table["status"] == "ok"].itertuples(index=False):
            grid = truth.grid(r.video_id, int(r.n_features), float(r.feature_period_s))
            if not isinstance(grid, str):
                labels.setdefault(int(r.activity_id), set()).update(grid.dataset_labels())
        return {a: len(v) for a, v in labels.items()}
    raise InputError(f"procedure.k_strategy {strategy!r} is unknown (known: "
                     f"{', '.join(K_STRATEGIES)})")


def quality_with_skips(quality: pd.DataFrame, skipped: pd.DataFrame) -> pd.DataFrame:
    """One quality row per activity: clustered ones with their indices, skipped ones with
    NaN indices and the reason they were skipped."""
    rows = [{"activity_id": int(r.activity_id), "n_segments": int(r.n_segments), "k": int(r.k),
             "silhouette": np.nan, "davies_bouldin": np.nan, "calinski_harabasz": np.nan,
             "reason": f"skipped: {r.reason}"} for r in skipped.itertuples(index=False)]
    kept = quality[~quality["activity_id"].isin(skipped["activity_id"])]
    table = pd.concat([kept, pd.DataFrame(rows, columns=QUALITY_SCHEMA.names)],
                      ignore_index=True) if rows else kept
    return table.sort_values("activity_id", kind="stable").reset_index(drop=True)


def run_procedure(segments_path, embeddings_path, videos_path, ground_truth_path,
                  k_by_activity: dict[int, int], options: dict, model: str, setting: str,
                  steps_out, clusters_out, quality_out, activity_level_out) -> dict[str, int]:
    """The stage for one model x setting (``options``: the ``procedure`` config section).
    ``ground_truth_path`` is ``None`` when there is no ground truth (no descriptions, no
    activity-level scores: an empty table)."""
    from steploc.ground_truth import read_ground_truth

    segments = pd.read_parquet(segments_path)
    embeddings = pd.read_parquet(embeddings_path)
    videos = pd.read_parquet(videos_path)
    common = {"position_weight": float(options["position_weight"])}
    steps, skipped = procedure_steps(
        segments, embeddings, videos, k_by_activity, method=options["method"],
        random_state=int(options["random_state"]), n_init=int(options["n_init"]),
        linkage=options["linkage"], **common)
    features = activity_features(segments, embeddings, videos, **common)
    quality = quality_with_skips(quality_from_steps(features, steps), skipped)

    truth = None if ground_truth_path is None else read_ground_truth(ground_truth_path)
    clusters = cluster_table(steps, truth)
    scores = ACTIVITY_SCORES_SCHEMA.empty_table().to_pandas()
    if truth is not None and len(segments):  # nothing to score when every video was skipped
        scores = pd.concat([
            activity_level_scores(steps, segments, truth, videos=videos,
                                  k_by_activity=k_by_activity),
            raw_cluster_activity_scores(segments, truth, videos=videos)], ignore_index=True)
    scores.insert(0, "setting", setting)
    scores.insert(0, "model", model)

    write_table(_arrow(steps, STEPS_SCHEMA), steps_out)
    write_table(_arrow(clusters, CLUSTER_TABLE_SCHEMA), clusters_out)
    write_table(_arrow(quality, QUALITY_SCHEMA), quality_out)
    write_table(_arrow(scores, None), activity_level_out)
    return {"segments": len(steps), "activities_clustered": int(steps["activity_id"].nunique()),
            "activities_skipped": len(skipped)}


def _arrow(frame: pd.DataFrame, schema: pa.Schema | None) -> pa.Table:
    if schema is None:
        return pa.Table.from_pandas(frame, preserve_index=False)
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)


__all__ = ["K_STRATEGIES", "SKIPPED_SCHEMA", "procedure_k", "quality_with_skips",
           "run_procedure"]


def read_k_by_activity(text: str) -> dict[int, int]:
    """The ``{activity: K_a}`` JSON of the command line (keys arrive as strings)."""
    import json

    return {int(a): int(k) for a, k in json.loads(text).items()}
