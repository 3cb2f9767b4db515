"""k-reciprocal re-ranking (Zhong, Zheng, Cao and Li, "Re-ranking Person Re-identification with
k-reciprocal Encoding", CVPR 2017), vectorised with numpy.

:func:`k_reciprocal_rerank` follows the authors' published algorithm, the ``re_ranking`` function
that torchreid and fast-reid ship (distance-matrix version): the same neighbour sets, the same
expansion and query-expansion rules, the same weights and the same final mix. The differences are
how, not what:

* it never builds the ``(Q+G) x (Q+G)`` original distance, its full argsort or the dense ``V``
  matrix (3 x 1.5 GB at Market-1501 scale in float32): rows are formed a chunk at a time, only
  the first ``max(k1 + 1, k2)`` neighbours of each image are selected (a partition, not a sort),
  and ``V`` is kept sparse (a few dozen non-zeros per row);
* it computes in float64 (torchreid: float32), and breaks distance ties by index (a stable
  sort's order; torchreid's ``argsort`` leaves tie order unspecified).

:func:`ianet_viz.reference.rerank_loop` is the same algorithm as plain loops over the paper's
definitions; the tests check one against the other.
"""
from __future__ import annotations

import numpy as np

from .metrics import _check_positive_int

__all__ = ["k_reciprocal_rerank"]

# rows of the (Q+G)-wide original distance formed at once (float64: 16 MB), and (query entry,
# gallery entry) pairs of V joined at once in the Jaccard step
_CHUNK_ELEMENTS = 2_000_000
_JOIN_PAIRS = 1_000_000


