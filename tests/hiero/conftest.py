"""Shared fixtures of the HiERO tests: the parity fixture and the models built from it.

The parity fixture is vendored in ``tests/fixtures/hiero_parity``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from steploc.hiero import HiERO, load_checkpoint
from steploc.hiero.testing import random_model, write_random_checkpoint

from .parity_data import FIXTURE_DIR


@pytest.fixture(scope="session")
def random_tiny_model(tmp_path_factory) -> HiERO:
    """Reduced width (hidden 32) with RANDOM weights through our own writer and loader (its
    weights equal the fixture checkpoint's)."""
    path = write_random_checkpoint(tmp_path_factory.mktemp("hiero") / "hiero_RANDOM_weights.pth")
    return load_checkpoint(path)


@pytest.fixture(scope="session")
def parity_dir() -> Path:
    assert (FIXTURE_DIR / "hiero_parity.npz").is_file(), f"vendored fixture missing: {FIXTURE_DIR}"
    return FIXTURE_DIR


@pytest.fixture(scope="session")
def parity(parity_dir: Path) -> dict[str, np.ndarray]:
    with np.load(parity_dir / "hiero_parity.npz") as arrays:
        return {key: arrays[key] for key in arrays.files}


@pytest.fixture(scope="session")
def parity_meta(parity_dir: Path) -> dict:
    return json.loads((parity_dir / "fixture_meta.json").read_text())


@pytest.fixture(scope="session")
def fixture_checkpoint(parity_dir: Path) -> Path:
    return parity_dir / "hiero_random_egovlp.pth"


@pytest.fixture(scope="session")
def tiny_model(fixture_checkpoint: Path) -> HiERO:
    """The fixture's reduced-width checkpoint (random weights), loaded with our loader."""
    return load_checkpoint(fixture_checkpoint)


@pytest.fixture(scope="session")
def full_model() -> HiERO:
    """Full egovlp width (hidden 768) with the recipe's RANDOM weights (~100 MB), built once; the
    same weights as the fixture's ``full.*`` cases (see test_full_width_weights_are_the_fixture_ones)."""
    return random_model()
