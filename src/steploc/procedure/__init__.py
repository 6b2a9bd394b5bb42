"""The procedure stage's library: a cross-video step vocabulary per activity.

The segment stage clusters each video on its own, so its cluster ids are per video (cluster 3
of one video has nothing to do with cluster 3 of another). This package clusters the segments
of **all** videos of an activity jointly, so that one step id means one step in every video
(the premise of the activity-level protocol, ``docs/datasets.md`` §2), and describes, checks
and scores that vocabulary. One concept per module:

* :mod:`~steploc.procedure.cluster` — segment features and the joint clustering
  (:func:`procedure_steps`);
* :mod:`~steploc.procedure.describe` — per step: size, order, ground-truth step it covers
  (:func:`cluster_table`);
* :mod:`~steploc.procedure.quality` — internal cluster-quality indices (:func:`quality_table`);
* :mod:`~steploc.procedure.scoring` — the activity-level protocol: one Hungarian matching per
  activity (:func:`activity_level_scores`, :func:`raw_cluster_activity_scores`).
"""

from steploc.procedure.cluster import (
    SKIPPED_SCHEMA,
    STEPS_SCHEMA,
    ActivityFeatures,
    activity_features,
    k_from_videos,
    procedure_steps,
)
from steploc.procedure.describe import (
    CLUSTER_TABLE_SCHEMA,
    cluster_table,
    frame_label_intervals,
    ground_truth_intervals,
)
from steploc.procedure.quality import QUALITY_SCHEMA, quality_from_steps, quality_table
from steploc.procedure.scoring import (
    ACTIVITY_SCORES_SCHEMA,
    activity_level_scores,
    raw_cluster_activity_scores,
    score_activity,
)

__all__ = [
    "ACTIVITY_SCORES_SCHEMA",
    "CLUSTER_TABLE_SCHEMA",
    "QUALITY_SCHEMA",
    "SKIPPED_SCHEMA",
    "STEPS_SCHEMA",
    "ActivityFeatures",
    "activity_features",
    "activity_level_scores",
    "cluster_table",
    "frame_label_intervals",
    "ground_truth_intervals",
    "k_from_videos",
    "procedure_steps",
    "quality_from_steps",
    "quality_table",
    "raw_cluster_activity_scores",
    "score_activity",
]
