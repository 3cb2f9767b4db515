"""Slow references, read off the page: eq. 1-8 as loops and unfolded patches, the classic
per-query evaluation loop of torchreid, and k-reciprocal re-ranking (Zhong et al., CVPR 2017) as loops.

The model never calls these. They exist to check the fast code (:mod:`ianet_viz.functional`,
:mod:`ianet_viz.kernels`, :mod:`ianet_viz.metrics`, :mod:`ianet_viz.rerank`): the tests compare against them, notebook 01
shows them next to the equations, and the benchmarks time them. They take one map at a time
(``f`` is ``[C, H, W]``) unless a docstring says ``[B, C, H, W]``, and nothing here reuses the
package's own helpers (patch offsets, softmax, Gaussian), so a check against them is independent.
"""
from __future__ import annotations

import itertools
import math
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F


def offsets(k: int) -> List[int]:
    """Patch offsets along one axis, as the paper's K x K patch around a position: K=2 -> [0, 1]."""
    return list(range(-((k - 1) // 2), k // 2 + 1))


def softmax_rows(x: np.ndarray, scale: float = 1.0) -> np.ndarray:
    """Row softmax of ``scale * x`` in float64 (max subtracted)."""
    x = scale * np.asarray(x, dtype=np.float64)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# --------------------------------------------------------------------------------------------
# SIA, eq. 1-6
# --------------------------------------------------------------------------------------------
def eq1_logits_loop(f: torch.Tensor, k: int) -> torch.Tensor:
    """Eq. 1 by its definition for one map ``f [C, H, W]``: ``sum_d <f_{i+d}, f_{j+d}>`` over the
    K x K patch offsets ``d``, positions outside the map counting as zero. ``[M, M]``, four nested loops."""
    c, h, w = f.shape
    offs = offsets(k)
    inside = lambda y, x: 0 <= y < h and 0 <= x < w  # noqa: E731
    out = torch.zeros(h * w, h * w, dtype=f.dtype)
    for yi, xi, yj, xj in itertools.product(range(h), range(w), range(h), range(w)):
        for dy, dx in itertools.product(offs, offs):
            if inside(yi + dy, xi + dx) and inside(yj + dy, xj + dx):
                out[yi * w + xi, yj * w + xj] += f[:, yi + dy, xi + dx] @ f[:, yj + dy, xj + dx]
    return out


def appearance_loop(f: torch.Tensor, k: int, scale: float) -> np.ndarray:
    """Eq. 1 for one map ``f [C, H, W]``: the row softmax of ``scale`` times the loop-built logits
    (:func:`eq1_logits_loop`), ``S^A_K [M, M]`` in float64."""
    return softmax_rows(eq1_logits_loop(f.double(), k).numpy(), scale)


def unfold_logits(f: torch.Tensor, k: int) -> torch.Tensor:
    """Eq. 1 logits the costly way, for ``f [B, C, H, W]``: zero-padded K x K patches as vectors of
    length ``C K^2``, then all pairwise dot products (``K^2`` times the multiplications). ``[B, M, M]``."""
    lo, hi = (k - 1) // 2, k // 2
    patches = F.unfold(F.pad(f, (lo, hi, lo, hi)), kernel_size=k)  # [B, C K^2, M]
    return patches.transpose(1, 2) @ patches


def location_loop(h: int, w: int, sigma: Sequence[float]) -> np.ndarray:
    """Eq. 3-4 by its definition: a 2-D Gaussian of the displacement (sigma1 along x, sigma2 along
    y), each row divided by its sum. ``[M, M]`` float64."""
    s1, s2 = float(sigma[0]), float(sigma[1])
    out = np.zeros((h * w, h * w))
    for yi, xi, yj, xj in itertools.product(range(h), range(w), range(h), range(w)):
        out[yi * w + xi, yj * w + xj] = math.exp(-((xi - xj) ** 2) / (2 * s1 ** 2) - ((yi - yj) ** 2) / (2 * s2 ** 2))
    return out / out.sum(1, keepdims=True)


def fuse(maps: Sequence[np.ndarray], multi: str = "prod", fusion: str = "renorm") -> np.ndarray:
    """Eq. 2 / eq. 5 literally: combine row-stochastic maps element-wise (product, sum, max, or the
    geometric mean, ours), then divide by the row sum (``"renorm"``) or take a softmax of the
    combination (``"softmax"``)."""
    if len(maps) == 1:
        return np.asarray(maps[0])
    geometric_mean = lambda v, axis: np.exp(np.mean(np.log(v), axis=axis))  # noqa: E731
    combine = {"prod": np.prod, "sum": np.sum, "max": np.max, "mean": geometric_mean}[multi]
    v = combine(np.stack(maps), axis=0)
    return v / v.sum(-1, keepdims=True) if fusion == "renorm" else softmax_rows(v)


def sia_loop(f: torch.Tensor, ks: Sequence[int], sigma: Sequence[float], scale: float,
             multi: str = "prod", fusion: str = "renorm") -> Tuple[np.ndarray, Dict[str, np.ndarray]]:
    """Eq. 1-6 for one map ``f [C, H, W]`` with one explicit ``scale`` for every K: ``(E_S [C, M], maps)``."""
    c, h, w = f.shape
    maps = {f"S_A_{k}": appearance_loop(f, k, scale) for k in ks}
    maps["S_A"] = fuse([maps[f"S_A_{k}"] for k in ks], multi, fusion)
    maps["S_L"] = location_loop(h, w, sigma)
    maps["S"] = fuse([maps["S_A"], maps["S_L"]], "prod", fusion)
    x = f.double().reshape(c, -1).numpy()
    return x @ maps["S"].T, maps


def sia_unfold(f: torch.Tensor, ks: Sequence[int] = (1, 2, 3), sigma: Sequence[float] = (5.0, 10.0),
               weights: Optional[Dict[int, float]] = None, log_location: Optional[torch.Tensor] = None) -> torch.Tensor:
    """SIA with product fusion, renormalised (the default), for ``f [B, C, H, W]``, by unfolding
    patches: ``S = softmax_j(sum_K w_K a^K_ij + log S^L_ij)``, ``E_S = F S^T``. ``weights[K]`` is the
    logit scale of K (:func:`ianet_viz.functional.context_weights` gives the package's);
    ``log_location`` (``[M, M]``) replaces the loop-built ``log S^L`` of ``sigma`` (for timing)."""
    b, c, h, w = f.shape
    if log_location is None:
        log_location = torch.from_numpy(np.log(location_loop(h, w, sigma))).to(f.dtype)
    total = log_location.expand(b, -1, -1).clone()
    for k in ks:
        total = total + (1.0 if weights is None else weights[k]) * unfold_logits(f, k)
    s = torch.softmax(total, dim=-1)
    return torch.bmm(f.flatten(2), s.transpose(1, 2)).reshape(b, c, h, w)


# --------------------------------------------------------------------------------------------
# CIA, eq. 7-8
# --------------------------------------------------------------------------------------------
def cia_loop(f: torch.Tensor, scale: float) -> Tuple[np.ndarray, np.ndarray]:
    """Eq. 7-8 for one map ``f [C, H, W]``: ``C[m, n] = softmax_n(scale <f_m, f_n>)`` between channel
    maps, ``E_C = C F``. Returns ``(E_C [C, M], C [C, C])`` in float64."""
    x = f.double().reshape(f.shape[0], -1).numpy()
    c = x.shape[0]
    energy = np.array([[sum(x[a, i] * x[b, i] for i in range(x.shape[1])) for b in range(c)] for a in range(c)])
    cm = softmax_rows(energy, scale)
    return cm @ x, cm


# --------------------------------------------------------------------------------------------
# evaluation: the classic per-query loop
# --------------------------------------------------------------------------------------------
def classic_eval_market1501(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int = 50, kind: str = "stable"):
    """The classic torchreid per-query loop (``eval_market1501``), plus mINP as in fast-reid:
    ``(cmc, mAP, mINP)``.

    ``kind="stable"`` breaks ties by gallery index, the documented convention of
    :func:`ianet_viz.metrics.evaluate_rank` (torchreid uses numpy's default sort, whose tie order
    is unspecified). The CMC is padded with ones past the gallery size."""
    num_q, num_g = distmat.shape
    indices = np.argsort(distmat, axis=1, kind=kind)
    matches = (g_pids[indices] == q_pids[:, np.newaxis]).astype(np.int32)
    all_cmc, all_AP, all_INP = [], [], []
    num_valid_q = 0.0
    for q_idx in range(num_q):
        q_pid, q_camid = q_pids[q_idx], q_camids[q_idx]
        order = indices[q_idx]
        remove = (g_pids[order] == q_pid) & (g_camids[order] == q_camid)
        keep = np.invert(remove)
        raw_cmc = matches[q_idx][keep]
        if not np.any(raw_cmc):
            continue
        cmc = raw_cmc.cumsum()
        pos_idx = np.where(raw_cmc == 1)
        max_pos_idx = np.max(pos_idx)
        all_INP.append(cmc[max_pos_idx] / (max_pos_idx + 1.0))
        cmc[cmc > 1] = 1
        cmc = cmc[:max_rank]
        if len(cmc) < max_rank:  # pad past the gallery size (a valid query is found by then)
            cmc = np.concatenate([cmc, np.ones(max_rank - len(cmc), cmc.dtype)])
        all_cmc.append(cmc)
        num_valid_q += 1.0
        num_rel = raw_cmc.sum()
        tmp_cmc = raw_cmc.cumsum()
        tmp_cmc = [x / (i + 1.0) for i, x in enumerate(tmp_cmc)]
        tmp_cmc = np.asarray(tmp_cmc) * raw_cmc
        all_AP.append(tmp_cmc.sum() / num_rel)
    assert num_valid_q > 0, "no query identity appears in the gallery under another camera"
    all_cmc = np.asarray(all_cmc).astype(np.float32).sum(0) / num_valid_q
    return all_cmc, float(np.mean(all_AP)), float(np.mean(all_INP))


# --------------------------------------------------------------------------------------------
# k-reciprocal re-ranking (Zhong et al., CVPR 2017)
# --------------------------------------------------------------------------------------------
def rerank_loop(q_g_dist, q_q_dist, g_g_dist, k1: int = 20, k2: int = 6, lambda_value: float = 0.3) -> np.ndarray:
    """k-reciprocal re-ranking read off the paper, with Python sets and loops over the whole
    ``(Q+G) x (Q+G)`` matrix: what :func:`ianet_viz.rerank.k_reciprocal_rerank` computes, in float64.

    Where the paper leaves a choice, the authors' code decides (the ``re_ranking`` of torchreid and
    fast-reid): distances squared and divided by their column maximum, then transposed; ``N(p, k)``
    holds ``k + 1`` images, ``p`` included; a candidate set joins when *more* than 2/3 of it lies in
    ``R(p, k1)``; the Gaussian weights of a row are divided by their sum. Ties rank by index (a
    stable sort), and a column whose distances are all 0 stays 0 (the authors' code: NaN)."""
    q_g, q_q, g_g = (np.asarray(a, dtype=np.float64) for a in (q_g_dist, q_q_dist, g_g_dist))
    nq, ng = q_g.shape
    n = nq + ng
    full = np.block([[q_q, q_g], [q_g.T, g_g]]) ** 2
    col_max = full.max(axis=0)
    d = np.where(col_max > 0, full / np.where(col_max > 0, col_max, 1.0), 0.0).T  # original distance d(p, g)
    ranking = np.argsort(d, axis=1, kind="stable")  # eq. 1, one row per image

    def nearest(p, k):  # eq. 2: N(p, k), with p itself
        return [int(g) for g in ranking[p, : k + 1]]

    def reciprocal(p, k):  # eq. 3: R(p, k)
        return [g for g in nearest(p, k) if p in nearest(g, k)]

    half = int(np.around(k1 / 2.0))
    v = np.zeros((n, n))
    for p in range(n):
        r = reciprocal(p, k1)
        star = set(r)
        for q in r:  # eq. 4: R*(p, k1)
            rq = reciprocal(q, half)
            if len(set(rq) & set(r)) > 2.0 / 3.0 * len(rq):
                star |= set(rq)
        star = sorted(star)
        weight = np.exp(-d[p, star])  # eq. 8: Gaussian kernel of the original distance
        v[p, star] = weight / weight.sum()
    if k2 != 1:  # eq. 11: local query expansion over the first k2 neighbours
        v = np.array([v[ranking[p, :k2]].mean(axis=0) for p in range(n)])
    jaccard = np.zeros((nq, ng))
    for i in range(nq):
        for j in range(ng):  # eq. 10: 1 - |intersection| / |union| through min and max
            a, b = v[i], v[nq + j]
            jaccard[i, j] = 1.0 - np.minimum(a, b).sum() / np.maximum(a, b).sum()
    return (1.0 - lambda_value) * jaccard + lambda_value * d[:nq, nq:]  # eq. 12
