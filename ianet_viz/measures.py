"""Two numbers that describe row-stochastic relation maps ``[..., M]`` (every row sums to 1).

* :func:`normalised_entropy`: how spread a map is, ``H(row) / log(M)``: 0 one cell, 1 uniform.
* :func:`self_weight`: the weight a position keeps for itself, ``S[i, i]``.

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
