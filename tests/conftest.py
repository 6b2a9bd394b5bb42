"""Shared fixtures of the steploc test suite.

Everything written here is SYNTHETIC: a tiny hand-made annotation checkout in the CaptainCook4D
layout (quirks included: quoted fields, footer rows, string ids such as ``1_7``/``1_70``,
START/END nodes, node-id gaps, repeated nodes, unsorted files, a wrong ``duration(min)``) and
block-structured random feature arrays named ``<id>_synthetic.npy``. No real video features.

* :data:`REPO`, :data:`SNAKEFILE`, :data:`CC4D_ROOT` (the embedded real annotations);
* :func:`write_tiny_annotations`, :func:`synthetic_block_features`,
  :func:`write_synthetic_features`;
* the ``make_workdir`` fixture: a tmp Snakemake working directory with a tiny config YAML
  (absolute paths) and synthetic features for the chosen recordings;
* :func:`run_snakemake`: the workflow as a subprocess (``python -m snakemake``), with a timeout.
"""

from __future__ import annotations

import copy
import csv
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

from steploc.config import deep_update

REPO = Path(__file__).resolve().parents[1]
SNAKEFILE = REPO / "Snakefile"
CC4D_ROOT = REPO / "data" / "captaincook4d"
SYNTHETIC_PATTERN = "{video_id}_synthetic.npy"

# --------------------------------------------------------------------------------------------
# A tiny hand-made annotation checkout (SYNTHETIC, CaptainCook4D layout)
# --------------------------------------------------------------------------------------------

#: activity id -> name. "Mini Mug Cake" maps to minimugcake.json (spaces removed, lower case).
TINY_ACTIVITIES = {1: "Tiny Toast", 2: "Mini Mug Cake"}

#: Task graphs. Tiny Toast: START + 3 steps + END (5 nodes, 3 steps).
#: Mini Mug Cake: node 3 missing (gap), "Stir" twice (repeated node): 6 nodes, 4 steps.
TINY_GRAPHS = {
    "tinytoast.json": {
        "steps": {"0": "START", "1": "Slice-Slice the bread", "2": "Toast-Toast the bread",
                  "3": "Butter-Butter the toast", "4": "END"},
        "edges": [[0, 1], [1, 2], [2, 3], [3, 4]],
    },
    "minimugcake.json": {
        "steps": {"0": "START", "1": "Pour-Pour the batter into the mug",
                  "2": "Stir-Stir the batter", "4": "Microwave-Microwave the mug for 1 minute",
                  "5": "Stir-Stir the batter", "6": "END"},
        "edges": [[0, 1], [1, 2], [2, 4], [4, 5], [5, 6]],
    },
}
#: Expected K per activity, counted by hand from TINY_GRAPHS.
TINY_K = {"task_graph_nodes": {1: 5, 2: 6}, "task_graph_steps": {1: 3, 2: 4}}


@dataclass(frozen=True)
class TinyRecording:
    recording_id: str
    activity_id: int
    duration_s: float
    n_features: int  # ceil(duration_s): 1 s windows, 1 s stride
    steps: tuple  # (step_id, start_s, end_s); -1/-1 = missing step

    @property
    def n_recording_steps(self) -> int:
        """Unique performed steps, by hand below (the recording_steps K)."""
        return len({s for s, a, b in self.steps if a >= 0})


#: Listed in "numeric" order per activity like the real files (written shuffled elsewhere).
TINY_RECORDINGS = {
    r.recording_id: r
    for r in [
        # 3 unique performed steps (104 is a missing -1 row).
        TinyRecording("1_7", 1, 47.6, 48, ((101, 0.5, 16.0), (102, 16.0, 31.0),
                                           (103, 31.0, 47.0), (104, -1.0, -1.0))),
        TinyRecording("1_8", 1, 40.0, 40, ((101, 0.0, 13.0), (102, 13.0, 26.0),
                                           (103, 26.0, 40.0))),
        # "1_7" is a prefix of "1_70": ids must be compared as whole strings.
        TinyRecording("1_70", 1, 60.3, 61, ((101, 1.0, 20.0), (103, 40.0, 60.0),
                                            (102, 20.0, 40.0))),  # not chronological
        # 202 repeated, 204 missing: 3 unique performed steps.
        TinyRecording("2_3", 2, 51.5, 52, ((201, 0.0, 13.0), (202, 13.0, 26.0),
                                           (203, 26.0, 39.0), (202, 39.0, 51.0),
                                           (204, -1.0, -1.0))),
        TinyRecording("2_30", 2, 43.2, 44, ((201, 0.0, 11.0), (202, 11.0, 22.0),
                                            (203, 22.0, 33.0), (205, 33.0, 43.0))),
        # Short: ceil(10 / 4) = 3 nodes at depth 2 < K = 4 (task_graph_steps of activity 2).
        TinyRecording("2_4", 2, 9.7, 10, ((201, 0.0, 5.0), (202, 5.0, 9.5))),
    ]
}


