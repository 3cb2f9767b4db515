"""Numbers and summaries that describe row-stochastic relation maps ``[..., M]`` (every row sums to 1).

* :func:`normalised_entropy`: how spread a map is, ``H(row) / log(M)``: 0 one cell, 1 uniform.
* :func:`self_weight`: the weight a position keeps for itself, ``S[i, i]``.
* :func:`effective_cells`: how many cells a field spreads over, ``1 / sum_j S_ij^2``.
* :func:`field_on_part`: one field's share on the query's own part and its size, query cell removed.
* :func:`cells_for_mass`: how many of a row's largest weights it takes to hold a share of it (half).
* :func:`mean_by_offset`: the mean weight at each displacement from the query cell, as a picture.

And one number for CIA (eq. 7-8), whose maps are over channels, not positions:

* :func:`cia_part_gain`: for channels that carry a small body part (head, shoes, bag), how much
  of a channel map's mass on that part rises from the block's input F to its output Y, against
  random channels (the paper's claim that CIA helps "especially for small-scale visual cues").
* :func:`part_area_shares`: the area share of every part label in every cell of a feature map.

Notebook 01 uses them to choose the logit scale, notebook 05 to compare priors, notebook 04 to
measure CIA, and ``benchmarks.scale_entropy`` / ``benchmarks.experiments`` report them.
"""
from __future__ import annotations

import math
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch


def row_entropy(s: torch.Tensor) -> torch.Tensor:
    """``H(row) / log(M)`` per row of ``s [..., M]`` (float64): 0 one-hot, 1 uniform."""
    return torch.special.entr(s.double()).sum(-1) / math.log(s.shape[-1])


def normalised_entropy(s: torch.Tensor) -> float:
    """Mean over rows of ``H(row) / log(M)`` for row-stochastic maps ``[..., M]``: 0 one-hot, 1 uniform."""
    return float(row_entropy(s).mean())


def self_weight(s: torch.Tensor) -> float:
    """Mean weight a position puts on itself, ``S[i, i]``, for square maps ``[..., M, M]``."""
    return float(s.double().diagonal(dim1=-2, dim2=-1).mean())


def effective_cells(p: torch.Tensor) -> torch.Tensor:
    """``1 / sum_j S_ij^2`` per row of ``p [.., M]`` (float64): how many cells a field spreads over.
    One cell gives 1; a field uniform over n cells gives n."""
    return 1.0 / p.double().pow(2).sum(-1)


def field_on_part(row: torch.Tensor, own: torch.Tensor, query: int) -> Tuple[float, float]:
    """``(own-part share, effective cells)`` of one field (a row of S, ``[M]``) with the query cell
    removed and the rest renormalised; ``own`` (``[M]`` bool) marks the cells of the query's part."""
    r = row.double().clone()
    r[query] = 0
    if float(r.sum()) <= 0:
        return 0.0, 0.0
    r = r / r.sum()
    return float(r[own].sum()), float(effective_cells(r))


def cells_for_mass(row: torch.Tensor, mass: float = 0.5) -> int:
    """The fewest cells of one row of S ``[M]`` whose weights sum to at least ``mass`` of the row.

    A size in cells of the receptive field: 1 when one cell holds ``mass``, about ``mass * M`` when
    the row is uniform. Sorting the weights makes the count as small as it can be.
    """
    if row.dim() != 1:
        raise ValueError(f"cells_for_mass takes one row [M], got shape {tuple(row.shape)}; index S[b, i] first")
    if not 0.0 < mass <= 1.0:
        raise ValueError(f"mass must lie in (0, 1], got {mass}")
    v = torch.sort(row.double(), descending=True).values
    below = torch.cumsum(v, 0) < mass * float(v.sum()) * (1 - 1e-12)  # rounding must not add a cell
    return min(int(below.sum()) + 1, row.numel())


