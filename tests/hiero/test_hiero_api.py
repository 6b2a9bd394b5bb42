"""The public model API and the building blocks checked against brute-force definitions.

Section numbers (``§x``) refer to ``docs/hiero.md``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from steploc.hiero import HiERO, HiEROConfig, VideoTooShort, make_positions
from steploc.hiero.clustering import KMEANS_INIT_ROWS_CPU, carry_back, sample_grid
from steploc.hiero.graphs import lower_bound_unsorted, radius_graph_1d
from steploc.hiero.levels import Level
from steploc.hiero.pooling import knn_upsample, neighbour_average_pool

from .parity_data import model_input

SECONDS_PER_FEATURE = 16 / 30


def random_video(length: int, seed: int, width: int = 256) -> torch.Tensor:
    return torch.from_numpy(np.random.RandomState(seed).standard_normal((length, width)).astype(np.float32))


# ------------------------------------------------------------------------------ constants
KMEANS_INIT_CPU_TORCH_2_13 = [[24, 25, 3, 0], [28, 5, 20, 15], [11, 24, 9, 28], [16, 17, 2, 21],
                             [1, 6, 12, 22], [17, 16, 27, 15], [19, 10, 0, 31], [12, 26, 29, 16]]


def test_kmeans_init_table_is_hard_coded():
    assert [list(row) for row in KMEANS_INIT_ROWS_CPU] == KMEANS_INIT_CPU_TORCH_2_13


def test_kmeans_init_table_is_the_fixture_table(parity_meta):
    assert [list(row) for row in KMEANS_INIT_ROWS_CPU] == parity_meta["kmeans_init_indices_cpu_seed42"]


def test_state_dict_layout_is_the_reference_one(parity_meta):
    model = HiERO()
    ours = [(key, list(value.shape)) for key, value in model.state_dict().items()]
    reference = parity_meta["full_state_dict"]
    reference = list(reference.items()) if isinstance(reference, dict) else reference
    assert ours == [(key, list(shape)) for key, shape in reference]
    assert len(ours) == 158
    assert sum(p.numel() for p in model.parameters()) == 25_029_888


# ------------------------------------------------------------------------------ extract API
@pytest.mark.parametrize("case", ["index.T37", "seconds.T256", "index.T250"])
def test_extract_equals_the_slice_of_the_full_forward(case, tiny_model, parity):
    x, pos = model_input(parity, case)
    levels = tiny_model.extract_levels(x, pos)
    for depth in (0, 1, 2):
        features = tiny_model.extract(x, pos, depth=depth)
        assert features.shape == (math.ceil(x.shape[0] / 2**depth), 32)
        torch.testing.assert_close(features, levels[depth][0], atol=1e-6, rtol=1e-6)


def test_extract_levels_numbering(random_tiny_model):
    levels = random_tiny_model.extract_levels(random_video(101, 1))
    assert sorted(levels) == [0, 1, 2]
    assert (levels[0][1] == -1).all()
    for depth in (1, 2):
        features, assignments = levels[depth]
        assert features.shape == (math.ceil(101 / 2**depth), 32)
        assert assignments.dtype == torch.long and assignments.min() >= 0 and assignments.max() < 4


def test_outputs_are_inference_tensors(random_tiny_model):
    features = random_tiny_model.extract(random_video(40, 2))
    assert features.is_inference() and not features.requires_grad


@pytest.mark.parametrize("positions", ["index", "seconds"])
def test_batched_equals_one_by_one(positions, random_tiny_model):
    lengths = [37, 250, 5, 1000, 256, 64, 9, 500]
    videos = [random_video(length, seed) for seed, length in enumerate(lengths)]
    poss = [make_positions(length, positions, SECONDS_PER_FEATURE) for length in lengths]
    singles = [random_tiny_model.extract(x, pos) for x, pos in zip(videos, poss)]
    for max_nodes in (100_000, 600):  # one forward for all, and several chunks
        batched = random_tiny_model.extract_batch(videos, poss, depth=2, max_nodes_per_forward=max_nodes)
        for single, together in zip(singles, batched):
            torch.testing.assert_close(together, single, atol=1e-5, rtol=1e-5)


def test_batched_equals_one_by_one_at_full_width(full_model):
    videos = [random_video(length, 100 + length) for length in (90, 33, 64)]
    batched = full_model.extract_batch(videos)
    for x, together in zip(videos, batched):
        torch.testing.assert_close(together, full_model.extract(x), atol=1e-5, rtol=1e-5)


def test_default_positions_follow_the_model_convention(tiny_model, parity):
    x, seconds_pos = model_input(parity, "seconds.T256")
    explicit = tiny_model.extract(x, seconds_pos)
    np.testing.assert_array_equal(make_positions(256, "seconds", 16 / 30).numpy(), seconds_pos.numpy())
    tiny_model.positions, tiny_model.feature_period = "seconds", 16 / 30
    try:
        torch.testing.assert_close(tiny_model.extract(x), explicit, atol=0, rtol=0)
    finally:
        tiny_model.positions, tiny_model.feature_period = "index", None
    torch.testing.assert_close(tiny_model.extract(x), tiny_model.extract(x, torch.arange(256.0)))


def test_make_positions_validates():
    torch.testing.assert_close(make_positions(4), torch.tensor([0.0, 1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="feature_period"):
        make_positions(4, "seconds")
    with pytest.raises(ValueError, match="positions"):
        make_positions(4, "minutes")  # type: ignore[arg-type]


@pytest.mark.parametrize("length", [0, 1, 2, 3, 4])
def test_too_short_videos_raise(length, random_tiny_model):
    with pytest.raises(VideoTooShort) as error:
        random_tiny_model.extract(random_video(length, 3))
    assert error.value.length == length and error.value.min_length == 5
    with pytest.raises(VideoTooShort):
        random_tiny_model.extract_levels(random_video(length, 3))


def test_shortest_accepted_video(random_tiny_model):
    assert random_tiny_model.min_length == 5
    assert random_tiny_model.extract(random_video(5, 4)).shape == (2, 32)


def test_batch_reports_or_skips_short_videos(random_tiny_model):
    videos = [random_video(20, 5), random_video(3, 6), random_video(30, 7)]
    with pytest.raises(VideoTooShort) as error:
        random_tiny_model.extract_batch(videos)
    assert error.value.index == 1
    results = random_tiny_model.extract_batch(videos, skip_short=True)
    assert results[1] is None
    torch.testing.assert_close(results[2], random_tiny_model.extract(videos[2]), atol=1e-5, rtol=1e-5)


def test_bad_inputs_are_refused(random_tiny_model):
    x = random_video(20, 8)
    with pytest.raises(ValueError, match="non-decreasing"):
        random_tiny_model.extract(x, torch.arange(20.0).flip(0))
    with pytest.raises(ValueError, match="shape"):
        random_tiny_model.extract(x, torch.arange(19.0))
    with pytest.raises(ValueError, match="features must be"):
        random_tiny_model.extract(random_video(20, 8, width=255))
    with pytest.raises(ValueError, match="depth"):
        random_tiny_model.extract(x, depth=3)
    with pytest.raises(ValueError, match="too dense"):  # > 31 neighbours within radius 1
        random_tiny_model.extract_levels(random_video(40, 8), torch.arange(40.0) * 0.01)


def test_config_refuses_other_modes():
    with pytest.raises(ValueError, match="mode"):
        HiEROConfig(mode="clean")
    with pytest.raises(ValueError, match="init"):
        HiEROConfig(n_clusters=5)


# ------------------------------------------------------------------------------ building blocks
def brute_force_radius_edges(coord, group, radius) -> set[tuple[int, int]]:
    n = coord.numel()
    r2 = torch.tensor(radius * radius, dtype=torch.float32)
    return {
        (j, i)
        for i in range(n)
        for j in range(n)
        if i != j and group[i] == group[j] and (coord[i] - coord[j]) ** 2 < r2
    }


@pytest.mark.parametrize("seed", range(5))
def test_banded_radius_graph_equals_brute_force(seed):
    rng = np.random.RandomState(seed)
    group = torch.from_numpy(np.sort(rng.randint(0, 4, 60)))
    steps = rng.choice([0.0, 0.5, 1.0, 1.5, 0.25], 60)  # exact spacing 1.0 must give no edge
    coord = torch.from_numpy(np.cumsum(steps).astype(np.float32))
    edges = radius_graph_1d(coord, group, 1.0)
    assert set(zip(*edges.tolist())) == brute_force_radius_edges(coord, group, 1.0)


def test_radius_graph_is_strict():
    assert radius_graph_1d(torch.arange(10.0), torch.zeros(10, dtype=torch.long), 1.0).shape == (2, 0)
    assert radius_graph_1d(torch.arange(10.0) * (16 / 30), torch.zeros(10, dtype=torch.long), 1.0).shape == (2, 18)


@pytest.mark.parametrize("seed", range(20))
def test_unsorted_lower_bound_equals_torch_bucketize(seed):
    rng = np.random.RandomState(seed)
    values = torch.from_numpy(rng.randint(0, 4, rng.randint(1, 80)))
    queries = torch.arange(6)
    ours = lower_bound_unsorted(
        values, torch.zeros(6, dtype=torch.long), torch.full((6,), values.numel()), queries
    )
    assert ours.tolist() == torch.bucketize(queries, values).tolist()


def brute_force_knn_interpolate(x, pos_src, pos_dst, k):
    out = []
    for p in pos_dst.tolist():
        d2 = (pos_src - p) ** 2
        nearest = torch.argsort(d2, stable=True)[:k]
        w = 1.0 / d2[nearest].clamp(min=1e-16)
        out.append((w[:, None] * x[nearest]).sum(0) / w.sum())
    return torch.stack(out)


@pytest.mark.parametrize("lengths", [[9], [1, 2, 3, 8], [17, 4]])
def test_knn_upsample_and_pooling_equal_their_definitions(lengths):
    rng = np.random.RandomState(sum(lengths))
    positions = [torch.from_numpy(np.cumsum(rng.uniform(0.1, 2.0, n)).astype(np.float32)) for n in lengths]
    fine = Level.from_positions(positions)
    x = torch.from_numpy(rng.standard_normal((fine.num_nodes, 3)).astype(np.float32))
    pooled, coarse = neighbour_average_pool(x, fine)
    upsampled = knn_upsample(pooled, coarse, fine)
    for fine_x, coarse_x, fine_pos, up in zip(
        fine.split(x), coarse.split(pooled), fine.split(fine.pos), fine.split(upsampled)
    ):
        n = fine_x.shape[0]
        expected_pool = []
        for i in range(0, n, 2):
            # node itself twice plus its neighbours (the reference's double self loop)
            members = [fine_x[i], fine_x[i]] + [fine_x[j] for j in (i - 1, i + 1) if 0 <= j < n]
            expected_pool.append(torch.stack(members).mean(0))
        torch.testing.assert_close(coarse_x, torch.stack(expected_pool))
        expected_up = brute_force_knn_interpolate(coarse_x, fine_pos[::2], fine_pos, k=2)
        torch.testing.assert_close(up, expected_up)


def test_label_carry_back_truncates_like_the_reference():
    """Quirk §0.3: label 3 comes back as 2 for some nodes through the float32 round trip."""
    samples = sample_grid(torch.device("cpu"))
    n = 4001
    t = torch.arange(n, dtype=torch.float32) / (n - 1)
    labels = carry_back(t, torch.zeros(n, dtype=torch.long), samples, torch.full((1, 32), 3))
    assert set(labels.tolist()) == {2, 3}
    assert 0.01 < (labels == 2).float().mean() < 0.2
