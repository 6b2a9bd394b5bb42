"""Figures and tables for the Snakemake report (``snakemake --report``).

* :func:`plot_f1_per_activity` — grouped horizontal bars: EgoProceL F1 per recipe, one bar per
  ``model/setting``; the ``random`` / ``uniform`` baselines in grey with hatching.
* :func:`plot_video_timelines` — one video: the ground-truth steps on top, one row per
  prediction below, predicted segments coloured like the ground-truth class their cluster is
  matched to by the per-video Hungarian matching (the matching the metrics use).
* :func:`write_overall_table_html` — the overall metrics as a small HTML table, in percent.

Label conventions are those of :mod:`steploc.metrics` (``docs/evaluation.md`` §1–§2): ground
truth classes ``1..K`` with background ``0``; predictions carry arbitrary cluster ids.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from os import PathLike
from typing import NamedTuple

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402
from matplotlib.ticker import MaxNLocator, PercentFormatter  # noqa: E402

from steploc import runs  # noqa: E402
from steploc.config import BASELINE_MODELS  # noqa: E402
from steploc.metrics import cluster_classes, mof  # noqa: E402
from steploc.metrics.grid import BACKGROUND  # noqa: E402
from steploc.metrics.validation import as_label_array  # noqa: E402
from steploc.runs import Runs  # noqa: E402

BACKGROUND_COLOUR = to_rgba("#e6e6e6")
"""Background cells (class 0), and predicted clusters matched to background."""

UNMATCHED_COLOUR = to_rgba("#9a9a9a")
"""Predicted clusters matched to no ground-truth class (drawn with :data:`UNMATCHED_HATCH`)."""

UNMATCHED_HATCH = "////"
UNCOVERED_COLOUR = to_rgba("white")
"""Cells of the "not covered" cluster (no predicted segment), when its id is given."""

_HATCH_EDGE_COLOUR = to_rgba("#4d4d4d")
_DPI = 110


def _step_palette() -> list[tuple[float, float, float, float]]:
    """28 distinct colours without greys: tab20 strong, tab20 light, tab20b dark and mid shades."""
    tab20 = [plt.get_cmap("tab20")(i) for i in range(20)]
    tab20b = [plt.get_cmap("tab20b")(i) for i in range(20)]
    grey_pair = (14, 15)
    strong = [tab20[i] for i in range(0, 20, 2) if i not in grey_pair]
    light = [tab20[i] for i in range(1, 20, 2) if i not in grey_pair]
    dark = [tab20b[i] for i in range(0, 20, 4)]
    mid = [tab20b[i] for i in range(2, 20, 4)]
    return [to_rgba(colour) for colour in strong + light + dark + mid]


STEP_PALETTE = _step_palette()
"""Colours of ground-truth classes 1, 2, … (cycled past 28 classes)."""


def class_colour(gt_class: int) -> tuple[float, float, float, float]:
    """The colour of a ground-truth class: :data:`BACKGROUND_COLOUR` for 0, else the palette."""
    if gt_class == BACKGROUND:
        return BACKGROUND_COLOUR
    if gt_class < 0:
        raise ValueError(f"ground-truth classes are >= 0, got {gt_class}")
    return STEP_PALETTE[(gt_class - 1) % len(STEP_PALETTE)]


# ---------------------------------------------------------------------------------------------
# Runs and matching
# ---------------------------------------------------------------------------------------------


def label_runs(labels) -> Runs:
    """The maximal runs of a non-empty 1-D label sequence (background kept): a timeline row."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"labels must be a non-empty 1-D sequence, got shape {labels.shape}")
    return runs.label_runs(labels)


