"""Relation-map rows as heat maps over the pedestrian: the receptive field of one query point.

Conventions (shared by the viewer, the figures and the tests):

* A relation map ``S`` is ``[B, M, M]`` (or ``[M, M]`` for ``S_L``) with ``M = H * W`` and
  position index ``m = row * W + col``; row ``i`` is the distribution over the positions ``j``
  that query position ``i`` gathers from (eq. 6: ``E_S = F S^T``).
* Points on the image are ``(y, x)`` in pixels of the displayed image (the model input, e.g.
  256 x 128), continuous coordinates: pixel ``p`` covers ``[p, p + 1)``. Integer pixel indices
  therefore map to the cell that contains the pixel.
* Pixel -> cell: ``row = floor(y * H / img_h)``, ``col = floor(x * W / img_w)``, clipped to the map.
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from .style import CELL_MARKER, CELL_MARKER_EDGE, CMAP, MARKER, MARKER_EDGE, clean_axis

ArrayLike = Union[np.ndarray, "torch.Tensor"]  # noqa: F821

_INTERP = {"nearest": 0, "bilinear": 1, "bicubic": 2}


def to_numpy(x) -> np.ndarray:
    """A torch tensor (any device, any float dtype) or array-like -> float32/uint8 numpy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu()
        if x.dtype.is_floating_point:
            x = x.float()
        x = x.numpy()
    return np.asarray(x)


def pixel_to_cell(y: float, x: float, image_hw: Sequence[int], hw: Sequence[int]) -> Tuple[int, int]:
    """Pixel ``(y, x)`` of an ``image_hw`` image -> cell ``(row, col)`` of an ``hw`` feature map."""
    img_h, img_w = image_hw
    h, w = hw
    row = int(math.floor(float(y) * h / img_h))
    col = int(math.floor(float(x) * w / img_w))
    return min(max(row, 0), h - 1), min(max(col, 0), w - 1)


def cell_center(row: int, col: int, hw: Sequence[int], image_hw: Sequence[int]) -> Tuple[float, float]:
    """Centre ``(y, x)`` in image pixels of cell ``(row, col)`` (inverse of :func:`pixel_to_cell`)."""
    h, w = hw
    img_h, img_w = image_hw
    return (row + 0.5) * img_h / h, (col + 0.5) * img_w / w


def cell_index(row: int, col: int, hw: Sequence[int]) -> int:
    """Flat position index ``m = row * W + col``."""
    return int(row) * int(hw[1]) + int(col)


def upsample(grid: np.ndarray, image_hw: Sequence[int], interpolation: str = "nearest") -> np.ndarray:
    """Upsample an ``[H, W]`` map to ``image_hw`` (default: nearest neighbour, i.e. one block per cell).

    ``"nearest"`` gives pixel ``(p, q)`` the value of the cell that contains its centre,
    ``pixel_to_cell(p + 0.5, q + 0.5)``: every cell becomes one block of pixels (exactly
    ``img_h / H`` x ``img_w / W`` pixels when the sizes divide), so a one-cell map looks like one
    cell and the cell grid shows. This is the default for every receptive-field picture: a smooth
    upsampling draws a one-cell map at stage 3 as a soft, shoulder-sized blob.
    ``"bilinear"`` / ``"bicubic"`` are smooth (half-pixel centres, as the network's strides); for
    feature maps such as CIA channels. Bicubic can overshoot below zero next to sharp peaks;
    relation weights are non-negative, so it is clipped at 0.
    """
    if interpolation not in _INTERP:
        raise ValueError(f"interpolation must be one of {', '.join(_INTERP)}; got {interpolation!r}")
    grid = np.ascontiguousarray(grid, dtype=np.float32)
    img_h, img_w = int(image_hw[0]), int(image_hw[1])
    if interpolation == "nearest":
        h, w = grid.shape
        rows = np.minimum(((np.arange(img_h) + 0.5) * h / img_h).astype(np.intp), h - 1)
        cols = np.minimum(((np.arange(img_w) + 0.5) * w / img_w).astype(np.intp), w - 1)
        return grid[rows[:, None], cols[None, :]]
    import cv2

    flag = (cv2.INTER_NEAREST, cv2.INTER_LINEAR, cv2.INTER_CUBIC)[_INTERP[interpolation]]
    out = cv2.resize(grid, (img_w, img_h), interpolation=flag)
    return np.maximum(out, 0.0, out=out) if interpolation == "bicubic" else out


def relation_grid(S: ArrayLike, index: int, row: int, col: int, hw: Sequence[int]) -> np.ndarray:
    """Row ``(row, col)`` of relation map ``S`` for batch item ``index``, reshaped to ``[H, W]``.

    ``S`` may be ``[B, M, M]`` or ``[M, M]`` (then ``index`` is ignored, as for ``S_L``).
    """
    h, w = int(hw[0]), int(hw[1])
    m = cell_index(row, col, hw)
    if S.ndim == 3:
        r = S[index, m]
    elif S.ndim == 2:
        r = S[m]
    else:
        raise ValueError(f"S must be [B, M, M] or [M, M], got shape {tuple(S.shape)}")
    r = to_numpy(r).astype(np.float32, copy=False)
    if r.shape[-1] != h * w:
        raise ValueError(f"S has M = {r.shape[-1]} positions but hw = {tuple(hw)} gives {h * w}")
    return r.reshape(h, w)


