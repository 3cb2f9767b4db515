"""The paper's figures, rebuilt: Fig. 4, Fig. 7 and Fig. 8 (the ranked retrieval grid is :mod:`.retrieval`).

* :func:`fig4`: the receptive field of one point for context sizes K = 1, 2, 3, 5 and the
  multi-context fusion (Fig. 4, Hou et al. 2019); :func:`appearance_by_k` computes the maps from
  the feature map the SIA block sees (so K = 5 works on a model built with K = 1, 2, 3).
* :func:`plot_sigma_sweep` (Fig. 7: top-1 and mAP against sigma1, sigma2 = 2 sigma1, mean +- std
  over seeds) and :func:`plot_location_shapes` (the S_L prior for each sigma).
* :func:`fig8`: five points per pedestrian (head, torso, belt/bag, legs, shoes) with their receptive
  fields, plus CIA output channels (Fig. 8); points from part masks on synthetic people, from fixed
  relative heights on real crops.

Every function returns a matplotlib Figure built in :func:`~ianet_viz.viz.style.viz_style`. Every
receptive-field panel upsamples its row with nearest neighbours (one block per feature-map cell, so
a one-cell map looks like one cell) and states the row's self-weight ``S[i, i]`` and peak
(:func:`~ianet_viz.viz.overlay.field_label`).
"""
from __future__ import annotations

import csv
from collections import OrderedDict
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from .. import functional as Fn
from ..recorder import record, sia_inputs
from ..measures import part_area_shares, positive_mass_shares
from .alignment import part_labels
from .inputs import prepare, sia_scale
from .points import FIG8_POINTS, REAL_HEIGHTS, fields_on_part, height_points, part_points  # noqa: F401 (re-exported)
from .overlay import display_image, field_label, outline_cell, overlay, pixel_to_cell, relation_grid, to_numpy, upsample
from .style import (CHANNEL_CMAP, CMAP, LABEL_SIZE, POINT_COLORS, activation_colorbar, clean_axis, new_figure,
                    panel_max_colorbar, paper_title, relation_colorbar, relation_norm, relative_weights, viz_style,
                    with_label)

#: Relative height bands of the parts on real crops, for channel selection without masks.
REAL_BANDS = {"head": (0.0, 0.18), "torso": (0.18, 0.5), "belt/bag": (0.42, 0.58), "legs": (0.5, 0.9),
              "shoes": (0.9, 1.0), "arms": (0.2, 0.55), "bag": (0.3, 0.65)}
KEY_TITLES = {"S_A": "$S^A$", "S_L": "$S^L$", "S": "$S$"}


def _key_title(key: str) -> str:
    if key.startswith("S_A_"):
        return f"$S^A_{{{key[4:]}}}$ (K={key[4:]})"
    return KEY_TITLES.get(key, key)


# --------------------------------------------------------------------------------------------
# generic: receptive fields of one point for several maps
# --------------------------------------------------------------------------------------------
def plot_receptive_fields(
    image,
    maps: Mapping[str, object],
    hw: Sequence[int],
    point: Sequence[float],
    index: int = 0,
    titles: Optional[Mapping[str, str]] = None,
    suptitle: Optional[str] = None,
    panel_width: float = 1.5,
    alpha: float = 0.55,
    interpolation: str = "nearest",
    colorbar: bool = True,
    dpi: Optional[float] = None,
    scale: str = "relative",
):
    """The image with the point, then one overlay per map: row ``point`` of each ``[B, M, M]``
    (or ``[M, M]``) map.

    Each panel is upsampled with ``interpolation`` (nearest: one block per cell), the query cell is
    outlined (its colour stays visible), and the title states the self-weight ``S[i, i]`` of the
    query cell and the peak relative to uniform. Colours: ``scale="relative"`` (default) draws every
    panel on one log scale of weight x M (1 = uniform, :func:`~ianet_viz.viz.style.relation_norm`),
    so panels compare; ``scale="panel"`` scales each panel to its own maximum. A colour bar comes
    with either (``colorbar=False`` leaves it out)."""
    if scale not in ("relative", "panel"):
        raise ValueError(f"scale must be 'relative' or 'panel', got {scale!r}")
    img = display_image(image)
    image_hw = img.shape[:2]
    row, col = pixel_to_cell(point[0], point[1], image_hw, hw)
    m = int(hw[0]) * int(hw[1])
    norm = relation_norm(m) if scale == "relative" else None
    n = len(maps) + 1
    aspect = image_hw[0] / image_hw[1]
    bar = 0.95 if colorbar else 0.0
    fig = new_figure(figsize=(panel_width * n + bar, panel_width * aspect + 0.9), dpi=dpi)
    with viz_style():
        axes = fig.subplots(1, n, squeeze=False)[0]
        overlay(axes[0], img, None, point, title=f"query point\ncell ({row}, {col}) of {hw[0]}x{hw[1]}")
        axes[0].title.set_fontsize(8)
        for ax, (key, S) in zip(axes[1:], maps.items()):
            grid = relation_grid(S, index, row, col, hw)
            name = (titles or {}).get(key, _key_title(key))
            heat = relative_weights(grid) if norm is not None else grid
            overlay(ax, img, upsample(heat, image_hw, interpolation), point, alpha=alpha, norm=norm, hw=hw,
                    title=f"{name}\n{field_label(grid, row, col)}")
            ax.title.set_fontsize(8)
        if suptitle:
            fig.suptitle(suptitle, fontsize=9)
        right = 1 - (bar + 0.05) / fig.get_figwidth()
        fig.subplots_adjust(left=0.01, right=right, bottom=0.02, top=0.78, wspace=0.06)
        if colorbar:
            box = axes[0].get_position()
            w = fig.get_figwidth()
            cax = fig.add_axes((1 - 0.8 / w, box.y0 + 0.1 * box.height, 0.1 / w, 0.75 * box.height))
            if norm is not None:
                relation_colorbar(fig, m, cax=cax)
            else:
                panel_max_colorbar(fig, cax=cax)
    return fig


