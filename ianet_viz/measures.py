"""Numbers and summaries that describe row-stochastic relation maps ``[..., M]`` (every row sums to 1).

* :func:`normalised_entropy`: how spread a map is, ``H(row) / log(M)``: 0 one cell, 1 uniform.
* :func:`self_weight`: the weight a position keeps for itself, ``S[i, i]``.
* :func:`cells_for_mass`: how many of a row's largest weights it takes to hold a share of it (half).
* :func:`mean_by_offset`: the mean weight at each displacement from the query cell, as a picture.

Notebook 01 uses them to choose the logit scale, notebook 05 to compare priors, and
``benchmarks.scale_entropy`` / ``benchmarks.experiments`` report them.
"""
from __future__ import annotations

import math

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
