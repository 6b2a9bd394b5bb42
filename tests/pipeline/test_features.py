"""Feature files: id matching, loading, validation and the feature period.

All arrays here are SYNTHETIC (small random or constant matrices written to tmp dirs).
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from steploc.errors import InputError
from steploc.features import (
    discover_feature_files,
    feature_period,
    load_feature_array,
    load_features,
    read_feature_shape,
)

RELEASE_PATTERN = "{video_id}_360p.mp4_1s_1s.npz"


def touch(path, content=b"x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def numbers_in(message: str) -> list[float]:
    return [float(m) for m in re.findall(r"\d+(?:\.\d+)?(?:e[-+]?\d+)?", message)]


# ------------------------------------------------------------------ discovery


def test_exact_pattern_matches_whole_ids(tmp_path):
    for name in ["1_7_synthetic.npy", "1_70_synthetic.npy", "2_3_synthetic.npy",
                 "._1_7_synthetic.npy", "2_30_synthetic.npy.bak", "notes.txt"]:
        touch(tmp_path / name)
    (tmp_path / "2_30_synthetic.npy").mkdir()  # a folder is not a feature file
    found, missing = discover_feature_files(tmp_path, "{video_id}_synthetic.npy",
                                            ["1_7", "1_70", "2_3", "2_30"])
    assert found == {"1_7": tmp_path / "1_7_synthetic.npy",
                     "1_70": tmp_path / "1_70_synthetic.npy",
                     "2_3": tmp_path / "2_3_synthetic.npy"}
    assert missing == ["2_30"]


def test_captaincook4d_release_pattern_ignores_sidecars(tmp_path):
    for name in ["1_7_360p.mp4_1s_1s.npz", "._1_7_360p.mp4_1s_1s.npz",
                 "1_70_360p.mp4_1s_1s.npz", "._1_70_360p.mp4_1s_1s.npz",
                 "1_7_360p.mp4.npz"]:  # an ImageBind-style name: another pattern
        touch(tmp_path / name)
    found, missing = discover_feature_files(tmp_path, RELEASE_PATTERN, ["1_7", "1_70", "12_6"])
    assert found == {"1_7": tmp_path / "1_7_360p.mp4_1s_1s.npz",
                     "1_70": tmp_path / "1_70_360p.mp4_1s_1s.npz"}
    assert missing == ["12_6"]


def test_underscore_separator_keeps_prefix_ids_apart(tmp_path):
    touch(tmp_path / "2_3_a.npy")
    touch(tmp_path / "2_30_b.npy")
    found, missing = discover_feature_files(tmp_path, "{video_id}_*.npy", ["2_3", "2_30"])
    assert found == {"2_3": tmp_path / "2_3_a.npy", "2_30": tmp_path / "2_30_b.npy"}
    assert missing == []


def test_wildcard_matching_two_ids_lists_both_files(tmp_path):
    touch(tmp_path / "1_7.npy")
    touch(tmp_path / "1_70.npy")
    with pytest.raises(InputError) as err:
        discover_feature_files(tmp_path, "{video_id}*", ["1_7", "1_70"])
    msg = str(err.value)
    assert "'1_7'" in msg
    assert str(tmp_path / "1_7.npy") in msg and str(tmp_path / "1_70.npy") in msg


def test_npy_and_npz_for_one_id_lists_both(tmp_path):
    touch(tmp_path / "1_7.npy")
    touch(tmp_path / "1_7.npz")
    touch(tmp_path / "._1_7.npz")
    with pytest.raises(InputError) as err:
        discover_feature_files(tmp_path, "{video_id}.*", ["1_7"])
    msg = str(err.value)
    assert "1_7" in msg
    assert str(tmp_path / "1_7.npy") in msg and str(tmp_path / "1_7.npz") in msg
    assert "._1_7" not in msg


def test_missing_features_directory(tmp_path):
    with pytest.raises(InputError, match="does not exist") as err:
        discover_feature_files(tmp_path / "nowhere", "{video_id}.npy", ["1_7"])
    assert str(tmp_path / "nowhere") in str(err.value)


# ------------------------------------------------------------------ loading

X = np.arange(12, dtype=np.float32).reshape(4, 3)  # SYNTHETIC 4 x 3 features


def save(tmp_path, name, kind, key=None):
    path = tmp_path / name
    if kind == "npy":
        np.save(path, X)
    elif kind == "npz_positional":
        np.savez(path, X)  # key arr_0, like CaptainCook4D's np.savez(path, array)
    elif kind == "npz_compressed":
        np.savez_compressed(path, **{key: X})
    elif kind == "npz":
        np.savez(path, **{key: X, "other": np.zeros(2)})
    return path


@pytest.mark.parametrize("name, kind, key, configured", [
    ("a.npy", "npy", None, None),
    ("a_360p.mp4_1s_1s.npz", "npz_positional", None, None),
    ("b.npz", "npz", "features", None),
    ("c.npz", "npz", "video_embeddings", "video_embeddings"),
    ("d.npz", "npz_compressed", "emb", "emb"),
])
def test_numpy_formats_load_and_report_their_shape(tmp_path, name, kind, key, configured):
    path = save(tmp_path, name, kind, key)
    np.testing.assert_array_equal(load_feature_array(path, configured, "1_7"), X)
    assert read_feature_shape(path, configured, "1_7") == ((4, 3), "float32")


def test_npz_unknown_key_lists_the_keys(tmp_path):
    path = save(tmp_path, "v.npz", "npz", "video_embeddings")
    for reader in (load_feature_array, read_feature_shape):
        with pytest.raises(InputError) as err:
            reader(path, None, "1_7")  # neither arr_0 nor features
        msg = str(err.value)
        assert "video_embeddings" in msg and "other" in msg
        assert "1_7" in msg and str(path) in msg
        with pytest.raises(InputError, match="nokey") as err:
            reader(path, "nokey", "1_7")
        assert "video_embeddings" in str(err.value)


def test_pt_tensor_and_dict(tmp_path):
    torch = pytest.importorskip("torch")
    torch.save(torch.from_numpy(X), tmp_path / "t.pt")
    torch.save({"features": torch.from_numpy(X)}, tmp_path / "d.pt")
    torch.save({"emb": torch.from_numpy(X)}, tmp_path / "k.pt")
    np.testing.assert_array_equal(load_feature_array(tmp_path / "t.pt"), X)
    np.testing.assert_array_equal(load_feature_array(tmp_path / "d.pt"), X)
    np.testing.assert_array_equal(load_feature_array(tmp_path / "k.pt", "emb"), X)
    assert read_feature_shape(tmp_path / "t.pt") == ((4, 3), "float32")
    with pytest.raises(InputError, match="emb"):
        load_feature_array(tmp_path / "k.pt", None, "1_7")


def test_unsupported_suffix(tmp_path):
    path = touch(tmp_path / "1_7.h5")
    with pytest.raises(InputError, match="unsupported") as err:
        load_feature_array(path, None, "1_7")
    assert "1_7" in str(err.value) and str(path) in str(err.value)


def test_squeezes_t_1_d(tmp_path):
    np.save(tmp_path / "s.npy", X[:, None, :])
    out = load_features(tmp_path / "s.npy", video="1_7")
    assert out.shape == (4, 3) and out.dtype == np.float32


@pytest.mark.parametrize("bad, what", [(np.nan, "NaN"), (np.inf, "Inf"), (-np.inf, "Inf")])
def test_non_finite_values_name_video_file_and_row(tmp_path, bad, what):
    arr = X.copy()
    arr[2, 1] = bad
    np.save(tmp_path / "bad.npy", arr)
    with pytest.raises(InputError) as err:
        load_features(tmp_path / "bad.npy", video="1_70")
    msg = str(err.value)
    assert what in msg and "1_70" in msg and str(tmp_path / "bad.npy") in msg
    assert "row 2" in msg


@pytest.mark.parametrize("shape", [(0, 16), (5, 0), (7,), (2, 3, 4)])
def test_bad_shapes(tmp_path, shape):
    np.save(tmp_path / "e.npy", np.zeros(shape, np.float32))
    with pytest.raises(InputError) as err:
        load_features(tmp_path / "e.npy", video="2_3")
    assert "2_3" in str(err.value) and str(tmp_path / "e.npy") in str(err.value)
    assert str(shape) in str(err.value)


def test_empty_array_fails_at_the_params_stage_reader(tmp_path):
    from steploc.features import check_feature_shape

    np.save(tmp_path / "e.npy", np.zeros((0, 16), np.float32))
    shape, _ = read_feature_shape(tmp_path / "e.npy", None, "2_3")
    with pytest.raises(InputError, match="empty"):
        check_feature_shape(shape, tmp_path / "e.npy", "2_3")


def test_non_numeric_dtype(tmp_path):
    np.save(tmp_path / "s.npy", np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(InputError, match="non-numeric"):
        load_features(tmp_path / "s.npy", video="1_7")


def test_shape_changed_since_params(tmp_path):
    np.save(tmp_path / "x.npy", X)
    with pytest.raises(InputError, match="changed since"):
        load_features(tmp_path / "x.npy", video="1_7", expected_shape=(5, 3))


# ------------------------------------------------------------------ period


def test_period_inferred_from_duration():
    assert feature_period(604, 603.1, None, 0.05) == pytest.approx(603.1 / 604)
    assert feature_period(100, 200.0, None, 0.05) == pytest.approx(2.0)


def test_period_configured_within_tolerance():
    # 100 features over 104 s: 1.04 s inferred, 4 % off the configured 1 s.
    assert feature_period(100, 104.0, 1.0, 0.05) == 1.0
    assert feature_period(100, 96.0, 1.0, 0.05) == 1.0
    # No duration: the configured period is used as is.
    assert feature_period(100, None, 1.0, 0.05) == 1.0
    assert feature_period(100, float("nan"), 2.0, 0.05) == 2.0


@pytest.mark.parametrize("duration", [106.0, 94.0])
def test_period_mismatch_beyond_tolerance_names_both_numbers(duration):
    with pytest.raises(InputError) as err:
        feature_period(100, duration, 1.0, 0.05, video="1_7", path="/f/1_7.npy")
    msg = str(err.value)
    assert "1_7" in msg and "/f/1_7.npy" in msg
    nums = numbers_in(msg)
    assert any(n == pytest.approx(1.0) for n in nums)  # configured
    assert any(n == pytest.approx(duration / 100, rel=1e-4) for n in nums)  # inferred


def test_notebook_period_against_1s_features_is_caught():
    """The notebook's 16/30 s per feature on CaptainCook4D 1 s features (1_7: 603.1 s, 604
    rows): inferred 0.9985 s, configured 0.5333 s, 1.87x off."""
    with pytest.raises(InputError) as err:
        feature_period(604, 603.1, 16 / 30, 0.05, video="1_7", path="1_7.npz")
    nums = numbers_in(str(err.value))
    assert any(n == pytest.approx(16 / 30, rel=1e-4) for n in nums)
    assert any(n == pytest.approx(603.1 / 604, rel=1e-4) for n in nums)


def test_period_unknown():
    with pytest.raises(InputError, match="period"):
        feature_period(100, None, None, 0.05, video="1_7")
