"""The REAL Breakfast sample through the workflow: a DxT copy of its features gives the same
Parquet outputs as the TxD original."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import run_output, run_snakemake

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "data" / "breakfast_sample"
VIDEOS = ["P06_cam01_P06_coffee", "P08_webcam01_P08_coffee"]


def write_config(workdir: Path, features: Path, pattern: str, layout: str) -> None:
    config = yaml.safe_load((REPO / "config" / "breakfast_sample.yaml").read_text())
    config["annotations"]["root"] = str(SAMPLE)
    config["features"].update(dir=str(features), pattern=pattern, layout=layout)
    config["clustering"] = {"kcpd": {"method": "kcpd", "smoothing": "none"}}
    config["evaluation"]["report_videos"] = 1
    config["videos"] = {"recording_ids": VIDEOS}  # two of the five: enough, and faster
    config["procedure"] = {"report_map": False}
    workdir.mkdir(parents=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))


def test_dxt_copy_gives_identical_outputs(tmp_path):
    transposed = tmp_path / "features_dxt"
    transposed.mkdir()
    for path in sorted((SAMPLE / "features").glob("*.txt")):
        if path.stem not in VIDEOS:
            continue
        arr = np.loadtxt(path, dtype=np.float32)
        np.save(transposed / f"{path.stem}.npy", np.ascontiguousarray(arr.T))
    runs = {"txd": (SAMPLE / "features", "{video_id}.txt", "TxD"),
            "dxt": (transposed, "{video_id}.npy", "DxT")}
    for name, (features, pattern, layout) in runs.items():
        write_config(tmp_path / name, features, pattern, layout)
        proc = run_snakemake(tmp_path / name, "--cores", "2", "--replace-workflow-config")
        assert proc.returncode == 0, run_output(proc)
    results = {name: tmp_path / name / "results_breakfast" for name in runs}
    tables = sorted(p.relative_to(results["txd"]) for p in results["txd"].rglob("*.parquet")
                    if p.name != "video_table.parquet")
    assert len(tables) >= 10
    for relative in tables:
        # the feature files differ, so do their fingerprints; everything else must not
        txd = pd.read_parquet(results["txd"] / relative).drop(columns="feature_fingerprint",
                                                             errors="ignore")
        dxt = pd.read_parquet(results["dxt"] / relative).drop(columns="feature_fingerprint",
                                                             errors="ignore")
        pd.testing.assert_frame_equal(txd, dxt, obj=str(relative))
    overall = pd.read_parquet(results["txd"] / "metrics" / "overall.parquet")
    assert (overall["videos_scored"] == len(VIDEOS)).all()
