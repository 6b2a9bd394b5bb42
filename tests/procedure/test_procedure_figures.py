"""Procedure figures from SYNTHETIC data: PNGs written, the step colours drawn, t-SNE vs PCA."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from steploc.procedure import activity_features, cluster_table, procedure_steps
from steploc.report.procedure_figures import (
    TSNE_ABOVE,
    embed_2d,
    plot_procedure_strip,
    plot_step_map,
    step_colour,
)


def _colours_in(path) -> set[tuple[int, int, int]]:
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 300 and image.height > 150
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    return {tuple(int(c) for c in p) for p in np.unique(pixels, axis=0)}


def _rgb(step):
    return tuple(int(round(255 * c)) for c in step_colour(step)[:3])


@pytest.fixture
def synthetic_steps(synthetic):
    steps, _ = procedure_steps(synthetic.segments, synthetic.embeddings, synthetic.videos, {1: 4})
    return steps


def test_synthetic_strip_draws_every_step_colour(synthetic, synthetic_steps, tmp_path):
    table = cluster_table(synthetic_steps, synthetic.ground_truth)
    path = tmp_path / "strip.png"
    plot_procedure_strip(synthetic_steps, path, descriptions=dict(zip(table["step_id"], table["description"])))
    colours = _colours_in(path)
    assert all(_rgb(step) in colours for step in range(4))
    assert _rgb(7) not in colours  # no step 7


def test_synthetic_step_map_pca_and_tsne(synthetic, synthetic_steps, tmp_path):
    features = activity_features(synthetic.segments, synthetic.embeddings, synthetic.videos)[1].features
    labels = synthetic_steps["step_id"].to_numpy()
    path = tmp_path / "map_pca.png"
    plot_step_map(features, labels, {0: "step 0 ≈ 'Whisk' (purity 1.00)"}, path)
    assert all(_rgb(step) in _colours_in(path) for step in range(4))
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 15)
    x = rng.normal(scale=4.0, size=(3, 6))[y] + rng.normal(size=(45, 6))
    path = tmp_path / "map_tsne.png"
    plot_step_map(x, y, None, path)
    assert all(_rgb(step) in _colours_in(path) for step in range(3))


def test_synthetic_embedding_method_switches_above_40_points():
    rng = np.random.default_rng(1)
    points, method = embed_2d(rng.normal(size=(TSNE_ABOVE, 5)))
    assert method == "PCA" and points.shape == (TSNE_ABOVE, 2)
    points, method = embed_2d(rng.normal(size=(TSNE_ABOVE + 1, 5)))
    assert method.startswith("t-SNE") and points.shape == (TSNE_ABOVE + 1, 2)
    points, method = embed_2d(rng.normal(size=(3, 1)))  # one dimension: second coordinate 0
    assert method == "PCA" and np.all(points[:, 1] == 0)
    same, method = embed_2d(np.ones((TSNE_ABOVE + 1, 5)))  # t-SNE would crash on equal points
    assert method == "all points identical" and np.all(same == 0)


def test_synthetic_figure_input_errors(tmp_path, synthetic_steps):
    with pytest.raises(ValueError, match="step_ids"):
        plot_step_map(np.zeros((3, 2)), np.array([0, 1]), None, tmp_path / "x.png")
    with pytest.raises(ValueError, match="empty"):
        plot_procedure_strip(synthetic_steps.iloc[:0], tmp_path / "y.png")
