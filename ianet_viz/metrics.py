"""Retrieval metrics for person re-identification.

The Market-1501 protocol (also used for DukeMTMC-reID and MSMT17):

* every query is matched against the whole gallery, sorted by distance;
* gallery images of the *same identity seen by the same camera* as the query are
  "junk": they are removed from that query's ranking (finding yourself in the
  same camera is too easy);
* a query whose ranking is left without any true match is skipped;
* CMC at rank k is the fraction of (kept) queries whose first true match is in
  the top k; AP is the mean, over the true matches of a query, of the precision
  at the rank of that match; mAP is its mean over queries; INP is
  ``num_matches / (rank of the hardest match)`` (Ye et al., 2021), mINP its mean.

:func:`evaluate_rank` computes exactly the numbers of the classic per-query loop
(torchreid's ``eval_market1501``), but sorts every row once and replaces the
Python loop with boolean masks and cumulative sums over chunks of queries, so it
is an order of magnitude faster at Market-1501 scale (3368 x 15913) and its memory
stays bounded. Ties in the distance matrix are broken by gallery index (a stable
sort), so results do not depend on the sorting algorithm.

:func:`evaluate_cuhk03` is the CUHK03 single-gallery-shot protocol: CMC averaged
over ``repeats`` random draws of one gallery image per identity.
"""

from __future__ import annotations

import warnings
from typing import Tuple, Union

import numpy as np

try:  # torch is optional for the metrics themselves
    import torch
except Exception:  # pragma: no cover - torch is a hard dependency of the package
    torch = None

ArrayLike = Union[np.ndarray, "torch.Tensor", list, tuple]

__all__ = [
    "evaluate_rank",
    "evaluate_cuhk03",
    "cosine_distance",
    "euclidean_distance",
    "compute_distance_matrix",
]

# Number of distance-matrix entries processed at once (per chunk of queries).
# 4M entries -> about 32 MB per int64 temporary; Market-1501 uses ~250 queries per chunk.
_CHUNK_ELEMENTS = 4_000_000


def _to_numpy(x: ArrayLike, name: str) -> np.ndarray:
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype in (torch.bfloat16, torch.float16):
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def _check_inputs(distmat, q_pids, g_pids, q_camids, g_camids, max_rank):
    distmat = _to_numpy(distmat, "distmat")
    if distmat.ndim != 2:
        raise ValueError(
            f"distmat must be a 2-D [num_query, num_gallery] matrix, got shape {distmat.shape}"
        )
    num_q, num_g = distmat.shape
    if num_q == 0 or num_g == 0:
        raise ValueError(f"distmat is empty (shape {distmat.shape})")
    if not np.issubdtype(distmat.dtype, np.number) or np.issubdtype(distmat.dtype, np.complexfloating):
        raise ValueError(f"distmat must be real-valued, got dtype {distmat.dtype}")
    if np.issubdtype(distmat.dtype, np.floating) and np.isnan(distmat).any():
        raise ValueError("distmat contains NaN; check the features (did training diverge?)")
    arrays = {}
    for name, arr, n, what in (
        ("q_pids", q_pids, num_q, "queries (rows of distmat)"),
        ("q_camids", q_camids, num_q, "queries (rows of distmat)"),
        ("g_pids", g_pids, num_g, "gallery images (columns of distmat)"),
        ("g_camids", g_camids, num_g, "gallery images (columns of distmat)"),
    ):
        a = _to_numpy(arr, name)
        if a.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {a.shape}")
        if a.shape[0] != n:
            raise ValueError(
                f"{name} has {a.shape[0]} entries but distmat {distmat.shape} has {n} {what}"
            )
        arrays[name] = a
    if isinstance(max_rank, bool) or not isinstance(max_rank, (int, np.integer)) or max_rank < 1:
        raise ValueError(f"max_rank must be a positive integer, got {max_rank!r}")
    return distmat, arrays["q_pids"], arrays["g_pids"], arrays["q_camids"], arrays["g_camids"]