def matched_classes(pred_labels, gt_labels) -> dict[int, int | None]:
    """``{cluster: matched ground-truth class or None}`` for every cluster present in ``pred_labels``.

    The per-video Hungarian matching of :func:`steploc.metrics.hungarian_relabel` (maximal total
    overlap, background a class like any other), so the colours agree with the metrics. A
    cluster matched to background maps to ``0``; one matched to nothing (more clusters than
    classes) maps to ``None``. Raises ValueError for invalid or unequally long label sequences.
    """
    pred = as_label_array(pred_labels, "pred_labels")
    gt = as_label_array(gt_labels, "gt_labels")
    if pred.size != gt.size:
        raise ValueError(f"pred_labels and gt_labels must be equally long, got {pred.size} and {gt.size}")
    n_classes = int(gt.max()) + 1
    class_of_cluster = cluster_classes(pred, gt, n_classes=n_classes)
    return {int(c): (int(class_of_cluster[c]) if class_of_cluster[c] < n_classes else None)
            for c in np.unique(pred)}


def matched_colours(pred_labels, gt_labels) -> dict[int, tuple[float, float, float, float]]:
    """``{cluster: RGBA}``: the colour of the matched ground-truth class, :data:`UNMATCHED_COLOUR` if none."""
    return {
        cluster: UNMATCHED_COLOUR if gt_class is None else class_colour(gt_class)
        for cluster, gt_class in matched_classes(pred_labels, gt_labels).items()
    }


# ---------------------------------------------------------------------------------------------
# Video timelines
# ---------------------------------------------------------------------------------------------


class _Style(NamedTuple):
    colour: tuple[float, float, float, float]
    hatch: str | None
    text: str | None  # run label (class number) or None


def _class_style(gt_class: int) -> _Style:
    """A ground-truth class (or a cluster matched to it): its colour, numbered unless background."""
    return _Style(class_colour(gt_class), None, None if gt_class == BACKGROUND else str(gt_class))


def _prediction_styles(classes: Mapping[int, int | None], uncovered_cluster: int | None) -> dict[int, _Style]:
    styles = {}
    for cluster, gt_class in classes.items():
        if cluster == uncovered_cluster:
            styles[cluster] = _Style(UNCOVERED_COLOUR, None, None)
        elif gt_class is None:
            styles[cluster] = _Style(UNMATCHED_COLOUR, UNMATCHED_HATCH, None)
        else:
            styles[cluster] = _class_style(gt_class)
    return styles


def _text_colour(fill) -> str:
    red, green, blue = fill[:3]
    return "black" if 0.299 * red + 0.587 * green + 0.114 * blue > 0.5 else "white"


def _draw_row(ax, row_y: float, runs: Runs, styles: Mapping[int, _Style], period_scale: float) -> list:
    """Draw one timeline row (one ``broken_barh`` per style); return ``(x_from, x_to, style)`` per run."""
    spans_by_style: dict[_Style, list[tuple[float, float]]] = {}
    labelled = []
    for label, start, end in zip(runs.labels, runs.starts, runs.ends, strict=True):
        style = styles[int(label)]
        x_from, x_to = start * period_scale, end * period_scale
        spans_by_style.setdefault(style, []).append((x_from, x_to - x_from))
        if style.text is not None:
            labelled.append((x_from, x_to, style))
    for style, spans in spans_by_style.items():
        ax.broken_barh(
            spans,
            (row_y - 0.4, 0.8),
            facecolors=[style.colour],
            edgecolor=_HATCH_EDGE_COLOUR if style.hatch else "none",
            linewidth=0,
            hatch=style.hatch,
        )
    # Adjacent unmatched clusters share one look: separate them by a thin white line.
    hatched = np.array([styles[int(label)].hatch is not None for label in runs.labels])
    between_hatched = runs.starts[1:][hatched[1:] & hatched[:-1]] * period_scale
    if between_hatched.size:
        ax.vlines(between_hatched, row_y - 0.4, row_y + 0.4, colors="white", linewidth=1.0)
    return labelled


def _label_runs_that_fit(ax, row_y: float, labelled_runs, renderer, fontsize: float) -> None:
    """Write each run's class number centred in it, only where the text fits inside the run."""
    to_pixels = ax.transData.transform
    for x_from, x_to, style in labelled_runs:
        run_px = to_pixels((x_to, row_y))[0] - to_pixels((x_from, row_y))[0]
        if run_px < fontsize * 0.9:  # cannot hold even one digit: skip measuring
            continue
        text = ax.text(
            (x_from + x_to) / 2, row_y, style.text, ha="center", va="center",
            fontsize=fontsize, color=_text_colour(style.colour), clip_on=True,
        )
        if text.get_window_extent(renderer).width + 4 > run_px:
            text.remove()


