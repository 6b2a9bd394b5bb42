"""Parity with the reference HiERO forward on CPU (tests/fixtures/hiero_parity).

Integers (depths, indices, assignments, k-means labels, edge sets) must be exactly equal; features
within atol = rtol = 1e-4 (README "Suggested tolerances").
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from steploc.hiero.clustering import sample_grid
from steploc.hiero.testing import full_width_state_dict

from .parity_data import model_input

TINY_CASES = [
    "index.T37",
    "index.T256",
    "index.T1000",
    "index.T250",
    "seconds.T37",
    "seconds.T256",
    "seconds.T1000",
]
INTERMEDIATE_CASES = [case for case in TINY_CASES if int(case.split(".T")[1]) <= 256]
DEPTHS = (0, 1, 2)
TOL = {"atol": 1e-4, "rtol": 1e-4}


def edge_set(edge_index) -> set[tuple[int, int]]:
    edge_index = np.asarray(edge_index)
    return set(zip(edge_index[0].tolist(), edge_index[1].tolist()))


@pytest.fixture(scope="module")
def tiny_runs(tiny_model, parity) -> dict[str, tuple[dict, dict]]:
    """One traced full forward per tiny case: {case: (levels, trace)}."""
    runs = {}
    for case in TINY_CASES:
        trace: dict[str, torch.Tensor] = {}
        levels = tiny_model.extract_levels(*model_input(parity, case), trace=trace)
        runs[case] = (levels, trace)
    return runs


def output_graph(levels, pos_in: np.ndarray) -> dict[str, np.ndarray]:
    """Our outputs in the layout of the reference's returned Batch (depth 0, 1, 2 concatenated)."""
    arrays: dict[str, list] = {key: [] for key in ("x", "depth", "indices", "pos", "assignments")}
    for depth in DEPTHS:
        features, assignments = levels[depth]
        n = features.shape[0]
        arrays["x"].append(features.numpy())
        arrays["depth"].append(np.full(n, depth))
        arrays["indices"].append(np.arange(n))
        arrays["pos"].append(pos_in[np.arange(n) * 2**depth])
        arrays["assignments"].append(assignments.numpy())
    return {key: np.concatenate(value) for key, value in arrays.items()}


@pytest.mark.parametrize("case", TINY_CASES)
def test_output_graph_matches_reference(case, tiny_runs, parity, parity_meta):
    levels, _ = tiny_runs[case]
    ours = output_graph(levels, parity[f"{case}.pos_in"])
    assert [levels[d][0].shape[0] for d in DEPTHS] == parity_meta["cases"][case]["nodes_per_depth"]
    for key in ("depth", "indices", "assignments"):
        np.testing.assert_array_equal(ours[key], parity[f"{case}.out_{key}"], err_msg=key)
    np.testing.assert_array_equal(ours["pos"], parity[f"{case}.out_pos"])
    for depth in DEPTHS:
        selected = parity[f"{case}.out_depth"] == depth
        np.testing.assert_allclose(
            ours["x"][ours["depth"] == depth], parity[f"{case}.out_x"][selected], **TOL,
            err_msg=f"features at depth {depth}",
        )


@pytest.mark.parametrize("case", TINY_CASES)
def test_clustering_matches_reference(case, tiny_runs, parity):
    _, trace = tiny_runs[case]
    for depth in (1, 2):
        np.testing.assert_array_equal(
            trace[f"clu_km_labels_d{depth}"][0].numpy(), parity[f"{case}.clu_km_labels_d{depth}"]
        )
        np.testing.assert_allclose(
            trace[f"clu_eigvals_d{depth}"][0].numpy(), parity[f"{case}.clu_eigvals_d{depth}"], **TOL
        )
        key = f"{case}.clu_eigvecs_d{depth}"
        if key in parity:  # LAPACK's sign is arbitrary: align each column first
            ours = trace[f"clu_eigvecs_d{depth}"][0].numpy()
            ours = ours * np.sign((ours * parity[key]).sum(0))
            np.testing.assert_allclose(ours, parity[key], **TOL)


@pytest.mark.parametrize("case", TINY_CASES)
def test_decoder_cluster_graphs_match_reference(case, tiny_runs, parity, parity_meta):
    _, trace = tiny_runs[case]
    for depth in (1, 2):
        ours = trace[f"dec_edge_index_d{depth}"]
        assert ours.shape[1] == parity_meta["cases"][case]["decoder_cluster_edges"][str(depth)]
        assert edge_set(ours) == edge_set(parity[f"{case}.dec_edge_index_d{depth}"])
        np.testing.assert_array_equal(
            trace[f"dec_pos_d{depth}"].numpy(), parity[f"{case}.dec_pos_d{depth}"]
        )


