"""Tests for ianet_viz.viz: overlays, the receptive-field viewer, part alignment, the figures.

A tiny random-init ResNet-18 IANet at 128 x 64 (stage-3 map 8 x 4, stage-2 map 16 x 8), Agg backend.
No test asserts a wall-clock time: the viewer's speed is measured by benchmarks/viewer.py; here
its mechanism is tested (what a click redraws) and a CPU-time ratio that load cannot flip.
"""
import csv
import math
import io
import time

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.backend_bases import MouseEvent  # noqa: E402

from ianet_viz import RelationRecorder, build_ianet  # noqa: E402
from ianet_viz.functional import location_relation  # noqa: E402
from ianet_viz.viz import (ReceptiveFieldViewer, alignment_table, cell_center, cell_labels,  # noqa: E402
                           field_label, field_stats, part_alignment, pixel_to_cell, relation_row, upsample)
from ianet_viz.viz.viewer import PANEL_TITLES, PANELS  # noqa: E402
from ianet_viz.viz import figures as F  # noqa: E402
from ianet_viz.viz import retrieval as RG  # noqa: E402

SIZE = (128, 64)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return build_ianet("resnet18", num_classes=4, pretrained=None, ia_stages=(2, 3)).eval()


def _person(seed, h=150, w=70):
    """A crude pedestrian-like picture: background noise, head, torso, legs in distinct colours."""
    rng = np.random.default_rng(seed)
    img = rng.integers(60, 120, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), np.uint8)
    cx = w // 2 + int(rng.integers(-5, 6))
    for label, (y0, y1, half), color in (
        (1, (0.05, 0.18, 0.10), (230, 190, 150)),
        (2, (0.18, 0.50, 0.22), tuple(int(c) for c in rng.integers(0, 255, 3))),
        (4, (0.50, 0.90, 0.16), tuple(int(c) for c in rng.integers(0, 255, 3))),
        (5, (0.90, 0.98, 0.18), (20, 20, 20)),
    ):
        ys, ye = int(y0 * h), int(y1 * h)
        xs, xe = cx - int(half * w), cx + int(half * w)
        img[ys:ye, xs:xe] = color
        mask[ys:ye, xs:xe] = label
    return img, mask