def _truncate(text: str, max_chars: int) -> str:
    """Data text for a label: one line, at most ``max_chars``, ``$`` escaped (annotation text
    such as "Add $5 of sugar" is not matplotlib mathtext, and bad mathtext would crash)."""
    text = " ".join(str(text).split())
    text = text if len(text) <= max_chars else text[: max_chars - 1].rstrip() + "…"
    return text.replace("$", r"\$")


def _check_timeline_inputs(gt_labels, period_s, predictions, uncovered_clusters):
    gt = as_label_array(gt_labels, "gt_labels")
    if isinstance(period_s, bool) or not (isinstance(period_s, (int, float, np.number)) and np.isfinite(period_s)
                                          and period_s > 0):
        raise ValueError(f"period_s must be a positive finite number of seconds, got {period_s!r}")
    if not isinstance(predictions, Mapping):
        raise ValueError(f"predictions must be a mapping {{'model/setting': labels}}, got {type(predictions).__name__}")
    checked = {}
    for name, labels in predictions.items():
        pred = as_label_array(labels, f"predictions[{name!r}]")
        if pred.size != gt.size:
            raise ValueError(
                f"predictions[{name!r}] has {pred.size} cells but gt_labels has {gt.size}; "
                "both must be on the same time grid"
            )
        checked[str(name)] = pred
    unknown = set(uncovered_clusters or {}) - set(checked)
    if unknown:
        raise ValueError(f"uncovered_clusters names unknown prediction(s) {sorted(unknown)}")
    return gt, checked