def mean_by_offset(s: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """Mean weight of maps ``S [B, M, M]`` (``M = h * w``) at each displacement from the query cell.

    Returns a ``[2h - 1, 2w - 1]`` map whose centre ``(h - 1, w - 1)`` is the query cell itself:
    entry ``(h - 1 + dy, w - 1 + dx)`` is the sum over queries ``i`` of ``S[i, i + (dy, dx)]``
    divided by ``M``, averaged over the batch. For a location prior (eq. 3-4) it is the Gaussian;
    for an appearance relation it shows how far, on average, attention reaches.
    """
    if s.dim() != 3 or s.shape[-1] != s.shape[-2] or s.shape[-1] != h * w:
        raise ValueError(f"mean_by_offset needs maps [B, M, M] with M = h * w = {h * w}, got {tuple(s.shape)}")
    rows = s.double().mean(0)
    canvas = torch.zeros(2 * h - 1, 2 * w - 1, dtype=rows.dtype)
    for i in range(h * w):  # paste each query's row so that the query lands on the centre
        y, x = divmod(i, w)
        canvas[h - 1 - y:2 * h - 1 - y, w - 1 - x:2 * w - 1 - x] += rows[i].reshape(h, w)
    return canvas / (h * w)


# --------------------------------------------------------------------------------------------
# CIA (eq. 7-8): does channel aggregation concentrate part channels on their part?
# --------------------------------------------------------------------------------------------
#: Part label ids of the synthetic pedestrians (:data:`ianet_viz.synthetic.parts.PART_LABELS`),
#: repeated here so that the core does not import the generator; a test keeps them equal.
PART_IDS = {"background": 0, "head": 1, "torso": 2, "arms": 3, "legs": 4, "shoes": 5, "bag": 6}
#: The small parts of the paper's claim (CIA helps "especially for small-scale visual cues").
SMALL_PARTS = ("head", "shoes", "bag")


def part_area_shares(masks, hw: Sequence[int], n_labels: Optional[int] = None) -> np.ndarray:
    """Area share of every label in every cell of an ``hw`` map: ``[B, H, W, n_labels]`` (float64,
    sums to 1 over labels).

    ``masks`` is ``[B, img_h, img_w]`` (or ``[img_h, img_w]``) of integer part labels. Pixel ``(y, x)``
    belongs to cell ``(floor(y * H / img_h), floor(x * W / img_w))``, the mapping of every overlay.
    """
    if hasattr(masks, "detach"):
        masks = masks.detach().cpu().numpy()
    masks = np.asarray(masks)
    if masks.ndim == 2:
        masks = masks[None]
    if masks.ndim != 3:
        raise ValueError(f"part masks must be [B, img_h, img_w] label maps, got shape {masks.shape}")
    masks = masks.astype(np.int64)
    if masks.min() < 0:
        raise ValueError("part mask labels must be non-negative integers")
    b, img_h, img_w = masks.shape
    h, w = int(hw[0]), int(hw[1])
    if img_h < h or img_w < w:
        raise ValueError(f"masks ({img_h}x{img_w}) are smaller than the map ({h}x{w})")
    n_labels = int(masks.max()) + 1 if n_labels is None else int(n_labels)
    rows = np.arange(img_h) * h // img_h  # floor(y * H / img_h)
    cols = np.arange(img_w) * w // img_w
    cell = rows[:, None] * w + cols[None, :]  # [img_h, img_w]
    counts = np.zeros((b, h * w, n_labels), dtype=np.float64)
    for i in range(b):
        np.add.at(counts[i], (cell.ravel(), masks[i].ravel()), 1.0)
    counts /= counts.sum(-1, keepdims=True)
    return counts.reshape(b, h, w, n_labels)


def positive_mass_shares(x, region: np.ndarray) -> np.ndarray:
    """``[B, C]``: the share of each channel's positive mass (``relu``) that lies on ``region``
    ``[B, H, W]``, for channel maps ``x`` ``[B, C, H, W]`` (tensor or array); NaN where a channel has no
    positive mass. What CIA's part gain, Fig. 8's channel choice and the CIA figure all measure."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().double().numpy()
    a = np.maximum(np.asarray(x, dtype=np.float64), 0.0)  # [B, C, H, W]
    mass = a.sum(axis=(2, 3))
    on = (a * region[:, None]).sum(axis=(2, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mass > 0, on / np.where(mass > 0, mass, 1.0), np.nan)


def cia_part_gain(
    F: torch.Tensor,
    Y: torch.Tensor,
    masks,
    hw: Optional[Sequence[int]] = None,
    parts: Sequence[Union[str, int]] = SMALL_PARTS,
    n_channels: int = 8,
    n_random: int = 64,
    seed: int = 0,
    labels: Optional[Mapping[str, int]] = None,
) -> Dict[str, Dict[str, float]]:
    """How much CIA (eq. 7-8, Hou et al. 2019) concentrates part channels on their part.

    ``F`` and ``Y`` are ``[B, C, H, W]``: the input and the output of a CIA block (or of an IA block;
    eq. 9: ``Y = BN(E_C) + F``), on the same images; ``masks`` ``[B, img_h, img_w]`` their part
    labels (synthetic pedestrians); ``hw`` is checked against the map when given.

    A channel map's **share** on part p is the fraction of its positive mass (``relu``: the block
    input is a ReLU output, the output may dip below 0) that lies on p, counting each cell by p's
    area in it (:func:`part_area_shares`). For each part:

    * the images are split in two: the even-indexed images (0, 2, ...) **choose** the
      ``n_channels`` channels with the largest mean share on p in ``F``; the odd-indexed images
      **measure** them. Choosing and measuring on the same images would bias the result:
      channels picked for a high share in F sit high partly by chance and drift back in Y;
    * ``gain`` = mean share in Y - mean share in F of the chosen channels, on the measuring images
      where p is present (``lift_F``, ``lift_Y``: the shares divided by p's area share);
    * the control: ``n_random`` channels drawn at random (``seed``) on the same images,
      ``random_gain``. CIA concentrates the part channels when ``gain`` exceeds ``random_gain``.

    Returns ``{part: {"label", "area", "share_F", "share_Y", "gain", "lift_F", "lift_Y",
    "random_share_F", "random_share_Y", "random_gain", "channels", "n_images"}}`` (shares are
    fractions; ``channels`` the chosen ids); a part present in no choosing or no measuring image is
    left out.
    """
    if F.shape != Y.shape or F.dim() != 4:
        raise ValueError(f"F and Y must be [B, C, H, W] of one shape, got {tuple(F.shape)} and {tuple(Y.shape)}")
    b, c, h, w = F.shape
    if hw is not None and (int(hw[0]), int(hw[1])) != (h, w):
        raise ValueError(f"hw = {tuple(hw)} but the maps are {h}x{w}")
    if b < 2:
        raise ValueError("cia_part_gain needs at least 2 images: even ones choose the channels, odd ones measure")
    ids = dict(PART_IDS if labels is None else labels)
    areas = part_area_shares(masks, (h, w), max(max(ids.values()) + 1, int(np.max(np.asarray(masks))) + 1))
    if areas.shape[0] != b:
        raise ValueError(f"{areas.shape[0]} masks for {b} feature maps")
    choose, measure = np.arange(0, b, 2), np.arange(1, b, 2)
    rng = np.random.default_rng(seed)
    random_channels = np.sort(rng.choice(c, size=min(int(n_random), c), replace=False))
    out: Dict[str, Dict[str, float]] = {}
    for part in parts:
        if isinstance(part, str):
            if part not in ids:
                raise ValueError(f"unknown part {part!r}; known parts: {', '.join(ids)}")
            name, pid = part, ids[part]
        else:
            pid = int(part)
            name = next((k for k, v in ids.items() if v == pid), str(pid))
        got = _part_gain(F, Y, areas[..., pid], choose, measure, int(n_channels), random_channels)
        if got is not None:  # None: the part is in no choosing or no measuring image
            out[name] = {"label": pid, **got}
    return out


def _part_gain(F, Y, region: np.ndarray, choose: np.ndarray, measure: np.ndarray, n_channels: int,
               random_channels: np.ndarray) -> Optional[Dict[str, object]]:
    """:func:`cia_part_gain` for one part's ``region`` ``[B, H, W]`` (its area share in every cell)."""
    present = region.sum(axis=(1, 2)) > 0
    ch_imgs, me_imgs = choose[present[choose]], measure[present[measure]]
    if ch_imgs.size == 0 or me_imgs.size == 0:
        return None
    score = np.nan_to_num(positive_mass_shares(F[ch_imgs], region[ch_imgs]), nan=0.0).mean(0)  # [C]
    chosen = np.argsort(-score, kind="stable")[:n_channels]
    s_f = positive_mass_shares(F[me_imgs], region[me_imgs])  # [B_m, C]
    s_y = positive_mass_shares(Y[me_imgs], region[me_imgs])
    both = np.isfinite(s_f) & np.isfinite(s_y)  # a (channel, image) counts when it has mass in F and in Y
    area = float(region[me_imgs].mean())

    def mean(s, idx):
        keep = both[:, idx]
        return float(s[:, idx][keep].mean()) if keep.any() else float("nan")

    return {
        "area": area,
        "share_F": mean(s_f, chosen),
        "share_Y": mean(s_y, chosen),
        "gain": mean(s_y, chosen) - mean(s_f, chosen),
        "lift_F": mean(s_f, chosen) / area,
        "lift_Y": mean(s_y, chosen) / area,
        "random_share_F": mean(s_f, random_channels),
        "random_share_Y": mean(s_y, random_channels),
        "random_gain": mean(s_y, random_channels) - mean(s_f, random_channels),
        "channels": [int(k) for k in chosen],
        "n_images": int(me_imgs.size),
    }
