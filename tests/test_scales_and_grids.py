"""Notebook 01's per-K tables (course.scales), the grid of one query's rows (viz.field_grid) and
notebook 02's cost figure (viz.costs)."""
import math

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from ianet_viz import functional as Fn  # noqa: E402
from ianet_viz.course.scales import KS, format_per_k, per_k_table  # noqa: E402
from ianet_viz.measures import normalised_entropy, self_weight  # noqa: E402
from ianet_viz.reference import appearance_loop  # noqa: E402
from ianet_viz.viz import plot_field_grid  # noqa: E402


def test_per_k_table_measures_each_map_at_both_scales():
    torch.manual_seed(0)
    f = torch.randn(2, 9, 6, 4, dtype=torch.float64)
    table = per_k_table(f, (1.5, 3.0))
    single, default = table["1/sqrt(C) every K"], table["default 1/(sqrt(C)K^2)"]
    assert set(single) == {f"K={k}" for k in KS} | {"S^A", "S"}
    assert single["K=1"] == pytest.approx(default["K=1"])  # the two scales agree at K = 1
    for k in (2, 3):  # against the loop of eq. 1 at each scale
        for label, scale in (("1/sqrt(C) every K", 1 / 3), ("default 1/(sqrt(C)K^2)", 1 / (3 * k * k))):
            naive = torch.stack([torch.from_numpy(appearance_loop(f[b], k, scale)) for b in range(2)])
            assert table[label][f"K={k}"] == pytest.approx((self_weight(naive), normalised_entropy(naive)), rel=1e-9)
    # one scale for every K sharpens a larger K more than the default does
    assert single["K=3"][0] > default["K=3"][0]
    text = format_per_k("title", {"stage2": table})
    assert text.splitlines()[0] == "title" and f"{single['K=2'][0]:5.2f}" in text and text.count("stage2") == 2


def test_field_grid_draws_each_row_with_its_self_weight():
    h, w = 4, 3
    row = torch.full((h * w,), 0.5 / (h * w - 1))
    row[1 * w + 2] = 0.5
    fig = plot_field_grid({"a": {"x": row, "y": torch.full((h * w,), 1 / (h * w))}, "b": {"z": row}}, (h, w), (1, 2),
                          np.zeros((8, 6, 3), np.uint8), first="photo", title="t")
    titles = [ax.get_title() for ax in fig.axes]
    assert titles.count("photo") == 2 and "x\nself 0.50" in titles and f"y\nself {1 / 12:.2f}" in titles
    assert "z\nself 0.50" in titles and fig._suptitle.get_text() == "t"
    assert len(fig.axes) == 2 * 3 + 1  # two rows of three panels (one empty), one colour bar
    panel = next(ax for ax in fig.axes if ax.get_title() == "x\nself 0.50")
    assert panel.images[-1].get_array().shape == (h, w)  # at cell resolution, over the photo
    matplotlib.pyplot.close(fig)


def test_cost_figure_stacks_every_part_and_marks_the_paper():
    from ianet_viz import build_ianet
    from ianet_viz.cost import cost_report
    from ianet_viz.viz.costs import PAPER_GMAC, plot_costs

    reports = {"base": cost_report(build_ianet("resnet18", ia_stages=()), input_size=(64, 32)),
               "ia": cost_report(build_ianet("resnet18", ia_stages=(2, 3)), input_size=(64, 32))}
    op = {s: {"SIA": 0.1 * s, "CIA": 0.2, "H": 8, "W": 4, "C": 64} for s in range(1, 5)}
    fig = plot_costs(reports, op, ["base", "ia"])
    ax = fig.axes[0]
    assert [line.get_xdata()[0] for line in ax.lines] == list(PAPER_GMAC)
    widths = {}
    for bar in ax.patches:
        widths.setdefault(round(bar.get_y() + bar.get_height() / 2), []).append(bar.get_width())
    assert sum(widths[1]) == pytest.approx(reports["ia"][-1]["gmacs"], rel=1e-6)  # the parts add up to the total
    assert math.isclose(sum(widths[0]), reports["base"][-1]["gmacs"], rel_tol=1e-6)
    matplotlib.pyplot.close(fig)
