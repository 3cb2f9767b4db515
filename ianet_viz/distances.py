"""Distance matrices between query and gallery features: cosine and (squared) euclidean.

torch in, torch out (on the features' device); anything else is computed with numpy. Smaller is
more similar, as :func:`ianet_viz.metrics.evaluate_rank` expects.
"""

from __future__ import annotations

from typing import Union

import numpy as np

try:  # torch is optional for the distances themselves
    import torch
except Exception:  # pragma: no cover - torch is a hard dependency of the package
    torch = None

ArrayLike = Union[np.ndarray, "torch.Tensor", list, tuple]

__all__ = ["cosine_distance", "euclidean_distance", "compute_distance_matrix"]


def _pair(q, g):
    if torch is not None and (isinstance(q, torch.Tensor) or isinstance(g, torch.Tensor)):
        q = torch.as_tensor(q)
        g = torch.as_tensor(g, device=q.device)
        if not q.is_floating_point():
            q = q.float()
        g = g.to(q.dtype)
        lib = "torch"
    else:
        q = np.asarray(q, dtype=np.float64 if np.asarray(q).dtype == np.float64 else np.float32)
        g = np.asarray(g, dtype=q.dtype)
        lib = "numpy"
    if q.ndim != 2 or g.ndim != 2:
        raise ValueError(f"features must be 2-D [N, D]; got {tuple(q.shape)} and {tuple(g.shape)}")
    if q.shape[1] != g.shape[1]:
        raise ValueError(
            f"query and gallery features differ in dimension: {q.shape[1]} vs {g.shape[1]}"
        )
    return q, g, lib


def cosine_distance(q: ArrayLike, g: ArrayLike, eps: float = 1e-12):
    """``1 - cos(q_i, g_j)`` as a [Nq, Ng] matrix (torch in -> torch out, else numpy)."""
    q, g, lib = _pair(q, g)
    if lib == "torch":
        qn = torch.nn.functional.normalize(q, dim=1, eps=eps)
        gn = torch.nn.functional.normalize(g, dim=1, eps=eps)
        return 1.0 - qn @ gn.T
    qn = q / np.maximum(np.linalg.norm(q, axis=1, keepdims=True), eps)
    gn = g / np.maximum(np.linalg.norm(g, axis=1, keepdims=True), eps)
    return 1.0 - qn @ gn.T


def euclidean_distance(q: ArrayLike, g: ArrayLike, squared: bool = True):
    """(Squared) euclidean distance matrix [Nq, Ng]; squared by default, as torchreid."""
    q, g, lib = _pair(q, g)
    if lib == "torch":
        d = (q * q).sum(1, keepdim=True) + (g * g).sum(1)[None] - 2.0 * q @ g.T
        d = d.clamp_min(0)
        return d if squared else d.sqrt()
    d = (q * q).sum(1, keepdims=True) + (g * g).sum(1)[None] - 2.0 * q @ g.T
    d = np.maximum(d, 0)
    return d if squared else np.sqrt(d)


def compute_distance_matrix(q: ArrayLike, g: ArrayLike, metric: str = "cosine"):
    """Distance matrix with ``metric`` in {"cosine", "euclidean"}."""
    if metric == "cosine":
        return cosine_distance(q, g)
    if metric == "euclidean":
        return euclidean_distance(q, g)
    raise ValueError(f"unknown metric {metric!r}; expected 'cosine' or 'euclidean'")
