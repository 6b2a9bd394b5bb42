"""Figures of the procedure stage (cross-video step vocabulary, :mod:`steploc.procedure`).

* :func:`plot_step_map` — the segments of one activity as points in 2-D (t-SNE above 40
  points, PCA up to 40), coloured by procedure step, the steps' descriptions in the legend;
* :func:`plot_procedure_strip` — one row per video, its segments coloured by procedure step:
  the same colour in two rows means the same step (ids are shared across the activity's videos).

Step ``s`` is drawn in :data:`steploc.report.figures.STEP_PALETTE` colour ``s`` (cycled).
"""

from __future__ import annotations

from collections.abc import Mapping
from os import PathLike

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from steploc.report.figures import STEP_PALETTE, _text_colour, _truncate  # noqa: E402

TSNE_ABOVE = 40
"""More points than this are embedded with t-SNE, fewer with PCA."""

_DPI = 110


def step_colour(step_id: int) -> tuple[float, float, float, float]:
    """The colour of procedure step ``step_id`` (>= 0)."""
    if step_id < 0:
        raise ValueError(f"step ids are >= 0, got {step_id}")
    return STEP_PALETTE[int(step_id) % len(STEP_PALETTE)]


def embed_2d(features, *, random_state: int = 0) -> tuple[np.ndarray, str]:
    """``(points (n, 2), method description)``: t-SNE (``sklearn.manifold.TSNE``, PCA init, fixed
    seed, perplexity ``min(30, (n - 1) / 3)`` < n) for more than :data:`TSNE_ABOVE` points,
    else PCA (a second coordinate of 0 where the data has one dimension only); all points 0
    when all rows are equal."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"features must be a non-empty (n, d) matrix, got shape {x.shape}")
    n = len(x)
    if not np.all(np.isfinite(x)):
        raise ValueError("features hold NaN or infinite values")
    if np.ptp(x, axis=0).max() == 0:  # all points equal: nothing to project (and t-SNE would crash)
        return np.zeros((n, 2)), "all points identical"
    if n > TSNE_ABOVE:
        from sklearn.manifold import TSNE

        perplexity = min(30.0, (n - 1) / 3.0)
        return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=random_state
                    ).fit_transform(x), f"t-SNE, perplexity {perplexity:.0f}"
    from sklearn.decomposition import PCA

    n_components = min(2, n, x.shape[1])
    points = PCA(n_components=n_components).fit_transform(x) if n > 1 else np.zeros((1, 1))
    if points.shape[1] < 2:
        points = np.column_stack([points, np.zeros(len(points))])
    return points, "PCA"


def plot_step_map(features, step_ids, descriptions: Mapping[int, str] | None, path: str | PathLike, *,
                  title: str | None = None, random_state: int = 0, max_name_chars: int = 48) -> None:
    """Scatter plot of ``features`` (n, d) embedded in 2-D (:func:`embed_2d`), point ``i``
    coloured by ``step_ids[i]``; the legend lists every step as ``descriptions[step]``
    (e.g. :func:`steploc.procedure.cluster_table`'s ``description``; "step s" where absent)."""
    steps = np.asarray(step_ids)
    if steps.ndim != 1 or not np.issubdtype(steps.dtype, np.integer) or len(steps) != len(features):
        raise ValueError("step_ids must be one integer per row of features")
    points, method = embed_2d(features, random_state=random_state)
    descriptions = descriptions or {}
    fig, ax = plt.subplots(figsize=(9.5, 6.0), dpi=_DPI, layout="constrained")
    try:
        handles = []
        for step in sorted(int(s) for s in np.unique(steps)):
            mask = steps == step
            ax.scatter(points[mask, 0], points[mask, 1], s=28, color=step_colour(step), edgecolors="white",
                       linewidths=0.5)
            label = _legend_text(step, descriptions.get(step, f"step {step}"), max_name_chars)
            handles.append(Patch(facecolor=step_colour(step), label=f"{label}  [{int(mask.sum())}]"))
        ax.set_xticks([])
        ax.set_yticks([])
        short = method.split(",")[0]
        ax.set_xlabel(f"{short} 1")
        ax.set_ylabel(f"{short} 2")
        ax.set_title(title or f"Procedure steps: {len(steps)} segments ({method}; colour = step)", fontsize=11)
        fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False,
                   title="step [segments]", title_fontproperties={"size": 9})
        fig.savefig(path, dpi=_DPI)
    finally:
        plt.close(fig)


def _description(descriptions: Mapping, activity_id: int, step_id: int) -> str:
    if (activity_id, step_id) in descriptions:
        return str(descriptions[(activity_id, step_id)])
    return str(descriptions.get(step_id, f"step {step_id}"))


def _legend_text(step_id: int, text: str, max_chars: int) -> str:
    """``"s: text"``, without the prefix when the text already starts with "step s"."""
    text = _truncate(text, max_chars)
    return text if text.startswith(f"step {step_id}") else f"{step_id}: {text}"


