"""The fast paths of SIA and CIA: the same numbers as the equations, with fewer passes over memory.

* Shifted sums (eq. 1 for K > 1): a K x K patch logit is a sum of entries of the K = 1 dot-product
  matrix shifted along the diagonals of displacement space, so every K costs additions only
  (:func:`patch_logits_multi`), and the sum over K of the product fusion takes one pass per
  distinct offset (:func:`summed_patch_logits`).
* SIA by slabs of query rows (eq. 1, 2, 5, 6 in one pass, inference only): :func:`sia_by_query_rows`
  builds the summed logits, the softmax and the aggregation of a few query rows at a time, in cache.
* Fused channel attention (eq. 7-8 in one kernel): :func:`fused_channel_attention` never writes
  the C x C map.

:func:`ianet_viz.functional.sia` and :func:`~ianet_viz.functional.cia` choose between these and
the explicit maps (maps only when someone looks); ``tests/test_kernels.py`` checks both paths
against each other and against :mod:`ianet_viz.reference`.
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F

from . import basics as Fn  # patch_offsets, input checks, relation_softmax (a leaf: imports run one way)


# --------------------------------------------------------------------------------------------
# eq. 1 for K > 1: shifted sums of the K = 1 dot products
# --------------------------------------------------------------------------------------------
def _shift_add_(out: torch.Tensor, src: torch.Tensor, d: int, dim_i: int, dim_j: int) -> None:
    """In place: ``out[.., a, .., b, ..] += src[.., a + d, .., b + d, ..]`` where both indices exist.

    Positions outside the map are zero vectors (zero padding), so their terms are simply absent.
    """
    n = src.shape[dim_i]
    if abs(d) >= n:
        return
    lo_out, lo_src, length = (0, d, n - d) if d > 0 else (-d, 0, n + d)
    out.narrow(dim_i, lo_out, length).narrow(dim_j, lo_out, length).add_(
        src.narrow(dim_i, lo_src, length).narrow(dim_j, lo_src, length))


def patch_logits_multi(g: torch.Tensor, h: int, w: int, ks: Sequence[int],
                       weights: Optional[Dict[int, float]] = None) -> Dict[int, torch.Tensor]:
    """Eq. 1 logits for several K from the K=1 dot products ``g`` ``[B, M, M]``: ``{K: [B, M, M]}``.

    ``sum_{d in K x K} <f_{i+d}, f_{j+d}>`` is a sum of entries of ``g`` shifted along the diagonal
    of displacement space: no new multiplications, only additions. The 2-D patch sum is separable
    (first the y offsets, then the x offsets), and the y offsets of K are those of K-1 plus one,
    so the y sums are shared along a chain over K. ``weights[K]`` multiplies the sum of K.
    """
    b = g.shape[0]
    out: Dict[int, torch.Tensor] = {}
    for k, ys in _y_sums(g, h, w, ks).items():
        wk = 1.0 if weights is None else weights[k]
        if k == 1:
            out[k] = g if wk == 1.0 else g * wk
            continue
        xs = ys.clone()
        for d in Fn.patch_offsets(k):
            if d != 0:
                _shift_add_(xs, ys, d, 2, 4)
        out[k] = (xs if wk == 1.0 else xs.mul_(wk)).reshape(b, h * w, h * w)
    return out


def _y_sums(g: torch.Tensor, h: int, w: int, ks: Sequence[int]) -> Dict[int, torch.Tensor]:
    """``{K: sum over the y offsets of K of g shifted}`` as ``[B, H, W, H, W]`` views, sorted by K.

    The y offsets of K are those of K-1 plus one, so each sum extends the previous one.
    """
    g5 = g.reshape(g.shape[0], h, w, h, w)  # [B, y_i, x_i, y_j, x_j]
    out: Dict[int, torch.Tensor] = {}
    ys, done = g5, {0}
    for k in sorted(set(ks)):
        new = [d for d in Fn.patch_offsets(k) if d not in done]
        if new:
            ys = ys.clone()
            for d in new:
                _shift_add_(ys, g5, d, 1, 3)
            done.update(new)
        out[k] = ys
    return out


def summed_patch_logits(g: torch.Tensor, h: int, w: int, ks: Sequence[int],
                        weights: Optional[Dict[int, float]] = None) -> torch.Tensor:
    """``sum_K w_K`` times the eq. 1 patch sums: the input of the fused product fusion, in few passes.

    An x offset ``dx`` belongs to every K from the smallest one containing it upwards, so
    ``sum_K sum_{dx in K} shift_x(Y_K, dx) = sum_dx shift_x(sum_{K >= K_min(dx)} Y_K, dx)``:
    one suffix sum over K per distinct offset instead of one shifted copy per (K, offset).
    """
    ys = _y_sums(g, h, w, ks)
    ks_sorted = sorted(ys)
    wt = {k: 1.0 if weights is None else float(weights[k]) for k in ks_sorted}
    k_min = {d: min(k for k in ks_sorted if d in Fn.patch_offsets(k)) for k in ks_sorted for d in Fn.patch_offsets(k) if d}
    suffix: Dict[int, torch.Tensor] = {}  # suffix[k] = sum of w_K Y_K for K >= k; never written below
    for k in reversed(ks_sorted):
        if not suffix:
            suffix[k] = ys[k] if wt[k] == 1.0 else ys[k] * wt[k]
        else:
            suffix[k] = torch.add(suffix[min(suffix)], ys[k], alpha=wt[k])
    total = suffix[ks_sorted[0]]
    if ks_sorted[0] in k_min.values() or total is ys[ks_sorted[0]]:
        total = total.clone()  # it is also a shift source below, or it is g itself
    for d, k in k_min.items():
        _shift_add_(total, suffix[k], d, 2, 4)
    return total.reshape(g.shape)


# --------------------------------------------------------------------------------------------
# eq. 1, 2, 5, 6 by slabs of query rows (no autograd)
# --------------------------------------------------------------------------------------------
#: query grid rows per slab: 16 rows x 16 columns x 512 keys of float32 is 512 KB, inside a 1 MB L2
SLAB_ROWS = 16


def offset_weights(ks: Sequence[int], weights: Dict[int, float]) -> Dict[tuple, float]:
    """``{(dy, dx): sum of w_K over every K whose K x K patch holds the offset}``: the summed patch
    logits of the product fusion are ``sum over (dy, dx)`` of this weight times ``g`` shifted by it."""
    out: Dict[tuple, float] = {}
    for k in ks:
        for dy in Fn.patch_offsets(k):
            for dx in Fn.patch_offsets(k):
                out[(dy, dx)] = out.get((dy, dx), 0.0) + float(weights[k])
    return out


def sia_by_query_rows(x: torch.Tensor, g: torch.Tensor, h: int, w: int, ks: Sequence[int],
                      weights: Dict[int, float], log_l: Optional[torch.Tensor], rows: int = SLAB_ROWS) -> torch.Tensor:
    """``E_S = softmax_j(sum_K w_K patch_sum_K(g) + log S^L) F^T`` for features ``x`` ``[B, C, M]`` and K = 1
    logits ``g`` ``[B, M, M]``, one image and ``rows`` grid rows of queries at a time.

    The whole-tensor path (:func:`summed_patch_logits`, then one softmax and one product) makes about a
    dozen passes over ``B x M x M`` floats, which at stage 2 live in main memory; a slab of queries stays
    in cache through all of them. Same numbers; for inference only (autograd through the slabs' many
    small in-place adds is slower than the whole-tensor path, so :func:`ianet_viz.functional.sia` takes
    this path only when no gradient is wanted)."""
    b, c, m = x.shape
    g5 = g.view(b, h, w, h, w)
    lg = None if log_l is None else log_l.view(h, w, h, w)
    offsets = offset_weights(ks, weights)
    out = torch.empty_like(x)
    for i in range(b):
        for y0 in range(0, h, rows):
            y1 = min(h, y0 + rows)
            t = lg[y0:y1].clone() if lg is not None else g5.new_zeros(y1 - y0, w, h, w)
            for (dy, dx), wt in offsets.items():  # zero padding: terms outside the map are absent
                a0, a1 = max(y0, -dy), min(y1, h - dy)
                x0, x1 = max(0, -dx), min(w, w - dx)
                t[a0 - y0:a1 - y0, x0:x1, max(0, -dy):min(h, h - dy), x0:x1].add_(
                    g5[i, a0 + dy:a1 + dy, x0 + dx:x1 + dx, max(0, dy):min(h, h + dy), x0 + dx:x1 + dx], alpha=wt)
            s = Fn.relation_softmax(t.view((y1 - y0) * w, m))
            out[i, :, y0 * w:y1 * w] = x[i] @ s.T
    return out


# --------------------------------------------------------------------------------------------
# eq. 7-8 fused
# --------------------------------------------------------------------------------------------
def fused_channel_attention(f: torch.Tensor, scale: Optional[float] = None) -> torch.Tensor:
    """Eq. 7-8 in one fused kernel: ``E_C = softmax_n(scale * <f_m, f_n>) F`` without materialising ``C``.

    The channel relation is attention with the C channels as tokens and the M positions as their
    features, so ``F.scaled_dot_product_attention(x, x, x)`` computes it block by block and never
    writes the ``B x C x C`` logits (32 MB per batch of 8 at stage 3 of ResNet-50). Same numbers as
    ``channel_aggregate(f, channel_relation(f, scale))``; used when nobody reads the map.
    """
    Fn._check_feature_map(f)
    b, c, h, w = f.shape
    scale = Fn.default_scale(h * w) if scale is None else float(scale)
    with torch.autocast(device_type=f.device.type, enabled=False):
        x = f.flatten(2).to(Fn._compute_dtype(f)).unsqueeze(1)  # [B, 1 head, C tokens, M features]
        e = F.scaled_dot_product_attention(x, x, x, scale=scale)
        return e.reshape(b, c, h, w).to(f.dtype)
