"""The workflow's train stage: one training run (``train.runs.<run>`` of the workflow config)
from the video table's rows and explicit files, for ``python -m steploc train``.

:func:`run_train_stage` selects the run's videos (its ``videos`` list, default every processable
video of the video table), checks that the given feature files are exactly the table's for
those videos and unchanged since the table was built (content fingerprints), loads them with
:func:`steploc.features.load_features` at each video's real feature period, reads the
narrations and calls :func:`~steploc.hiero.training.train` in ``state_dir``:

* the training config is the library's defaults (the official EgoVLP recipe), with
  ``model.input_size`` = the features' width, ``train.device`` = the workflow's device and
  ``train.init_from`` = the run's ``init_checkpoint``, then the run's ``overrides`` (which win);
* ``state_dir`` is a stable folder, outside the rule's declared outputs (Snakemake deletes
  those before a job runs): a killed or failed job resumes from its ``train_state.pt`` when
  it runs again, provided the run's inputs are the same. A record of those inputs
  (:data:`INPUTS_NAME`: run config, feature fingerprints, narration/vector/init file
  fingerprints) is kept there; when it differs, the old state is removed and training starts
  afresh, so a resumed run never mixes two data sets.

Outputs (each written atomically): the official ``train.py`` checkpoint (a copy of the run's
``model.pth``), the per-step metrics (``metrics.parquet``: loss, its terms, lr, ...) and a PNG
of the loss curve (:func:`steploc.report.train_figures.plot_training_curves`).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from steploc.errors import InputError

from .data import VideoFeatures
from .loop import (
    CHECKPOINT_NAME,
    CONFIG_NAME,
    METRICS_NAME,
    STATE_NAME,
    ResumeMismatch,
    StepReport,
    TrainResult,
    train,
)

log = logging.getLogger(__name__)

#: The record of a run's inputs in its state folder (see the module docstring).
INPUTS_NAME = "stage_inputs.json"


def run_videos(table: pd.DataFrame, videos: Sequence[str] | None) -> pd.DataFrame:
    """The video-table rows a run trains on, in video-id order: ``videos`` (each must be a
    processable video of the table), or every processable video when None."""
    ok = table[table["status"] == "ok"]
    if videos is not None:
        known = table.set_index("video_id")
        for video in videos:
            if video not in known.index:
                raise InputError("train run video is not in the video table (check the id and "
                                 "the config's videos section)", video=video)
            status = known.at[video, "status"]
            if status != "ok":
                raise InputError(f"train run video cannot be used: its video-table status is "
                                 f"{status!r} ({known.at[video, 'reason']})", video=video)
        ok = ok[ok["video_id"].isin(list(videos))]
    if ok.empty:
        raise InputError("no processable video to train on")
    return ok.sort_values("video_id", kind="stable")


def _file_fingerprint(path: str | Path | None) -> str | None:
    from steploc.fingerprint import file_fingerprint

    return None if path is None else file_fingerprint(path)


def load_run_videos(rows: pd.DataFrame, feature_paths: Sequence[str | Path],
                    array_key: str | None = None) -> list[VideoFeatures]:
    """The features of ``rows`` (video-table rows, in order) from ``feature_paths``, which must
    be the table's files of those videos, in the same order, with unchanged content."""
    from steploc.video_table import check_feature_paths, load_table_features

    records = list(rows.itertuples(index=False))
    check_feature_paths(records, feature_paths, "videos of the train run")
    return [VideoFeatures(r.video_id, features, float(r.feature_period_s))
            for r, features in zip(records, load_table_features(records, array_key),
                                   strict=True)]


def stage_inputs(rows: pd.DataFrame, run_config: Mapping[str, Any], narrations: str | Path,
                 vectors: str | Path | None, init_checkpoint: str | Path | None,
                 array_key: str | None) -> dict[str, Any]:
    """What a run's training depends on (the record kept in the state folder): a resumed run
    must have exactly these inputs. The device is not part of it (a run may resume on
    another device)."""
    return {
        "run": json.loads(json.dumps(dict(run_config), sort_keys=True)),
        "videos": [[r.video_id, r.feature_fingerprint, int(r.n_features), int(r.feature_dim),
                    float(r.feature_period_s), str(r.feature_layout)]
                   for r in rows.itertuples(index=False)],
        "narrations": _file_fingerprint(narrations),
        "vectors": _file_fingerprint(vectors),
        "init_checkpoint": _file_fingerprint(init_checkpoint),
        "array_key": array_key,
    }