def _quoted_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def write_tiny_annotations(root: Path, recordings: list[str] | None = None,
                           activities: dict[int, str] | None = None,
                           graphs: dict[str, dict] | None = None) -> Path:
    """Write a SYNTHETIC CaptainCook4D-layout checkout under ``root`` and return ``root``.

    Quirks reproduced: every CSV field quoted; a decorative footer after the activity rows
    (quirk 1); recordings and metadata in different orders (quirk 4, metadata sorted
    lexicographically and unquoted); a ``duration(min)`` column that disagrees with
    ``duration(sec)`` (quirk 12); -1 missing steps, repeated and non-chronological rows.
    """
    recordings = list(TINY_RECORDINGS) if recordings is None else recordings
    activities = TINY_ACTIVITIES if activities is None else activities
    graphs = TINY_GRAPHS if graphs is None else graphs
    recs = [TINY_RECORDINGS[r] for r in recordings]
    (root / "annotation_csv").mkdir(parents=True, exist_ok=True)
    (root / "annotation_json").mkdir(exist_ok=True)
    (root / "metadata").mkdir(exist_ok=True)
    (root / "task_graphs").mkdir(exist_ok=True)

    # average_segment_length.csv: activities in reverse id order, then the footer rows.
    with open(root / "annotation_csv" / "average_segment_length.csv", "w", newline="") as fh:
        w = csv.writer(fh, quoting=csv.QUOTE_ALL, lineterminator="\n")
        w.writerow(["activity_id", "activity_name", "average_segment_length"])
        for aid in sorted(activities, reverse=True):
            w.writerow([str(aid), activities[aid], "12.5"])
        rule = "\n" + "=" * 40 + "\n"
        w.writerow([rule])
        w.writerow(["Average", "12.5", "42"])
        w.writerow([rule])

    # recording_id_step_idx.csv: reverse order (2_x before 1_x).
    _quoted_csv(root / "annotation_csv" / "recording_id_step_idx.csv",
                ["recording_id", "activity_id", "step_indices"],
                [[r.recording_id, str(r.activity_id), ",".join(str(s) for s, _, _ in r.steps)]
                 for r in reversed(recs)])

    step_rows = [[r.recording_id, str(s), repr(float(a)), repr(float(b)), f"Step {s}", "False"]
                 for r in recs for s, a, b in r.steps]
    _quoted_csv(root / "annotation_csv" / "step_annotations.csv",
                ["recording_id", "step_id", "start_time", "end_time", "description", "has_errors"],
                step_rows)
    (root / "annotation_json" / "step_annotations.json").write_text(json.dumps({
        r.recording_id: {"recording_id": r.recording_id, "steps": [
            {"step_id": s, "start_time": a, "end_time": b, "description": f"Step {s}",
             "has_errors": False} for s, a, b in r.steps]}
        for r in recs
    }))

    # video_information.csv: unquoted, sorted lexicographically, duration(min) deliberately wrong.
    with open(root / "metadata" / "video_information.csv", "w") as fh:
        fh.write("recording_id,environment_id,person_id,duration(min),duration(sec)\n")
        for r in sorted(recs, key=lambda r: r.recording_id):
            fh.write(f"{r.recording_id},1,1,{r.duration_s / 60 * 0.5:.2f},{r.duration_s}\n")

    for name, graph in graphs.items():
        (root / "task_graphs" / name).write_text(json.dumps(graph, indent=1))
    return root


# --------------------------------------------------------------------------------------------
# SYNTHETIC features
# --------------------------------------------------------------------------------------------

def synthetic_block_features(n: int, dim: int = 16, n_blocks: int = 3, noise: float = 0.05,
                             seed: int = 0) -> np.ndarray:
    """SYNTHETIC ``(n, dim)`` float32 features: ``n_blocks`` consecutive equal-length blocks,
    each a distinct random unit vector plus small Gaussian noise."""
    rng = np.random.default_rng(seed)
    protos = rng.standard_normal((n_blocks, dim))
    protos /= np.linalg.norm(protos, axis=1, keepdims=True)
    block = (np.arange(n) * n_blocks) // max(n, 1)
    x = protos[block] + noise * rng.standard_normal((n, dim))
    return x.astype(np.float32)


