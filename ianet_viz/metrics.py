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

Tie rule (stable, documented): when two gallery entries have the same distance, the one with
the smaller gallery index ranks first, exactly as a stable sort of each row would order them.

:func:`evaluate_rank` computes exactly the numbers of the classic per-query loop (torchreid's
``eval_market1501`` with a stable sort) without sorting anything of the size of a row. AP, INP
and CMC depend only on the rank of each true match among the kept gallery entries (AP = mean
over the matches, ranks ascending, of ``(i + 1) / (rank_i + 1)``), and that rank is a count:
the kept entries with a smaller distance, plus, at an equal distance, those with a smaller
gallery index. A query has a few true matches (Market-1501: 14.6 on average), so the counts
take a few comparison passes over its row, then work on the entries below its hardest match
only (:func:`_match_ranks`, in :mod:`ianet_viz.match_ranks`). Junk entries (same pid and camera)
are counted like the others and subtracted. Queries are processed in chunks, so memory stays
bounded (a 4 MB mask and a copy of the chunk's rows, 16 MB in float32, at Market-1501 scale). The
previous implementation, which sorts the values of every row and binary-searches each match, is
kept as the private twin :func:`_evaluate_rank_sorted` for the tests and
``benchmarks/evaluation.py``; timings and ratios to torchreid's compiled (Cython) evaluator are
in ``benchmarks/RESULTS.md``, section evaluation. It takes torchreid's arguments too (``use_metric_cuhk03``, ``use_cython``), and
returns fast-reid's per-query AP and INP with ``return_per_query=True``.

:func:`evaluate_cuhk03` is the CUHK03 single-gallery-shot protocol: CMC averaged
over ``repeats`` random draws of one gallery image per identity.

The distance matrices (:func:`cosine_distance`, :func:`euclidean_distance`,
:func:`compute_distance_matrix`) live in :mod:`ianet_viz.distances` and are re-exported here.
"""

from __future__ import annotations

import warnings
from functools import partial
from typing import Tuple

import numpy as np

try:  # torch is optional for the metrics themselves
    import torch
except Exception:  # pragma: no cover - torch is a hard dependency of the package
    torch = None

from .distances import ArrayLike, compute_distance_matrix, cosine_distance, euclidean_distance
from .match_ranks import _match_ranks, _match_ranks_sorted, _same_pid_pairs

__all__ = [
    "evaluate_rank",
    "evaluate_cuhk03",
    "cosine_distance",
    "euclidean_distance",
    "compute_distance_matrix",
]

# Number of distance-matrix entries processed at once (per chunk of queries).
# 4M entries -> a 4 MB boolean buffer per chunk; Market-1501 uses ~250 queries per chunk.
_CHUNK_ELEMENTS = 4_000_000


def _to_numpy(x: ArrayLike, name: str) -> np.ndarray:
    if torch is not None and isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.dtype in (torch.bfloat16, torch.float16):
            x = x.float()
        return x.numpy()
    return np.asarray(x)


def _check_positive_int(name: str, v) -> None:
    """A count argument (``max_rank``, ``chunk_size``, re-ranking's ``k1``, ``k2``): an int >= 1, not a bool."""
    if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}")


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
    _check_positive_int("max_rank", max_rank)
    return distmat, arrays["q_pids"], arrays["g_pids"], arrays["q_camids"], arrays["g_camids"]


def _per_query_stats(distmat, q_pids, g_pids, q_camids, g_camids, chunk_size=None, ranker=_match_ranks):
    """``first`` (0-based rank of the first match), ``ap``, ``inp``, all [Q] (NaN / -1 where a
    query has no true match left after removing its junk), and the ``valid`` mask.

    ``ranker`` computes the match ranks: :func:`_match_ranks` (default) or :func:`_match_ranks_sorted`."""
    num_q, num_g = distmat.shape
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_ELEMENTS // num_g)
    _check_positive_int("chunk_size", chunk_size)
    rows, cols = _same_pid_pairs(q_pids, g_pids)
    junk = g_camids[cols] == q_camids[rows]
    pos_rows, pos_cols = rows[~junk], cols[~junk]
    ranks = ranker(distmat, pos_rows, pos_cols, rows[junk], cols[junk], int(chunk_size))
    # order the matches of each query by rank: the k-th (0-based) match has precision (k+1)/(rank+1)
    order = np.lexsort((ranks, pos_rows))
    pos_rows, ranks = pos_rows[order], ranks[order]
    num_rel = np.bincount(pos_rows, minlength=num_q)
    valid = num_rel > 0
    row_start = np.cumsum(num_rel) - num_rel
    k = np.arange(ranks.shape[0], dtype=np.int64) - row_start[pos_rows]
    precision = (k + 1.0) / (ranks + 1.0)
    ap = np.full(num_q, np.nan)
    inp = np.full(num_q, np.nan)
    first = np.full(num_q, -1, dtype=np.int64)
    ap[valid] = np.bincount(pos_rows, weights=precision, minlength=num_q)[valid] / num_rel[valid]
    first[valid] = ranks[row_start[valid]]
    last = ranks[row_start[valid] + num_rel[valid] - 1]
    inp[valid] = num_rel[valid] / (last + 1.0)
    return first, ap, inp, valid


def evaluate_rank(
    distmat: ArrayLike,
    q_pids: ArrayLike,
    g_pids: ArrayLike,
    q_camids: ArrayLike,
    g_camids: ArrayLike,
    max_rank: int = 50,
    use_metric_cuhk03: bool = False,
    use_cython: bool = True,
    *,
    return_minp: bool = False,
    return_per_query: bool = False,
    chunk_size: int | None = None,
):
    """CMC curve and mAP under the Market-1501 protocol (exact, no full sort).

    Called as torchreid's ``evaluate_rank`` (same positional arguments, same keywords).

    Args:
        distmat: [num_query, num_gallery] distances (smaller = more similar), numpy or torch.
        q_pids, q_camids: [num_query] identity and camera of each query.
        g_pids, g_camids: [num_gallery] identity and camera of each gallery image.
        max_rank: length of the returned CMC curve. Ranks past the gallery size are 1.
        use_metric_cuhk03: CMC under the CUHK03 single-gallery-shot protocol
            (:func:`evaluate_cuhk03`: 10 draws of one gallery image per identity, seed 0;
            torchreid draws with the global numpy RNG instead). mAP (and mINP, AP, INP) are
            the Market-protocol values on the whole ranking, as torchreid's ``eval_cuhk03``
            computes its mAP.
        use_cython: ignored; accepted so torchreid calls work. There is no compiled
            extension: this numpy version is faster than torchreid's Cython evaluator
            (see ``benchmarks/RESULTS.md``, section evaluation).
        return_minp: also return the mean inverse negative penalty, mINP (Ye et al., 2021).
        return_per_query: also return two [num_query] float arrays, the AP and the INP of every
            query (``num_matches / (0-based rank of the last match + 1)``, fast-reid's
            definition), NaN for queries that were skipped (no true match outside the query's
            own camera). ``np.nanmean(all_AP) == mAP``. fast-reid returns these lists over the
            kept queries only: ``all_AP[~np.isnan(all_AP)]`` is that list.
        chunk_size: queries per chunk (default: about 4M distance entries per chunk).

    Returns:
        ``(cmc, mAP)``, then ``mINP`` if ``return_minp``, then ``all_AP, all_INP`` if
        ``return_per_query``. ``cmc`` is a float64 numpy array of length ``max_rank``
        (``cmc[0]`` is rank-1), all in [0, 1].

    Ties: equal distances are ordered by gallery index (what a stable sort of each row does).

    Raises:
        ValueError: on inconsistent shapes, NaN distances, or when no query has a
        valid match in the gallery.
    """
    return _evaluate(_match_ranks, distmat, q_pids, g_pids, q_camids, g_camids, max_rank, use_metric_cuhk03,
                     return_minp=return_minp, return_per_query=return_per_query, chunk_size=chunk_size)



def _evaluate(ranker, distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50, use_metric_cuhk03=False,
              use_cython=True, *, return_minp=False, return_per_query=False, chunk_size=None):
    """:func:`evaluate_rank` with the match ranks of ``ranker`` (same arguments after it)."""
    distmat, q_pids, g_pids, q_camids, g_camids = _check_inputs(
        distmat, q_pids, g_pids, q_camids, g_camids, max_rank
    )
    first, ap, inp, valid = _per_query_stats(distmat, q_pids, g_pids, q_camids, g_camids, chunk_size, ranker)
    num_valid = int(valid.sum())
    if num_valid == 0:
        warnings.warn("evaluate_rank: no query has a valid match in the gallery", RuntimeWarning)
        raise ValueError(
            "No query identity appears in the gallery under another camera: every query "
            "was skipped, so CMC/mAP are undefined. Check that the query and gallery lists "
            "come from the same dataset split and that pids/camids are not swapped."
        )
    if use_metric_cuhk03:
        cmc, _ = evaluate_cuhk03(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=max_rank)
    else:
        counts = np.bincount(np.minimum(first[valid], max_rank), minlength=max_rank + 1)[:max_rank]
        cmc = np.cumsum(counts) / num_valid
    mAP = float(np.mean(ap[valid]))
    out = [cmc, mAP]
    if return_minp:
        out.append(float(np.mean(inp[valid])))
    if return_per_query:
        out += [ap, inp]
    return tuple(out)


#: :func:`evaluate_rank` with the ranks found by sorting the values of every row (the previous
#: implementation): the naive twin the tests and ``benchmarks/evaluation.py`` compare against.
_evaluate_rank_sorted = partial(_evaluate, _match_ranks_sorted)


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
