"""Ranked retrieval, shown: :func:`retrieval_grid` (query + top-k gallery, green/red borders for
same/different identity), optionally with each image's receptive field (:func:`receptive_field_overlay`:
nearest-neighbour upsampling, one block per cell, and the field's self-weight ``S[i, i]`` in the corner)."""
from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from ..recorder import record
from .inputs import load_image, prepare
from .overlay import overlay as draw_overlay
from .overlay import field_label, pixel_to_cell, relation_grid, to_numpy, upsample
from .style import (LABEL_SIZE, MATCH, MISMATCH, new_figure, panel_max_colorbar, relation_colorbar, relation_norm,
                    relative_weights, viz_style, with_label)


# --------------------------------------------------------------------------------------------
# ranked retrieval
# --------------------------------------------------------------------------------------------
def _pid_cam(item) -> Tuple[int, int]:
    if isinstance(item, (tuple, list)) and len(item) >= 3:
        return int(item[1]), int(item[2])
    return int(getattr(item, "pid")), int(getattr(item, "camid"))


def receptive_field_overlay(model, point: Tuple[float, float] = (0.3, 0.5), block: str = "stage3", key: str = "S",
                            size: Tuple[int, int] = (256, 128), transform=None) -> Callable:
    """An ``overlay`` for :func:`retrieval_grid`: each image's receptive field at the relative point
    ``(y_rel, x_rel)``; called with a list of images, returns ``[(heat, (y, x), note, hw), ...]`` where
    ``heat`` is the row in units of weight x M (:func:`~ianet_viz.viz.style.relative_weights`)
    upsampled with nearest neighbours, ``note`` its self-weight and peak
    (:func:`~ianet_viz.viz.overlay.field_label`) and ``hw`` the map's cells."""

    def fn(images):
        x, display = prepare(images, size, transform)
        maps, shapes = record(model, x, keys=[key])
        hw = shapes[block]
        out = []
        for i, d in enumerate(display):
            h, w = d.shape[:2]
            yx = (point[0] * h, point[1] * w)
            row, col = pixel_to_cell(yx[0], yx[1], (h, w), hw)
            grid = relation_grid(maps[block][key], i, row, col, hw)
            out.append((upsample(relative_weights(grid), (h, w), "nearest"), yx, field_label(grid, row, col, "\n"),
                        tuple(int(v) for v in hw)))
        return out

    fn.description = f"receptive field ({key}, {block}) of the point at {point[0]:.0%} height, {point[1]:.0%} width"
    return fn


def ranked(distmat, q: int, query_items, gallery_items, topk: int = 10, exclude_junk: bool = True) -> List[int]:
    """Gallery indices of query ``q`` by increasing distance, without the Market-1501 junk (same
    identity seen by the same camera, and pid -1) when ``exclude_junk``."""
    d = to_numpy(distmat)[q]
    qpid, qcam = _pid_cam(query_items[q])
    order = np.argsort(d, kind="stable")
    out = []
    for g in order:
        gpid, gcam = _pid_cam(gallery_items[g])
        if exclude_junk and ((gpid == qpid and gcam == qcam) or gpid == -1):
            continue
        out.append(int(g))
        if len(out) == topk:
            break
    return out


def _border(ax, color: str, width: float = 3.5) -> None:
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_edgecolor(color)
        spine.set_linewidth(width)