def plot_procedure_strip(steps: pd.DataFrame, path: str | PathLike, *, descriptions: Mapping | None = None,
                         title: str | None = None, max_name_chars: int = 40) -> None:
    """One row per video of ``steps`` (:func:`steploc.procedure.procedure_steps` output), its
    segments ``[start_s, end_s)`` coloured by ``step_id``; one panel per activity, each with a
    legend of its steps and its own time axis (seconds, or minutes when one of its videos
    is 3 min or longer). ``descriptions``: ``{step_id: text}`` or ``{(activity_id, step_id):
    text}`` (the latter wins). Segments wide enough carry their step id."""
    missing = {"video_id", "activity_id", "start_s", "end_s", "step_id"} - set(steps.columns)
    if missing:
        raise ValueError(f"steps lacks column(s) {sorted(missing)}")
    if steps.empty:
        raise ValueError("steps is empty: nothing to draw")
    descriptions = descriptions or {}
    by_activity = [(int(a), g.sort_values(["video_id", "start_s"], kind="stable"))
                   for a, g in steps.groupby("activity_id", sort=True)]
    heights = [max(1.2, 0.42 * g["video_id"].nunique() + 0.5) for _, g in by_activity]
    fig, axes = plt.subplots(len(by_activity), 1, figsize=(13, sum(heights) + 0.9), dpi=_DPI,
                             layout="constrained", height_ratios=heights, squeeze=False)
    try:
        for ax, (activity_id, group) in zip(axes[:, 0], by_activity, strict=True):
            video_ids = list(pd.unique(group["video_id"]))
            panel_end = float(group["end_s"].max())
            unit = 60.0 if panel_end >= 180 else 1.0
            for row, video_id in enumerate(video_ids):
                video = group[group["video_id"] == video_id]
                starts = video["start_s"].to_numpy(float) / unit
                widths = video["end_s"].to_numpy(float) / unit - starts
                colours = [step_colour(int(s)) for s in video["step_id"]]
                ax.broken_barh(list(zip(starts, widths, strict=True)), (row - 0.4, 0.8), facecolors=colours,
                               edgecolor="white", linewidth=0.6)
                for start, width, step, colour in zip(starts, widths, video["step_id"], colours, strict=True):
                    if width >= 0.025 * panel_end / unit:
                        ax.text(start + width / 2, row, str(int(step)), ha="center", va="center", fontsize=7.5,
                                color=_text_colour(colour), clip_on=True)
            ax.set_yticks(range(len(video_ids)), [_truncate(v, 28) for v in video_ids], fontsize=8.5)
            ax.set_ylim(len(video_ids) - 0.5, -0.5)
            ax.set_xlim(0, panel_end / unit)
            ax.tick_params(axis="y", length=0)
            ax.grid(axis="x", color="0.85", linewidth=0.5)
            ax.set_axisbelow(True)
            for side in ("top", "right", "left"):
                ax.spines[side].set_visible(False)
            ax.set_title(f"activity {activity_id}", fontsize=10, loc="left")
            ax.set_xlabel("time (min)" if unit == 60.0 else "time (s)", fontsize=9)
            handles = [Patch(facecolor=step_colour(s), label=_legend_text(
                s, _description(descriptions, activity_id, s), max_name_chars))
                       for s in sorted(int(s) for s in pd.unique(group["step_id"]))]
            ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7.5,
                      frameon=False, borderaxespad=0)
        fig.suptitle(title or "Procedure steps per video (same colour = same step across videos)", fontsize=11)
        fig.savefig(path, dpi=_DPI)
    finally:
        plt.close(fig)


def plot_no_steps(path: str | PathLike, title: str, reason: str) -> None:
    """A figure that says why an activity has no procedure steps to draw (a recorded skip)."""
    fig, ax = plt.subplots(figsize=(8, 1.6), dpi=_DPI, layout="constrained")
    try:
        ax.axis("off")
        ax.text(0.0, 0.5, f"{title}\nno procedure steps: {reason}", va="center", fontsize=10)
        fig.savefig(path, dpi=_DPI)
    finally:
        plt.close(fig)


def draw_activity(activity_id: int, steps_path, clusters_path, quality_path, segments_path,
                  embeddings_path, videos_path, options: Mapping, map_out, strip_out) -> None:
    """The step map and the procedure strip of one activity from the procedure stage's tables
    (the features are rebuilt exactly as the stage clustered them)."""
    from steploc.io import atomic_path
    from steploc.procedure import activity_features

    steps = pd.read_parquet(steps_path)
    steps = steps[steps["activity_id"] == activity_id]
    title = f"activity {activity_id}"
    if steps.empty:
        quality = pd.read_parquet(quality_path)
        reason = quality.loc[quality["activity_id"] == activity_id, "reason"]
        why = str(reason.iloc[0]) if len(reason) else "no processed video"
        for out in (map_out, strip_out):
            with atomic_path(out) as tmp:
                plot_no_steps(tmp, title, why)
        return
    clusters = pd.read_parquet(clusters_path)
    clusters = clusters[clusters["activity_id"] == activity_id]
    descriptions = {int(r.step_id): (r.description if isinstance(r.description, str)
                                     and r.description else f"step {int(r.step_id)}")
                    for r in clusters.itertuples(index=False)}
    features = activity_features(pd.read_parquet(segments_path), pd.read_parquet(embeddings_path),
                                 pd.read_parquet(videos_path),
                                 position_weight=float(options["position_weight"]))[activity_id]
    keys = ["video_id", "segment_idx"]
    aligned = features.rows[keys].merge(steps[keys + ["step_id"]], on=keys, how="left",
                                        validate="one_to_one")
    with atomic_path(map_out) as tmp:
        plot_step_map(features.features, aligned["step_id"].to_numpy(np.int64), descriptions, tmp,
                      title=f"{title}: {len(aligned)} segments of "
                            f"{steps['video_id'].nunique()} videos",
                      random_state=int(options["random_state"]))
    with atomic_path(strip_out) as tmp:
        plot_procedure_strip(steps, tmp, descriptions=descriptions)
