"""ReceptiveFieldViewer: click a point on a pedestrian, see where SIA gathers features from.

``ReceptiveFieldViewer(model, images).show()`` returns the browser front-end
(:mod:`~ianet_viz.viz.field_widget`): an image picker, a block selector (the model's SIA blocks), a view
selector (all maps, Fig. 4's single- vs multi-context maps, or appearance / location / semantic), the
pedestrian (click, drag, arrow keys) and one panel per map, the selected point's row of that map over
the image. The page holds every row of the shown image's maps and answers a click itself; the
selection comes back to Python (:meth:`ReceptiveFieldViewer.follow`), and ``select`` from Python moves
the page's.

The first time an image is shown the model runs once under :class:`~ianet_viz.recorder.RelationRecorder`
and the maps of every block are cached (per image and block); after that a selection only slices a
cached row. Each panel draws its row at cell resolution (one block per cell: the cell grid shows), on
one log colour scale shared by all panels (weight x M, 1 = uniform: panels compare), outlines the
selected cell and states the row's self-weight ``S[i, i]`` and peak under its title.

The matplotlib figures serve the rest: :meth:`ReceptiveFieldViewer.still` renders the current state
once as an ordinary figure (for print, and for renderers that run no HTML), ``heat`` / ``panel_text``
say what a panel shows, and ``show(frontend="matplotlib")`` lays the figures out with ipywidgets
(:mod:`~ianet_viz.viz.viewer_layout`; ipympl canvases under ``%matplotlib widget``). There a click
redraws only what changes (blitting, :class:`~ianet_viz.viz.blit.Blitter`): the heat images, markers
and numbers over a cached background.
"""
from __future__ import annotations

import time
import warnings
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from matplotlib.cm import ScalarMappable
from torch import nn

from ..recorder import record, sia_blocks
from .inputs import prepare
from .overlay import (cell_center, field_label, move_point, overlay, pixel_to_cell, relation_grid, update_heat,
                      upsample)
from .blit import Blitter, png_bytes
from .panels import PANEL_HTML_TITLES, PANEL_TITLES, PANELS, VIEW_BUTTONS, VIEWS  # noqa: F401  (the viewer's API)
from .viewer_layout import matplotlib_layout, sync_layout
from .style import CMAP, PAPER, new_figure, relation_norm, relative_weights, set_relation_ticks, viz_style

def widget_backend_active() -> bool:
    """True when ``%matplotlib widget`` (ipympl) is the active matplotlib backend."""
    import matplotlib

    backend = str(matplotlib.get_backend()).lower()
    return "ipympl" in backend or backend in ("widget", "module://ipympl.backend_nbagg")