# --------------------------------------------------------------------------------------------
# Fig. 4: context sizes
# --------------------------------------------------------------------------------------------
def appearance_by_k(f: torch.Tensor, ks: Sequence[int] = (1, 2, 3, 5), scale: Optional[float] = None,
                    relation: str = "dot") -> Dict[int, torch.Tensor]:
    """``{K: S^A_K [B, M, M]}`` from a feature map ``f`` ``[B, C, H, W]`` (eq. 1, one call per K)."""
    return {int(k): Fn.appearance_relation(f, int(k), scale=scale, relation=relation) for k in ks}


def fig4(
    model,
    image,
    point: Optional[Sequence[float]] = None,
    block: str = "stage3",
    ks: Sequence[int] = (1, 2, 3, 5),
    multi: Sequence[int] = (1, 2, 3),
    size: Tuple[int, int] = (256, 128),
    transform=None,
    fusion: str = "renorm",
    with_location: bool = False,
    also_product: bool = False,
    title: Optional[str] = None,
    label: str = "",
):
    """Fig. 4: the receptive field of one point for each context size K and the multi-context map.

    ``point`` is ``(y, x)`` in pixels of the model-input image (default: the torso, 35 % down the
    centre line). The maps are recomputed from the block's SIA input with the block's own relation
    (dot or cosine) and logit scale (its learned temperature, if any); the multi-context map fuses
    ``multi`` as the block does (eq. 2: product, or the geometric mean of the demo model; renormalised).
    With ``with_location=True`` every map is fused with the block's S_L (eq. 5); with
    ``also_product=True`` a block that fuses otherwise also gets the paper's product of the same factors.
    ``title`` replaces the figure's title; ``label`` is added to it in parentheses (say what the model
    is: "random init", "demo model"). The panels share one colour scale (weight x M, log) and its bar.
    """
    x, display = prepare([image], size, transform)
    img_h, img_w = display[0].shape[:2]
    if point is None:
        point = (0.35 * img_h, 0.5 * img_w)
    f = sia_inputs(model, x, [block])[block]
    hw = tuple(f.shape[-2:])
    sia = model.ia_blocks[block].sia
    need = sorted(set(ks) | set(multi))
    by_k = appearance_by_k(f, need, sia_scale(model, block), sia.relation)
    maps: "OrderedDict[str, torch.Tensor]" = OrderedDict((f"S_A_{k}", by_k[k]) for k in ks)
    maps["S_A"] = Fn.multi_context_fusion([by_k[k] for k in multi], sia.multi, fusion)
    how = {"prod": "product", "mean": "geometric mean"}.get(sia.multi, sia.multi)
    titles = {"S_A": f"$S^A$ multi-context\n(K={','.join(map(str, multi))}, {how})"}
    if also_product and sia.multi != "prod":
        maps["S_A_prod"] = Fn.multi_context_fusion([by_k[k] for k in multi], "prod", fusion)
        titles["S_A_prod"] = f"paper: product\n(K={','.join(map(str, multi))})"
    if with_location:
        sigma = model.ia_blocks[block].sia.sigma
        s_l = Fn.location_relation(hw[0], hw[1], sigma)
        maps = OrderedDict((k, Fn.semantic_relation(v, s_l, fusion)) for k, v in maps.items())
    loc = " + $S^L$" if with_location else ""
    text = title or f"Fig. 4 (Hou et al. 2019): single- vs multi-context receptive field{loc}, {block}"
    return plot_receptive_fields(display[0], maps, hw, point, titles=titles, suptitle=with_label(text, label))