def plot_video_timelines(
    video_id: str,
    period_s: float,
    gt_labels,
    class_names: Mapping[int, str],
    predictions: Mapping[str, np.ndarray],
    out_png: str | PathLike,
    title: str | None = None,
    *,
    uncovered_clusters: Mapping[str, int] | None = None,
    matchings: Mapping[str, Mapping[int, int | None]] | None = None,
    row_mof: Mapping[str, float] | None = None,
    max_name_chars: int = 34,
) -> None:
    """Timeline figure of one video: ground-truth steps on top, one row per prediction below.

    ``gt_labels`` (n_cells,) int: ground-truth class per grid cell (cell ``k`` covers
    ``[k·period_s, (k+1)·period_s)``), 0 = background. ``class_names``: ``{class: step name}``
    for the legend (truncated to ``max_name_chars``; classes without a name are listed as
    "class k"). ``predictions``: ordered ``{"model/setting": cluster id per cell}``, drawn in
    that order. ``uncovered_clusters`` optionally gives, per prediction name, the id of the
    "not covered" cluster (:func:`steploc.metrics.predicted_labels` uses ``n_clusters``); its
    cells are drawn white. It still takes part in the matching, exactly as in the metrics.

    ``matchings`` (per prediction ``{cluster: class or None}``) and ``row_mof`` (per
    prediction, its per-video MoF) are what the evaluate stage computed: the workflow passes
    them, so the figure only draws; where absent they come from :func:`matched_classes` and
    :func:`steploc.metrics.mof`.

    Colours: each ground-truth class has a colour; a predicted cluster takes the colour of the
    class it is matched to by the per-video Hungarian matching (:func:`matched_classes`);
    clusters matched to nothing are grey and hatched; background is light grey. Runs wide enough
    carry their (matched) class number. Each prediction row is labelled with its per-video MoF.
    Raises ValueError on invalid labels or when a prediction's length differs from ``gt_labels``.
    """
    gt, preds = _check_timeline_inputs(gt_labels, period_s, predictions, uncovered_clusters)
    uncovered_clusters = dict(uncovered_clusters or {})
    duration_s = gt.size * float(period_s)
    in_minutes = duration_s >= 180
    unit_s = 60.0 if in_minutes else 1.0
    period_scale = float(period_s) / unit_s

    gt_classes = sorted(int(c) for c in np.unique(gt) if c != BACKGROUND)
    legend_handles = [
        Patch(facecolor=class_colour(c), label=f"{c}: {_truncate(class_names.get(c, f'class {c}'), max_name_chars)}")
        for c in gt_classes
    ]
    legend_handles.append(Patch(facecolor=BACKGROUND_COLOUR, label="background / matched to background"))
    row_names = ["ground truth"]
    rows = [(label_runs(gt), {int(c): _class_style(int(c)) for c in np.unique(gt)})]
    any_unmatched = any_uncovered = False
    for name, pred in preds.items():
        classes = (matched_classes(pred, gt) if matchings is None or name not in matchings
                   else {int(c): matchings[name].get(int(c)) for c in np.unique(pred)})
        styles = _prediction_styles(classes, uncovered_clusters.get(name))
        any_unmatched |= any(style.hatch for style in styles.values())
        any_uncovered |= uncovered_clusters.get(name) in styles
        score = (row_mof[name] if row_mof is not None and name in row_mof else mof(pred, gt))
        row_names.append(f"{name}\nMoF {100 * score:.0f}%")
        rows.append((label_runs(pred), styles))
    if any_unmatched:
        legend_handles.append(Patch(facecolor=UNMATCHED_COLOUR, edgecolor=_HATCH_EDGE_COLOUR, linewidth=0,
                                    hatch=UNMATCHED_HATCH, label="cluster matched to no step"))
    if any_uncovered:
        legend_handles.append(Patch(facecolor=UNCOVERED_COLOUR, edgecolor="0.5", linewidth=0.6,
                                    label="not covered by any segment"))

    n_legend_columns = 4
    n_legend_rows = -(-len(legend_handles) // n_legend_columns)
    height = 1.0 + 0.55 * len(rows) + 0.6 + 0.21 * n_legend_rows
    fig, ax = plt.subplots(figsize=(15, height), dpi=_DPI, layout="constrained")
    try:
        labelled_rows = [_draw_row(ax, row_y, runs, styles, period_scale) for row_y, (runs, styles) in enumerate(rows)]
        if len(rows) > 1:
            ax.axhline(0.5, color="black", linewidth=0.8)
        ax.set_xlim(0, gt.size * period_scale)
        ax.set_ylim(len(rows) - 0.5, -0.5)
        ax.set_yticks(range(len(rows)), row_names, fontsize=9)
        ax.tick_params(axis="y", length=0)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=20, integer=in_minutes, steps=[1, 2, 5, 10]))
        ax.set_xlabel("time (min)" if in_minutes else "time (s)")
        ax.grid(axis="x", color="0.75", linewidth=0.5)
        ax.set_axisbelow(False)
        for side in ("top", "right", "left"):
            ax.spines[side].set_visible(False)
        ax.set_title(title or f"{video_id}: ground-truth steps and predictions "
                               f"(colours: Hungarian matching per video, {period_s:g} s cells)", fontsize=11)
        fig.legend(handles=legend_handles, loc="outside lower center", ncol=n_legend_columns, fontsize=8,
                   frameon=False, handlelength=1.4, columnspacing=1.5)
        fig.canvas.draw()  # fixes the layout, so that run widths in pixels are final
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]  # the Agg canvas
        for row_y, labelled in enumerate(labelled_rows):
            _label_runs_that_fit(ax, row_y, labelled, renderer, fontsize=7.5)
        # The grid lines would cross the bars: draw them below, but keep the separator on top.
        ax.set_axisbelow(True)
        fig.savefig(out_png, dpi=_DPI)
    finally:
        plt.close(fig)


# ---------------------------------------------------------------------------------------------
# F1 per activity
# ---------------------------------------------------------------------------------------------

_ACTIVITY_COLUMNS = ("model", "setting", "activity_id", "activity_name", "f1")


