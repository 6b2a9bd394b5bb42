"""The loss curve of a training run (the train stage's report figure).

:func:`plot_training_curves` draws the per-step metrics that
:func:`steploc.hiero.training.train` writes (``metrics.parquet``): the total loss per optimiser
step (with its two terms L_vna and L_ft, thinner), and the learning rate on a second y axis.
"""

from __future__ import annotations

from os import PathLike

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

_DPI = 110
_LOSS_COLOUR = "#1f4e79"
_TERM_STYLES = {"vna": ("#2e86c1", "L_vna"), "ft": ("#7fb3d5", "L_ft")}
_LR_COLOUR = "#c0392b"


def plot_training_curves(metrics: pd.DataFrame, path: str | PathLike, *,
                         title: str | None = None) -> None:
    """Write a PNG of ``metrics`` (one row per step: ``step``, ``loss``, ``lr`` and optionally
    ``vna``/``ft``): loss per step on the left axis, learning rate on the right one (log scale
    when every rate is positive). A run without steps gives a figure saying so."""
    fig, ax = plt.subplots(figsize=(8.0, 3.8))
    try:
        heading = title or "training"
        if metrics is None or len(metrics) == 0:
            ax.text(0.5, 0.5, "no training step was run", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_axis_off()
            ax.set_title(heading)
            fig.savefig(path, dpi=_DPI, format="png")
            return
        missing = [c for c in ("step", "loss", "lr") if c not in metrics.columns]
        if missing:
            raise ValueError(f"training metrics lack column(s) {missing}")
        frame = metrics.sort_values("step", kind="stable")
        steps = frame["step"].to_numpy()
        marker = "o" if len(frame) <= 30 else None
        lines = [ax.plot(steps, frame["loss"].to_numpy(float), color=_LOSS_COLOUR, lw=1.6,
                         marker=marker, ms=3, label="loss")[0]]
        for column, (colour, label) in _TERM_STYLES.items():
            if column in frame.columns:
                lines.append(ax.plot(steps, frame[column].to_numpy(float), color=colour, lw=0.8,
                                     ls="--", label=label)[0])
        ax.set_xlabel("optimiser step")
        ax.set_ylabel("loss")
        ax.grid(True, alpha=0.3)
        lr_ax = ax.twinx()
        lr = frame["lr"].to_numpy(float)
        lines.append(lr_ax.plot(steps, lr, color=_LR_COLOUR, lw=1.0, label="learning rate")[0])
        if np.all(lr > 0) and lr.max() / lr.min() > 10:
            lr_ax.set_yscale("log")
        lr_ax.set_ylabel("learning rate", color=_LR_COLOUR)
        lr_ax.tick_params(axis="y", colors=_LR_COLOUR)
        last = frame.iloc[-1]
        ax.set_title(f"{heading}: {len(frame)} steps, last loss {float(last['loss']):.4g}")
        ax.legend(lines, [str(line.get_label()) for line in lines], loc="upper right",
                  fontsize=8, framealpha=0.8)
        fig.tight_layout()
        fig.savefig(path, dpi=_DPI, format="png")
    finally:
        plt.close(fig)
