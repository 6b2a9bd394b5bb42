"""Where the HiERO parity fixture lives, and how to read a case's model input.

The fixture is outside the repository: ``../shared/fixtures/hiero_parity`` relative to the
repository root, or under ``$STEPLOC_SHARED``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE_NAME = "hiero_parity"


def find_parity_fixture() -> Path | None:
    """``$STEPLOC_SHARED/fixtures/hiero_parity`` (or ``$STEPLOC_SHARED`` itself / its
    ``hiero_parity``), else ``<repo>/../shared/fixtures/hiero_parity``; None if absent."""
    candidates = []
    shared = os.environ.get("STEPLOC_SHARED")
    if shared:
        base = Path(shared)
        candidates += [base / "fixtures" / FIXTURE_NAME, base / FIXTURE_NAME, base]
    candidates.append(REPO_ROOT.parent / "shared" / "fixtures" / FIXTURE_NAME)
    for candidate in candidates:
        if (candidate / "hiero_parity.npz").is_file() and (candidate / "fixture_meta.json").is_file():
            return candidate
    return None


def model_input(parity: dict[str, np.ndarray], case: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, pos) of a fixture case such as ``index.T250``: float16 inputs read as float32."""
    length = int(case.rsplit(".T", 1)[1])
    x = torch.from_numpy(parity[f"T{length}.x_in"].astype(np.float32))
    return x, torch.from_numpy(parity[f"{case}.pos_in"])