def relation_row(
    S: ArrayLike,
    index: int,
    hw: Sequence[int],
    point_yx_pixels: Sequence[float],
    image_hw: Sequence[int],
    interpolation: str = "nearest",
) -> np.ndarray:
    """The receptive field of one image point: ``[img_h, img_w]`` float32 heat map.

    ``index`` is the batch item, ``point_yx_pixels`` the query point ``(y, x)`` in pixels of the
    displayed ``image_hw`` image; it is mapped to its cell (:func:`pixel_to_cell`), that cell's row of
    ``S`` is reshaped to ``hw`` and upsampled to the image (:func:`upsample`, nearest by default:
    one block per cell).
    """
    row, col = pixel_to_cell(point_yx_pixels[0], point_yx_pixels[1], image_hw, hw)
    return upsample(relation_grid(S, index, row, col, hw), image_hw, interpolation)


def field_stats(grid: np.ndarray, row: int, col: int) -> Tuple[float, float]:
    """``(self_weight, peak)`` of one receptive field: ``grid`` is the query's row ``[H, W]`` of a
    row-stochastic map (:func:`relation_grid`), ``(row, col)`` the query cell.

    * ``self_weight = grid[row, col] = S[i, i]``: the weight the query cell keeps for itself
      (1 = the field is the query cell alone; :func:`ianet_viz.measures.self_weight` is its mean
      over all cells);
    * ``peak``: the largest weight relative to a uniform map (``max * H * W``; 1 = uniform).
    """
    return float(grid[int(row), int(col)]), float(grid.max()) * grid.size


def field_label(grid: np.ndarray, row: int, col: int, sep: str = " | ") -> str:
    """What every receptive-field picture prints with it: ``"self 0.22 | peak 3.1x"``
    (:func:`field_stats`; the self-weight to two decimals, ``<0.01`` below 0.005; ``sep="\\n"``
    for two lines in a small panel)."""
    own, peak = field_stats(grid, row, col)
    return f"self {'<0.01' if own < 0.005 else f'{own:.2f}'}{sep}peak {peak:.3g}x"


def display_image(image) -> np.ndarray:
    """Anything image-like -> ``[H, W, 3]`` array for imshow (uint8 kept, floats clipped to [0, 1]).

    Accepts a PIL image, a ``[H, W, 3]``/``[H, W]`` array, or a ``[3, H, W]`` tensor (a
    normalised tensor is min-max rescaled for display).
    """
    if hasattr(image, "convert") and hasattr(image, "size"):  # PIL
        return np.asarray(image.convert("RGB"))
    arr = to_numpy(image)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = np.transpose(arr, (1, 2, 0))
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.dtype == np.uint8:
        return arr
    arr = arr.astype(np.float32)
    lo, hi = float(arr.min()), float(arr.max())
    if lo < 0.0 or hi > 1.0 + 1e-6:
        arr = (arr - lo) / max(hi - lo, 1e-12)
    return np.clip(arr, 0.0, 1.0)


def cell_outline(y: float, x: float, image_hw: Sequence[int], hw: Sequence[int]) -> Tuple[List[float], List[float]]:
    """``(xs, ys)`` of the closed outline of the cell that contains pixel ``(y, x)``, in pixels."""
    row, col = pixel_to_cell(y, x, image_hw, hw)
    img_h, img_w = image_hw
    h, w = hw
    y0, y1 = row * img_h / h, (row + 1) * img_h / h
    x0, x1 = col * img_w / w, (col + 1) * img_w / w
    return [x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0]


