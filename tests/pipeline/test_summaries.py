"""Summary Parquet files: exact Arrow schemas and readability by pandas, polars and duckdb.

Segment outputs are hand-made SYNTHETIC records in the layout the segment stage writes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from steploc.io import write_npz
from steploc.params import COLUMNS
from steploc.summaries import summarize

D = 4

EXPECTED_SEGMENTS = pa.schema([
    ("video_id", pa.string()), ("activity_id", pa.int64()), ("segment_idx", pa.int32()),
    ("start_s", pa.float64()), ("end_s", pa.float64()), ("cluster", pa.int32()),
])
EXPECTED_EMBEDDINGS = pa.schema([
    ("video_id", pa.string()), ("segment_idx", pa.int32()),
    ("embedding", pa.list_(pa.float32(), D)),
])
EXPECTED_VIDEOS = pa.schema([
    ("video_id", pa.string()), ("activity_id", pa.int64()), ("model", pa.string()),
    ("setting", pa.string()), ("status", pa.string()), ("reason", pa.string()),
    ("n_features", pa.int64()), ("n_nodes", pa.int64()), ("n_clusters", pa.int64()),
    ("n_segments", pa.int64()), ("duration_s", pa.float64()), ("feature_period_s", pa.float64()),
])


def params_row(vid, aid, status="ok", reason="", n=None, duration=40.0):
    return {"video_id": vid, "activity_id": aid, "activity_name": "Tiny Toast", "n_clusters": 3,
            "k_strategy": "task_graph_steps", "duration_s": duration,
            "feature_path": None if status != "ok" else f"/syn/{vid}_synthetic.npy",
            "n_features": n, "feature_dim": None if n is None else D,
            "feature_period_s": 1.0 if status == "ok" else np.nan,
            "feature_dtype": None if n is None else "float32", "status": status,
            "reason": reason}


def segment_record(vid, starts, ends, clusters, status="ok", reason="", n_features=40,
                   n_nodes=10):
    s = len(clusters)
    emb = (np.arange(s * D, dtype=np.float32).reshape(s, D) + 0.5) if s else np.zeros((0, D), np.float32)
    return {"format": 1, "video_id": vid, "model": "raw", "setting": "fast", "status": status,
            "reason": reason, "n_clusters_requested": 3, "n_nodes": n_nodes,
            "n_features": n_features, "feature_period_s": 1.0, "duration_s": 40.0,
            "n_clusters": 3 if s else 0,
            "node_labels_raw": np.zeros(n_nodes, np.int64), "node_labels": np.zeros(n_nodes, np.int64),
            "segment_start_node": np.zeros(s, np.int64), "segment_end_node": np.zeros(s, np.int64),
            "segment_cluster": np.asarray(clusters, np.int64),
            "segment_start_s": np.asarray(starts, np.float64),
            "segment_end_s": np.asarray(ends, np.float64), "step_embeddings": emb}


@pytest.fixture
def written(tmp_path):
    """Three videos: two clustered (3 and 2 segments), one short (recorded skip), plus one
    skipped by the params stage (no features)."""
    seg_dir = tmp_path / "segments"
    records = {
        "1_7": segment_record("1_7", [0.0, 12.0, 28.0], [12.0, 28.0, 40.0], [2, 0, 1]),
        "1_70": segment_record("1_70", [0.0, 20.0], [20.0, 40.0], [1, 0]),
        "2_4": segment_record("2_4", [], [], [], status="skipped",
                              reason="too short to cluster: 3 nodes < K = 4 clusters",
                              n_features=10, n_nodes=3),
    }
    files = {}
    for vid, rec in records.items():
        files[vid] = seg_dir / f"{vid}.npz"
        write_npz(files[vid], rec)
    params = pd.DataFrame([
        params_row("1_7", 1, n=40), params_row("1_70", 1, n=40), params_row("2_4", 2, n=10),
        params_row("1_8", 1, status="skipped", reason="no feature file matching 'x'"),
    ], columns=COLUMNS)
    out = tmp_path / "summary"
    counts = summarize(params, files, "raw", "fast", out)
    return out, counts


def test_exact_schemas(written):
    out, counts = written
    assert counts == {"videos": 4, "segments": 5, "skipped": 2}
    assert pq.read_schema(out / "segments.parquet").equals(EXPECTED_SEGMENTS)
    assert pq.read_schema(out / "step_embeddings.parquet").equals(EXPECTED_EMBEDDINGS)
    assert pq.read_schema(out / "videos.parquet").equals(EXPECTED_VIDEOS)
    assert sorted(p.name for p in out.iterdir()) == [
        "segments.parquet", "step_embeddings.parquet", "videos.parquet"]  # no temp files


def test_contents_with_pandas(written):
    out, _ = written
    seg = pd.read_parquet(out / "segments.parquet")
    assert list(seg["video_id"]) == ["1_7"] * 3 + ["1_70"] * 2
    assert list(seg["segment_idx"]) == [0, 1, 2, 0, 1]
    assert list(seg["cluster"]) == [2, 0, 1, 1, 0]
    assert list(seg["end_s"]) == [12.0, 28.0, 40.0, 20.0, 40.0]
    vids = pd.read_parquet(out / "videos.parquet").set_index("video_id")
    assert list(vids.index) == ["1_7", "1_70", "2_4", "1_8"]
    assert vids.at["2_4", "status"] == "skipped" and "too short" in vids.at["2_4", "reason"]
    assert vids.at["1_8", "status"] == "skipped" and "no feature file" in vids.at["1_8", "reason"]
    assert vids.at["1_8", "n_clusters"] == 0 and pd.isna(vids.at["1_8", "n_features"])
    assert vids.at["1_7", "n_segments"] == 3 and vids.at["1_7", "n_clusters"] == 3
    assert set(vids["model"]) == {"raw"} and set(vids["setting"]) == {"fast"}
    emb = pd.read_parquet(out / "step_embeddings.parquet")
    np.testing.assert_allclose(np.stack(emb["embedding"].to_numpy())[1], [4.5, 5.5, 6.5, 7.5])


def test_readable_by_polars(written):
    pl = pytest.importorskip("polars")
    out, _ = written
    emb = pl.read_parquet(out / "step_embeddings.parquet")
    assert emb.schema["embedding"] == pl.Array(pl.Float32, D)
    assert emb.height == 5
    assert emb["embedding"].to_numpy()[0].tolist() == [0.5, 1.5, 2.5, 3.5]
    seg = pl.read_parquet(out / "segments.parquet")
    assert seg.schema["segment_idx"] == pl.Int32 and seg.schema["activity_id"] == pl.Int64
    vids = pl.read_parquet(out / "videos.parquet")
    assert vids.filter(pl.col("status") == "ok").height == 2


def test_readable_by_duckdb(written):
    duckdb = pytest.importorskip("duckdb")
    out, _ = written
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT video_id, count(*) AS n, min(start_s), max(end_s) "
        f"FROM read_parquet('{out / 'segments.parquet'}') GROUP BY video_id ORDER BY video_id"
    ).fetchall()
    assert rows == [("1_7", 3, 0.0, 40.0), ("1_70", 2, 0.0, 40.0)]
    types = dict(con.execute(
        f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM "
        f"read_parquet('{out / 'step_embeddings.parquet'}'))").fetchall())
    # Parquet stores a fixed-size list as a list; duckdb reads it as FLOAT[] (pandas, polars
    # and pyarrow restore the fixed size from the stored Arrow schema).
    assert types["embedding"] in ("FLOAT[]", f"FLOAT[{D}]")
    lengths = con.execute(
        f"SELECT DISTINCT len(embedding) FROM read_parquet('{out / 'step_embeddings.parquet'}')"
    ).fetchall()
    assert lengths == [(D,)]
    first = con.execute(
        f"SELECT embedding FROM read_parquet('{out / 'step_embeddings.parquet'}') "
        f"WHERE video_id = '1_70' AND segment_idx = 1").fetchone()[0]
    assert list(first) == [4.5, 5.5, 6.5, 7.5]  # row 1 of 1_70's hand-made embeddings


def test_missing_segment_output_fails_and_writes_nothing(tmp_path):
    seg = tmp_path / "1_7.npz"
    write_npz(seg, segment_record("1_7", [0.0], [40.0], [0]))
    params = pd.DataFrame([params_row("1_7", 1, n=40), params_row("1_70", 1, n=40)],
                          columns=COLUMNS)
    out = tmp_path / "summary"
    with pytest.raises(ValueError, match="1_70"):
        summarize(params, {"1_7": seg}, "raw", "fast", out)
    assert not out.exists() or list(out.iterdir()) == []


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    from steploc.io import atomic_path

    target = tmp_path / "out" / "videos.parquet"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("interrupted")
    assert list((tmp_path / "out").iterdir()) == []
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"whole")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["videos.parquet"]
    assert target.read_bytes() == b"whole"
