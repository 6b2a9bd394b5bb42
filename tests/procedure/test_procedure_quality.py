"""quality_table equals scikit-learn's indices on the same SYNTHETIC arrays; undefined cases
give NaN with a reason."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

from steploc.procedure import (
    QUALITY_SCHEMA,
    activity_features,
    procedure_steps,
    quality_from_steps,
    quality_table,
)


def _synthetic_blobs(seed=0):
    rng = np.random.default_rng(seed)
    labels = np.repeat([0, 1, 2], [7, 5, 8])
    centres = rng.normal(scale=3.0, size=(3, 4))
    return centres[labels] + rng.normal(size=(20, 4)), labels


def test_synthetic_indices_equal_sklearn():
    x, y = _synthetic_blobs()
    x2, y2 = _synthetic_blobs(seed=1)
    y2 = np.where(y2 == 2, 1, y2)  # two clusters
    table = quality_table({3: x, 1: x2}, {3: y, 1: y2})
    assert list(table.columns) == QUALITY_SCHEMA.names
    pa.Table.from_pandas(table, schema=QUALITY_SCHEMA, preserve_index=False)
    assert table["activity_id"].tolist() == [1, 3]
    row = table.set_index("activity_id").loc[3]
    assert row["k"] == 3 and row["n_segments"] == 20 and row["reason"] == ""
    assert row["silhouette"] == pytest.approx(silhouette_score(x, y), rel=1e-12)
    assert row["davies_bouldin"] == pytest.approx(davies_bouldin_score(x, y), rel=1e-12)
    assert row["calinski_harabasz"] == pytest.approx(calinski_harabasz_score(x, y), rel=1e-12)
    other = table.set_index("activity_id").loc[1]
    assert other["k"] == 2
    assert other["silhouette"] == pytest.approx(silhouette_score(x2, y2), rel=1e-12)
    assert other["silhouette"] != pytest.approx(row["silhouette"])  # rows are not mixed up


def test_synthetic_undefined_cases_are_nan_with_a_reason():
    x, _ = _synthetic_blobs()
    table = quality_table({1: x, 2: x[:3], 3: np.zeros((0, 4))},
                          {1: np.zeros(20, int), 2: np.arange(3), 3: np.zeros(0, int)}).set_index("activity_id")
    assert table.loc[1, "reason"] == "a single cluster" and table.loc[1, "k"] == 1
    assert table.loc[2, "reason"] == "as many clusters as segments"
    assert table.loc[3, "reason"] == "no segments"
    assert table[["silhouette", "davies_bouldin", "calinski_harabasz"]].isna().all().all()


def test_synthetic_mismatched_inputs_raise():
    x, y = _synthetic_blobs()
    with pytest.raises(ValueError, match="different activities"):
        quality_table({1: x}, {2: y})
    with pytest.raises(ValueError, match="activity 1"):
        quality_table({1: x}, {1: y[:-1]})


def test_synthetic_quality_of_procedure_steps(synthetic):
    steps, _ = procedure_steps(synthetic.segments, synthetic.embeddings, synthetic.videos, {1: 4, 2: 5})
    features = activity_features(synthetic.segments, synthetic.embeddings, synthetic.videos)
    table = quality_from_steps(features, steps).set_index("activity_id")
    x, y = features[1].features, steps.loc[steps["activity_id"] == 1, "step_id"].to_numpy()
    assert table.loc[1, "silhouette"] == pytest.approx(silhouette_score(x, y), rel=1e-12)
    assert table.loc[1, "silhouette"] > 0.8  # well-separated synthetic steps
    assert table.loc[2, "reason"] == "activity not clustered"
    # alignment is by (video_id, segment_idx), not by row order
    shuffled = steps.sample(frac=1.0, random_state=0)
    assert quality_from_steps(features, shuffled).equals(quality_from_steps(features, steps))
