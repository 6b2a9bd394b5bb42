"""Keep the training tests on few threads; the machine is shared."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(min(previous, 2))
    yield
    torch.set_num_threads(previous)
