"""Narration tables: the accepted layouts, and bad rows failing with an error that names them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from steploc.errors import InputError
from steploc.hiero.training import read_narrations, validate_narrations

DURATIONS = {"vidA": 100.0, "vidB": 50.0}
DIM = 4
IDS = ["vidA", "vidA", "vidB"]
TIMES = [1.5, 99.0, 0.0]
VECTORS = np.arange(12, dtype=np.float32).reshape(3, DIM)


def _wide(ids=IDS, times=TIMES, vectors=VECTORS) -> pd.DataFrame:
    frame = pd.DataFrame({"video_id": ids, "time_s": times})
    for j in range(np.asarray(vectors).shape[1]):
        frame[f"v{j}"] = np.asarray(vectors)[:, j]
    return frame


def _parquet_list(path, ids=IDS, times=TIMES, vectors=None):
    vectors = [list(map(float, v)) for v in VECTORS] if vectors is None else vectors
    pq.write_table(pa.table({"video_id": ids, "time_s": times, "vector": vectors}), path)
    return path


def _check(table):
    assert table.video_id.tolist() == IDS
    assert table.time_s.tolist() == TIMES
    np.testing.assert_array_equal(np.asarray(table.vectors)[table.vector_row], VECTORS)


def test_parquet_list_column(tmp_path):
    _check(read_narrations(_parquet_list(tmp_path / "n.parquet"), durations=DURATIONS, dim=DIM))


def test_parquet_fixed_size_list(tmp_path):
    column = pa.FixedSizeListArray.from_arrays(pa.array(VECTORS.ravel()), DIM)
    pq.write_table(pa.table({"video_id": IDS, "time_s": TIMES, "vector": column}),
                   tmp_path / "n.parquet")
    _check(read_narrations(tmp_path / "n.parquet", durations=DURATIONS, dim=DIM))


def test_parquet_and_csv_wide_columns(tmp_path):
    _wide().to_parquet(tmp_path / "n.parquet")
    _wide().to_csv(tmp_path / "n.csv", index=False)
    _check(read_narrations(tmp_path / "n.parquet", durations=DURATIONS, dim=DIM))
    _check(read_narrations(tmp_path / "n.csv", durations=DURATIONS, dim=DIM))


def test_csv_vector_text_column(tmp_path):
    frame = pd.DataFrame({"video_id": IDS, "time_s": TIMES,
                          "vector": ["[0, 1, 2, 3]", "4 5 6 7", "8,9,10,11"]})
    frame.to_csv(tmp_path / "n.csv", index=False)
    _check(read_narrations(tmp_path / "n.csv", durations=DURATIONS, dim=DIM))


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_table_with_npy_vectors(tmp_path, suffix):
    np.save(tmp_path / "vectors.npy", VECTORS[::-1].astype(np.float16))
    frame = pd.DataFrame({"video_id": IDS, "time_s": TIMES, "row": [2, 1, 0], "text": "x"})
    path = tmp_path / f"n.{suffix}"
    frame.to_parquet(path) if suffix == "parquet" else frame.to_csv(path, index=False)
    table = read_narrations(path, vectors=tmp_path / "vectors.npy", durations=DURATIONS, dim=DIM)
    assert isinstance(table.vectors, np.memmap)
    _check(table)


# --------------------------------------------------------------------------- bad rows
def test_unknown_video_names_the_row(tmp_path):
    _wide(ids=["vidA", "vidC", "vidB"]).to_csv(tmp_path / "n.csv", index=False)
    with pytest.raises(InputError, match=r"narration row 1, line 3 \(video_id 'vidC'.*unknown "
                                         r"video id") as info:
        read_narrations(tmp_path / "n.csv", durations=DURATIONS, dim=DIM)
    assert info.value.video == "vidC" and info.value.path.endswith("n.csv")
    kept = read_narrations(tmp_path / "n.csv", durations=DURATIONS, dim=DIM,
                           unknown_videos="drop")
    assert kept.video_id.tolist() == ["vidA", "vidB"] and kept.row_number(1) == 2


@pytest.mark.parametrize("time,row", [(50.0, 2), (-0.5, 2), (100.0, 1)])
def test_time_outside_the_video_names_the_row(tmp_path, time, row):
    times = list(TIMES)
    times[row] = time
    _parquet_list(tmp_path / "n.parquet", times=times)
    with pytest.raises(InputError, match=rf"narration row {row} .*outside the video"):
        read_narrations(tmp_path / "n.parquet", durations=DURATIONS, dim=DIM)
    kept = read_narrations(tmp_path / "n.parquet", durations=DURATIONS, outside="drop")
    assert len(kept) == 2


def test_wrong_vector_size_names_the_row(tmp_path):
    vectors = [list(map(float, v)) for v in VECTORS]
    vectors[2] = vectors[2][:3]
    _parquet_list(tmp_path / "n.parquet", vectors=vectors)
    with pytest.raises(InputError, match=r"narration row 2 \(video_id 'vidB'\).*3 values"):
        read_narrations(tmp_path / "n.parquet")
    frame = pd.DataFrame({"video_id": IDS, "time_s": TIMES,
                          "vector": ["0 1 2 3", "4 5 6", "8 9 10 11"]})
    frame.to_csv(tmp_path / "n.csv", index=False)
    with pytest.raises(InputError, match=r"narration row 1, line 3.*3 values"):
        read_narrations(tmp_path / "n.csv")
    wide = _wide()
    wide.loc[1, "v3"] = np.nan
    wide.to_csv(tmp_path / "w.csv", index=False)
    with pytest.raises(InputError, match=r"narration row 1, line 3.*3 numeric values of 4"):
        read_narrations(tmp_path / "w.csv")


def test_vectors_of_another_width_than_expected(tmp_path):
    _parquet_list(tmp_path / "n.parquet")
    with pytest.raises(InputError, match=r"narration row 0 .*4 values, expected 768"):
        read_narrations(tmp_path / "n.parquet", durations=DURATIONS, dim=768)
    np.save(tmp_path / "vectors.npy", np.zeros((3, 5), np.float32))
    pd.DataFrame({"video_id": IDS, "time_s": TIMES, "row": [0, 1, 2]}).to_csv(
        tmp_path / "t.csv", index=False)
    with pytest.raises(InputError, match=r"narration row 0, line 2 .*5 values, expected 4"):
        read_narrations(tmp_path / "t.csv", vectors=tmp_path / "vectors.npy",
                        durations=DURATIONS, dim=DIM)


def test_vector_row_out_of_range_and_non_finite(tmp_path):
    np.save(tmp_path / "vectors.npy", VECTORS)
    pd.DataFrame({"video_id": IDS, "time_s": TIMES, "row": [0, 3, 2]}).to_parquet(
        tmp_path / "t.parquet")
    with pytest.raises(InputError, match=r"narration row 1 .*vector row 3 is outside"):
        read_narrations(tmp_path / "t.parquet", vectors=tmp_path / "vectors.npy",
                        durations=DURATIONS)
    bad = VECTORS.copy()
    bad[2, 1] = np.inf
    _wide(vectors=bad).to_parquet(tmp_path / "n.parquet")
    with pytest.raises(InputError, match=r"narration row 2 .*NaN or infinite"):
        read_narrations(tmp_path / "n.parquet", durations=DURATIONS)
    times = list(TIMES)
    times[0] = float("nan")
    _wide(times=times).to_parquet(tmp_path / "m.parquet")
    with pytest.raises(InputError, match=r"narration row 0 .*not a finite number"):
        read_narrations(tmp_path / "m.parquet", durations=DURATIONS)


def test_missing_columns_and_files(tmp_path):
    pd.DataFrame({"video": IDS, "time_s": TIMES}).to_csv(tmp_path / "n.csv", index=False)
    with pytest.raises(InputError, match="lacks column"):
        read_narrations(tmp_path / "n.csv")
    pd.DataFrame({"video_id": IDS, "time_s": TIMES}).to_csv(tmp_path / "m.csv", index=False)
    with pytest.raises(InputError, match="neither a 'vector' column"):
        read_narrations(tmp_path / "m.csv")
    with pytest.raises(InputError, match="no such narrations file"):
        read_narrations(tmp_path / "absent.parquet")
    with pytest.raises(InputError, match="'row' column"):
        np.save(tmp_path / "v.npy", VECTORS)
        read_narrations(tmp_path / "m.csv", vectors=tmp_path / "v.npy")


def test_validate_in_memory_table():
    from steploc.hiero.training import narrations_from_arrays

    table = narrations_from_arrays(IDS, TIMES, VECTORS)
    assert len(validate_narrations(table, DURATIONS, DIM)) == 3
    with pytest.raises(InputError, match=r"narration row 2 \(video_id 'vidB'.*unknown"):
        validate_narrations(table, {"vidA": 100.0}, DIM)