@pytest.fixture(scope="module")
def people():
    pairs = [_person(s) for s in range(3)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


@pytest.fixture
def viewer(model, people):
    v = ReceptiveFieldViewer(model, people[0], block="stage3", size=SIZE, interactive=False)
    yield v
    v.close()


def _recorded(model, x, key="S"):
    with torch.no_grad(), RelationRecorder(model) as rec:
        model(x)
    return rec


# ------------------------------------------------------------------------------ overlay math
def test_pixel_to_cell_and_back():
    assert pixel_to_cell(0, 0, (256, 128), (16, 8)) == (0, 0)
    assert pixel_to_cell(15.99, 15.99, (256, 128), (16, 8)) == (0, 0)
    assert pixel_to_cell(16, 16, (256, 128), (16, 8)) == (1, 1)
    assert pixel_to_cell(255, 127, (256, 128), (16, 8)) == (15, 7)
    assert pixel_to_cell(1e6, -5, (256, 128), (16, 8)) == (15, 0)  # clipped
    for r in range(16):
        for c in range(8):
            assert pixel_to_cell(*cell_center(r, c, (16, 8), (256, 128)), (256, 128), (16, 8)) == (r, c)


def test_relation_row_is_the_reshaped_upsampled_row():
    rng = np.random.default_rng(0)
    S = rng.random((2, 32, 32)).astype(np.float32)
    S /= S.sum(-1, keepdims=True)
    heat = relation_row(torch.from_numpy(S), 1, (8, 4), (70.0, 20.0), (128, 64), interpolation="bilinear")
    m = 4 * 4 + 1  # pixel (70, 20) -> cell (4, 1)
    expected = upsample(S[1, m].reshape(8, 4), (128, 64), "bilinear")
    np.testing.assert_allclose(heat, expected)
    # the default is nearest: a one-hot row is exactly its own cell's 16 x 16 block of pixels
    onehot = np.zeros((32, 32), np.float32)
    onehot[m, m] = 1
    h = relation_row(onehot, 0, (8, 4), (70.0, 20.0), (128, 64))
    block = np.zeros((128, 64), bool)
    block[64:80, 16:32] = True
    np.testing.assert_array_equal(h, block.astype(np.float32))
    # the smooth upsamplings spread it over the neighbours (what the pictures used to show)
    assert (upsample(onehot[m].reshape(8, 4), (128, 64), "bicubic")[~block] > 0.05).sum() > 100


@pytest.mark.parametrize("hw, image_hw", [((8, 4), (128, 64)), ((16, 8), (256, 128)), ((7, 3), (100, 50))])
def test_nearest_upsampling_gives_every_cell_its_own_block(hw, image_hw):
    h, w = hw
    grid = np.arange(h * w, dtype=np.float32).reshape(h, w)  # every cell a different value
    up = upsample(grid, image_hw)
    assert up.shape == tuple(image_hw)
    ys, xs = np.meshgrid(np.arange(image_hw[0]), np.arange(image_hw[1]), indexing="ij")
    # pixel (p, q) shows the cell that contains its centre, the cell a click there selects
    cells = np.vectorize(lambda p, q: cell_of(p + 0.5, q + 0.5, image_hw, hw))(ys, xs)
    np.testing.assert_array_equal(up, cells.astype(np.float32))
    for r, c in ((0, 0), (h // 2, w - 1), (h - 1, 0)):
        onehot = np.zeros(hw, np.float32)
        onehot[r, c] = 1
        rows, cols = np.nonzero(upsample(onehot, image_hw))
        # one solid rectangle, the cell's share of the image (to a pixel when the sizes do not divide)
        assert (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1) == rows.size
        assert abs(rows.max() - rows.min() + 1 - image_hw[0] / h) < 1 and abs(cols.max() - cols.min() + 1 - image_hw[1] / w) < 1


def cell_of(y, x, image_hw, hw):
    r, c = pixel_to_cell(y, x, image_hw, hw)
    return r * hw[1] + c


def test_field_stats_and_label():
    grid = np.array([[0.1, 0.2], [0.22, 0.48]], np.float32)
    own, peak = field_stats(grid, 1, 0)
    assert own == pytest.approx(0.22) and peak == pytest.approx(0.48 * 4)
    assert field_label(grid, 1, 0) == "self 0.22 | peak 1.92x"
    assert field_label(grid, 1, 1, "\n") == "self 0.48\npeak 1.92x"
    assert field_label(np.array([[0.004, 0.996]]), 0, 0) == "self <0.01 | peak 1.99x"


# ------------------------------------------------------------------------------ viewer
def test_select_matches_recorder_by_hand(model, viewer):
    y, x = 70.3, 20.7
    viewer.select(0, 10, 10)
    artists = {k: dict(a) for k, a in viewer.panel_artists.items()}
    image_artists = dict(viewer.image_artists)
    children = {k: list(ax.get_children()) for k, ax in viewer.panel_axes.items()}
    fig_children = list(viewer.panel_fig.get_children())
    row, col = viewer.select(1, y, x)
    # updated in place (set_data / set_text), not re-plotted: the same artist objects, no new ones
    assert all(artists[k] == a for k, a in viewer.panel_artists.items())
    assert image_artists == viewer.image_artists
    assert {k: list(ax.get_children()) for k, ax in viewer.panel_axes.items()} == children
    assert list(viewer.panel_fig.get_children()) == fig_children
    assert (row, col) == pixel_to_cell(y, x, SIZE, (8, 4)) == (4, 1)
    # the pedestrian: a ring on the pixel; each panel: the outline of the selected cell (16 x 16 pixels)
    np.testing.assert_allclose(viewer.image_artists["point"].get_data(), ([x], [y]))
    for key in ("point", "point_edge"):
        np.testing.assert_allclose(viewer.panel_artists["S"][key].get_data(),
                                   ([16, 32, 32, 16, 16], [64, 64, 80, 80, 64]))
    assert viewer.selected == (4, 1) and viewer.image_index == 1
    rec = _recorded(model, viewer.x[1:2])
    m = row * 4 + col
    for key in ("S_A_1", "S_A_2", "S_A_3", "S_A", "S_L", "S"):
        S = rec.maps["stage3"][key]
        expected = relation_row(S, 0, rec.shapes["stage3"], (y, x), SIZE)
        np.testing.assert_allclose(viewer.heat(key), expected, rtol=1e-4, atol=1e-6, err_msg=key)
        # the heat image holds the row at cell resolution, drawn with nearest neighbours, in units of
        # weight x M on the one log scale of every panel (floored at 0.1 of uniform)
        heat = viewer.panel_artists[key]["heat"]
        assert heat.get_array().shape == (8, 4) and heat.get_interpolation() == "nearest"
        row_s = (S[0] if S.dim() == 3 else S)[m].reshape(8, 4).numpy()
        np.testing.assert_allclose(heat.get_array(), np.maximum(row_s * 32, 0.1), rtol=1e-4, atol=1e-6)
        assert heat.norm is viewer.panel_artists["S"]["heat"].norm and (heat.norm.vmin, heat.norm.vmax) == (0.1, 32)
        # the panel states the self-weight S[i, i] of the selected cell
        s_ii = float((S[0] if S.dim() == 3 else S)[m, m])
        assert viewer.self_weight(key) == pytest.approx(s_ii, rel=1e-5, abs=1e-7), key
        assert viewer.panel_text(key).startswith(f"self {'<0.01' if s_ii < 0.005 else f'{s_ii:.2f}'} | peak ")
        assert viewer.panel_artists[key]["text"].get_text() == viewer.panel_text(key)
    assert PANEL_TITLES["S"] == viewer.panel_axes["S"].get_title()
    np.testing.assert_array_equal(viewer.image_artists["image"].get_array(), viewer.display[1])


def _press(fig, ax, y, x, button=1):
    """A synthetic mouse press at data point (y, x) of ``ax``, processed by the canvas."""
    px, py = ax.transData.transform((x, y))
    event = MouseEvent("button_press_event", fig.canvas, px, py, button=button)
    fig.canvas.callbacks.process("button_press_event", event)
    return event


def test_click_reaches_select_with_the_right_cell(viewer, monkeypatch):
    calls = []
    real = viewer.select

    def spy(i, y, x):
        calls.append((i, y, x))
        return real(i, y, x)

    monkeypatch.setattr(viewer, "select", spy)
    event = _press(viewer.image_fig, viewer.image_ax, 70.3, 20.7)
    assert event.inaxes is viewer.image_ax
    assert len(calls) == 1
    i, y, x = calls[0]
    assert i == 0 and y == pytest.approx(70.3, abs=1e-6) and x == pytest.approx(20.7, abs=1e-6)
    assert viewer.selected == (4, 1)
    # and on the stage-2 grid (16 x 8) the same pixel is another cell
    viewer.set_block("stage2")
    _press(viewer.image_fig, viewer.image_ax, 70.3, 20.7)
    assert viewer.selected == (8, 2)


def test_clicks_outside_the_image_do_nothing(viewer):
    viewer.select(0, 10, 10)
    before = (viewer.selected, viewer.heat("S").copy(), viewer.cache_info()["forward_passes"])
    canvas = viewer.image_fig.canvas
    outside = [
        MouseEvent("button_press_event", canvas, -40, -40, button=1),  # off the canvas: inaxes None
        MouseEvent("button_press_event", canvas, 1e5, 1e5, button=1),
    ]
    other_ax = MouseEvent("button_press_event", canvas, 5, 5, button=1)
    other_ax.inaxes, other_ax.xdata, other_ax.ydata = viewer.panel_axes["S"], 3.0, 3.0  # another axes
    no_data = MouseEvent("button_press_event", canvas, 5, 5, button=1)
    no_data.xdata = no_data.ydata = None
    right = MouseEvent("button_press_event", canvas, 30, 30, button=3)
    for ev in outside + [other_ax, no_data, right]:
        canvas.callbacks.process("button_press_event", ev)  # must not raise
    assert outside[0].inaxes is None
    assert viewer.selected == before[0]
    np.testing.assert_array_equal(viewer.heat("S"), before[1])
    assert viewer.cache_info()["forward_passes"] == before[2]
    assert viewer.last_error is None


def test_cache_per_image_and_block(model, people):
    v = ReceptiveFieldViewer(model, people[0], size=SIZE, interactive=False)
    assert v.cache_info()["forward_passes"] == 0
    v.select(0, 40, 30)
    assert v.cache_info()["forward_passes"] == 1  # one forward records every block
    v.select(0, 90, 10)
    assert v.cache_info()["forward_passes"] == 1
    v.select(2, 40, 30)
    assert v.cache_info()["forward_passes"] == 2
    x = torch.cat([v.x[0:1], v.x[2:3]])
    rec = _recorded(model, x)
    np.testing.assert_allclose(v.heat("S"), relation_row(rec.maps["stage3"]["S"], 1, (8, 4), (40, 30), SIZE),
                               rtol=1e-4, atol=1e-6)
    v.set_block("stage2")  # cached together with stage3: no new forward, but the stage-2 map
    assert v.cache_info()["forward_passes"] == 2
    assert v.selected == pixel_to_cell(40, 30, SIZE, (16, 8))
    np.testing.assert_allclose(v.heat("S"), relation_row(rec.maps["stage2"]["S"], 1, (16, 8), (40, 30), SIZE),
                               rtol=1e-4, atol=1e-6)
    v.select(0, 40, 30)  # back to image 0 on stage 2: cached, and not image 2's map
    assert v.cache_info()["forward_passes"] == 2
    np.testing.assert_allclose(v.heat("S"), relation_row(rec.maps["stage2"]["S"], 0, (16, 8), (40, 30), SIZE),
                               rtol=1e-4, atol=1e-6)
    assert set(v.cache_info()["keys"]) == {(0, "stage2"), (0, "stage3"), (2, "stage2"), (2, "stage3")}
    # a small cache evicts the least recently used image and recomputes it when needed
    small = ReceptiveFieldViewer(model, people[0], size=SIZE, interactive=False, cache_size=2)
    small.select(0, 40, 30)
    small.select(1, 40, 30)
    assert small.cache_info()["entries"] == 2 and small.cache_info()["forward_passes"] == 2
    small.select(0, 40, 30)
    assert small.cache_info()["forward_passes"] == 3
    np.testing.assert_allclose(small.heat("S"), relation_row(rec.maps["stage3"]["S"], 0, (8, 4), (40, 30), SIZE),
                               rtol=1e-4, atol=1e-6)
    v.close()
    small.close()


def test_widgets_sliders_and_views(viewer):
    w = viewer.show(frontend="matplotlib")
    assert "ianet-viewer" in w._dom_classes
    assert viewer._label.value.startswith("stage3: cell (row, col) = ")
    assert viewer._image_view.value[:8] == b"\x89PNG\r\n\x1a\n"  # static render
    viewer._row.value = 6
    assert viewer.selected[0] == 6
    viewer._col.value = 3
    assert viewer.selected == (6, 3)
    assert "(6, 3) of 8x4" in viewer._label.value
    viewer._block_sel.value = "stage2"
    assert viewer.block == "stage2" and viewer._row.max == 15 and viewer._col.max == 7
    viewer._picker.value = 2
    assert viewer.image_index == 2
    viewer._view_sel.value = "fig4"
    assert not viewer.panel_axes["S_L"].get_visible() and viewer.panel_axes["S_A"].get_visible()
    viewer._view_sel.value = "all"
    assert viewer.panel_axes["S_L"].get_visible()


def _count_draws(monkeypatch):
    """Count the artists drawn, by class (Text, AxesImage, Line2D)."""
    import matplotlib.image as mimage
    import matplotlib.lines as mlines
    import matplotlib.text as mtext

    counts = {}
    for cls in (mtext.Text, mimage.AxesImage, mlines.Line2D):
        orig = cls.draw

        def draw(self, renderer, *args, _orig=orig, _name=cls.__name__, **kwargs):
            if self.get_visible():
                counts[_name] = counts.get(_name, 0) + 1
            return _orig(self, renderer, *args, **kwargs)

        monkeypatch.setattr(cls, "draw", draw)
    return counts


def test_cached_select_redraws_only_what_changes(viewer, monkeypatch):
    """A click re-renders the heat images, markers and numbers, nothing else (blitting): no forward
    pass, no full redraw, no title or colour-bar text; a new image adds its photos."""
    from ianet_viz.course import benchmark_select

    viewer.show(frontend="matplotlib")  # static render: the PNG widgets
    viewer.select(0, 10, 10)
    n_panels = len(PANELS)
    forwards, renders = viewer.cache_info()["forward_passes"], viewer.render_info()
    counts = _count_draws(monkeypatch)
    viewer.select(0, 100, 50)
    assert viewer.cache_info()["forward_passes"] == forwards
    after = viewer.render_info()
    assert after["panels_full_draws"] == renders["panels_full_draws"] and after["image_full_draws"] == renders["image_full_draws"]
    assert after["panels_blits"] == renders["panels_blits"] + 1
    # per panel: one heat image, one line of numbers, two marker lines (+ two on the pedestrian)
    assert counts == {"AxesImage": n_panels, "Text": n_panels, "Line2D": 2 * n_panels + 2}
    counts.clear()
    viewer.select(1, 100, 50)  # another image (cached maps): its photos too, still no full redraw
    assert counts == {"AxesImage": 2 * n_panels + 1, "Text": n_panels, "Line2D": 2 * n_panels + 2}
    assert viewer.render_info()["panels_full_draws"] == renders["panels_full_draws"]
    counts.clear()
    viewer.set_view("fig4")  # a new layout: one full redraw, then blits again
    assert viewer.render_info()["panels_full_draws"] == renders["panels_full_draws"] + 1
    assert counts["Text"] > n_panels
    monkeypatch.undo()
    # the PNG widget shows the blitted state, and the buffer equals a full redraw of the same state
    viewer.select(1, 60, 30)
    png = viewer._panel_view.value
    blitted = np.asarray(viewer.panel_fig.canvas.buffer_rgba()).copy()
    viewer._full = True
    viewer._draw()
    np.testing.assert_array_equal(np.asarray(viewer.panel_fig.canvas.buffer_rgba()), blitted)
    from PIL import Image

    assert Image.open(io.BytesIO(png)).size == blitted.shape[1::-1]
    stats = benchmark_select(viewer, n=4)
    assert stats["full_redraws"] == 0 and stats["n"] == 4


def test_cached_select_costs_less_cpu_than_a_full_redraw(viewer):
    """CPU time (this process, immune to other jobs' load), interleaved, medians: a cached click
    costs well under a redraw of both figures (about half at this size; the speed itself, at the
    paper's 256 x 128, is measured by ``python -m benchmarks.viewer``)."""
    viewer.show(frontend="matplotlib")
    viewer.select(0, 10, 10)
    rng = np.random.default_rng(0)
    clicks, redraws = [], []
    for _ in range(7):
        y, x = rng.uniform(0, SIZE[0]), rng.uniform(0, SIZE[1])
        c0 = time.process_time()
        viewer.select(0, y, x)
        clicks.append(time.process_time() - c0)
        c0 = time.process_time()
        viewer._full = True  # what every click cost before blitting: both figures redrawn
        viewer._draw()
        redraws.append(time.process_time() - c0)
    ratio = float(np.median(redraws) / np.median(clicks))
    print(f"cached click {1e3 * np.median(clicks):.1f} ms CPU, full redraw {1e3 * np.median(redraws):.1f} ms CPU, "
          f"ratio {ratio:.2f}")
    assert ratio > 1.25


def test_one_cell_map_shows_as_one_cell(model, people):
    """A map whose rows are one-hot on the query cell: every panel shows exactly the query cell's
    block of pixels and states self-weight 1."""
    v = ReceptiveFieldViewer(model, people[0], size=SIZE, interactive=False)
    maps, hw = v.maps(0, "stage3")
    eye = np.eye(hw[0] * hw[1], dtype=np.float32)
    v._cache[(0, "stage3")] = ({k: eye for k in maps}, hw)
    row, col = v.select(0, 70.3, 20.7)
    assert (row, col) == (4, 1)
    block = np.zeros(SIZE, bool)
    block[64:80, 16:32] = True
    for key in PANELS:
        np.testing.assert_array_equal(v.heat(key), block.astype(np.float32), err_msg=key)
        assert v.self_weight(key) == 1.0 and v.panel_text(key) == "self 1.00 | peak 32x"
    v.close()


def test_still_shows_the_current_state(viewer, tmp_path):
    from PIL import Image

    viewer.set_block("stage2")
    viewer.set_view("als")
    y, x = 70.3, 20.7
    row, col = viewer.select(2, y, x)
    path = tmp_path / "viewer.png"
    fig = viewer.still(path)
    assert path.exists() and path.stat().st_size > 10_000
    png = np.asarray(Image.open(path).convert("RGB"))
    w, h = fig.canvas.get_width_height()
    assert png.shape == (h, w, 3)
    image_axes = [ax for ax in fig.axes if ax.images]
    shown = ["S_A", "S_L", "S"]
    assert len(image_axes) == 1 + len(shown)  # the pedestrian + the panels of the view (+ a colour bar)
    assert f"cell ({row}, {col}) of 16x8" in image_axes[0].get_title()
    assert "stage2" in fig._suptitle.get_text() and "Hou et al. 2019" in fig._suptitle.get_text()
    for ax, key in zip(image_axes[1:], shown):
        assert ax.get_title() == f"{PANEL_TITLES[key]}\n{viewer.panel_text(key)}"
        assert viewer.panel_text(key).startswith("self ") and np.isfinite(viewer.self_weight(key))
        # the photo, then the row in units of weight x M (16 x 8 map: M = 128) on the shared log scale
        np.testing.assert_allclose(ax.images[1].get_array(), np.maximum(viewer.heat(key) * 128, 0.1), rtol=1e-5)
        assert ax.images[1].get_interpolation() == "nearest"
        assert (ax.images[1].norm.vmin, ax.images[1].norm.vmax) == (0.1, 128)
    colorbars = [ax for ax in fig.axes if ax not in image_axes]
    assert len(colorbars) == 1 and "1 = uniform" in colorbars[0].get_ylabel()
    y0, y1 = row * 128 / 16, (row + 1) * 128 / 16  # the selected cell, in pixels
    x0, x1 = col * 64 / 8, (col + 1) * 64 / 8
    for k, ax in enumerate(image_axes):
        np.testing.assert_array_equal(ax.images[0].get_array(), viewer.display[2])
        if k == 0:  # the pedestrian: a ring at (x, y), white in the PNG
            for line in ax.lines:
                np.testing.assert_allclose(line.get_xydata(), [[x, y]])
            px, py = ax.transData.transform((x, y))
            cy, cx = int(round(h - py)), int(round(px))
            window = png[cy - 8:cy + 9, cx - 8:cx + 9].astype(int)
            assert (window.min(-1) > 235).sum() >= 8, "no white ring at the selected point"
            continue
        # a panel: the outline of the selected cell, white in the PNG, and the cell's inside left uncovered
        for line in ax.lines:
            np.testing.assert_allclose(line.get_xydata(), [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]])
        (ax0, ay0), (ax1, ay1) = ax.transData.transform((x0, y0)), ax.transData.transform((x1, y1))
        top, left = int(round(h - ay0)), int(round(ax0))
        edge = png[top - 1:top + 2, left + 3:int(round(ax1)) - 3].astype(int)
        assert (edge.min(-1) > 200).mean() > 0.5, "no white outline on the selected cell"
        inside = png[top + 4:int(round(h - ay1)) - 4, left + 4:int(round(ax1)) - 4].astype(int)
        assert inside.size and (inside.min(-1) > 200).mean() < 0.05, "the marker covers the selected cell"
    # the live figures are untouched by the still
    assert viewer.selected == (row, col) and viewer.panel_axes["S_A_1"].get_visible() is False
    plt.close(fig)


# ------------------------------------------------------------------------------ part alignment
def _naive_alignment(S, masks, hw, part):
    """Loop-by-loop reference: majority label per cell, then mass on the same part per query."""
    b, img_h, img_w = masks.shape
    h, w = hw
    shares, lifts, areas = [], [], []
    for i in range(b):
        labels = np.zeros((h, w), int)
        for r in range(h):
            for c in range(w):
                y0, y1 = int(np.floor(r * img_h / h)), int(np.floor((r + 1) * img_h / h))
                x0, x1 = int(np.floor(c * img_w / w)), int(np.floor((c + 1) * img_w / w))
                counts = np.bincount(masks[i, y0:y1, x0:x1].ravel(), minlength=8)
                labels[r, c] = int(np.argmax(counts))
        flat = labels.ravel()
        area = float(np.mean(flat == part))
        for q in range(h * w):
            if flat[q] != part:
                continue
            share = sum(S[i, q, j] for j in range(h * w) if flat[j] == part)
            shares.append(share)
            lifts.append(share / area)
            areas.append(area)
    return np.mean(shares), np.mean(lifts), np.mean(areas), len(shares)


def test_part_alignment_matches_naive_loop(people):
    masks = np.stack(people[1])  # [3, 150, 70]
    hw = (10, 5)
    rng = np.random.default_rng(1)
    S = rng.random((3, 50, 50)) ** 4
    S /= S.sum(-1, keepdims=True)
    res = part_alignment(S, masks, hw)
    assert {"head", "torso", "legs"} <= set(res) <= {"head", "torso", "legs", "shoes"}
    for name, r in res.items():
        share, lift, area, n = _naive_alignment(S, masks, hw, r["label"])
        assert r["n_points"] == n
        assert r["share"] == pytest.approx(share, rel=1e-9)
        assert r["lift"] == pytest.approx(lift, rel=1e-9)
        assert r["area"] == pytest.approx(area, rel=1e-9)
    np.testing.assert_array_equal(cell_labels(masks, hw)[0], cell_labels(masks[0], hw)[0])


def test_part_alignment_perfect_and_uniform(people):
    masks = np.stack(people[1][:1])
    hw = (10, 5)
    labels = cell_labels(masks, hw).reshape(1, -1)
    m = labels.shape[1]
    aligned = np.zeros((1, m, m))
    for i in range(m):
        same = labels[0] == labels[0, i]
        aligned[0, i, same] = 1.0 / same.sum()
    res = part_alignment(aligned, masks, hw)
    for name, r in res.items():
        assert r["share"] == pytest.approx(1.0)
        assert r["lift"] == pytest.approx(1.0 / r["area"])
        assert r["area"] == pytest.approx(np.mean(labels[0] == r["label"]))
    uniform = np.full((1, m, m), 1.0 / m)
    for soft in (False, True):
        for name, r in part_alignment(uniform, masks, hw, soft=soft).items():
            assert r["lift"] == pytest.approx(1.0)
            assert r["share"] == pytest.approx(r["area"])
    # one [M, M] map (S_L) is used for every mask; parts can be chosen by name or id
    s_l = location_relation(*hw, sigma=(5.0, 10.0))
    both = part_alignment(s_l, np.stack(people[1][:2]), hw, parts=["head", 2])
    assert list(both) == ["head", "torso"] and both["head"]["n_images"] == 2


def test_alignment_table(model, people):
    from ianet_viz.recorder import record
    from ianet_viz.viz import prepare

    x, _ = prepare(people[0], SIZE)
    maps, shapes = record(model, x)
    table = alignment_table(maps["stage2"], np.stack(people[1]), shapes["stage2"])
    assert [r["part"] for r in table][:2] == ["head", "torso"]
    assert {"S_A_1", "S_A_1+S_L", "S_A", "S", "S_L"} <= set(table.columns())
    assert "S_A_1+S_L" in str(table) and "<table>" in table._repr_html_()
    both = alignment_table(maps["stage2"], np.stack(people[1]), shapes["stage2"], variants=["S_A", "S"], metric="both")
    assert "S lift" in both.columns() and "S_A share" in both.columns()


# ------------------------------------------------------------------------------ figures
def test_figures_build(model, people, tmp_path):
    images, masks = people
    figs = []
    fig, info = F.fig8(model, images, masks=masks, size=SIZE, return_info=True)
    figs.append(fig)
    assert len(info["channels"]) == 3 and list(info["points"][0]) == list(F.FIG8_POINTS)
    head_y = info["points"][0]["head"][0]
    shoes_y = info["points"][0]["shoes"][0]
    assert head_y < shoes_y  # head above shoes
    figs.append(F.fig8(model, images[:1], size=SIZE, key="S_A", n_channels=2))  # fixed heights
    figs.append(F.fig4(model, images[0], size=SIZE))
    figs.append(F.fig4(model, images[0], point=(20, 30), size=SIZE, ks=(1, 5), with_location=True))
    table = [dict(sigma1=s, rank1=0.5 + 0.01 * s, mAP=0.3 + 0.01 * s, seed=k) for s in (1, 5, 10) for k in range(2)]
    path = tmp_path / "sweep.csv"
    with open(path, "w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=["sigma1", "rank1", "mAP", "seed"])
        wr.writeheader()
        wr.writerows(table)
    stats = F.sigma_sweep_stats(path)
    assert [r["sigma1"] for r in stats] == [1, 5, 10] and stats[0]["rank1_mean"] == pytest.approx(51.0)
    figs.append(F.plot_sigma_sweep(table))
    figs.append(F.plot_sigma_sweep(path))
    figs.append(F.plot_location_shapes(8, 4, (1, 2, (5, 10))))
    items = [(img, pid, cam) for img, pid, cam in zip(images, (1, 2, 1), (0, 0, 1))]
    dist = np.array([[0.0, 0.5, 0.2], [0.4, 0.1, 0.3]])
    assert RG.ranked(dist, 0, items, items, topk=5) == [2, 1]  # gallery 0 is the same pid and camera: junk
    figs.append(RG.retrieval_grid(dist, items, items, [0, 1], topk=3,
                                 overlay=RG.receptive_field_overlay(model, size=SIZE), size=SIZE))
    for i, fig in enumerate(figs):
        fig.savefig(tmp_path / f"fig{i}.png")
        assert "Hou et al. 2019" in (fig._suptitle.get_text() if fig._suptitle else "") or i == len(figs) - 1
    # every heat map comes with a colour bar; relation maps with the one log scale of weight x M
    bars = {i: [ax.get_ylabel() for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]
            for i, fig in enumerate(figs)}
    for i in (0, 1, 2, 3, 6, 7):  # fig8 (twice), fig4 (twice), the S^L shapes, the retrieval grid with fields
        assert any("1 = uniform" in label for label in bars[i]), (i, bars[i])
    assert any("panel max" in label for label in bars[0])  # fig8's CIA channels
    assert not bars[4]  # a line plot (Fig. 7) has no heat map
    # S^L's shapes are eq. 3-4, not Fig. 7 (the paper's Fig. 7 is an accuracy curve)
    assert figs[6]._suptitle.get_text().startswith("eq. 3-4 (Hou et al. 2019)")
    plt.close("all")


def test_relation_scale_is_absolute_and_titles_take_a_label(model, people):
    """One colour scale: a uniform row is 1 on every panel, whatever M; a one-cell row is M. Figure
    functions take a label for their title (a random-init model says so)."""
    from ianet_viz.viz.style import relation_norm, relative_weights

    for h, w in ((8, 4), (16, 8)):
        uniform = np.full((h, w), 1.0 / (h * w))
        np.testing.assert_allclose(relative_weights(uniform), 1.0)
        one = np.zeros((h, w))
        one[2, 1] = 1.0
        rel = relative_weights(one)
        assert rel[2, 1] == h * w and rel.min() == pytest.approx(0.1)  # floored: a log scale has no 0
        norm = relation_norm(h * w)
        assert norm(1.0) == pytest.approx(np.log(10) / np.log(h * w * 10))  # uniform: one decade above the floor
        assert norm(float(h * w)) == pytest.approx(1.0)
    images, masks = people
    fig = F.fig4(model, images[0], size=SIZE, label="random init")
    assert fig._suptitle.get_text().endswith("(random init)")
    fig = F.fig8(model, images[:1], size=SIZE, n_channels=1, title="my title", label="random init")
    assert fig._suptitle.get_text() == "my title (random init)"
    fig = F.plot_location_shapes(8, 4, (1, 20), title="priors")
    assert fig._suptitle.get_text() == "priors"
    # a wide prior is nearly flat on the shared scale: its colours all sit near uniform (1)
    flat = fig.axes[1].images[0].get_array()
    assert float(flat.max()) / float(flat.min()) < 1.2
    items = [(img, pid, cam) for img, pid, cam in zip(images, (1, 2, 1), (0, 0, 1))]
    fig = RG.retrieval_grid(np.array([[0.0, 0.5, 0.2]]), items, items, [0], topk=2, size=SIZE, label="random init")
    assert fig._suptitle.get_text().endswith("(random init)")
    plt.close("all")


def test_fig7_marks_the_papers_sigma_with_a_label():
    from ianet_viz.viz.ablation import plot_sigma_differences

    lines = {"mAP": [{"row": f"s1={s:g}", "diff": 0.1 * s, "lo": -1.0, "hi": 1.0} for s in (0.5, 1, 2, 5)]}
    lines["rank1"] = lines["mAP"]
    fig = plot_sigma_differences({"location only": lines}, xs={f"s1={s:g}": s for s in (0.5, 1, 2, 5)},
                                 paper_sigma1=2.5, paper_label="paper's σ1, scaled", paper_note="paper: a peak at 5")
    for ax in fig.axes:
        dashed = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
        assert len(dashed) == 1 and dashed[0].get_xdata()[0] == 2.5
        assert "paper's σ1, scaled" in [t.get_text() for t in ax.texts]
    assert "paper: a peak at 5" in [t.get_text() for t in fig.texts]
    fig = F.plot_sigma_sweep([dict(sigma1=s, rank1=0.5, mAP=0.3, seed=0) for s in (1, 2.5, 5)], paper_sigma1=2.5)
    assert any("paper's" in t.get_text() for t in fig.axes[0].texts)
    plt.close("all")


def test_part_points_from_masks(people):
    mask = people[1][0]
    pts = F.part_points(mask)
    for name in ("head", "torso", "legs", "shoes"):
        y, x = pts[name]
        assert mask[int(y), int(x)] == {"head": 1, "torso": 2, "legs": 4, "shoes": 5}[name]
    y, x = pts["belt/bag"]
    assert mask[int(y), int(x)] == 2 and y > pts["torso"][0]  # no bag: the bottom of the torso


def test_other_arrangements_and_errors(people):
    images, masks = people
    sia_only = build_ianet("resnet18", num_classes=4, ia_stages=(3,), arrangement="sia", ks=(1, 3)).eval()
    v = ReceptiveFieldViewer(sia_only, images[:2], size=SIZE, interactive=False)
    assert v.blocks == ["stage3"]
    with pytest.raises(ValueError, match="stage2"):
        v.set_block("stage2")
    v.select(0, 60, 30)
    assert "not in this model" in v.panel_text("S_A_2") and np.isnan(v.self_weight("S_A_2"))
    assert float(v.heat("S_A_2").max()) == 0.0 and float(v.heat("S_A_3").max()) > 0.0
    with pytest.raises(IndexError):
        v.select(5, 0, 0)
    v.close()
    pts = [F.height_points(SIZE)] * 2
    fig, info = F.fig8(sia_only, images[:2], points=pts, size=SIZE, return_info=True)  # no CIA: no channel maps
    assert info["channels"] == [] and info["points"] is pts
    plt.close(fig)
    cia_only = build_ianet("resnet18", num_classes=4, ia_stages=(3,), arrangement="cia")
    with pytest.raises(ValueError, match="no SIA"):
        ReceptiveFieldViewer(cia_only, images[:1], size=SIZE)


def test_fig4_recomputes_the_maps_the_block_itself_computes():
    """Fig. 4 recomputes S^A_K from the block's input: with the block's relation (cosine), its learned
    temperature and its fusion (geometric mean), the maps equal what the model records."""
    import torch

    from ianet_viz import RelationRecorder, build_ianet
    from ianet_viz import functional as Fn
    from ianet_viz.recorder import sia_inputs
    from ianet_viz.viz.figures import appearance_by_k
    from ianet_viz.viz.inputs import sia_scale

    torch.manual_seed(0)
    model = build_ianet("resnet18", num_classes=3, sia_relation="cosine", sia_learn_scale=True, sia_scale=5.0,
                        multi="mean").eval()
    sia = model.ia_blocks["stage2"].sia
    with torch.no_grad():
        sia.log_scale.fill_(math.log(6.5))  # as if trained
    x = torch.randn(2, 3, 64, 32)
    with torch.no_grad(), RelationRecorder(model) as rec:
        model(x)
    assert sia_scale(model, "stage2") == pytest.approx(6.5)
    f = sia_inputs(model, x, ["stage2"])["stage2"]
    by_k = appearance_by_k(f, (1, 2, 3), sia_scale(model, "stage2"), sia.relation)
    for k in (1, 2, 3):
        torch.testing.assert_close(by_k[k], rec.maps["stage2"][f"S_A_{k}"], rtol=1e-4, atol=1e-6)
    fused = Fn.multi_context_fusion([by_k[k] for k in (1, 2, 3)], sia.multi, "renorm")
    torch.testing.assert_close(fused, rec.maps["stage2"]["S_A"], rtol=1e-4, atol=1e-6)
    F.fig4(model, np.zeros((64, 32, 3), dtype=np.uint8), block="stage2", size=(64, 32))  # draws


def test_mean_over_parts_is_the_mean_lift_of_all_query_cells():
    from ianet_viz.viz import mean_over_parts

    # two 4x2 maps; masks of 8x4 pixels, so each cell is 2x2 pixels with one label
    h, w = 4, 2
    rng = np.random.default_rng(0)
    masks = np.repeat(np.repeat(rng.integers(0, 4, size=(2, h, w)), 2, axis=1), 2, axis=2)
    s = torch.softmax(torch.as_tensor(rng.normal(size=(2, h * w, h * w))), -1)
    table = alignment_table({"S": s}, masks, (h, w), variants=["S"])
    lifts = []  # naive: every query cell on a part, its share on that part over the part's area
    for b in range(2):
        labels = masks[b, ::2, ::2].reshape(-1)
        for i in range(h * w):
            if labels[i] == 0:
                continue
            same = labels == labels[i]
            lifts.append(float(s[b, i][torch.as_tensor(same)].sum()) / same.mean())
    assert mean_over_parts(table, ["S"])["S"] == pytest.approx(np.mean(lifts))
    with pytest.raises(KeyError, match="not in the table"):
        mean_over_parts(table, ["S_A"])


def test_architecture_figure_follows_the_model():
    """Fig. 6 drawn by code: one IA box per IA stage, the stage sizes of the input, the neck marked
    as this package's (dashed), and errors for what build_ianet would refuse."""
    from ianet_viz.viz import plot_architecture

    fig = plot_architecture("resnet50", (2, 3), (256, 128))
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert sum(t == "IA\nblock" for t in texts) == 2
    assert "stage 3\n1024x16x8" in texts and "stage 4\n2048x16x8\nlast stride 1" in texts
    neck = [p for p in fig.axes[0].patches if p.get_linestyle() == "--"]
    assert len(neck) == 1 and any("this\npackage" in t for t in texts)
    assert fig._suptitle.get_text().startswith("Fig. 6 (Hou et al. 2019)")
    small = plot_architecture("resnet18", (3,), (128, 64), neck=False)
    texts = [t.get_text() for t in small.axes[0].texts]
    assert sum(t == "IA\nblock" for t in texts) == 1 and "stage 2\n128x16x8" in texts
    assert not [p for p in small.axes[0].patches if p.get_linestyle() == "--"]
    with pytest.raises(ValueError, match="backbone"):
        plot_architecture("vgg16")
    with pytest.raises(ValueError, match="ia_stages"):
        plot_architecture(ia_stages=(5,))
    plt.close("all")


def test_outline_cell_on_a_map_and_on_a_photo():
    from ianet_viz.viz import outline_cell

    fig, ax = plt.subplots()
    edge, line = outline_cell(ax, 2, 1)  # a map at cell resolution: cell (2, 1) spans x 0.5..1.5, y 1.5..2.5
    np.testing.assert_allclose(line.get_xydata(), [[0.5, 1.5], [1.5, 1.5], [1.5, 2.5], [0.5, 2.5], [0.5, 1.5]])
    np.testing.assert_allclose(edge.get_xydata(), line.get_xydata())
    _, line = outline_cell(ax, 4, 1, hw=(8, 4), extent=(0, 64, 128, 0), color="red")  # stretched over 128 x 64
    np.testing.assert_allclose(line.get_xydata(), [[16, 64], [32, 64], [32, 80], [16, 80], [16, 64]])
    assert line.get_color() == "red"
    with pytest.raises(ValueError, match="hw"):
        outline_cell(ax, 0, 0, extent=(0, 1, 1, 0))
    plt.close(fig)
