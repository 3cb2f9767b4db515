"""One look for every figure of the toolkit: colours, fonts, titles that cite the paper.

Theme choice (dark and light JupyterLab). Figures get an explicit, opaque, light face colour
(``FACE``) and dark-grey text instead of a transparent background. A transparent figure would put
black axis labels on JupyterLab's dark background (unreadable), and the dark end of the perceptual
colour maps (magma's near-black = "no relation weight") would melt into it. An opaque light card
reads the same in both themes, in exported PNGs and in the ipympl canvas (which paints the figure
face colour itself).
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import matplotlib as mpl
import matplotlib.pyplot as plt

#: Perceptual, colour-blind safe sequential map for relation weights (dark = little weight).
CMAP = "magma"
#: Diverging/other maps used for channel activations (CIA output channels).
CHANNEL_CMAP = "viridis"
#: Opaque light figure face (see module docstring).
FACE = "#fbfbfa"
TEXT = "#262626"
#: Border colours for ranked retrieval: same identity / different identity (Okabe-Ito palette,
#: distinguishable with the common colour-vision deficiencies).
MATCH = "#009E73"
MISMATCH = "#D55E00"
#: Colours for the five Fig. 8 query points (head, torso, belt/bag, legs, shoes): Okabe-Ito.
POINT_COLORS = ("#56B4E9", "#E69F00", "#F0E442", "#009E73", "#CC79A7")
#: Marker drawn on the query point of a photo: a white ring with a dark edge shows on any colour.
MARKER = dict(marker="o", markersize=7, markerfacecolor="none", markeredgecolor="white", markeredgewidth=1.8)
MARKER_EDGE = dict(marker="o", markersize=9, markerfacecolor="none", markeredgecolor="black", markeredgewidth=1.0)
#: Marker of the query cell on a heat map: the cell's outline (white over a dark edge), so the cell's
#: own colour stays visible (a ring or a cross on the cell would hide the one lit cell of a sharp map).
CELL_MARKER = dict(color="white", linewidth=1.3, solid_joinstyle="miter")
CELL_MARKER_EDGE = dict(color="black", linewidth=2.6, solid_joinstyle="miter")
#: Font size of the numbers printed with a heat map (self-weight, peak): legible at a notebook's width.
LABEL_SIZE = 7.5
#: The relation colour scale (:func:`relation_norm`): weight x M on a log scale from a tenth of
#: uniform (below: the darkest colour) up to M, one cell holding the whole row.
RELATIVE_MIN = 0.1

PAPER = "Hou et al. 2019"

RC = {
    "figure.facecolor": FACE,
    "axes.facecolor": FACE,
    "savefig.facecolor": FACE,
    "savefig.transparent": False,
    "text.color": TEXT,
    "axes.labelcolor": TEXT,
    "axes.edgecolor": "#8c8c8c",
    "axes.titlecolor": TEXT,
    "xtick.color": TEXT,
    "ytick.color": TEXT,
    "axes.titlesize": 9,
    "axes.labelsize": 9,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "legend.fontsize": 8,
    "legend.frameon": False,
    "figure.titlesize": 11,
    "figure.titleweight": "bold",
    "image.cmap": CMAP,
    "image.interpolation": "bilinear",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.family": "sans-serif",
}


def _seaborn_rc() -> dict:
    try:
        import seaborn as sns
    except ImportError:  # seaborn is a dependency, but the toolkit must not break without it
        return {}
    rc = dict(sns.axes_style("ticks"))
    rc.update(sns.plotting_context("notebook", font_scale=0.8))
    return rc


def style_rc() -> dict:
    """The rcParams of :func:`viz_style` (seaborn "ticks" + "notebook" context + ours)."""
    rc = _seaborn_rc()
    rc.update(RC)
    return rc


@contextlib.contextmanager
def viz_style() -> Iterator[None]:
    """``with viz_style(): ...`` builds figures in the toolkit's style, leaving global rcParams alone."""
    with mpl.rc_context(style_rc()):
        yield


def paper_title(fig_or_ax, figure: str, text: str, **kwargs):
    """Title citing the paper, e.g. ``paper_title(fig, "Fig. 8", "receptive fields")`` ->
    "Fig. 8 (Hou et al. 2019): receptive fields". Works on a Figure (suptitle) or an Axes."""
    label = f"{figure} ({PAPER}): {text}" if figure else text
    if hasattr(fig_or_ax, "suptitle"):
        return fig_or_ax.suptitle(label, **kwargs)
    return fig_or_ax.set_title(label, **kwargs)