def _check_activities(activities: pd.DataFrame, n_videos_column: str) -> pd.DataFrame:
    if not isinstance(activities, pd.DataFrame) or activities.empty:
        raise ValueError("activities must be a non-empty pandas DataFrame")
    missing = [column for column in (*_ACTIVITY_COLUMNS, n_videos_column) if column not in activities.columns]
    if missing:
        raise ValueError(f"activities lacks column(s) {missing}")
    f1 = pd.to_numeric(activities["f1"], errors="coerce")
    finite = f1.dropna()
    if activities["f1"].notna().sum() != finite.size or ((finite < 0) | (finite > 1)).any():
        raise ValueError("activities['f1'] must hold numbers in [0, 1] (NaN = no result)")
    keys = ["model", "setting", "activity_id"]
    duplicated = activities.duplicated(keys)
    if duplicated.any():
        raise ValueError(f"activities has duplicate rows for {activities.loc[duplicated, keys].values.tolist()[:3]}")
    return activities.assign(f1=f1, series=activities["model"].astype(str) + "/" + activities["setting"].astype(str))


def _recipe_label(name, n_videos) -> str:
    if pd.isna(n_videos):
        return _truncate(name, 32)
    return f"{_truncate(name, 32)} ({int(n_videos)} video{'' if int(n_videos) == 1 else 's'})"


def _series_styles(series_models: Mapping[str, str]) -> dict[str, dict]:
    """Bar style per ``model/setting``: tab10 colours for models, grey shades + hatching for baselines."""
    model_colours = [plt.get_cmap("tab10")(i) for i in range(10) if i != 7]  # 7 is grey
    baseline_greys = ["0.45", "0.65", "0.8", "0.55", "0.7"]
    hatches = ["///", "\\\\\\", "xxx", "...", "---"]
    styles, n_models, n_baselines = {}, 0, 0
    for series, model in series_models.items():
        if model in BASELINE_MODELS:
            styles[series] = {"color": baseline_greys[n_baselines % len(baseline_greys)],
                                  "hatch": hatches[n_baselines % len(hatches)], "edgecolor": "0.25", "linewidth": 0}
            n_baselines += 1
        else:
            styles[series] = {"color": model_colours[n_models % len(model_colours)]}
            n_models += 1
    return styles


