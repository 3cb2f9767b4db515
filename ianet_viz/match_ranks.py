"""The rank of every true match in its query's ranking: the counting at the heart of
:func:`ianet_viz.metrics.evaluate_rank` (the metrics module's internals).

A query's AP, INP and CMC depend only on the 0-based rank of each of its true matches among the
kept gallery entries (junk, same identity and camera, removed), ties broken by gallery index (a
stable sort's order). :func:`_same_pid_pairs` lists the (query, gallery) pairs of the same
identity; :func:`_match_ranks` counts each match's rank without sorting any row;
:func:`_match_ranks_sorted` finds the same ranks by sorting every row (the previous
implementation, the naive twin the tests and ``benchmarks/evaluation.py`` compare against).
Both work on chunks of queries, so memory stays bounded.
"""

from __future__ import annotations

import numpy as np

# _match_ranks counts with full comparison passes while more than this fraction of a chunk lies
# at or below the current thresholds, then on the gathered entries only (a pass costs ~0.5 ns per
# entry, a gathered entry a few ns per level; 0.1-0.2 was fastest on Market-sized synthetic data
# from a good to a random model, benchmarks/evaluation.py).
_SPARSE_FRACTION = 0.2


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

    One piece: a chunked loop whose passes share the chunk's buffers (its speed is the point, benchmarks/evaluation.py).
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
                else:  # r (each entry's row) was kept along with flat at the previous level
                    t_rep = thr[:, s].take(r)
                    keep = np.flatnonzero(x <= t_rep)
                    x, flat, r, t_rep = x.take(keep), flat.take(keep), r.take(keep), t_rep.take(keep)
                size = np.diff(np.searchsorted(r, np.arange(c + 1)))  # r ascends
                eq = x == t_rep
                # each row holds its match itself, equal to its threshold; only a tie adds more
                if np.count_nonzero(eq) == c:
                    below = size - 1
                else:  # ties: the entries equal to the threshold at or after the match's index don't count
                    ef, er = flat[eq], r[eq]
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
