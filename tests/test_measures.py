"""ianet_viz.measures: normalised row entropy and self weight of relation maps."""
import pytest
import torch

from ianet_viz import functional as Fn
from ianet_viz.measures import normalised_entropy, row_entropy, self_weight


def test_normalised_entropy_bounds():
    m = 12
    assert normalised_entropy(torch.eye(m)) == pytest.approx(0.0)
    assert normalised_entropy(torch.full((m, m), 1.0 / m)) == pytest.approx(1.0)
    s_l = Fn.location_relation(4, 3, (1.0, 2.0), dtype=torch.float64)
    assert 0.0 < normalised_entropy(s_l) < 1.0


def test_row_entropy_and_self_weight():
    m = 5
    s = torch.eye(m).expand(2, m, m)
    assert row_entropy(s).shape == (2, m) and float(row_entropy(s).abs().max()) == 0.0
    assert self_weight(s) == pytest.approx(1.0)
    assert self_weight(torch.full((m, m), 1.0 / m)) == pytest.approx(1.0 / m)