def plot_f1_per_activity(
    activities: pd.DataFrame, out_png: str | PathLike, *, title: str | None = None, n_videos_column: str = "n_videos"
) -> None:
    """Grouped horizontal bar chart of F1 (percent) per recipe, one bar per ``model/setting``.

    ``activities``: one row per (model, setting, activity) with columns ``model``, ``setting``,
    ``activity_id``, ``activity_name``, ``f1`` (0–1; NaN = no result, no bar) and the number of
    scored videos in ``n_videos_column`` (e.g. ``"videos_scored"``; the largest over the
    model/settings is shown).
    Recipes are listed alphabetically top to bottom, labelled "name (n videos)"; each bar
    carries its value. Models keep their order of appearance, baselines (``model`` in
    :data:`BASELINE_MODELS`) come last in grey with hatching. Raises ValueError on missing
    columns, F1 outside [0, 1] or duplicate (model, setting, activity) rows.
    """
    table = _check_activities(activities, n_videos_column)
    first_model = table.drop_duplicates("series").set_index("series")["model"].astype(str)
    series_models = dict(sorted(first_model.items(), key=lambda item: item[1] in BASELINE_MODELS))
    styles = _series_styles(series_models)
    recipes = (
        table.groupby("activity_id", sort=False)
        .agg(name=("activity_name", "first"), n_videos=(n_videos_column, "max"))
        .assign(label=lambda r: [_recipe_label(n, v) for n, v in zip(r["name"], r["n_videos"], strict=True)])
        .sort_values("name", key=lambda names: names.astype(str).str.lower())
    )
    f1_percent = table.pivot(index="activity_id", columns="series", values="f1").reindex(
        index=recipes.index, columns=list(series_models)) * 100

    n_series, n_recipes = len(series_models), len(recipes)
    bar_height = 0.8 / n_series
    fig_height = 1.6 + n_recipes * (0.13 * n_series + 0.22)
    fig, ax = plt.subplots(figsize=(10, fig_height), dpi=_DPI, layout="constrained")
    try:
        group_y = np.arange(n_recipes)
        for index, series in enumerate(series_models):
            y = group_y - 0.4 + (index + 0.5) * bar_height
            values = f1_percent[series].to_numpy(dtype=float)
            bars = ax.barh(y, np.nan_to_num(values), height=bar_height * 0.92, label=series, **styles[series])
            ax.bar_label(bars, labels=["" if np.isnan(v) else f"{v:.0f}" for v in values],
                         padding=2, fontsize=6.5, color="0.25")
        for y in group_y[f1_percent.isna().all(axis=1).to_numpy()]:
            ax.text(0.01, y, "no result", transform=ax.get_yaxis_transform(), va="center", fontsize=8,
                    color="0.4", style="italic")
        ax.set_yticks(group_y, recipes["label"], fontsize=8.5)
        ax.set_ylim(n_recipes - 0.5, -0.5)
        for boundary in group_y[1:] - 0.5:
            ax.axhline(boundary, color="0.85", linewidth=0.6)
        best = np.nanmax(f1_percent.to_numpy(dtype=float), initial=0.0)
        ax.set_xlim(0, min(100.0, 10.0 * np.ceil(max(best, 1.0) * 1.1 / 10.0)))
        ax.xaxis.set_major_formatter(PercentFormatter(decimals=0))
        ax.set_xlabel("EgoProceL F1 (per-video Hungarian matching, averaged over the recipe's videos)")
        ax.grid(axis="x", color="0.85", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.tick_params(axis="y", length=0)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.xaxis.set_tick_params(labeltop=True)
        # The title heads the legend: constrained layout does not stack a suptitle and an outside legend.
        fig.legend(loc="outside upper center", ncol=n_series if n_series <= 6 else -(-n_series // 2),
                   fontsize=8.5, frameon=False,
                   title=title or "F1 per recipe and model/setting (grey hatched: chance baselines)",
                   title_fontproperties={"size": 11})
        fig.savefig(out_png, dpi=_DPI)
    finally:
        plt.close(fig)


# ---------------------------------------------------------------------------------------------
# Overall table
# ---------------------------------------------------------------------------------------------

_FRACTION_COLUMN = re.compile(r"^(precision|recall|iou|f1|mof|edit|f1@.+)$")
_COUNT_COLUMN = re.compile(r"^(tp|fp|fn)@.+$")


def write_overall_table_html(
    overall: pd.DataFrame, out_html: str | PathLike, *, columns: Sequence[str] | None = None
) -> None:
    """Write the overall metrics as an HTML table, fractions shown in percent with one decimal.

    ``overall``: one row per model/setting (e.g. the ``overall`` rows of
    :func:`steploc.metrics.aggregate_metrics` with ``model`` and ``setting`` columns added).
    Metric columns (``precision``, ``recall``, ``iou``, ``f1``, ``mof``, ``edit``, ``f1@τ``) are
    multiplied by 100; ``columns`` selects and orders the columns (default: all except
    ``level`` and the raw ``tp@τ``/``fp@τ``/``fn@τ`` counts).
    """
    if not isinstance(overall, pd.DataFrame) or overall.empty:
        raise ValueError("overall must be a non-empty pandas DataFrame")
    if columns is None:
        columns = [c for c in overall.columns if c != "level" and not _COUNT_COLUMN.match(str(c))]
    missing = [c for c in columns if c not in overall.columns]
    if missing:
        raise ValueError(f"overall lacks column(s) {missing}")
    table = overall.loc[:, list(columns)].copy()
    formatters = {}
    for column in table.columns:
        if _FRACTION_COLUMN.match(str(column)):
            table[column] = pd.to_numeric(table[column], errors="raise") * 100
            formatters[column] = "{:.1f}".format
    html = table.to_html(index=False, formatters=formatters, na_rep="–", border=0, classes="steploc-metrics",
                         justify="center")
    note = "<p>Metric values in percent (EgoProceL P/R/IoU/F1, MoF, Edit, F1@τ: docs/evaluation.md).</p>\n"
    with open(out_html, "w", encoding="utf-8") as handle:
        handle.write(note + html + "\n")
