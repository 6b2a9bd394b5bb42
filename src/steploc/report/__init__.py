"""Figures and tables for the Snakemake report (captions in ``report/*.rst`` at the repo root)."""

from steploc.report.figures import (
    BASELINE_MODELS,
    class_colour,
    label_runs,
    matched_classes,
    matched_colours,
    plot_f1_per_activity,
    plot_video_timelines,
    write_overall_table_html,
)

__all__ = [
    "BASELINE_MODELS",
    "class_colour",
    "label_runs",
    "matched_classes",
    "matched_colours",
    "plot_f1_per_activity",
    "plot_video_timelines",
    "write_overall_table_html",
]