class ReceptiveFieldViewer:
    """Interactive receptive fields of SIA (Hou et al. 2019, Fig. 4 and Fig. 8).

    Parameters
    ----------
    model: an IANet (``ianet_viz.build_ianet``) with at least one SIA block.
    images: PIL images, ``[H, W, 3]`` arrays, paths or dataset items ``(path, pid, camid)``.
    block: the block shown first ("stage3" in the paper's figures).
    transform: PIL -> normalised tensor; default resize to ``size`` + ImageNet normalisation.
    size: model input ``(H, W)``; the displayed image is the model input, so ``select``'s pixels
        are model-input pixels.
    device: where the model runs ("cpu" or "cuda"); the maps are cached on the CPU.
    interactive: ``None`` = ipympl canvases when ``%matplotlib widget`` is active, else static
        PNG images (sliders only); ``False`` forces static.
    cache_size: how many (image, block) map sets to keep (least recently used are dropped).
    interpolation: how a row is upsampled to the image: "nearest" (default; one block per cell,
        the cell grid shows) or a smooth "bilinear" / "bicubic".
    label: what model this is (e.g. ``CourseModel.label``), under the figures' titles.
    """

    def __init__(
        self,
        model: nn.Module,
        images: Sequence,
        block: str = "stage3",
        transform=None,
        size: Tuple[int, int] = (256, 128),
        device="cpu",
        interactive: Optional[bool] = None,
        cache_size: int = 24,
        interpolation: str = "nearest",
        alpha: float = 0.55,
        view: str = "all",
        panel_width: float = 1.25,
        label: str = "",
    ):
        self.items = list(images)
        if not self.items:
            raise ValueError("ReceptiveFieldViewer needs at least one image")
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.blocks: List[str] = sia_blocks(model)
        if block not in self.blocks:
            raise ValueError(f"block {block!r} has no SIA in this model; choose one of {self.blocks}")
        if view not in VIEWS:
            raise ValueError(f"view must be one of {list(VIEWS)}; got {view!r}")
        self.block = block
        self.view = view
        self.label = label
        self.x, self.display = prepare(self.items, size, transform)
        self.image_hw: Tuple[int, int] = tuple(self.display[0].shape[:2])
        upsample(np.zeros((1, 1), np.float32), (1, 1), interpolation)  # validates the name
        self.interpolation = interpolation
        self.alpha = alpha
        self._grids: Dict[str, np.ndarray] = {}  # the rows shown, [H, W] per panel
        self._texts: Dict[str, str] = {}  # the line of numbers under each panel title
        self._self: Dict[str, float] = {}  # S[i, i] of the selected cell, per panel
        self.cache_size = int(cache_size)
        self._cache: "OrderedDict[Tuple[int, str], Tuple[Dict[str, np.ndarray], Tuple[int, int]]]" = OrderedDict()
        self.forward_count = 0
        self._hits = 0
        self._misses = 0
        self.image_index = 0
        self.selected: Optional[Tuple[int, int]] = None
        self.selected_yx: Tuple[float, float] = (self.image_hw[0] * 0.3, self.image_hw[1] * 0.5)
        self.last_latency_s: Optional[float] = None
        self.last_error: Optional[str] = None
        self._syncing = False
        self._widget = None
        self._front = None  # the browser front-end (FieldWidget), once shown
        self._following = False  # True while the browser's selection is applied here
        self.interactive = widget_backend_active() if interactive is None else bool(interactive)
        self._build_figures(panel_width)
        if self.interactive and not self._canvas_is_widget():
            self.interactive = False
        self._cid = self.image_fig.canvas.mpl_connect("button_press_event", self._on_click)

    # ------------------------------------------------------------------ maps and cache
    def _keys_for(self, block: str) -> List[str]:
        taps = getattr(self.model.ia_blocks[block].sia, "taps", None)
        if taps is None:
            return list(PANELS)
        have = {getattr(t, "key", name) for name, t in taps.items()}
        return [k for k in PANELS if k in have]

    def maps(self, image_index: int, block: Optional[str] = None) -> Tuple[Dict[str, np.ndarray], Tuple[int, int]]:
        """``({key: [M, M] float32}, (H, W))`` for one image and block, from the cache or one forward.

        One forward pass records every block, so all blocks of that image are cached together.
        """
        block = self.block if block is None else block
        key = (int(image_index), block)
        if key in self._cache:
            self._hits += 1
            self._cache.move_to_end(key)
            return self._cache[key]
        self._misses += 1
        keys = sorted({k for b in self.blocks for k in self._keys_for(b)})
        maps, shapes = record(self.model, self.x[key[0]:key[0] + 1], keys=keys, device=self.device)
        self.forward_count += 1
        for b in self.blocks:
            entry = {}
            for k, v in maps.get(b, {}).items():
                arr = v[0] if v.dim() == 3 else v  # S_L is [M, M]
                entry[k] = arr.float().numpy()
            self._cache[(key[0], b)] = (entry, tuple(int(s) for s in shapes[b]))
            self._cache.move_to_end((key[0], b))
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return self._cache[key]

    def cache_info(self) -> Dict[str, object]:
        """Forward passes run, cache hits/misses and the cached (image, block) keys."""
        return {
            "forward_passes": self.forward_count,
            "hits": self._hits,
            "misses": self._misses,
            "entries": len(self._cache),
            "keys": list(self._cache),
        }

    def clear_cache(self) -> None:
        self._cache.clear()

    # ------------------------------------------------------------------ figures
    def _make_figure(self, figsize):
        if self.interactive:
            import matplotlib.pyplot as plt

            with plt.ioff(), viz_style():
                fig = plt.figure(figsize=figsize, dpi=80)
            # pyplot would ask the browser for a full redraw whenever an artist changes; the viewer
            # draws itself (blitting), so that only the changed artists are rendered per click
            fig.stale_callback = None
            return fig
        return new_figure(figsize=figsize, dpi=80, pyplot=False)

    def _canvas_is_widget(self) -> bool:
        try:
            import ipywidgets as widgets
        except ImportError:
            return False
        return isinstance(self.image_fig.canvas, widgets.DOMWidget)

    def _build_figures(self, panel_width: float) -> None:
        img_h, img_w = self.image_hw
        aspect = img_h / img_w
        fig_h = panel_width * aspect + 0.75
        image = self.display[self.image_index]
        y, x = self.selected_yx
        zero = np.zeros((1, 1), dtype=np.float32)
        self._norm = relation_norm(10)  # its top becomes the block's M at the first selection
        with viz_style():
            # the pedestrian: the axes fill the whole figure, so canvas pixels map linearly to image pixels
            self.image_fig = self._make_figure((fig_h / aspect, fig_h))
            self.image_ax = self.image_fig.add_axes((0.0, 0.0, 1.0, 1.0))
            self.image_artists = overlay(self.image_ax, image, None, (y, x))
            self.image_ax.set_axis_off()
            self.image_ax.set_aspect("auto")  # the figure has the image's aspect: fill it exactly
            # the panels: static title (in the background) + one line of numbers (redrawn per click)
            self.panel_fig = self._make_figure((panel_width * len(PANELS) + 0.9, fig_h))
            self.panel_axes: Dict[str, object] = {}
            self.panel_artists: Dict[str, Dict[str, object]] = {}
            for key in PANELS:
                ax = self.panel_fig.add_axes((0, 0, 0.1, 0.1))
                self.panel_axes[key] = ax
                arts = overlay(ax, image, zero, (y, x), alpha=self.alpha, norm=self._norm, hw=(1, 1),
                               interpolation="nearest" if self.interpolation == "nearest" else "bilinear")
                ax.set_title(PANEL_TITLES[key], fontsize=8, pad=10)
                arts["text"] = ax.text(0.5, 1.0, "", transform=ax.transAxes, ha="center", va="bottom",
                                       fontsize=7, color="#404040")
                self.panel_artists[key] = arts
            # one colour scale for all panels (weight x M, log; its top follows the block's M) and its bar
            self._colorbar = self.panel_fig.colorbar(ScalarMappable(norm=self._norm, cmap=CMAP),
                                                     cax=self.panel_fig.add_axes((0.915, 0.12, 0.012, 0.62)))
            set_relation_ticks(self._colorbar, self._norm.vmax)
            self.suptitle = self.panel_fig.suptitle("", fontsize=9, y=0.985)
        self._blitters = (
            Blitter(self.image_fig, [self.image_artists["image"]],
                     [self.image_artists[k] for k in ("point_edge", "point")]),
            Blitter(self.panel_fig, [arts["image"] for arts in self.panel_artists.values()],
                     [arts[k] for arts in self.panel_artists.values() for k in ("heat", "point_edge", "point", "text")]),
        )
        self._layout_panels()
        self._set_suptitle()

    def _layout_panels(self) -> None:
        shown = VIEWS[self.view][1]
        n = len(PANELS)
        left, right, bottom, top = 0.01, 0.9, 0.02, 0.78
        slot = (right - left) / n
        for key, ax in self.panel_axes.items():
            if key in shown:
                i = shown.index(key)
                ax.set_position((left + i * slot + 0.004, bottom, slot - 0.008, top - bottom))
                ax.set_visible(True)
            else:
                ax.set_visible(False)

    def _suptitle_text(self) -> str:
        label = VIEWS[self.view][0]
        fig = "Fig. 4" if self.view == "fig4" else "Fig. 4/8"
        text = f"{fig} ({PAPER}): receptive field of the selected point, {self.block} ({label})"
        return f"{text}\n{self.label}" if self.label else text

    def _set_suptitle(self) -> None:
        self.suptitle.set_text(self._suptitle_text())
        self._full = True  # the next render redraws everything (new image, block or view)

    # ------------------------------------------------------------------ selection
    def heat(self, key: str) -> np.ndarray:
        """The heat map panel ``key`` currently shows, ``[img_h, img_w]`` (the row upsampled with the
        viewer's ``interpolation``; zeros before the first selection and for maps the block lacks)."""
        grid = self._grids.get(key)
        if grid is None:
            return np.zeros(self.image_hw, dtype=np.float32)
        return upsample(grid, self.image_hw, self.interpolation)

    def panel_text(self, key: str) -> str:
        """The line of numbers under panel ``key``'s title, e.g. ``"self 0.22 | peak 3.1x"``."""
        return self._texts.get(key, "")

    def self_weight(self, key: str) -> float:
        """The weight the selected cell keeps for itself in map ``key``, ``S[i, i]`` (what the panel
        states); NaN before a selection and for a map the block does not have."""
        return self._self.get(key, float("nan"))

    def select(self, image_index: int, y: float, x: float) -> Tuple[int, int]:
        """Select pixel ``(y, x)`` of image ``image_index`` (pixels of the displayed, model-input
        image). Updates the panels and widgets and returns the selected cell ``(row, col)``.

        Cost once the image's maps are cached: slicing one row per map, ``set_data`` / ``set_text``
        on the existing artists and a blit of the changed artists (a full redraw only after a
        change of image, block or view)."""
        t0 = time.perf_counter()
        i = int(image_index)
        if not 0 <= i < len(self.items):
            raise IndexError(f"image_index {i} out of range: the viewer has {len(self.items)} images")
        img_h, img_w = self.image_hw
        y = float(min(max(y, 0.0), img_h - 1e-6))
        x = float(min(max(x, 0.0), img_w - 1e-6))
        maps, hw = self.maps(i, self.block)
        if i != self.image_index:
            self.image_index = i
            self.image_artists["image"].set_data(self.display[i])
            for arts in self.panel_artists.values():
                arts["image"].set_data(self.display[i])
        row, col = pixel_to_cell(y, x, self.image_hw, hw)
        m = int(hw[0]) * int(hw[1])
        if self._norm.vmax != m:  # another map size: the colour bar's top is the new M (a full redraw)
            self._norm.vmax = float(m)
            set_relation_ticks(self._colorbar, self._norm.vmax)
            self._full = True
        for key, arts in self.panel_artists.items():
            if key in maps:
                grid = relation_grid(maps[key], 0, row, col, hw)
                text = field_label(grid, row, col)
                self._self[key] = float(grid[row, col])
            else:
                grid = np.zeros(hw, dtype=np.float32)
                text = "(not in this model)"
                self._self[key] = float("nan")
            self._grids[key] = grid
            heat = relative_weights(grid)
            update_heat(arts, heat if self.interpolation == "nearest" else upsample(heat, self.image_hw, self.interpolation))
            if text != self._texts.get(key):
                arts["text"].set_text(text)
                self._texts[key] = text
            move_point(arts, y, x, hw)
        move_point(self.image_artists, y, x)
        self.selected = (row, col)
        self.selected_yx = (y, x)
        self.selected_hw = hw
        self._sync_widgets()
        if self._front is None:  # the browser front-end draws itself
            self._draw()
        elif not self._following:
            self._front.show_selection(self.selection())
        self.last_latency_s = time.perf_counter() - t0
        return row, col

    def selection(self) -> Dict[str, object]:
        """The selection as the browser front-end holds it: image, block, view, cell and pixel."""
        from .field_widget import selection_of

        return selection_of(self)

    def follow(self, selection: Dict[str, object]) -> None:
        """Apply a selection made in the browser (click, drag, keys, selectors): ``selected``,
        ``block``, ``view`` and the label follow it; nothing is sent back."""
        self._following = True
        try:
            if selection["view"] != self.view:
                self.set_view(str(selection["view"]))
            self.block = str(selection["block"])
            self._set_suptitle()
            self.select(int(selection["image"]), float(selection["y"]), float(selection["x"]))
        finally:
            self._following = False

    def select_cell(self, image_index: int, row: int, col: int) -> Tuple[int, int]:
        """Select feature-map cell ``(row, col)`` of the current block (what the sliders call)."""
        _, hw = self.maps(image_index, self.block)
        y, x = cell_center(row, col, hw, self.image_hw)
        return self.select(image_index, y, x)

    def set_block(self, block: str) -> None:
        """Show another block; the selected pixel stays, its cell is recomputed on the new grid."""
        if block not in self.blocks:
            raise ValueError(f"block {block!r} has no SIA in this model; choose one of {self.blocks}")
        self.block = block
        self._set_suptitle()
        self.select(self.image_index, *self.selected_yx)

    def set_view(self, view: str) -> None:
        """"all", "fig4" (S_A_1, S_A_2, S_A_3 | S_A) or "als" (S_A | S_L | S)."""
        if view not in VIEWS:
            raise ValueError(f"view must be one of {list(VIEWS)}; got {view!r}")
        self.view = view
        self._layout_panels()
        self._set_suptitle()
        if self._front is not None and not self._following:
            self._front.show_selection(self.selection())
        elif self.selected is not None:
            self._draw()

    def still(self, path=None, dpi: int = 100):
        """The viewer's current state rendered once, as an ordinary matplotlib Figure.

        One row (:func:`~ianet_viz.viz.figures.plot_receptive_fields`): the pedestrian with the
        selected point, then the panels of the current view that the block has, with the same
        titles, numbers (self-weight ``S[i, i]`` and peak), upsampling and colour scale as the live
        viewer. For a notebook cell that shows a picture next to the live widget, so that a reader
        without a kernel (or on a website) still sees a receptive field. Selects the default point
        first if nothing is selected. ``path``: also save it there (PNG, or any format matplotlib
        writes). The figure is not registered with pyplot: show it (e.g. save it and display the
        image) or keep it; there is nothing to close.
        """
        from .figures import plot_receptive_fields

        if self.selected is None:
            self.select(self.image_index, *self.selected_yx)
        maps, hw = self.maps(self.image_index, self.block)
        shown = {key: maps[key] for key in VIEWS[self.view][1] if key in maps}
        fig = plot_receptive_fields(self.display[self.image_index], shown, hw, self.selected_yx, titles=PANEL_TITLES,
                                    suptitle=self._suptitle_text(), alpha=self.alpha, interpolation=self.interpolation,
                                    colorbar=True, dpi=dpi)
        if path is not None:
            fig.savefig(path)
        return fig

    def _on_click(self, event) -> None:
        """``button_press_event`` on the image canvas: select the clicked pixel; ignore the rest."""
        if event.inaxes is not self.image_ax or event.xdata is None or event.ydata is None:
            return
        if getattr(event, "button", 1) not in (1, None):
            return
        toolbar = getattr(self.image_fig.canvas, "toolbar", None)
        if toolbar is not None and str(getattr(toolbar, "mode", "")):  # pan/zoom active
            return
        try:
            self.select(self.image_index, event.ydata, event.xdata)
        except Exception as err:  # a callback must not kill the event loop; say what happened
            self.last_error = f"{type(err).__name__}: {err}"
            if self._widget is not None:
                self._label.value = f"error: {self.last_error}"
            warnings.warn(f"ReceptiveFieldViewer: selection failed: {self.last_error}")

    # ------------------------------------------------------------------ drawing and widgets
    def _draw(self) -> None:
        """Render the current state: blit the changed artists (or redraw everything once after a
        change of image, block or view); in a static render, also encode the PNGs of the widgets."""
        full, self._full = self._full, False
        for blitter in self._blitters:
            blitter.update(self.image_index, full)
        if not self.interactive and self._widget is not None:  # static render: PNGs into Image widgets
            self._image_view.value = png_bytes(self.image_fig)
            self._panel_view.value = png_bytes(self.panel_fig)

    def render_info(self) -> Dict[str, int]:
        """How the figures were rendered so far: full redraws and blits, per figure."""
        return {f"{name}_{kind}": getattr(b, kind)
                for name, b in zip(("image", "panels"), self._blitters) for kind in ("full_draws", "blits")}

    def label_text(self) -> str:
        """The selection as the widget shows it (the browser test parses this)."""
        if self.selected is None:
            return "click the pedestrian (or use the sliders) to select a point"
        (row, col), (h, w) = self.selected, self.selected_hw
        y, x = self.selected_yx
        img_h, img_w = self.image_hw
        return (f"{self.block}: cell (row, col) = ({row}, {col}) of {h}x{w} | "
                f"pixel (y, x) = ({y:.0f}, {x:.0f}) of {img_h}x{img_w}")

    def _sync_widgets(self) -> None:
        if self._widget is not None:
            sync_layout(self)

    def show(self, frontend: str = "browser", saved_images: Optional[Sequence[int]] = None):
        """The viewer to return from a cell (built once; displays nothing itself).

        ``frontend="browser"`` (default): :class:`~ianet_viz.viz.field_widget.FieldWidget`, drawn by the
        page, a click answered without the kernel; saved with the notebook as a player of
        ``saved_images`` (default: the first four) that needs no kernel. ``"matplotlib"``: the figures
        and ipywidgets layout (ipympl canvases under ``%matplotlib widget``, else PNGs), kept for
        comparison and for front-ends without anywidget.
        """
        if frontend == "browser":
            if self._front is None:
                from .field_widget import FieldWidget

                if self.selected is None:
                    self.select(self.image_index, *self.selected_yx)
                saved = list(range(min(4, len(self.items)))) if saved_images is None else list(saved_images)
                self._front = FieldWidget(self, saved)
            return self._front
        if frontend != "matplotlib":
            raise ValueError(f"frontend must be 'browser' or 'matplotlib', got {frontend!r}")
        if self._widget is None:
            self._widget = matplotlib_layout(self)
        return self._widget

    def close(self) -> None:
        """Disconnect the click handler and close the figures and widgets."""
        self.image_fig.canvas.mpl_disconnect(self._cid)
        for blitter in self._blitters:
            blitter.disconnect()
        if self.interactive:
            import matplotlib.pyplot as plt

            plt.close(self.image_fig)
            plt.close(self.panel_fig)
        if self._widget is not None:
            self._widget.close()
        if self._front is not None:
            self._front.close()
