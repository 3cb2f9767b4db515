"""Notebook 01's measurement of the logit scale: how sharp each context size K makes SIA's maps.

For each K and for the fused maps, :func:`per_k_table` gives the mean self-weight ``S[i, i]`` and the
normalised row entropy of the paper's dot-product relation (eq. 1, 2, 5), once with a single ``1/sqrt(C)``
for every K and once with the default ``1/(sqrt(C) K^2)`` (:mod:`ianet_viz.functional`).
"""
from __future__ import annotations

import math
from typing import Dict, Sequence, Tuple

import torch

from .. import functional as Fn
from ..measures import normalised_entropy, self_weight
from ..viz.figures import appearance_by_k

#: the context sizes of the paper's Fig. 4
KS = (1, 2, 3, 5)
#: the two scales compared: a single 1/sqrt(C) for every K, and the default (None: 1/(sqrt(C) K^2))
PER_K_SCALES = (("1/sqrt(C) every K", lambda c: 1 / math.sqrt(c)), ("default 1/(sqrt(C)K^2)", lambda c: None))


def per_k_table(f: torch.Tensor, sigma: Sequence[float], ks: Sequence[int] = KS) -> Dict[str, Dict[str, Tuple[float, float]]]:
    """``{scale label: {map: (self weight, normalised entropy)}}`` for each ``S^A_K`` (eq. 1) and the
    fused ``S^A`` (eq. 2) and ``S`` (eq. 5) of K = 1, 2, 3, on feature maps ``f`` ``[B, C, H, W]``."""
    out = {}
    for label, scale_of in PER_K_SCALES:
        scale = scale_of(f.shape[1])
        maps = {f"K={k}": s for k, s in appearance_by_k(f, ks, scale).items()}
        _, fused = Fn.sia(f, ks=(1, 2, 3), sigma=tuple(sigma), sia_scale=scale)
        maps["S^A"], maps["S"] = fused["S_A"], fused["S"]
        out[label] = {name: (self_weight(s), normalised_entropy(s)) for name, s in maps.items()}
    return out


def format_per_k(title: str, results: Dict[str, Dict[str, Dict[str, Tuple[float, float]]]], ks: Sequence[int] = KS) -> str:
    """``{block: per_k_table(...)}`` as a text table: self weights, then entropies, one line per scale."""
    names = [f"K={k}" for k in ks] + ["S^A", "S"]
    lines = [title, f"{'':>30} {'self weight S[i, i]':^37}   {'normalised entropy':^37}",
             f"{'block':<7} {'scale':<22} " + " ".join(f"{n:>5}" for n in names) + "   " + " ".join(f"{n:>5}" for n in names)]
    for block, res in results.items():
        for label, vals in res.items():
            lines.append(f"{block:<7} {label:<22} " + " ".join(f"{vals[n][0]:5.2f}" for n in names)
                         + "   " + " ".join(f"{vals[n][1]:5.2f}" for n in names))
    lines.append("S^A: product of K = 1, 2, 3 (eq. 2); S: with the location prior (eq. 5)\n")
    return "\n".join(lines)