def write_synthetic_features(features_dir: Path, video_id: str, n: int, dim: int = 16,
                             n_blocks: int = 3, seed: int | None = None,
                             name: str | None = None) -> Path:
    """Save SYNTHETIC block features as ``<features_dir>/<video_id>_synthetic.npy``."""
    features_dir.mkdir(parents=True, exist_ok=True)
    seed = sum(video_id.encode()) if seed is None else seed
    path = features_dir / (name or SYNTHETIC_PATTERN.format(video_id=video_id))
    np.save(path, synthetic_block_features(n, dim, n_blocks, seed=seed))
    return path


# --------------------------------------------------------------------------------------------
# Snakemake working directories
# --------------------------------------------------------------------------------------------

def tiny_config(annotations_root: Path, features_dir: Path, recording_ids: list[str]) -> dict:
    """A small, fast workflow config with absolute paths (schema keys only)."""
    return {
        "annotations": {"root": str(annotations_root)},
        "videos": {"recording_ids": list(recording_ids)},
        "features": {"dir": str(features_dir), "pattern": SYNTHETIC_PATTERN, "period_s": 1.0,
                     "period_tolerance": 0.05, "missing": "error"},
        "params": {"k_strategy": "task_graph_steps"},
        "device": "cpu",
        "models": {"raw": {"type": "raw", "depth": 2}},
        "clustering": {"fast": {"method": "spectral", "temperature": 0.05, "assign_labels": "auto", "random_state": 0,
                                "smoothing": "mode", "smoothing_window": 3,
                                "short_video": "skip"}},
        "batching": {"shards": 0},
        # the procedure stage runs; its per-activity figures (t-SNE) only where a test asks
        "procedure": {"report_map": False},
        "resources": {"hierarchy": {"threads": 1, "mem_mb": 500, "runtime": 5, "batch_size": 4},
                      "segment": {"threads": 1, "mem_mb": 500, "runtime": 5}},
    }


@dataclass
class Workdir:
    """A tmp Snakemake working directory (``path``) with its config and SYNTHETIC inputs."""

    path: Path
    config: dict
    annotations: Path
    features_dir: Path

    @property
    def configfile(self) -> Path:
        return self.path / "config.yaml"

    def write_config(self, config: dict | None = None, name: str = "config.yaml") -> Path:
        target = self.path / name
        target.write_text(yaml.safe_dump(self.config if config is None else config,
                                         sort_keys=False))
        return target

    def variant(self, name: str, **overrides) -> Path:
        """Write a copy of the config with ``overrides`` deep-merged, as ``<name>.yaml``."""
        cfg = deep_update(copy.deepcopy(self.config), overrides)
        return self.write_config(cfg, f"{name}.yaml")

    def results_files(self) -> list[Path]:
        root = self.path / "results"
        return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def create_workdir(path: Path, recording_ids: list[str], *, features: dict[str, int] | None = None,
                   overrides: dict | None = None) -> Workdir:
    """Tiny annotations + SYNTHETIC features (``features``: id -> n rows; default: every
    recording with its ``n_features``) + ``config.yaml`` in ``path``."""
    path.mkdir(parents=True, exist_ok=True)
    annotations = write_tiny_annotations(path / "annotations_synthetic")
    features_dir = path / "features_synthetic"
    features_dir.mkdir(exist_ok=True)
    if features is None:
        features = {r: TINY_RECORDINGS[r].n_features for r in recording_ids}
    for vid, n in features.items():
        write_synthetic_features(features_dir, vid, n)
    config = tiny_config(annotations, features_dir, recording_ids)
    deep_update(config, overrides or {})
    wd = Workdir(path=path, config=config, annotations=annotations, features_dir=features_dir)
    wd.write_config()
    return wd


@pytest.fixture
def make_workdir(tmp_path_factory):
    """Factory: ``make_workdir(recording_ids, features=..., overrides=..., name=...)``."""

    def factory(recording_ids=("1_7", "1_70", "2_3"), *, features=None, overrides=None,
                name="wd"):
        return create_workdir(tmp_path_factory.mktemp(name), list(recording_ids),
                              features=features, overrides=overrides)

    return factory


SNAKEMAKE_TIMEOUT_S = 240


def run_snakemake(workdir: Path | Workdir, *args: str, configfile: Path | None = None,
                  timeout: float = SNAKEMAKE_TIMEOUT_S) -> subprocess.CompletedProcess:
    """Run the repo's workflow in ``workdir`` (``--directory``) with its ``config.yaml``
    (or ``configfile``); returns the completed process (stdout/stderr as text)."""
    path = workdir.path if isinstance(workdir, Workdir) else Path(workdir)
    configfile = configfile or path / "config.yaml"
    cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(SNAKEFILE),
           "--directory", str(path), "--configfile", str(configfile), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env,
                          cwd=path)


def run_output(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO
