"""Small pieces that the equations (:mod:`ianet_viz.functional`) and their fast paths
(:mod:`ianet_viz.kernels`) share: input checks, the offsets of a K x K patch, the default logit scale and
the softmax without subnormal weights. A leaf module, so that imports run one way:
``kernels`` -> ``basics`` <- ``functional`` -> ``kernels``.
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple

import torch
import torch.nn.functional as F


# --------------------------------------------------------------------------------------------
# input checks (students call these functions directly, so errors must say what to do)
# --------------------------------------------------------------------------------------------
def _check_feature_map(f: torch.Tensor, name: str = "f") -> None:
    if not isinstance(f, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [B, C, H, W], got {type(f).__name__}")
    if f.dim() != 4:
        raise ValueError(
            f"{name} must have shape [B, C, H, W] (4 dims), got {tuple(f.shape)}; "
            "for a single map use f.unsqueeze(0), for a flattened [B, C, M] map reshape to [B, C, H, W]"
        )
    if not f.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got dtype {f.dtype}; call f.float()")
    if min(f.shape) == 0:
        raise ValueError(f"{name} has an empty dimension: shape {tuple(f.shape)}")


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"context size K must be a positive int (1, 2, 3, 5, ...), got {k!r}")
    return k


def _check_sigma(sigma: Sequence[float]) -> Tuple[float, float]:
    try:
        s1, s2 = (float(s) for s in sigma)
    except (TypeError, ValueError):
        raise ValueError(f"sigma must be a pair (sigma1 along x, sigma2 along y), got {sigma!r}") from None
    if not (s1 > 0 and s2 > 0) or math.isinf(s1) or math.isinf(s2):
        raise ValueError(f"sigma values must be positive and finite, got {sigma!r}")
    return s1, s2


def _check_choice(value: str, choices: Sequence[str], name: str) -> str:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")
    return value


def _compute_dtype(f: torch.Tensor) -> torch.dtype:
    """float32 for half/bfloat16 input, float64 stays float64."""
    return torch.promote_types(f.dtype, torch.float32)


def default_scale(n: int) -> float:
    """``1/sqrt(n)``: the default logit scale, n = C for SIA, n = M for CIA (see module docstring)."""
    return 1.0 / math.sqrt(n)


def without_subnormals(p: torch.Tensor, inplace: bool = False) -> torch.Tensor:
    """A relation map with every weight below the smallest normal float set to 0 (``finfo.tiny``:
    1.2e-38 in float32).

    A softmax over M cells whose logits spread over more than 87 (in float32) gives weights below
    ``tiny``: subnormal numbers. They carry nothing SIA can use (the row's largest weight is at
    least ``1/M``, so they are lost to rounding in every sum), and on many x86 cores (Intel's
    among them) every multiply that reads one takes a slow path, which makes the product ``F S^T`` of
    eq. 6 several times slower on peaked maps (``benchmarks/RESULTS.md``, "cpu_latency"). The rows still sum to 1: what is removed is below ``M * tiny``,
    far under float resolution. Applied wherever a map is made, on the readable and the fast path.
    ``inplace=True`` overwrites ``p`` (for a map just made that nothing else holds).
    """
    if inplace:
        return F.threshold_(p, torch.finfo(p.dtype).tiny, 0.0)
    return F.threshold(p, torch.finfo(p.dtype).tiny, 0.0)


def relation_softmax(logits: torch.Tensor) -> torch.Tensor:
    """``softmax_j`` of relation logits ``[.., M]`` without subnormal weights (:func:`without_subnormals`):
    in place when no gradient flows (one pass, no second 8 MB map); softmax's backward reads its output."""
    p = torch.softmax(logits, dim=-1)
    return without_subnormals(p, inplace=not (torch.is_grad_enabled() and p.requires_grad))


def patch_offsets(k: int) -> range:
    """Offsets of a K x K patch along one axis, ``range(-((K-1)//2), K//2 + 1)``: K=1 -> {0}, K=2 -> {0, 1}, K=3 -> {-1, 0, 1}."""
    _check_k(k)
    return range(-((k - 1) // 2), k // 2 + 1)
