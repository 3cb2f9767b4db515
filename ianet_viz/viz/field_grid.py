"""One query cell's receptive field under several maps: a grid of panels on one colour scale.

Notebook 01 compares the rows of one query under context sizes, scales and fusions; every such figure
is a grid whose rows are settings and whose panels are maps (:func:`plot_field_grid`).
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .overlay import outline_cell, to_numpy
from .style import CMAP, relation_colorbar, relation_norm, relative_weights


def plot_field_grid(rows: Dict[str, Dict[str, object]], hw: Sequence[int], cell: Sequence[int], background=None,
                    first: str = "image", title: str = "", over: bool = True, background_cmap: Optional[str] = None,
                    panel_size: float = 1.6):
    """A figure: one grid row per entry of ``rows`` (``{row label: {panel title: row}}``, each row the
    ``M = H x W`` weights that query ``cell = (row, col)`` of an ``hw`` map gives every position).

    The first column shows ``background`` (an ``[h, w, 3]`` image, or a 2-D label map drawn with
    ``background_cmap``) titled ``first``; each panel draws its row at cell resolution on the log colour
    scale of weight x M (one colour bar for all), over ``background`` when ``over``, with the query cell
    outlined and its self-weight ``S[i, i]`` under the title.
    """
    h, w = (int(v) for v in hw)
    q = int(cell[0]) * w + int(cell[1])
    n = max(len(panels) for panels in rows.values()) + 1
    fig, axes = plt.subplots(len(rows), n, figsize=(panel_size * n, panel_size * 1.9 * len(rows) + 0.6), squeeze=False)
    bg = None if background is None else to_numpy(background)
    extent = (0, w, h, 0) if bg is None else (0, bg.shape[1], bg.shape[0], 0)
    for r, (label, panels) in enumerate(rows.items()):
        if bg is not None:
            axes[r, 0].imshow(bg, cmap=background_cmap, extent=extent)
        axes[r, 0].set_title(first, fontsize=8)
        axes[r, 0].set_ylabel(label, fontsize=8)
        for ax, (name, row) in zip(axes[r, 1:], panels.items()):
            weights = np.asarray(to_numpy(row), dtype=np.float64).reshape(h, w)
            if over and bg is not None:
                ax.imshow(bg, cmap=background_cmap, extent=extent)
            ax.imshow(relative_weights(weights), extent=extent, alpha=0.6 if over and bg is not None else 1.0,
                      cmap=CMAP, norm=relation_norm(h * w))
            ax.set_title(f"{name}\nself {weights.flat[q]:.2f}", fontsize=8)
        for ax in axes[r, len(panels) + 1:]:
            ax.set_axis_off()
    for ax in axes.flat:
        outline_cell(ax, int(cell[0]), int(cell[1]), (h, w), extent=extent)
        ax.set_xticks([])
        ax.set_yticks([])
    relation_colorbar(fig, h * w, ax=axes[:, 1:].ravel().tolist(), fraction=0.03, pad=0.02)
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