def overlay(
    ax,
    image,
    heat: Optional[np.ndarray] = None,
    point: Optional[Sequence[float]] = None,
    *,
    cmap: str = CMAP,
    alpha: float = 0.6,
    vmax: Optional[float] = None,
    norm=None,
    hw: Optional[Sequence[int]] = None,
    colorbar: bool = False,
    title: Optional[str] = None,
    marker_color: Optional[str] = None,
    interpolation: str = "nearest",
) -> Dict[str, object]:
    """Draw ``image`` with ``heat`` on top and the query ``point`` ``(y, x)`` marked.

    Returns the artists ``{"image", "heat", "point", "point_edge", "colorbar"}`` so that callers
    (the viewer) can update them with ``set_data`` instead of re-plotting. The image is drawn with
    ``extent=(0, img_w, img_h, 0)``: axis data coordinates are the continuous pixel coordinates of
    :func:`pixel_to_cell`. ``heat`` may be at image resolution or at cell resolution ``[H, W]`` (it is
    stretched over the image); ``interpolation`` is how it is drawn: "nearest" (default) keeps the
    cells' blocks crisp.

    Colours: with ``norm`` (e.g. :func:`~ianet_viz.viz.style.relation_norm`, for ``heat`` in units of
    weight x M from :func:`~ianet_viz.viz.style.relative_weights`) every panel drawn with the same
    norm has one scale; without it the scale runs from 0 to the map's maximum (``vmax``).

    The marker: with ``hw`` (the map's cells) the outline of the query's cell, which leaves the
    cell's colour visible; without, a ring on the point (for a photo). ``marker_color`` colours it.
    """
    img = display_image(image)
    img_h, img_w = img.shape[:2]
    extent = (0, img_w, img_h, 0)
    artists: Dict[str, object] = {}
    artists["image"] = ax.imshow(img, extent=extent, interpolation="bilinear")
    if heat is not None:
        heat = np.asarray(heat, dtype=np.float32)
        if norm is not None:
            scale = dict(norm=norm)
        else:
            top = float(heat.max()) if vmax is None else float(vmax)
            scale = dict(vmin=0.0, vmax=top if top > 0 else 1.0)
        artists["heat"] = ax.imshow(heat, extent=extent, cmap=cmap, alpha=alpha, interpolation=interpolation, **scale)
        if colorbar:
            cb = ax.figure.colorbar(artists["heat"], ax=ax, fraction=0.08, pad=0.03)
            cb.set_label("relation weight", fontsize=8)
            cb.ax.tick_params(labelsize=7)
            artists["colorbar"] = cb
    if point is not None:
        y, x = point
        if hw is not None:
            xs, ys = cell_outline(y, x, (img_h, img_w), hw)
            ring = dict(CELL_MARKER)
            if marker_color is not None:
                ring["color"] = marker_color
            (artists["point_edge"],) = ax.plot(xs, ys, **CELL_MARKER_EDGE)
            (artists["point"],) = ax.plot(xs, ys, **ring)
            artists["cells"] = ((img_h, img_w), tuple(int(v) for v in hw))
        else:
            edge = dict(MARKER_EDGE)
            ring = dict(MARKER)
            if marker_color is not None:
                ring["markeredgecolor"] = marker_color
            (artists["point_edge"],) = ax.plot([x], [y], linestyle="none", **edge)
            (artists["point"],) = ax.plot([x], [y], linestyle="none", **ring)
    ax.set_xlim(0, img_w)
    ax.set_ylim(img_h, 0)
    clean_axis(ax)
    if title:
        ax.set_title(title)
    return artists


def outline_cell(ax, row: int, col: int, hw: Optional[Sequence[int]] = None, extent: Optional[Sequence[float]] = None,
                 color: Optional[str] = None):
    """Outline cell ``(row, col)`` on an ``imshow`` of a map: the query marker that leaves the cell's
    colour visible. Without ``extent`` the map is drawn at cell resolution with imshow's default
    extent (cell ``(r, c)`` spans ``c - 0.5 .. c + 0.5``); with ``extent=(left, right, bottom, top)``
    (imshow's) the ``hw`` cells fill it, e.g. a map stretched over a photo. Returns the two lines."""
    if extent is None:
        x0, y0, cw, ch = col - 0.5, row - 0.5, 1.0, 1.0
    else:
        if hw is None:
            raise ValueError("outline_cell needs hw (the map's cells) with an extent")
        left, right, bottom, top = (float(v) for v in extent)
        cw, ch = (right - left) / int(hw[1]), (bottom - top) / int(hw[0])
        x0, y0 = left + col * cw, top + row * ch
    xs, ys = [x0, x0 + cw, x0 + cw, x0, x0], [y0, y0, y0 + ch, y0 + ch, y0]
    ring = dict(CELL_MARKER, **({"color": color} if color else {}))
    return ax.plot(xs, ys, **CELL_MARKER_EDGE)[0], ax.plot(xs, ys, **ring)[0]


def move_point(artists: Dict[str, object], y: float, x: float, hw: Optional[Sequence[int]] = None) -> None:
    """Move the query marker drawn by :func:`overlay`: a cell outline (on the ``hw`` grid, default
    the grid it was drawn on) or a ring."""
    cells = artists.get("cells")
    if cells is not None:
        image_hw, old_hw = cells
        hw = old_hw if hw is None else tuple(int(v) for v in hw)
        artists["cells"] = (image_hw, hw)
        xs, ys = cell_outline(y, x, image_hw, hw)
    else:
        xs, ys = [x], [y]
    for key in ("point", "point_edge"):
        if key in artists:
            artists[key].set_data(xs, ys)


def update_heat(artists: Dict[str, object], heat: np.ndarray, vmax: Optional[float] = None) -> None:
    """Replace the heat map drawn by :func:`overlay` (``set_data``, no re-plot). A heat drawn with a
    fixed ``norm`` keeps it; one scaled to its maximum gets new colour limits (0 to ``vmax``)."""
    im = artists["heat"]
    im.set_data(heat)
    import matplotlib.colors as mcolors

    if isinstance(im.norm, mcolors.LogNorm):  # the fixed relation scale: nothing to rescale
        return
    top = float(np.max(heat)) if vmax is None else float(vmax)
    im.set_clim(0.0, top if top > 0 else 1.0)
