"""``snakemake --lint``: the workflow follows Snakemake's best practices (a log, a conda env
and named inputs per rule, functions in common.smk, no undeclared environment variables)."""

from __future__ import annotations

import pytest

from conftest import run_output, run_snakemake

pytestmark = pytest.mark.slow


def test_workflow_passes_snakemake_lint(make_workdir):
    wd = make_workdir(name="lint")
    proc = run_snakemake(wd, "--lint")
    assert proc.returncode == 0, run_output(proc)
    assert "Congratulations, your workflow is in a good condition" in proc.stdout + proc.stderr
