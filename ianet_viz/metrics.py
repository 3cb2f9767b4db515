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
only (:func:`_match_ranks`). Junk entries (same pid and camera) are counted like the others
and subtracted. Queries are processed in chunks, so memory stays bounded (a 4 MB mask and a
copy of the chunk's rows, 16 MB in float32, at Market-1501 scale). The previous implementation,
which sorts the values of every row and binary-searches each match, is kept as the private
twin :func:`_evaluate_rank_sorted` for the tests and ``benchmarks/evaluation.py``; timings and
ratios to torchreid's compiled (Cython) evaluator are in ``benchmarks/RESULTS.md``, section
evaluation. It takes torchreid's arguments too (``use_metric_cuhk03``, ``use_cython``), and
returns fast-reid's per-query AP and INP with ``return_per_query=True``.

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
# 4M entries -> a 4 MB boolean buffer per chunk; Market-1501 uses ~250 queries per chunk.
_CHUNK_ELEMENTS = 4_000_000
# _match_ranks counts with full comparison passes while more than this fraction of a chunk lies
# at or below the current thresholds, then on the gathered entries only (a pass costs ~0.5 ns per
# entry, a gathered entry a few ns per level; 0.1-0.2 was fastest on Market-sized synthetic data
# from a good to a random model, benchmarks/evaluation.py).
_SPARSE_FRACTION = 0.2


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


def _same_pid_pairs(q_pids: np.ndarray, g_pids: np.ndarray):
    """All (query, gallery) pairs with the same identity, as ``rows, cols`` (int64).

    Rows ascend; within a row the gallery indices ascend. Costs O(num_pairs + G log G), never a
    [Q, G] comparison: gallery indices are grouped by pid once.
    """
    num_q = q_pids.shape[0]
    g_order = np.argsort(g_pids, kind="stable")
    uniq, start, count = np.unique(g_pids[g_order], return_index=True, return_counts=True)
    idx = np.minimum(np.searchsorted(uniq, q_pids), uniq.shape[0] - 1)
    n = np.where(uniq[idx] == q_pids, count[idx], 0).astype(np.int64)
    rows = np.repeat(np.arange(num_q, dtype=np.int64), n)
    row_start = np.cumsum(n) - n
    offset = np.arange(rows.shape[0], dtype=np.int64) - row_start[rows]
    cols = g_order[start[idx][rows] + offset].astype(np.int64, copy=False)
    return rows, cols


def _fill_value(dtype: np.dtype):
    """The largest value of ``dtype``: it overwrites junk entries before a row is sorted."""
    if np.issubdtype(dtype, np.floating):
        return np.inf
    return np.iinfo(dtype).max


def _count_rows(mask: np.ndarray) -> np.ndarray:
    """Number of True entries in each row of a 2-D bool array (int64)."""
    return np.add.reduce(mask.view(np.uint8), axis=1, dtype=np.uint32).astype(np.int64)


def _search_sorted_rows(flat: np.ndarray, width: int, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """For each ``(row, value)``: the number of entries of that sorted row strictly below ``value``.

    ``flat`` is a C-contiguous [c, width] array of sorted rows, raveled. A vectorised binary
    search (``np.searchsorted(row, value, side="left")`` for every pair at once).
    """
    lo = np.zeros(rows.shape[0], dtype=np.int64)
    hi = np.full(rows.shape[0], width, dtype=np.int64)
    base = rows * width
    for _ in range(int(width).bit_length()):
        active = lo < hi
        if not active.any():
            break
        mid = (lo + hi) >> 1
        below = flat[base + np.minimum(mid, width - 1)] < values
        lo = np.where(active & below, mid + 1, lo)
        hi = np.where(active & ~below, mid, hi)
    return lo


def _match_ranks_sorted(distmat, pos_rows, pos_cols, junk_rows, junk_cols, chunk_size):
    """The same ranks as :func:`_match_ranks`, by sorting the values of every row (the previous
    implementation, kept as the naive twin of :func:`_evaluate_rank_sorted`).

    ``rank(q, c)`` = number of kept ``j`` with ``d[q, j] < d[q, c]``, or ``d[q, j] == d[q, c]``
    and ``j < c`` (ties broken by gallery index: the order of a stable sort).
    """
    num_q, num_g = distmat.shape
    ranks = np.empty(pos_rows.shape[0], dtype=np.int64)
    fill = _fill_value(distmat.dtype)
    # row pointers into the (row-sorted) pair lists
    pos_ptr = np.searchsorted(pos_rows, np.arange(num_q + 1))
    junk_ptr = np.searchsorted(junk_rows, np.arange(num_q + 1))
    for start in range(0, num_q, chunk_size):
        stop = min(num_q, start + chunk_size)
        a, b = pos_ptr[start], pos_ptr[stop]
        if a == b:
            continue
        ja, jb = junk_ptr[start], junk_ptr[stop]
        block = np.array(distmat[start:stop], copy=True, order="C")
        block[junk_rows[ja:jb] - start, junk_cols[ja:jb]] = fill
        block.sort(axis=1)
        r = pos_rows[a:b] - start
        t = distmat[pos_rows[a:b], pos_cols[a:b]]
        flat = block.ravel()
        below = _search_sorted_rows(flat, num_g, r, t)
        # the match itself sits at block[r, below]; a tie is another entry equal to it
        nxt = np.minimum(below + 1, num_g - 1)
        tied = (below + 1 < num_g) & (flat[r * num_g + nxt] == t)
        if tied.any():
            for i in np.flatnonzero(tied):
                q, c = pos_rows[a + i], pos_cols[a + i]
                row = distmat[q, :c]
                earlier = np.count_nonzero(row == t[i])
                jc = junk_cols[junk_ptr[q]:junk_ptr[q + 1]]
                jc = jc[jc < c]
                earlier -= np.count_nonzero(distmat[q, jc] == t[i])
                below[i] += earlier
        ranks[a:b] = below
    return ranks


def _match_ranks(distmat, pos_rows, pos_cols, junk_rows, junk_cols, chunk_size):
    """0-based rank of every true match among the kept gallery entries of its query, by counting.

    Tie rule: ``rank(q, c)`` = number of kept ``j`` with ``d[q, j] < d[q, c]``, or
    ``d[q, j] == d[q, c]`` and ``j < c``: the lexicographic order of ``(distance, gallery index)``,
    which is the order a stable sort of the row gives.

    No row is sorted. Each match's rank is a count over its row. The matches of a row are taken
    from its hardest (largest ``(distance, index)``) to its easiest: "level" ``s`` is a row's
    ``s``-th hardest match, with threshold ``t_s``, and

        rank = #{j : d[q, j] < t_s} + #{j < c : d[q, j] == t_s}     (then minus the junk before it)

    Per chunk of queries (fewest matches first, so a chunk's rows need about as many levels), the
    counts come from two comparison passes (``<`` and ``<=``) over the chunk per level while many
    entries lie at or below the thresholds (a bad model, or the hardest matches); once few do
    (``_SPARSE_FRACTION``),
    those entries are gathered as (value, index) pairs and each further level keeps the ones
    ``<= t_s``: a subset of the previous level's, as thresholds only decrease. Cost: a few passes
    over the matrix plus the sum of the match ranks for a good model; about ``2 x matches`` passes
    (~0.3 ns per entry each) for random distances. Exact ties with a threshold (rare in float data,
    common with integer distances) are found by the ``<`` / ``<=`` counts (dense) or the entries
    equal to the threshold (sparse), and broken by gallery index. Junk entries stay in the counts:
    each junk entry before a match (same lexicographic order) is subtracted at the end.
    """
    num_q, num_g = distmat.shape
    n = pos_rows.shape[0]
    t_all = distmat[pos_rows, pos_cols]
    # matches ascending by (row, distance, gallery index): the stable-sort order within each row
    order = np.lexsort((pos_cols, t_all, pos_rows))
    rows_s, cols_s, t_s = pos_rows[order], pos_cols[order], t_all[order]
    ranks_s = np.empty(n, dtype=np.int64)
    ptr = np.searchsorted(rows_s, np.arange(num_q + 1))
    n_match = np.diff(ptr)
    # queries with a match, fewest matches first: a chunk then holds rows with similar numbers
    # of matches (levels), and queries without one cost nothing
    queries = np.argsort(n_match, kind="stable")
    queries = queries[n_match[queries] > 0]
    for start in range(0, queries.shape[0], chunk_size):
        qs = queries[start : start + chunk_size]
        c = qs.shape[0]
        m = n_match[qs]
        levels = int(m.max())
        # which[q, s]: index (into the sorted matches) of row q's s-th hardest match. A row with
        # fewer matches repeats its easiest one, so thresholds never increase along s (the sets
        # stay nested); those repeated levels are computed and dropped.
        lev = np.minimum(np.arange(levels)[None, :], m[:, None] - 1)
        which = ptr[qs][:, None] + m[:, None] - 1 - lev
        thr = t_s[which]  # [c, levels], non-increasing along a row
        thr_col = cols_s[which]
        block = np.ascontiguousarray(distmat[qs])  # a C-ordered copy of the chunk's rows
        buf = np.empty(block.shape, dtype=bool)
        dense, flat = True, None
        for s in range(levels):
            t_col = thr[:, s : s + 1]
            if dense:
                # one comparison pass per threshold over the chunk: cheap while many entries lie
                # below the threshold (a bad model, or the first, hardest levels)
                n_le = _count_rows(np.less_equal(block, t_col, out=buf))
                n_lt = _count_rows(np.less(block, t_col, out=buf))
                below = n_lt
                tied = n_le - n_lt > 1  # the match itself is one of the equal entries
                if tied.any():
                    q = np.flatnonzero(tied)
                    before = np.arange(num_g)[None, :] < thr_col[q, s][:, None]
                    below = below.copy()
                    below[q] += _count_rows((block[q] == t_col[q]) & before)
                if int(n_le.sum()) <= _SPARSE_FRACTION * c * num_g:
                    dense = False
            else:
                if flat is None:
                    # switch to the sparse form: the (value, flat index) pairs of the entries at
                    # or below this level's thresholds; flatnonzero + take rather than boolean
                    # indexing (several times faster here)
                    flat = np.flatnonzero(np.less_equal(block, t_col, out=buf))
                    x = block.reshape(-1).take(flat)
                    r = flat // num_g
                    t_rep = thr[:, s].take(r)
                else:
                    r = flat // num_g
                    t_rep = thr[:, s].take(r)
                    keep = np.flatnonzero(x <= t_rep)
                    x, flat, r, t_rep = x.take(keep), flat.take(keep), r.take(keep), t_rep.take(keep)
                size = np.diff(np.searchsorted(r, np.arange(c + 1)))  # r ascends
                eq = x == t_rep
                # each row holds its match itself, equal to its threshold; only a tie adds more
                if np.count_nonzero(eq) == c:
                    below = size - 1
                else:  # ties: the entries equal to the threshold at or after the match's index don't count
                    ef = flat[eq]
                    er = ef // num_g
                    after = np.bincount(er, weights=(ef - er * num_g) >= thr_col[er, s], minlength=c)
                    below = size - after.astype(np.int64)
            live = m > s
            ranks_s[which[live, s]] = below[live]
    if junk_rows.shape[0]:
        # subtract the junk entries that precede a match in (distance, index) order
        nj = n_match[junk_rows]
        rep = np.repeat(np.arange(junk_rows.shape[0]), nj)
        offset = np.arange(rep.shape[0]) - np.repeat(np.cumsum(nj) - nj, nj)
        mi = ptr[junk_rows][rep] + offset
        jd = distmat[junk_rows, junk_cols][rep]
        jc = junk_cols[rep]
        before = (jd < t_s[mi]) | ((jd == t_s[mi]) & (jc < cols_s[mi]))
        ranks_s -= np.bincount(mi[before], minlength=n)
    ranks = np.empty(n, dtype=np.int64)
    ranks[order] = ranks_s
    return ranks


def _per_query_stats(distmat, q_pids, g_pids, q_camids, g_camids, chunk_size=None, ranker=None):
    """``first`` (0-based rank of the first match), ``ap``, ``inp``, all [Q] (NaN / -1 where a
    query has no true match left after removing its junk), and the ``valid`` mask.

    ``ranker`` computes the match ranks: :func:`_match_ranks` (default) or :func:`_match_ranks_sorted`."""
    num_q, num_g = distmat.shape
    if chunk_size is None:
        chunk_size = max(1, _CHUNK_ELEMENTS // num_g)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    rows, cols = _same_pid_pairs(q_pids, g_pids)
    junk = g_camids[cols] == q_camids[rows]
    pos_rows, pos_cols = rows[~junk], cols[~junk]
    ranker = _match_ranks if ranker is None else ranker
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
    return _evaluate(_match_ranks, distmat, q_pids, g_pids, q_camids, g_camids, max_rank,
                     use_metric_cuhk03, return_minp, return_per_query, chunk_size)


def _evaluate_rank_sorted(
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
    """:func:`evaluate_rank` with the ranks found by sorting the values of every row (the previous
    implementation): the naive twin the tests and ``benchmarks/evaluation.py`` compare against."""
    return _evaluate(_match_ranks_sorted, distmat, q_pids, g_pids, q_camids, g_camids, max_rank,
                     use_metric_cuhk03, return_minp, return_per_query, chunk_size)


def _evaluate(ranker, distmat, q_pids, g_pids, q_camids, g_camids, max_rank, use_metric_cuhk03,
              return_minp, return_per_query, chunk_size):
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