def _rank_chunk(dist, q_pids, g_pids, q_camids, g_camids):
    """Per-query statistics for a chunk of queries.

    Returns ``valid`` [c] bool, ``first`` [c] (0-based rank of the first match among
    the kept gallery), ``ap`` [c] and ``inp`` [c] (meaningful where ``valid``).
    """
    c = dist.shape[0]
    order = np.argsort(dist, axis=1, kind="stable")  # ties -> gallery order
    matches = g_pids[order] == q_pids[:, None]  # [c, G]
    junk = matches & (g_camids[order] == q_camids[:, None])
    keep = ~junk
    raw = matches & keep  # true matches at their sorted positions
    num_rel = raw.sum(axis=1)
    valid = num_rel > 0
    # 1-based position of each entry among the kept entries of its row
    pos = np.cumsum(keep, axis=1, dtype=np.int64)
    hits = np.cumsum(raw, axis=1, dtype=np.int64)  # number of matches up to here
    rows, cols = np.nonzero(raw)
    precision = hits[rows, cols] / pos[rows, cols]
    ap_sum = np.bincount(rows, weights=precision, minlength=c)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = ap_sum / num_rel
    first_col = np.argmax(raw, axis=1)
    first = pos[np.arange(c), first_col] - 1
    last_col = raw.shape[1] - 1 - np.argmax(raw[:, ::-1], axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        inp = num_rel / pos[np.arange(c), last_col]
    return valid, first, ap, inp


def evaluate_rank(
    distmat: ArrayLike,
    q_pids: ArrayLike,
    g_pids: ArrayLike,
    q_camids: ArrayLike,
    g_camids: ArrayLike,
    max_rank: int = 50,
    return_minp: bool = False,
    chunk_size: int | None = None,
):
    """CMC curve and mAP under the Market-1501 protocol (vectorised, exact).

    Args:
        distmat: [num_query, num_gallery] distances (smaller = more similar), numpy or torch.
        q_pids, q_camids: [num_query] identity and camera of each query.
        g_pids, g_camids: [num_gallery] identity and camera of each gallery image.
        max_rank: length of the returned CMC curve. Ranks past the gallery size are 1.
        return_minp: also return the mean inverse negative penalty (mINP).
        chunk_size: queries per chunk (default: about 4M distance entries per chunk).

    Returns:
        ``(cmc, mAP)``, or ``(cmc, mAP, mINP)`` with ``return_minp=True``; ``cmc`` is a
        float64 numpy array of length ``max_rank`` (``cmc[0]`` is rank-1), all in [0, 1].

    Raises:
        ValueError: on inconsistent shapes, NaN distances, or when no query has a
        valid match in the gallery.
    """
    distmat, q_pids, g_pids, q_camids, g_camids = _check_inputs(
        distmat, q_pids, g_pids, q_camids, g_camids, max_rank
    )
    num_q, num_g = distmat.shape
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_ELEMENTS // num_g)
    firsts, aps, inps = [], [], []
    for start in range(0, num_q, chunk_size):
        stop = min(num_q, start + chunk_size)
        valid, first, ap, inp = _rank_chunk(
            distmat[start:stop], q_pids[start:stop], g_pids, q_camids[start:stop], g_camids
        )
        firsts.append(first[valid])
        aps.append(ap[valid])
        inps.append(inp[valid])
    first = np.concatenate(firsts)
    num_valid = first.shape[0]
    if num_valid == 0:
        warnings.warn("evaluate_rank: no query has a valid match in the gallery", RuntimeWarning)
        raise ValueError(
            "No query identity appears in the gallery under another camera: every query "
            "was skipped, so CMC/mAP are undefined. Check that the query and gallery lists "
            "come from the same dataset split and that pids/camids are not swapped."
        )
    counts = np.bincount(np.minimum(first, max_rank), minlength=max_rank + 1)[:max_rank]
    cmc = np.cumsum(counts) / num_valid
    mAP = float(np.mean(np.concatenate(aps)))
    if return_minp:
        return cmc, mAP, float(np.mean(np.concatenate(inps)))
    return cmc, mAP


def evaluate_cuhk03(
    distmat: ArrayLike,
    q_pids: ArrayLike,
    g_pids: ArrayLike,
    q_camids: ArrayLike,
    g_camids: ArrayLike,
    max_rank: int = 50,
    repeats: int = 10,
    seed: int = 0,
) -> Tuple[np.ndarray, float]:
    """CUHK03 single-gallery-shot protocol (as torchreid's ``eval_cuhk03``).

    For each query the junk entries (same pid and camera) are removed; then, ``repeats``
    times, one gallery image is drawn at random per identity and the CMC of that reduced
    ranking is computed; the query's CMC is the mean over draws. AP is computed on the full
    (junk-free) ranking, as in the Market protocol. Deterministic for a given ``seed``.
    """
    distmat, q_pids, g_pids, q_camids, g_camids = _check_inputs(
        distmat, q_pids, g_pids, q_camids, g_camids, max_rank
    )
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    rng = np.random.default_rng(seed)
    num_q = distmat.shape[0]
    all_cmc, all_ap = [], []
    for q in range(num_q):
        order = np.argsort(distmat[q], kind="stable")
        pids = g_pids[order]
        keep = ~((pids == q_pids[q]) & (g_camids[order] == q_camids[q]))
        pids = pids[keep]
        raw = pids == q_pids[q]
        if not raw.any():
            continue
        # AP on the whole kept ranking
        pos = np.flatnonzero(raw)
        all_ap.append(float(np.mean(np.arange(1, pos.size + 1) / (pos + 1))))
        # group kept positions by identity
        grouping = np.argsort(pids, kind="stable")
        uniq, starts, sizes = np.unique(pids[grouping], return_index=True, return_counts=True)
        draws = starts + np.floor(rng.random((repeats, uniq.size)) * sizes).astype(np.int64)
        sampled = grouping[draws]  # [repeats, n_ids]: kept-ranking positions drawn
        own = np.searchsorted(uniq, q_pids[q])
        rank = (sampled < sampled[:, own : own + 1]).sum(axis=1)  # 0-based rank of the match
        cmc = (rank[:, None] <= np.arange(max_rank)[None, :]).mean(axis=0)
        all_cmc.append(cmc)
    if not all_cmc:
        raise ValueError("No query identity appears in the gallery under another camera")
    return np.mean(all_cmc, axis=0), float(np.mean(all_ap))


# ----------------------------------------------------------------------------- distances

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