def new_figure(*args, pyplot: bool = True, **kwargs):
    """A figure in the toolkit style. ``pyplot=False`` builds a bare ``Figure`` with an Agg canvas
    (no global pyplot state: nothing is auto-displayed, nothing to close)."""
    with viz_style():
        if pyplot:
            return plt.figure(*args, **kwargs)
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(*args, **kwargs)
        FigureCanvasAgg(fig)
        return fig


def clean_axis(ax) -> None:
    """Image axes: no ticks, no spines."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def relation_norm(m: int, vmax: Optional[float] = None):
    """The one colour scale of relation maps: weights in units of ``weight x M`` (1 = uniform,
    ``M`` = the whole row on one cell), log-scaled from :data:`RELATIVE_MIN` to ``vmax`` (default
    ``M``). Every panel drawn with it has the same colours for the same weight relative to uniform,
    so a near-uniform map looks flat and a peaked one peaked (a scale per panel makes both look
    peaked). Feed it :func:`relative_weights`."""
    import matplotlib.colors as mcolors

    top = float(m if vmax is None else vmax)
    return mcolors.LogNorm(vmin=RELATIVE_MIN, vmax=max(top, RELATIVE_MIN * 10), clip=True)


def relative_weights(grid, m: Optional[int] = None):
    """``grid * M``, floored at :data:`RELATIVE_MIN` (a log scale has no 0): what :func:`relation_norm`
    draws. ``m`` is the number of cells of the map (default ``grid.size``: ``grid`` is one row
    ``[H, W]`` at cell resolution; pass ``m`` for a row upsampled to the image)."""
    import numpy as np

    g = np.asarray(grid, dtype=np.float32)
    return np.maximum(g * float(g.size if m is None else m), RELATIVE_MIN).astype(np.float32)


def relation_colorbar(fig, m: int, vmax: Optional[float] = None, **kwargs):
    """The colour bar of :func:`relation_norm`: log ticks in units of weight x M, "1 = uniform".
    ``kwargs`` go to ``fig.colorbar`` (``cax=...``, or ``ax=...`` with ``fraction``, ``pad``)."""
    norm = relation_norm(m, vmax)
    sm = mpl.cm.ScalarMappable(norm=norm, cmap=CMAP)
    cb = fig.colorbar(sm, **kwargs)
    set_relation_ticks(cb, norm.vmax)
    return cb


def set_relation_ticks(cb, top: float) -> None:
    """Ticks of a relation colour bar that runs up to ``top``: 0.1, 1 (uniform), 10, ... and ``top``."""
    ticks = [t for t in (0.1, 1.0, 10.0, 100.0, 1000.0) if t < top * 0.7] + [top]
    cb.set_ticks(ticks)
    cb.set_ticklabels([("≤0.1" if t == RELATIVE_MIN else f"{t:g}") for t in ticks])
    cb.ax.minorticks_off()
    cb.ax.tick_params(labelsize=7, length=2)
    cb.set_label("weight × M (1 = uniform, log)", fontsize=7)


def _max_colorbar(fig, cmap, label: str, **kwargs):
    """A colour bar from "0" to "max" for panels that are each scaled to their own maximum."""
    sm = mpl.cm.ScalarMappable(norm=mpl.colors.Normalize(0, 1), cmap=cmap)
    cb = fig.colorbar(sm, ticks=[0, 1], **kwargs)
    cb.ax.set_yticklabels(["0", "max"])
    cb.ax.tick_params(labelsize=7, length=2)
    cb.set_label(label, fontsize=7)
    return cb


def panel_max_colorbar(fig, **kwargs):
    """One colour bar for panels that are each scaled to their own maximum: ``CMAP`` from "0" to
    "max". ``kwargs`` go to ``fig.colorbar`` (``cax=...``, or ``ax=...`` with ``fraction``, ``pad``)."""
    return _max_colorbar(fig, CMAP, "weight / panel max", **kwargs)


def activation_colorbar(fig, **kwargs):
    """The colour bar of channel maps (CIA outputs), each scaled to its own maximum:
    ``CHANNEL_CMAP`` from "0" to "max" of the rectified activation."""
    return _max_colorbar(fig, CHANNEL_CMAP, "relu(channel) / panel max", **kwargs)


def with_label(text: str, label: str) -> str:
    """A figure title naming its model or data: ``text (label)``; ``text`` alone when there is no label."""
    return f"{text} ({label})" if label else text
