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


def _naive_cells_for_mass(row, mass):
    # try every subset size k: the k largest weights are the best k cells
    values = sorted(row.tolist(), reverse=True)
    for k in range(1, len(values) + 1):
        if sum(values[:k]) >= mass * sum(values) - 1e-12:
            return k
    return len(values)


def test_cells_for_mass_matches_naive_count():
    from ianet_viz.measures import cells_for_mass

    torch.manual_seed(0)
    rows = [torch.softmax(3 * torch.randn(40, dtype=torch.float64), 0) for _ in range(20)]
    rows += [Fn.location_relation(16, 8, (s, 2 * s), dtype=torch.float64)[8 * 8 + 4] for s in (0.5, 1, 2, 5)]
    for row in rows:
        for mass in (0.1, 0.5, 0.9, 1.0):
            assert cells_for_mass(row, mass) == _naive_cells_for_mass(row, mass)
    assert cells_for_mass(torch.full((8,), 1 / 8)) == 4  # uniform: half the cells hold half the mass
    assert cells_for_mass(torch.eye(8)[3]) == 1


def test_cells_for_mass_bad_input():
    from ianet_viz.measures import cells_for_mass

    with pytest.raises(ValueError, match="one row"):
        cells_for_mass(torch.eye(4))
    with pytest.raises(ValueError, match="mass"):
        cells_for_mass(torch.ones(4) / 4, mass=0.0)


def test_mean_by_offset_matches_naive_displacement_sum():
    from ianet_viz.measures import mean_by_offset

    h, w = 4, 3
    torch.manual_seed(1)
    s = torch.softmax(torch.randn(2, h * w, h * w, dtype=torch.float64), -1)
    naive = torch.zeros(2 * h - 1, 2 * w - 1, dtype=torch.float64)
    for b in range(2):
        for i in range(h * w):
            for j in range(h * w):
                dy, dx = j // w - i // w, j % w - i % w
                naive[h - 1 + dy, w - 1 + dx] += s[b, i, j]
    naive /= 2 * h * w
    got = mean_by_offset(s, h, w)
    assert torch.allclose(got, naive, atol=1e-12)
    assert float(got.sum()) == pytest.approx(1.0)  # every row's unit mass lands somewhere
    s_l = Fn.location_relation(h, w, (1.0, 2.0), dtype=torch.float64).expand(2, -1, -1)
    peak = mean_by_offset(s_l, h, w)
    assert int(peak.argmax()) == (h - 1) * (2 * w - 1) + (w - 1)  # a location prior peaks at zero offset


def test_mean_by_offset_bad_shape():
    from ianet_viz.measures import mean_by_offset

    with pytest.raises(ValueError, match="M = h \\* w"):
        mean_by_offset(torch.eye(6).expand(1, 6, 6), 4, 3)
