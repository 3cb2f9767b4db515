"""Shared test fixtures. Tests never touch the network or ../shared."""
import os

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
os.environ.setdefault("IANET_SMOKE", "1")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


@pytest.fixture
def features():
    """A small non-square float64 feature map [B, C, H, W] with positive (post-ReLU-like) entries."""
    g = torch.Generator().manual_seed(1)
    return torch.rand(2, 6, 5, 3, generator=g, dtype=torch.float64)


@pytest.fixture
def one_thread():
    """One intra-op thread for a test that trains: the CI machine has 2 shared cores (no oversubscription)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