def prepare_state_dir(state_dir: str | Path, inputs: Mapping[str, Any]) -> bool:
    """Make ``state_dir`` hold the state of a run with ``inputs``. Returns True when it may be
    resumed (same inputs as the run that wrote it); otherwise the old run's files are removed
    (before the new record is written, so a kill right after cannot resume them)."""
    state_dir = Path(state_dir)
    record = state_dir / INPUTS_NAME
    try:
        previous = json.loads(record.read_text(encoding="utf-8")) if record.is_file() else None
    except (OSError, ValueError):
        previous = None
    if previous == inputs:
        return True
    stale = [state_dir / name for name in (STATE_NAME, CHECKPOINT_NAME, METRICS_NAME)]
    if any(p.exists() for p in stale):
        log.info("the inputs of the run in %s changed: training from scratch", state_dir)
    for path in stale:
        path.unlink(missing_ok=True)
    from .checkpoint import save_atomic

    state_dir.mkdir(parents=True, exist_ok=True)
    save_atomic(record, lambda tmp: tmp.write_text(json.dumps(inputs, indent=1, sort_keys=True),
                                                   encoding="utf-8"))
    return False


def _base_config(feature_dim: int, device: str, overrides: Sequence[str],
                 init_checkpoint: str | Path | None) -> dict[str, Any]:
    """The workflow's settings under the run's overrides: input width, device, initial weights."""
    base: dict[str, Any] = {"model": {"input_size": int(feature_dim)}, "train": {}}
    if not any(o.partition("=")[0].strip() == "train.device" for o in overrides):
        from steploc.hierarchy import select_device

        base["train"]["device"] = select_device(device)
    if init_checkpoint is not None:
        base["train"]["init_from"] = str(init_checkpoint)
    return base


def _copy_atomic(source: Path, target: str | Path) -> None:
    from steploc.io import atomic_path

    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)


def run_train_stage(
    table: pd.DataFrame,
    feature_paths: Sequence[str | Path],
    narrations: str | Path,
    run_config: Mapping[str, Any],
    state_dir: str | Path,
    checkpoint_out: str | Path,
    metrics_out: str | Path,
    figure_out: str | Path,
    *,
    vectors: str | Path | None = None,
    init_checkpoint: str | Path | None = None,
    device: str = "auto",
    array_key: str | None = None,
    run_name: str = "train",
    callback: Callable[[StepReport], None] | None = None,
) -> TrainResult:
    """Run one train run of the workflow (see the module docstring); returns the
    :class:`~steploc.hiero.training.TrainResult`.

    ``table``: the video table; ``feature_paths``: the run's feature files in video-id order;
    ``run_config``: the ``train.runs.<run>`` entry (``videos``, ``overrides``,
    ``unknown_videos``, ``outside``; its file entries must agree with ``vectors`` and
    ``init_checkpoint``, which name the files to read). ``callback`` is passed to
    :func:`~steploc.hiero.training.train` (called after every step).
    """
    from steploc.report.train_figures import plot_training_curves

    from .narrations import read_narrations

    for key, given in (("vectors", vectors), ("init_checkpoint", init_checkpoint)):
        if bool(run_config.get(key)) != (given is not None):
            raise InputError(f"train run {run_name!r}: its config "
                             f"{'sets' if run_config.get(key) else 'does not set'} {key} but "
                             f"the {key.replace('_', ' ')} file was "
                             f"{'not ' if given is None else ''}given")
    overrides = [str(o) for o in run_config.get("overrides") or []]
    rows = run_videos(table, run_config.get("videos"))
    dims = sorted({int(d) for d in rows["feature_dim"]})
    if len(dims) != 1:
        raise InputError(f"train run {run_name!r}: its videos have features of different widths "
                         f"{dims}")
    videos = load_run_videos(rows, feature_paths, array_key)
    table_of_narrations = read_narrations(narrations, vectors=vectors)
    inputs = stage_inputs(rows, run_config, narrations, vectors, init_checkpoint, array_key)
    resumable = prepare_state_dir(state_dir, inputs)
    base = _base_config(dims[0], device, overrides, init_checkpoint)
    log.info("train run %r: %d video(s), %d narration(s), overrides %s, state in %s (%s)",
             run_name, len(videos), len(table_of_narrations), overrides or "none", state_dir,
             "resuming when a saved state exists" if resumable else "fresh start")

    def run(resume: bool | str) -> TrainResult:
        return train(base, videos, table_of_narrations, state_dir, resume=resume,
                     overrides=overrides,
                     unknown_videos=str(run_config.get("unknown_videos", "error")),
                     outside=str(run_config.get("outside", "error")), callback=callback)

    try:
        result = run("auto" if resumable else False)
    except ResumeMismatch as exc:  # e.g. a state written by another version of the library
        log.warning("%s: training from scratch", exc)
        result = run(False)
    _copy_atomic(result.checkpoint, checkpoint_out)
    _copy_atomic(result.metrics_path, metrics_out)
    from steploc.io import atomic_path

    with atomic_path(figure_out) as tmp:
        plot_training_curves(result.metrics, tmp, title=f"train run {run_name}")
    last = (f", last loss {float(result.metrics['loss'].iloc[-1]):.6g}"
            if len(result.metrics) else "")
    log.info("train run %r: %d of %d steps done (%s)%s; config in %s -> %s", run_name,
             result.steps_done, result.total_steps,
             "fresh" if result.resumed_from is None else f"resumed at {result.resumed_from}",
             last, Path(state_dir) / CONFIG_NAME, checkpoint_out)
    return result