# --------------------------------------------------------------------------------------------
# Fig. 7: sigma sweep and location-prior shapes
# --------------------------------------------------------------------------------------------
_ALIASES = {
    "sigma1": ("sigma1", "sigma_1", "s1", "sigma"),
    "rank1": ("rank1", "top1", "top-1", "rank-1", "r1", "cmc1"),
    "mAP": ("mAP", "map", "mean_ap"),
    "seed": ("seed",),
}


def _read_table(table) -> List[Dict[str, object]]:
    if isinstance(table, (str, Path)):
        with open(table, newline="") as fh:
            return list(csv.DictReader(fh))
    if hasattr(table, "to_dict"):  # pandas DataFrame
        return list(table.to_dict("records"))
    return [dict(r) for r in table]


def _get(row: Mapping[str, object], name: str):
    for alias in _ALIASES[name]:
        if alias in row and row[alias] not in (None, ""):
            return row[alias]
    return None


def sigma_sweep_stats(table) -> List[Dict[str, float]]:
    """Mean and std of top-1 and mAP per sigma1 over seeds: rows sorted by sigma1 (values in %)."""
    rows = _read_table(table)
    groups: Dict[float, Dict[str, List[float]]] = {}
    for r in rows:
        s1 = _get(r, "sigma1")
        if s1 is None:
            raise ValueError(f"a results row has no sigma1 column: {r}")
        g = groups.setdefault(float(s1), {"rank1": [], "mAP": []})
        for k in ("rank1", "mAP"):
            v = _get(r, k)
            if v is not None:
                g[k].append(float(v))
    if not groups:
        raise ValueError("the results table is empty")
    all_vals = [v for g in groups.values() for vs in g.values() for v in vs]
    factor = 100.0 if all_vals and max(all_vals) <= 1.0 else 1.0  # fractions -> percent
    out = []
    for s1 in sorted(groups):
        row: Dict[str, float] = {"sigma1": s1, "sigma2": 2 * s1}
        for k in ("rank1", "mAP"):
            v = np.asarray(groups[s1][k], dtype=float) * factor
            row[f"{k}_mean"] = float(v.mean()) if v.size else float("nan")
            row[f"{k}_std"] = float(v.std(ddof=1)) if v.size > 1 else 0.0
            row[f"{k}_n"] = int(v.size)
            row[f"{k}_values"] = v.tolist()
        out.append(row)
    return out


def plot_sigma_sweep(table, paper_sigma1: Optional[float] = 5.0, title_note: str = "",
                     paper_label: Optional[str] = None):
    """Fig. 7: top-1 and mAP against sigma1 (sigma2 = 2 sigma1), mean +- std over seeds.

    ``table``: a list of dicts, csv.DictReader rows, a CSV path or a DataFrame with columns
    ``sigma1, rank1, mAP, seed`` (fractions or percent). Individual seeds are drawn as dots.
    ``paper_sigma1``: where the paper's choice lies on this sweep's axis (5 cells at 256 x 128 input;
    scale it to the input, ``ianet_viz.stage_sigma(3, input_size=...)[0]``), drawn as a dashed line
    with ``paper_label`` (default "paper's σ1 = ..."); ``None`` draws none.
    """
    stats = sigma_sweep_stats(table)
    s = np.array([r["sigma1"] for r in stats])
    fig = new_figure(figsize=(7.2, 3.0))
    with viz_style():
        axes = fig.subplots(1, 2)
        for ax, key, label, color in ((axes[0], "rank1", "top-1 (%)", "#0072B2"), (axes[1], "mAP", "mAP (%)", "#D55E00")):
            mean = np.array([r[f"{key}_mean"] for r in stats])
            std = np.array([r[f"{key}_std"] for r in stats])
            ax.fill_between(s, mean - std, mean + std, color=color, alpha=0.18, linewidth=0)
            ax.errorbar(s, mean, yerr=std, color=color, marker="o", markersize=4, capsize=3, linewidth=1.5)
            for r in stats:
                vals = r[f"{key}_values"]
                ax.scatter([r["sigma1"]] * len(vals), vals, s=9, color=color, alpha=0.45, linewidths=0, zorder=3)
            if paper_sigma1 is not None and s.min() <= paper_sigma1 <= s.max():
                paper_marker(ax, paper_sigma1, paper_label)
            ax.set_xlabel(r"$\sigma_1$ (cells, $\sigma_2 = 2\sigma_1$)")
            ax.set_ylabel(label)
            ax.set_xticks(s)
            ax.set_xticklabels([f"{v:g}" for v in s])
            n = max(r[f"{key}_n"] for r in stats)
            ax.set_title(f"{label.split(' ')[0]} vs $\\sigma_1$ (mean $\\pm$ std, {n} seed{'s' if n != 1 else ''})")
        paper_title(fig, "Fig. 7", "accuracy against the location prior's width" + (f" {title_note}" if title_note else ""))
        fig.tight_layout()
    return fig