def retrieval_grid(
    distmat,
    query_items: Sequence,
    gallery_items: Sequence,
    q_indices: Sequence[int],
    topk: int = 10,
    overlay: Optional[Callable] = None,
    size: Tuple[int, int] = (256, 128),
    exclude_junk: bool = True,
    panel_width: float = 0.85,
    title: Optional[str] = None,
    label: str = "",
):
    """Ranked retrieval: each query, then its top-k gallery images with green (same identity) or
    red (different identity) borders, the distance under each.

    ``distmat`` is ``[n_query, n_gallery]``; items are ``(path_or_image, pid, camid)``.
    ``overlay``: e.g. ``receptive_field_overlay(model, point=(0.3, 0.5))``, draws every image's
    receptive field for that (relative) point on top. It returns ``(heat, (y, x))`` per image (each
    heat scaled to its own maximum), ``(heat, (y, x), note)`` with a short note (the self-weight)
    printed under the image, or ``(heat, (y, x), note, hw)``: a relation row in units of weight x M
    of an ``hw`` map, drawn on the one relation colour scale (log, 1 = uniform) with the query cell
    outlined. A colour bar comes with every overlay. ``title`` replaces the figure's title, ``label``
    is added to it in parentheses ("random init").

    One piece: drawing code, row by row.
    """
    overlay_fn = overlay
    q_indices = list(q_indices)
    nrows, ncols = len(q_indices), topk + 1
    aspect = size[0] / size[1]
    bar = 0.8 if overlay_fn is not None else 0.0
    below = 0.3 if overlay_fn is not None else 0.0  # the notes under the images
    fig = new_figure(figsize=(panel_width * ncols + 0.3 + bar, (panel_width * aspect + 0.35 + below) * nrows + 0.8))
    from PIL import Image

    scales = {}  # the colour scale of the overlays: M of a relation map, or None (each to its maximum)

    def show(ax, item, heat_pt):
        img = np.asarray(load_image(item).resize((size[1], size[0]), Image.BILINEAR))
        heat, pt = (None, None) if heat_pt is None else heat_pt[:2]
        hw = heat_pt[3] if heat_pt is not None and len(heat_pt) > 3 else None
        norm = relation_norm(int(hw[0]) * int(hw[1])) if hw is not None else None
        if heat is not None:
            scales["m"] = int(hw[0]) * int(hw[1]) if hw is not None else None
        draw_overlay(ax, img, heat, pt, alpha=0.5, norm=norm, hw=hw)
        if heat_pt is not None and len(heat_pt) > 2 and heat_pt[2]:
            ax.set_xlabel(str(heat_pt[2]), fontsize=LABEL_SIZE - 0.5, labelpad=1.5, linespacing=1.05)

    with viz_style():
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for r, q in enumerate(q_indices):
            gal = ranked(distmat, q, query_items, gallery_items, topk, exclude_junk)
            qpid, qcam = _pid_cam(query_items[q])
            items = [query_items[q]] + [gallery_items[g] for g in gal]
            heats = overlay_fn(items) if overlay_fn is not None else [None] * len(items)
            show(axes[r, 0], items[0], heats[0])
            _border(axes[r, 0], "#595959", 2.0)
            axes[r, 0].set_title(f"query\npid {qpid} cam {qcam}", fontsize=7)
            d = to_numpy(distmat)[q]
            for j in range(topk):
                ax = axes[r, j + 1]
                if j >= len(gal):
                    ax.set_axis_off()
                    continue
                g = gal[j]
                gpid, gcam = _pid_cam(gallery_items[g])
                show(ax, items[j + 1], heats[j + 1])
                same = gpid == qpid
                _border(ax, MATCH if same else MISMATCH)
                ax.set_title(f"#{j + 1}  {d[g]:.3f}", fontsize=7, color=MATCH if same else MISMATCH)
        note = f"\noverlay: {overlay_fn.description}" if getattr(overlay_fn, "description", None) else ""
        text = title or f"Ranked retrieval: query and top-{topk} gallery\n(green = same identity, orange = different){note}"
        fig.suptitle(with_label(text, label), fontsize=8.5)
        w, h = fig.get_figwidth(), fig.get_figheight()
        fig.subplots_adjust(left=0.01, right=1 - (bar + 0.05) / w, bottom=(0.1 + below) / h,
                            top=1 - (1.0 if note else 0.85) / h, wspace=0.12, hspace=0.35 + below)
        if overlay_fn is not None:
            cax = fig.add_axes((1 - (bar - 0.1) / w, 0.25, 0.1 / w, 0.5))
            if scales.get("m"):
                relation_colorbar(fig, scales["m"], cax=cax)
            else:
                panel_max_colorbar(fig, cax=cax)
    return fig