def _as_array(x, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().double().numpy()
    a = np.asarray(x)
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ValueError(f"{name} must hold real numbers (distances), got dtype {a.dtype}")
    return a


def _check(q_g_dist, q_q_dist, g_g_dist, k1, k2, lambda_value):
    q_g = _as_array(q_g_dist, "q_g_dist")
    q_q = _as_array(q_q_dist, "q_q_dist")
    g_g = _as_array(g_g_dist, "g_g_dist")
    if q_g.ndim != 2:
        raise ValueError(f"q_g_dist must be a 2-D [num_query, num_gallery] matrix, got shape {q_g.shape}")
    nq, ng = q_g.shape
    if nq == 0 or ng == 0:
        raise ValueError(f"q_g_dist is empty (shape {q_g.shape}): re-ranking needs queries and a gallery")
    if q_q.shape != (nq, nq):
        raise ValueError(f"q_q_dist must be the [num_query, num_query] = [{nq}, {nq}] query-query distances "
                         f"(q_g_dist has {nq} queries), got shape {q_q.shape}; pass distances in the order "
                         "(q_g_dist, q_q_dist, g_g_dist)")
    if g_g.shape != (ng, ng):
        raise ValueError(f"g_g_dist must be the [num_gallery, num_gallery] = [{ng}, {ng}] gallery-gallery "
                         f"distances (q_g_dist has {ng} gallery images), got shape {g_g.shape}; pass distances "
                         "in the order (q_g_dist, q_q_dist, g_g_dist)")
    for name, a in (("q_g_dist", q_g), ("q_q_dist", q_q), ("g_g_dist", g_g)):
        if not np.isfinite(a).all():
            raise ValueError(f"{name} contains NaN or infinite values; re-ranking needs finite distances "
                             "(check the features, or replace masked pairs by a large finite distance)")
    n = nq + ng
    for name, k in (("k1", k1), ("k2", k2)):
        _check_positive_int(name, k)
    if k1 + 1 > n:
        raise ValueError(f"k1={k1} needs at least k1 + 1 = {k1 + 1} images (queries + gallery), got {n}; "
                         f"use k1 <= {n - 1}")
    if k2 > n:
        raise ValueError(f"k2={k2} averages over more neighbours than there are images ({n}); use k2 <= {n}")
    if isinstance(lambda_value, bool) or not isinstance(lambda_value, (int, float, np.floating, np.integer)) \
            or not 0.0 <= float(lambda_value) <= 1.0:
        raise ValueError(f"lambda_value is the weight of the original distance, in [0, 1]; got {lambda_value!r}")
    return q_g, q_q, g_g


def _normalise(sq: np.ndarray, row_max: np.ndarray) -> np.ndarray:
    """``sq / row_max`` (row-wise), 0 where a row's maximum is 0 (all its distances are 0; the
    authors' code would give NaN there)."""
    out = np.zeros(sq.shape, dtype=np.float64)
    np.divide(sq, row_max, out=out, where=row_max > 0)
    return out


def _original_rows(q_g, q_q, g_g, start, stop):
    """Rows ``start:stop`` of the squared original distance over probes + gallery, ``D^T`` in the
    authors' code (it divides by column maxima, then transposes): query row ``i`` is
    ``[q_q[:, i], q_g[i]]``, gallery row ``j`` is ``[q_g[:, j], g_g[:, j]]``. For symmetric
    ``q_q`` and ``g_g`` that is simply ``[[q_q, q_g], [q_g^T, g_g]]``."""
    nq, ng = q_g.shape
    out = np.empty((stop - start, nq + ng), dtype=np.float64)
    a, b = min(start, nq), min(stop, nq)  # query rows
    if b > a:
        out[: b - a, :nq] = q_q[:, a:b].T
        out[: b - a, nq:] = q_g[a:b]
    a, b = max(start, nq) - nq, max(stop, nq) - nq  # gallery rows
    if b > a:
        out[stop - start - (b - a):, :nq] = q_g[:, a:b].T
        out[stop - start - (b - a):, nq:] = g_g[:, a:b].T
    np.square(out, out=out)
    return out


def _original_at(q_g, q_q, g_g, rows, cols):
    """Squared original distance ``D^T[rows, cols]`` at the given pairs (same values as
    :func:`_original_rows`)."""
    nq = q_g.shape[0]
    out = np.empty(rows.shape[0], dtype=np.float64)
    rq, cq = rows < nq, cols < nq
    for mask, block, r, c in (
        (rq & cq, q_q, cols, rows),  # q_q[:, i] at query column c: q_q[c, i]
        (rq & ~cq, q_g, rows, cols - nq),
        (~rq & cq, q_g, cols, rows - nq),
        (~rq & ~cq, g_g, cols - nq, rows - nq),
    ):
        out[mask] = block[r[mask], c[mask]]
    return np.square(out)


def _first_k(block: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` smallest entries of each row, in (value, index) order: the first ``k``
    columns of a stable argsort, found with a partition."""
    n = block.shape[1]
    if k >= n:
        return np.argsort(block, axis=1, kind="stable")[:, :k]
    kth = np.partition(block, k - 1, axis=1)[:, k - 1 : k]
    chosen = block <= kth
    counts = chosen.sum(axis=1)
    out = np.empty((block.shape[0], k), dtype=np.int64)
    exact = counts == k
    if exact.any():
        # row-major nonzero lists each row's chosen columns ascending; a stable sort by value
        # then gives (value, index) order
        cols = np.nonzero(chosen[exact])[1].reshape(-1, k)
        vals = np.take_along_axis(block[exact], cols, axis=1)
        out[exact] = np.take_along_axis(cols, np.argsort(vals, axis=1, kind="stable"), axis=1)
    for r in np.flatnonzero(~exact):  # several entries tie at the k-th value: rare, sort the row
        out[r] = np.argsort(block[r], kind="stable")[:k]
    return out


def _member(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """``np.isin(keys, sorted_keys)`` for a sorted ``sorted_keys``, by binary search."""
    if sorted_keys.shape[0] == 0:
        return np.zeros(keys.shape, dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.shape[0] - 1)
    return sorted_keys[pos] == keys


def _reciprocal(nbr: np.ndarray, k: int) -> np.ndarray:
    """``[N, k]`` bool: ``nbr[i, t]`` is a k-reciprocal neighbour of ``i``, i.e. ``i`` is among
    the first ``k`` neighbours of ``nbr[i, t]`` (eq. 3 with ``N(., k-1)`` counting the image itself,
    as the authors' code does)."""
    n = nbr.shape[0]
    head = nbr[:, :k]
    keys = np.sort((np.arange(n)[:, None] * n + head).ravel())
    back = head * n + np.arange(n)[:, None]  # the pair seen from the neighbour
    return _member(keys, back)


def k_reciprocal_rerank(q_g_dist, q_q_dist, g_g_dist, k1: int = 20, k2: int = 6,
                        lambda_value: float = 0.3) -> np.ndarray:
    """Re-ranked query-gallery distances by k-reciprocal encoding (Zhong et al., CVPR 2017).

    Args:
        q_g_dist: ``[num_query, num_gallery]`` distances (numpy or torch), as for
            :func:`ianet_viz.metrics.evaluate_rank`.
        q_q_dist: ``[num_query, num_query]`` query-query distances.
        g_g_dist: ``[num_gallery, num_gallery]`` gallery-gallery distances.
        k1: neighbourhood size of the k-reciprocal sets (paper: 20).
        k2: neighbours averaged by local query expansion (paper: 6; 1 turns it off).
        lambda_value: weight of the original distance in the final one (paper: 0.3).

    Returns:
        ``[num_query, num_gallery]`` float32 distances, smaller = more similar, in ``[0, 1]``.

    The steps (equation numbers of the paper), over all ``N = num_query + num_gallery`` images,
    probes and gallery alike:

    1. Original distance ``d``: the given distances squared and divided by their row maximum
       (as the authors' distance-matrix code; the paper's ``d`` is a squared Mahalanobis
       distance), ranked per image (eq. 1), ties by index.
    2. k-reciprocal neighbours (eq. 2-3): ``R(p, k1)`` = the images ``g`` among the first
       ``k1 + 1`` of ``p``'s ranking (``p`` itself included) that have ``p`` among their own first
       ``k1 + 1``.
    3. Expansion (eq. 4): for each ``q`` in ``R(p, k1)``, ``R(q, round(k1 / 2))`` is added when
       more than 2/3 of it lies in ``R(p, k1)`` (``round`` halves to even, as ``np.around``);
       the union is ``R*(p, k1)``.
    4. Gaussian-kernel encoding (eq. 8): ``V[p, g] = exp(-d(p, g))`` for ``g`` in ``R*(p, k1)``,
       0 elsewhere, each row divided by its sum (the authors' code).
    5. Local query expansion (eq. 11): ``V[p]`` is replaced by the mean of ``V`` over ``p``'s
       first ``k2`` neighbours (``p`` included); skipped when ``k2 == 1``.
    6. Jaccard distance (eq. 9-10): ``d_J(p, g) = 1 - sum_j min(V[p,j], V[g,j]) / sum_j max(V[p,j], V[g,j])``,
       computed as the authors' code does, with ``2 - sum_j min`` as the denominator: the same
       when the rows of ``V`` sum to 1, i.e. when every image has a k-reciprocal neighbour, as it
       does when it is its own nearest neighbour (distance 0 to itself, more to any other). An
       image with none (possible only with such degenerate distances) gets an all-zero row.
    7. Final distance (eq. 12): ``d* = (1 - lambda) d_J + lambda d``.

    Raises:
        ValueError: on shapes that do not fit together, NaN or infinite distances, ``k1 + 1`` or
        ``k2`` larger than the number of images, or ``lambda_value`` outside ``[0, 1]``.
    One piece: it follows the steps of Zhong et al.'s Algorithm 1 in their order, sharing its buffers.
    """
    q_g, q_q, g_g = _check(q_g_dist, q_q_dist, g_g_dist, k1, k2, lambda_value)
    nq, ng = q_g.shape
    n = nq + ng
    lam = float(lambda_value)
    k_fwd = int(k1) + 1
    k_half = int(np.around(k1 / 2.0)) + 1
    k2 = int(k2)

    # 1. each image's row maximum and first neighbours, a chunk of rows at a time
    row_max = np.empty(n)
    nbr = np.empty((n, max(k_fwd, k2)), dtype=np.int64)
    step = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, n, step):
        stop = min(n, start + step)
        block = _original_rows(q_g, q_q, g_g, start, stop)
        row_max[start:stop] = block.max(axis=1)
        nbr[start:stop] = _first_k(_normalise(block, row_max[start:stop, None]), nbr.shape[1])
        del block

    # 2. R(p, k1), kept in ranking order as a mask over the first k1 + 1 neighbours
    recip = _reciprocal(nbr, k_fwd)
    half = _reciprocal(nbr, k_half)  # R(q, round(k1 / 2)) of every image q
    r_keys = np.sort((np.arange(n)[:, None] * n + nbr[:, :k_fwd])[recip])  # pairs (p, g), g in R(p, k1)

    # 3. expansion: every candidate q in R(p, k1) with its half-size set R(q, k1/2)
    p_of, t_of = np.nonzero(recip)
    cand = nbr[p_of, t_of]
    cand_set = nbr[cand, :k_half]  # [pairs, k_half]
    cand_ok = half[cand]
    keys = p_of[:, None] * n + cand_set
    inside = _member(r_keys, keys) & cand_ok
    size = cand_ok.sum(axis=1)
    accept = 3 * inside.sum(axis=1) > 2 * size  # |R(q, k1/2) & R(p, k1)| > 2/3 |R(q, k1/2)|
    added = keys[accept][cand_ok[accept]]
    star = np.unique(np.concatenate([r_keys, added]))  # R*(p, k1) as sorted pairs (p, g)
    v_row, v_col = star // n, star % n

    # 4. V (sparse, rows ascending): exp(-d) on R*(p, k1), each row normalised to sum 1
    d = _normalise(_original_at(q_g, q_q, g_g, v_row, v_col), row_max[v_row])
    w = np.exp(-d)
    v_val = w / np.bincount(v_row, weights=w, minlength=n)[v_row]

    # 5. local query expansion: V[p] <- mean of V over p's first k2 neighbours
    if k2 != 1:
        ptr = np.searchsorted(v_row, np.arange(n + 1))
        src = nbr[:, :k2].ravel()  # rows of V to average, k2 per image
        lengths = ptr[src + 1] - ptr[src]
        dest = np.repeat(np.repeat(np.arange(n), k2), lengths)
        entry = np.repeat(ptr[src] - np.cumsum(lengths) + lengths, lengths) + np.arange(lengths.sum())
        keys = dest * n + v_col[entry]
        star, inverse = np.unique(keys, return_inverse=True)
        v_val = np.bincount(inverse, weights=v_val[entry]) / k2
        v_row, v_col = star // n, star % n

    # 6. Jaccard distance of each query to each gallery image: sum_j min(V[p, j], V[g, j]), joined
    #    on the column j through the gallery rows' entries sorted by column
    in_gallery = v_row >= nq
    g_col_order = np.argsort(v_col[in_gallery], kind="stable")
    g_rows = (v_row[in_gallery] - nq)[g_col_order]
    g_vals = v_val[in_gallery][g_col_order]
    g_ptr = np.searchsorted(v_col[in_gallery][g_col_order], np.arange(n + 1))
    q_ptr = np.searchsorted(v_row, np.arange(nq + 1))
    # (query entry, gallery entry) pairs per query, to size the chunks: at most ~_JOIN_PAIRS
    # pairs and ~_CHUNK_ELEMENTS overlap values per chunk (one query at least)
    q_len = g_ptr[v_col[: q_ptr[nq]] + 1] - g_ptr[v_col[: q_ptr[nq]]]
    pairs_before = np.concatenate([[0], np.cumsum(np.bincount(v_row[: q_ptr[nq]], weights=q_len, minlength=nq))])
    final = np.empty((nq, ng), dtype=np.float32)
    q_step = max(1, _CHUNK_ELEMENTS // ng)
    start = 0
    while start < nq:
        stop = int(np.searchsorted(pairs_before, pairs_before[start] + _JOIN_PAIRS, side="right")) - 1
        stop = min(nq, start + q_step, max(stop, start + 1))
        e = np.arange(q_ptr[start], q_ptr[stop])  # the chunk's query entries (p, j, a)
        lengths = q_len[e]
        q_entry = np.repeat(e, lengths)
        g_entry = (np.repeat(g_ptr[v_col[e]] - np.cumsum(lengths) + lengths, lengths)
                   + np.arange(lengths.sum()))
        overlap = np.bincount((v_row[q_entry] - start) * ng + g_rows[g_entry],
                              weights=np.minimum(v_val[q_entry], g_vals[g_entry]),
                              minlength=(stop - start) * ng).reshape(stop - start, ng)
        jaccard = 1.0 - overlap / (2.0 - overlap)
        # 7. final distance; the original one on this block is q_g squared over the row maximum
        original = _normalise(np.square(q_g[start:stop].astype(np.float64)), row_max[start:stop, None])
        final[start:stop] = (1.0 - lam) * jaccard + lam * original
        start = stop
    return final