def paper_marker(ax, sigma1: float, label: Optional[str] = None) -> None:
    """A dashed vertical line at the paper's sigma1 on a Fig. 7 axis, with its label."""
    ax.axvline(sigma1, color="#595959", linestyle="--", linewidth=1)
    ax.annotate(label or f"paper's $\\sigma_1$ = {sigma1:g}", (sigma1, 1.0), xycoords=("data", "axes fraction"),
                xytext=(3, -3), textcoords="offset points", fontsize=LABEL_SIZE, color="#404040", va="top")


def _sigma_pair(s) -> Tuple[float, float]:
    if isinstance(s, (tuple, list)):
        return float(s[0]), float(s[1])
    return float(s), 2.0 * float(s)


def plot_location_shapes(h: int, w: int, sigmas: Sequence = (1, 2, 5, 10, 20), point: Optional[Tuple[int, int]] = None,
                         panel_width: float = 1.45, title: Optional[str] = None, scale: str = "relative"):
    """S_L rows (eq. 3-4) on an ``h x w`` map for each sigma, side by side.

    ``sigmas``: sigma1 values (sigma2 = 2 sigma1) or ``(sigma1, sigma2)`` pairs; ``point`` is the query
    cell ``(row, col)`` (default: the centre), outlined. Drawn at cell resolution on one log colour
    scale of weight x M (``scale="relative"``, 1 = uniform: a nearly flat prior looks flat) or each
    panel to its own maximum (``scale="panel"``); the self-weight and the peak are in the titles.
    ``title`` replaces the default, which cites eq. 3-4 (this is the prior's shape, not Fig. 7).
    """
    if scale not in ("relative", "panel"):
        raise ValueError(f"scale must be 'relative' or 'panel', got {scale!r}")
    sig = [_sigma_pair(s) for s in sigmas]
    row, col = (h // 2, w // 2) if point is None else point
    norm = relation_norm(h * w) if scale == "relative" else None
    fig = new_figure(figsize=(panel_width * len(sig) + 0.95, panel_width * h / w + 1.1))
    with viz_style():
        axes = fig.subplots(1, len(sig), squeeze=False)[0]
        for ax, (s1, s2) in zip(axes, sig):
            grid = relation_grid(Fn.location_relation(h, w, (s1, s2)), 0, row, col, (h, w))
            if norm is not None:
                ax.imshow(relative_weights(grid), cmap=CMAP, norm=norm, interpolation="nearest", extent=(0, w, h, 0))
            else:
                ax.imshow(grid, cmap=CMAP, vmin=0, vmax=grid.max(), interpolation="nearest", extent=(0, w, h, 0))
            outline_cell(ax, row, col, (h, w), extent=(0, w, h, 0))
            clean_axis(ax)
            ax.set_title(f"$\\sigma$ = ({s1:g}, {s2:g})\n{field_label(grid, row, col)}", fontsize=8)
        if norm is not None:
            relation_colorbar(fig, h * w, ax=list(axes), fraction=0.025, pad=0.02)
        else:
            panel_max_colorbar(fig, ax=list(axes), fraction=0.025, pad=0.02)
        paper_title(fig, "" if title else "eq. 3-4", title or f"the location prior $S^L$ of the centre cell, {h}x{w} map")
        fig.subplots_adjust(left=0.01, right=0.86, bottom=0.03, top=1 - 0.62 / fig.get_figheight(), wspace=0.1)
    return fig


# --------------------------------------------------------------------------------------------
# Fig. 8: five body points and CIA channels
# --------------------------------------------------------------------------------------------
def part_region(hw: Sequence[int], n: int, masks=None, part: str = "torso", labels=None) -> np.ndarray:
    """``[n, H, W]`` weight of ``part`` in each cell: its area share (from masks) or a height band."""
    h, w = int(hw[0]), int(hw[1])
    if masks is not None:
        labels = dict(part_labels() if labels is None else labels)
        ids = {v: k for k, v in labels.items()}
        names = ["bag"] if part == "belt/bag" and "bag" in ids else [part]
        if names[0] not in ids:
            raise ValueError(f"unknown part {part!r}; parts: {', '.join(labels.values())}")
        areas = part_area_shares(np.stack([to_numpy(m) for m in masks]), hw, max(labels) + 1)
        return sum(areas[..., ids[nm]] for nm in names)
    if part not in REAL_BANDS:
        raise ValueError(f"unknown part {part!r} for height bands; choose from {', '.join(REAL_BANDS)}")
    lo, hi = REAL_BANDS[part]
    centres = (np.arange(h) + 0.5) / h
    band = ((centres >= lo) & (centres < hi)).astype(np.float64)
    return np.broadcast_to(band[:, None], (n, h, w)).copy()


def select_channels(cia_out, region: np.ndarray, n: int = 3) -> Tuple[List[int], np.ndarray]:
    """Channels whose (ReLU'd) activation mass is most concentrated on ``region`` ``[B, H, W]``.

    Score of channel c: mean over images of ``sum(a_c * region) / sum(a_c)``. Returns the top ``n``
    channel indices and all scores ``[C]``.
    """
    score = np.nan_to_num(positive_mass_shares(to_numpy(cia_out), region), nan=0.0).mean(0)  # [C]
    order = np.argsort(-score, kind="stable")
    return [int(c) for c in order[:n]], score


def fig8(
    model,
    images: Sequence,
    masks: Optional[Sequence] = None,
    points: Optional[Sequence[Mapping[str, Tuple[float, float]]]] = None,
    block: str = "stage3",
    n_channels: int = 3,
    part: str = "torso",
    key: str = "S",
    size: Tuple[int, int] = (256, 128),
    transform=None,
    channels: Optional[Sequence[int]] = None,
    panel_width: float = 1.05,
    return_info: bool = False,
    title: Optional[str] = None,
    label: str = "",
):
    """Fig. 8: per image, five points with their receptive fields and ``n_channels`` CIA channels.

    * ``images``: synthetic or real crops (anything :func:`~ianet_viz.viz.inputs.prepare` takes).
    * ``masks``: part masks (synthetic people, at image size): the points come from the parts
      (:func:`part_points`); without masks they sit at fixed relative heights (:func:`height_points`);
      ``points`` (one dict ``name -> (y, x)`` per image, model-input pixels) overrides both.
    * ``key``: the relation map shown ("S" as in the paper; "S_A" without the location prior).
    * channels: the ``cia_out`` channels most concentrated on ``part`` (:func:`select_channels`),
      or the given ``channels``.
    * colours: the fields on one log scale of weight x M (1 = uniform), the channels each to their own
      maximum; a colour bar for each. Each field outlines its query cell and prints its self-weight
      and peak under the panel.
    * ``title`` replaces the figure's title; ``label`` is added to it in parentheses ("random init").
    ``return_info=True`` returns ``(fig, {"points", "channels", "channel_scores", "fields"})``; with
    masks, "fields" has each field's own-part share and effective cells with the query cell removed
    (:func:`ianet_viz.measures.field_on_part`; for :func:`ianet_viz.course.mechanism.fields_on_part_text`).

    One piece: drawing code, panel by panel.
    """
    x, display = prepare(images, size, transform)
    n = len(display)
    image_hw = display[0].shape[:2]
    maps, shapes = record(model, x, keys=[key, "cia_out"])
    if block not in maps or key not in maps[block]:
        raise ValueError(f"block {block!r} recorded no {key!r}; recorded: { {b: sorted(v) for b, v in maps.items()} }")
    hw = shapes[block]
    S = maps[block][key]
    cia_out = maps[block].get("cia_out")
    rmasks = None
    if masks is not None:
        import cv2

        rmasks = [cv2.resize(to_numpy(mk).astype(np.uint8), (image_hw[1], image_hw[0]), interpolation=cv2.INTER_NEAREST)
                  for mk in masks]
    given_points = points is not None
    if points is None:
        points = [part_points(mk, hw=hw) for mk in rmasks] if rmasks is not None else [height_points(image_hw)] * n
    fields = fields_on_part(S, rmasks, points, image_hw, hw) if rmasks is not None else []
    chans, scores = [], None
    if cia_out is not None and n_channels > 0:
        if channels is not None:
            chans = [int(c) for c in channels][:n_channels]
        else:
            region = part_region(cia_out.shape[-2:], n, rmasks, part)
            chans, scores = select_channels(cia_out, region, n_channels)
    ncols = 1 + len(FIG8_POINTS) + len(chans)
    aspect = image_hw[0] / image_hw[1]
    m = int(hw[0]) * int(hw[1])
    norm = relation_norm(m)
    bars = 0.75 * (2 if chans else 1)
    wspace, gap, top_in, bottom_in = 0.05, 0.55, 0.55, 0.62  # inches: between rows (numbers + title), margins
    top_in += 0.25 if label and not title else 0.0  # the model's name on a line of its own: never clipped
    fig_w = panel_width * ncols + 0.2 + bars
    left, right = 0.01, 1 - (bars + 0.1) / fig_w
    img_w_in = (right - left) * fig_w / (ncols + (ncols - 1) * wspace)  # the width of one panel
    img_h_in = img_w_in * aspect
    fig_h = n * img_h_in + (n - 1) * gap + top_in + bottom_in
    fig = new_figure(figsize=(fig_w, fig_h))
    with viz_style():
        axes = fig.subplots(n, ncols, squeeze=False)
        for i in range(n):
            pts = points[i]
            ax = axes[i, 0]
            overlay(ax, display[i], None, None, title="input" if i == 0 else None)
            for (name, (py, px)), color in zip(pts.items(), POINT_COLORS):
                ax.plot([px], [py], "o", markersize=6, markerfacecolor=color, markeredgecolor="black", markeredgewidth=0.8)
            for j, ((name, (py, px)), color) in enumerate(zip(pts.items(), POINT_COLORS)):
                row, col = pixel_to_cell(py, px, image_hw, hw)
                grid = relation_grid(S, i, row, col, hw)
                ax = axes[i, 1 + j]
                overlay(ax, display[i], relative_weights(grid), (py, px), norm=norm, hw=hw, marker_color=color,
                        title=(f"{name}" if i == 0 else None))
                ax.set_xlabel(field_label(grid, row, col, "\n"), fontsize=LABEL_SIZE, labelpad=2, linespacing=1.1)
            for j, c in enumerate(chans):
                ch = to_numpy(cia_out[i, c]).astype(np.float32)
                ch = np.maximum(ch, 0.0)
                heat = upsample(ch, image_hw, "bicubic")  # a feature map, not a relation row: smooth
                overlay(axes[i, 1 + len(FIG8_POINTS) + j], display[i], heat, None, cmap=CHANNEL_CMAP, alpha=0.6,
                        title=(f"CIA ch {c}" if i == 0 else f"ch {c}"))
        src = "given points" if given_points else ("part masks" if rmasks is not None else "fixed relative heights")
        default = (f"receptive fields ({_key_title(key)}, {block}) of five points"
                   + (f" and CIA channels most on the {part}" if chans else ""))
        if title:
            fig.suptitle(with_label(title, label))
        else:
            paper_title(fig, "Fig. 8", default + (f"\n{label}" if label else ""))
        fig.text(0.5, 0.005, f"points from {src}; under each field: self = the weight the query cell (outlined) keeps "
                 "for itself, S[i, i]; peak = the largest weight relative to uniform",
                 ha="center", va="bottom", fontsize=7, color="#595959")
        w = fig_w
        fig.subplots_adjust(left=left, right=right, bottom=bottom_in / fig_h, top=1 - top_in / fig_h, wspace=wspace,
                            hspace=gap / img_h_in)
        top_box, bottom_box = axes[0, 0].get_position(), axes[-1, 0].get_position()
        y0, height = bottom_box.y0, top_box.y1 - bottom_box.y0
        relation_colorbar(fig, m, cax=fig.add_axes((1 - (bars - 0.05) / w, y0 + 0.15 * height, 0.1 / w, 0.7 * height)))
        if chans:
            activation_colorbar(fig, cax=fig.add_axes((1 - (bars / 2 - 0.05) / w, y0 + 0.15 * height, 0.1 / w,
                                                       0.7 * height)))
    if return_info:
        return fig, {"points": points, "channels": chans, "channel_scores": scores, "fields": fields}
    return fig
