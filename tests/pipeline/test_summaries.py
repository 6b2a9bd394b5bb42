"""Summary Parquet files: exact Arrow schemas and readability by pandas, polars and duckdb.

Segment outputs are hand-made SYNTHETIC records in the layout the segment stage writes.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from steploc.intermediate import (
    SEGMENT_VIDEOS_SCHEMA,
    fixed_size_rows,
    shard_segments_schema,
    write_table,
)
from steploc.summaries import summarize
from steploc.video_table import COLUMNS

D = 4

EXPECTED_SEGMENTS = pa.schema([
    ("video_id", pa.string()), ("activity_id", pa.int64()), ("segment_idx", pa.int32()),
    ("start_s", pa.float64()), ("end_s", pa.float64()), ("cluster", pa.int32()),
    ("start_feature", pa.int64()), ("end_feature", pa.int64()),
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
    ("n_clusters_requested", pa.int64()), ("note", pa.string()),
])


def table_row(vid, aid, status="ok", reason="", n=None, duration=40.0, period=1.0, shard="s"):
    return {"video_id": vid, "activity_id": aid, "activity_name": "Tiny Toast", "n_clusters": 3,
            "k_strategy": "task_graph_steps", "duration_s": duration,
            "feature_path": None if status != "ok" else f"/syn/{vid}_synthetic.npy",
            "n_features": n, "feature_dim": None if n is None else D,
            "feature_period_s": period if status == "ok" else np.nan,
            "feature_dtype": None if n is None else "float32", "feature_fingerprint": None,
            "shard": shard if status == "ok" else None, "status": status, "reason": reason}


def write_shard(path_stem, videos):
    """SYNTHETIC shard tables of the segment stage: ``videos`` maps id -> (feature row
    boundaries, clusters, status, reason)."""
    seg = {k: [] for k in ("video_id", "segment_idx", "start_node", "end_node", "start_feature",
                           "end_feature", "cluster")}
    emb, rows = [], []
    for vid, (bounds, clusters, status, reason) in videos.items():
        n_seg = len(clusters)
        seg["video_id"] += [vid] * n_seg
        seg["segment_idx"] += list(range(n_seg))
        seg["start_node"] += [0] * n_seg
        seg["end_node"] += [0] * n_seg
        seg["start_feature"] += bounds[:-1]
        seg["end_feature"] += bounds[1:]
        seg["cluster"] += list(clusters)
        emb.append(np.arange(n_seg * D, dtype=np.float32).reshape(n_seg, D) + 0.5)
        rows.append({"video_id": vid, "model": "raw", "setting": "fast", "status": status,
                     "reason": reason, "n_nodes": 10 if status == "ok" else 3,
                     "n_clusters_requested": 3, "n_clusters": 3 if n_seg else 0, "note": "",
                     "node_labels_raw": [], "node_labels": []})
    columns = {k: pa.array(v, shard_segments_schema(D).field(k).type) for k, v in seg.items()}
    table = pa.table({**columns, "embedding": fixed_size_rows(emb, D)},
                     schema=shard_segments_schema(D))
    segments, videos_path = f"{path_stem}.segments.parquet", f"{path_stem}.videos.parquet"
    write_table(table, segments)
    write_table(pa.Table.from_pylist(rows, schema=SEGMENT_VIDEOS_SCHEMA), videos_path)
    return segments, videos_path


def run_summarize(table, shards, out):
    return summarize(table, [s for s, _ in shards], [v for _, v in shards], "raw", "fast",
                     out / "segments.parquet", out / "step_embeddings.parquet",
                     out / "videos.parquet")


@pytest.fixture
def written(tmp_path):
    """Three videos in two shards: two clustered (3 and 2 segments), one short (recorded skip),
    plus one skipped when the video table was built (no features)."""
    (tmp_path / "segments").mkdir()
    shards = [
        write_shard(tmp_path / "segments" / "a", {
            "1_7": ([0, 12, 28, 40], [2, 0, 1], "ok", ""),
            "2_4": ([], [], "skipped", "too short to cluster: 3 nodes < K = 4 clusters")}),
        write_shard(tmp_path / "segments" / "b", {"1_70": ([0, 20, 40], [1, 0], "ok", "")}),
    ]
    table = pd.DataFrame([
        table_row("1_7", 1, n=40, shard="a"), table_row("1_70", 1, n=40, shard="b"),
        table_row("2_4", 2, n=10, shard="a"),
        table_row("1_8", 1, status="skipped", reason="no feature file matching 'x'"),
    ], columns=COLUMNS)
    out = tmp_path / "summary"
    counts = run_summarize(table, shards, out)
    return out, counts


def test_seconds_from_feature_rows_period_and_duration(tmp_path):
    """0.5 s per feature: rows [0, 30) and [30, 80) are [0, 15) and [15, 40) s, but the video
    lasts 39.7 s (a last partial window), so the last segment ends there."""
    shards = [write_shard(tmp_path / "s", {"1_7": ([0, 30, 80], [1, 0], "ok", "")})]
    table = pd.DataFrame([table_row("1_7", 1, n=80, duration=39.7, period=0.5)], columns=COLUMNS)
    run_summarize(table, shards, tmp_path / "out")
    seg = pd.read_parquet(tmp_path / "out" / "segments.parquet")
    np.testing.assert_allclose(seg["start_s"], [0.0, 15.0])
    np.testing.assert_allclose(seg["end_s"], [15.0, 39.7])
    assert list(seg["end_feature"]) == [30, 80]


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
    shards = [write_shard(tmp_path / "a", {"1_7": ([0, 40], [0], "ok", "")})]
    table = pd.DataFrame([table_row("1_7", 1, n=40), table_row("1_70", 1, n=40)], columns=COLUMNS)
    out = tmp_path / "summary"
    with pytest.raises(ValueError, match="1_70"):
        run_summarize(table, shards, out)
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
