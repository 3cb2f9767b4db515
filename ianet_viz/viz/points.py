"""Where Fig. 8's five points go: on the parts of a synthetic person's mask, or at fixed heights of a
real crop (:func:`part_points`, :func:`height_points`), and how many of the fields drawn there follow
their part (:func:`fields_on_part`)."""
from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch

from ..measures import field_on_part
from .alignment import cell_labels, part_labels
from .overlay import pixel_to_cell, to_numpy

FIG8_POINTS = ("head", "torso", "belt/bag", "legs", "shoes")
#: Relative heights of the five points on real crops (no masks): head ... shoes.
REAL_HEIGHTS = (0.1, 0.3, 0.5, 0.7, 0.95)


def _near_centroid(ys: np.ndarray, xs: np.ndarray) -> Tuple[float, float]:
    """The pixel of a part nearest to the part's centroid (the centroid itself may lie off the
    part, e.g. between two legs); returned as the pixel centre ``(y + 0.5, x + 0.5)``."""
    cy, cx = ys.mean(), xs.mean()
    i = int(np.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
    return float(ys[i]) + 0.5, float(xs[i]) + 0.5


def part_points(mask: np.ndarray, labels: Optional[Mapping[int, str]] = None,
                hw: Optional[Sequence[int]] = None) -> "OrderedDict[str, Optional[Tuple[float, float]]]":
    """Five Fig. 8 points ``{name: (y, x)}`` from a part mask ``[img_h, img_w]``.

    head, torso, legs, shoes: the part pixel nearest the part's centroid; belt/bag: the bag when the
    person carries one, else the bottom sixth of the torso (the belt line). A part missing from the
    mask (occluded) gets a point at its typical relative height on the person's centre line.
    ``hw`` (a relation map's size): each point moves to the centre of the nearest cell whose majority
    label is its part, when there is one, so that the field drawn is a field *of that part*: a pixel
    on a thin leg often lies in a cell that is mostly background.
    """
    labels = dict(part_labels() if labels is None else labels)
    ids = {v: k for k, v in labels.items()}
    mask = to_numpy(mask)
    img_h, img_w = mask.shape
    fg_ys, fg_xs = np.nonzero(mask > 0)
    cx = float(fg_xs.mean()) + 0.5 if fg_xs.size else img_w / 2
    top, bottom = (float(fg_ys.min()), float(fg_ys.max()) + 1) if fg_ys.size else (0.0, float(img_h))

    def pts(name):
        ys, xs = np.nonzero(mask == ids.get(name, -1))
        return ys, xs

    out: "OrderedDict[str, Optional[Tuple[float, float]]]" = OrderedDict()
    for name, rel in zip(FIG8_POINTS, REAL_HEIGHTS):
        if name == "belt/bag":
            ys, xs = pts("bag")
            if ys.size < 4:
                ys, xs = pts("torso")
                if ys.size:
                    cut = np.quantile(ys, 5 / 6)
                    keep = ys >= cut
                    ys, xs = ys[keep], xs[keep]
        else:
            ys, xs = pts(name)
        if ys.size:
            out[name] = _near_centroid(ys, xs)
            if hw is not None:
                part = "bag" if name == "belt/bag" and pts("bag")[0].size >= 4 else name.split("/")[0]
                part = "torso" if name == "belt/bag" and part == "belt" else part
                out[name] = _snap_to_part_cell(mask, ids.get(part, -1), out[name], hw, min_y=float(ys.min()))
        else:
            out[name] = (top + rel * (bottom - top), cx)
    return out


def _snap_to_part_cell(mask: np.ndarray, label: int, point: Tuple[float, float], hw: Sequence[int],
                       min_y: float = 0.0) -> Tuple[float, float]:
    """The centre of the cell nearest ``point`` whose majority label is ``label`` (and whose centre lies
    at or below ``min_y``, for the belt line), or ``point`` when no cell is mostly that part."""
    img_h, img_w = mask.shape
    h, w = int(hw[0]), int(hw[1])
    lab = cell_labels(mask[None], hw)[0]
    ys, xs = np.nonzero(lab == label)
    cy, cx = (ys + 0.5) * img_h / h, (xs + 0.5) * img_w / w
    keep = cy >= min_y
    if not keep.any():
        return point
    d = (cy[keep] - point[0]) ** 2 + (cx[keep] - point[1]) ** 2
    k = int(np.argmin(d))
    return float(cy[keep][k]), float(cx[keep][k])


def height_points(image_hw: Sequence[int], heights: Sequence[float] = REAL_HEIGHTS, x_rel: float = 0.5):
    """Fig. 8 points on a real crop: fixed relative heights on the vertical centre line."""
    img_h, img_w = image_hw
    return OrderedDict((name, (min(h * img_h, img_h - 0.5), x_rel * img_w)) for name, h in zip(FIG8_POINTS, heights))



def fields_on_part(S, rmasks, points, image_hw, hw) -> List[Dict]:
    """Per image and point: the query cell's part and its field's own-part share and effective cells."""
    labels = cell_labels(np.stack(rmasks), hw).reshape(len(rmasks), -1)
    names = part_labels()
    out = []
    for i, pts in enumerate(points):
        for name, (py, px) in pts.items():
            row, col = pixel_to_cell(py, px, image_hw, hw)
            q = row * int(hw[1]) + col
            lab = int(labels[i, q])
            share, cells = field_on_part(S[i, q], torch.from_numpy(labels[i] == lab), q) if lab else (0.0, 0.0)
            out.append({"image": i, "point": name, "part": names[lab], "own part": share, "cells": cells})
    return out
