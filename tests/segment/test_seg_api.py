"""The estimator interface shared by all segmenters (SYNTHETIC data)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from segment_testing import METHODS, step_sequence
from sklearn.base import clone

from steploc.schema import segmenter_defaults, segmenter_parameters
from steploc.segment import StepSegmenter, estimator_class, make_segmenter
from steploc.segment.base import DEFAULT_MEMORY_LIMIT_MB, relabel_by_first_occurrence


@pytest.mark.parametrize("method", METHODS)
def test_init_defaults_are_the_schema_defaults(method):
    cls = estimator_class(method)
    signature = inspect.signature(cls.__init__)
    own = {name: p.default for name, p in signature.parameters.items()
           if name not in ("self", "n_clusters", "memory_limit_mb")}
    assert own == segmenter_defaults(method)
    assert set(own) == set(segmenter_parameters(method))
    assert signature.parameters["memory_limit_mb"].default == DEFAULT_MEMORY_LIMIT_MB == 4000


@pytest.mark.parametrize("method", METHODS)
def test_get_set_params_and_clone(method):
    seg = make_segmenter(method, 3, memory_limit_mb=123)
    params = seg.get_params()
    assert params["n_clusters"] == 3 and params["memory_limit_mb"] == 123
    assert {**segmenter_defaults(method), "n_clusters": 3, "memory_limit_mb": 123} == params
    twin = clone(seg)
    assert twin is not seg and twin.get_params() == params
    seg.set_params(n_clusters=4)
    assert seg.get_params()["n_clusters"] == 4 and twin.get_params()["n_clusters"] == 3
    assert isinstance(seg, StepSegmenter)


@pytest.mark.parametrize("method", METHODS)
def test_labels_dtype_length_and_determinism(method):
    x, _ = step_sequence([0, 1, 2, 1], [25, 20, 30, 15], noise=1.5, seed=3)
    a = make_segmenter(method, 3).fit(x)
    b = make_segmenter(method, 3).fit(x.copy())
    assert a.labels_.dtype == np.int64 and a.labels_.shape == (len(x),)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(make_segmenter(method, 3).fit_predict(x), a.labels_)
    assert a.n_clusters_ == len(np.unique(a.labels_))
    assert isinstance(a.note_, str)
    # float64 and list input give the same labels as float32 here
    assert make_segmenter(method, 3).fit(x.astype(np.float64)).labels_.shape == (len(x),)


@pytest.mark.parametrize("method", METHODS)
def test_bad_k_and_bad_input_are_rejected(method):
    x, _ = step_sequence([0, 1], [3, 3])
    for k in (1, 7, 2.5):
        with pytest.raises(ValueError, match="n_clusters"):
            make_segmenter(method, k).fit(x)
    with pytest.raises(ValueError):
        make_segmenter(method, 2).fit(x[0])
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError):
        make_segmenter(method, 2).fit(bad)


def test_make_segmenter_rejects_a_parameter_of_another_method():
    with pytest.raises(ValueError, match=r"method 'abd' takes no parameter\(s\) \['temperature'\]"):
        make_segmenter("abd", 3, temperature=0.1)
    with pytest.raises(ValueError, match="alpha"):
        make_segmenter("twfinch", 3, alpha=0.5)
    with pytest.raises(ValueError, match="unknown segmentation method"):
        make_segmenter("nope", 3)
    assert make_segmenter("abd", 3, alpha=0.3).alpha == 0.3


def test_relabel_by_first_occurrence():
    np.testing.assert_array_equal(relabel_by_first_occurrence([5, 5, 2, 9, 2, 5]),
                                  [0, 0, 1, 2, 1, 0])