@pytest.mark.parametrize("case", TINY_CASES)
def test_encoder_graphs_match_reference(case, tiny_runs, parity, parity_meta):
    _, trace = tiny_runs[case]
    counts = [trace[f"enc_edge_index_d{d}"].shape[1] for d in range(4)]
    assert counts == parity_meta["cases"][case]["encoder_edges_per_depth"]
    # out_edge_index: encoder edges of depths 0/1/2, offset by the Batch's ptr
    ptr = parity[f"{case}.out_ptr"]
    ours = np.concatenate(
        [trace[f"enc_edge_index_d{d}"].numpy() + ptr[d] for d in DEPTHS], axis=1
    )
    assert edge_set(ours) == edge_set(parity[f"{case}.out_edge_index"])
    for depth in (1, 2, 3):
        key = f"{case}.enc_edge_index_d{depth}"
        if key in parity:
            assert edge_set(trace[f"enc_edge_index_d{depth}"]) == edge_set(parity[key])


@pytest.mark.parametrize("case", INTERMEDIATE_CASES)
def test_intermediates_match_reference(case, tiny_runs, parity):
    _, trace = tiny_runs[case]
    keys = ["proj_x"]
    keys += [f"enc_{kind}_x_d{d}" for kind in ("in", "out") for d in (1, 2, 3)]
    keys += [f"dec_in_x_d{d}" for d in DEPTHS]
    for key in keys:
        np.testing.assert_allclose(trace[key].numpy(), parity[f"{case}.{key}"], **TOL, err_msg=key)


def test_exact_knn_ties_follow_the_cpu_kdtree_rule(tiny_runs, parity, parity_meta):
    """T = 250 has nodes exactly equidistant from two sample points (hiero.md §1.10.5); both branches
    of the CPU rule (upper sample 8/16/24 wins, else the lower) occur and the labels match."""
    levels, _ = tiny_runs["index.T250"]
    samples = sample_grid(torch.device("cpu"))
    upper_samples = set()
    for depth in (1, 2):
        n = levels[depth][0].shape[0]
        t = torch.arange(n, dtype=torch.float32) / (n - 1)
        lower = (torch.searchsorted(samples, t, right=True) - 1).clamp(0, 30)
        tied = torch.nonzero((samples[lower] - t) ** 2 == (samples[lower + 1] - t) ** 2).squeeze(1)
        assert tied.tolist() == parity_meta["cases"]["index.T250"]["exact_knn_tie_nodes"][str(depth)]
        upper_samples |= set((lower[tied] + 1).tolist())
    assert upper_samples & {8, 16, 24} and upper_samples - {8, 16, 24}


# ------------------------------------------------------------------------------ full width
def test_full_width_weights_are_the_fixture_ones(full_model, parity_meta):
    """The recipe over fixture_meta.json's key list gives the weights of ``full_model``."""
    rebuilt = full_width_state_dict(parity_meta)
    ours = full_model.state_dict()
    assert list(rebuilt) == list(ours)
    assert all(torch.equal(rebuilt[key], ours[key]) for key in ours)


@pytest.mark.parametrize("mode", ["index", "seconds"])
def test_full_width_T37_matches_reference(mode, full_model, parity):
    prefix = f"full.{mode}.T37."
    x, _ = model_input(parity, "index.T37")
    pos = parity[f"{mode}.T37.pos_in"]
    trace: dict[str, torch.Tensor] = {}
    levels = full_model.extract_levels(x, pos, trace=trace)
    ours = output_graph(levels, pos)
    np.testing.assert_array_equal(ours["depth"], parity[prefix + "out_depth"])
    np.testing.assert_array_equal(ours["assignments"], parity[prefix + "out_assignments"])
    np.testing.assert_array_equal(ours["pos"], parity[prefix + "out_pos"])
    np.testing.assert_allclose(ours["x"], parity[prefix + "out_x"], **TOL)
    for depth in (1, 2):
        np.testing.assert_array_equal(
            trace[f"clu_km_labels_d{depth}"][0].numpy(), parity[prefix + f"clu_km_labels_d{depth}"]
        )
        np.testing.assert_allclose(
            trace[f"clu_eigvals_d{depth}"][0].numpy(), parity[prefix + f"clu_eigvals_d{depth}"], **TOL
        )


def test_full_width_T256_summaries_match_reference(full_model, parity):
    prefix = "full.index.T256."
    trace: dict[str, torch.Tensor] = {}
    levels = full_model.extract_levels(*model_input(parity, "index.T256"), trace=trace)
    x = torch.cat([levels[d][0] for d in DEPTHS]).double().numpy()
    assert x.shape == (256 + 128 + 64, 768)
    depth = np.concatenate([np.full(math.ceil(256 / 2**d), d) for d in DEPTHS])
    np.testing.assert_array_equal(depth, parity[prefix + "out_depth"])
    assignments = torch.cat([levels[d][1] for d in DEPTHS]).numpy()
    np.testing.assert_array_equal(assignments, parity[prefix + "out_assignments"])
    np.testing.assert_allclose(x[:, :8], parity[prefix + "out_x_first8"], **TOL)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), parity[prefix + "out_x_rownorm"], **TOL)
    np.testing.assert_allclose(x.sum(1), parity[prefix + "out_x_rowsum"], **TOL)
    np.testing.assert_allclose(x.mean(0), parity[prefix + "out_x_colmean"], **TOL)
    for d in (1, 2):
        np.testing.assert_allclose(
            trace[f"clu_eigvals_d{d}"][0].numpy(), parity[prefix + f"clu_eigvals_d{d}"], **TOL
        )
