"""Where the HiERO parity fixture lives, and how to read a case's model input.

The fixture (reference inputs, outputs and intermediates, made with the reference HiERO code)
is vendored in ``tests/fixtures/hiero_parity`` (see its ``VENDORED.md``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

FIXTURE_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "hiero_parity"


def model_input(parity: dict[str, np.ndarray], case: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(x, pos) of a fixture case such as ``index.T250``: float16 inputs read as float32."""
    length = int(case.rsplit(".T", 1)[1])
    x = torch.from_numpy(parity[f"T{length}.x_in"].astype(np.float32))
    return x, torch.from_numpy(parity[f"{case}.pos_in"])
