"""Tests for ianet_viz.metrics: the vectorised Market-1501 evaluation against the classic
per-query loop, hand-computed cases, ties, CUHK03 protocol, distances and input checks."""

import time
from collections import defaultdict

import numpy as np
import pytest
import torch

from ianet_viz import match_ranks
from ianet_viz.reference import classic_eval_market1501
from ianet_viz.metrics import (
    _evaluate_rank_sorted,
    _match_ranks,
    _match_ranks_sorted,
    _same_pid_pairs,
    compute_distance_matrix,
    cosine_distance,
    euclidean_distance,
    evaluate_cuhk03,
    evaluate_rank,
)


def naive_per_query(distmat, q_pids, g_pids, q_camids, g_camids):
    """Per-query AP and INP from a plain loop (stable sort; fast-reid's INP), NaN when skipped."""
    ap = np.full(distmat.shape[0], np.nan)
    inp = np.full(distmat.shape[0], np.nan)
    for q in range(distmat.shape[0]):
        order = np.argsort(distmat[q], kind="stable")
        keep = ~((g_pids[order] == q_pids[q]) & (g_camids[order] == q_camids[q]))
        hits = (g_pids[order] == q_pids[q])[keep]
        if not hits.any():
            continue
        ranks = np.flatnonzero(hits)  # 0-based ranks of the true matches in the kept ranking
        ap[q] = np.mean(np.arange(1, ranks.size + 1) / (ranks + 1.0))
        inp[q] = ranks.size / (ranks[-1] + 1.0)
    return ap, inp


def random_problem(seed, num_q=60, num_g=400, num_ids=40, num_cams=4, dtype=np.float64):
    rng = np.random.default_rng(seed)
    q_pids = rng.integers(0, num_ids + 5, num_q)  # some query ids never appear in the gallery
    g_pids = rng.integers(0, num_ids, num_g)
    q_camids = rng.integers(0, num_cams, num_q)
    g_camids = rng.integers(0, num_cams, num_g)
    # queries only seen by their own camera in the gallery -> skipped queries
    g_camids[g_pids == 3] = 1
    q_camids[q_pids == 3] = 1
    distmat = rng.random((num_q, num_g)).astype(dtype)  # float64: tie-free
    return distmat, q_pids, g_pids, q_camids, g_camids


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_classic_loop_random(seed):
    args = random_problem(seed)
    distmat, q_pids, g_pids, q_camids, g_camids = args
    # the problem really has junk entries and queries without a valid match
    junk = (q_pids[:, None] == g_pids[None]) & (q_camids[:, None] == g_camids[None])
    assert junk.any()
    valid = ((q_pids[:, None] == g_pids[None]) & ~junk).any(1)
    assert (~valid).any() and valid.any()
    cmc, mAP, mINP = evaluate_rank(*args, max_rank=50, return_minp=True)
    ref_cmc, ref_mAP, ref_mINP = classic_eval_market1501(*args, max_rank=50)
    assert cmc.shape == (50,)
    np.testing.assert_allclose(cmc, ref_cmc, atol=1e-6)
    assert mAP == pytest.approx(ref_mAP, abs=1e-10)
    assert mINP == pytest.approx(ref_mINP, abs=1e-10)
    assert np.all(np.diff(cmc) >= 0) and 0 <= cmc[0] <= cmc[-1] <= 1
    # chunking does not change anything
    cmc2, mAP2 = evaluate_rank(*args, max_rank=50, chunk_size=7)
    np.testing.assert_array_equal(cmc, cmc2)
    assert mAP2 == pytest.approx(mAP, abs=1e-12)


def test_ties_broken_by_gallery_index():
    rng = np.random.default_rng(5)
    distmat, q_pids, g_pids, q_camids, g_camids = random_problem(5, num_q=40, num_g=200)
    distmat = rng.integers(0, 6, distmat.shape).astype(np.float32)  # massive ties
    cmc, mAP, mINP = evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, 20, return_minp=True)
    ref = classic_eval_market1501(distmat, q_pids, g_pids, q_camids, g_camids, 20, kind="stable")
    np.testing.assert_allclose(cmc, ref[0], atol=1e-6)
    assert mAP == pytest.approx(ref[1], abs=1e-10)
    assert mINP == pytest.approx(ref[2], abs=1e-10)


def test_hand_computed_case():
    # one query (pid 1, camera 0); gallery sorted by distance:
    # g0 pid 1 cam 0 (junk, removed), g1 pid 2, g2 pid 1 cam 1 (match), g3 pid 3, g4 pid 1 cam 2 (match)
    distmat = np.array([[0.1, 0.2, 0.3, 0.4, 0.5]])
    g_pids = np.array([1, 2, 1, 3, 1])
    g_camids = np.array([0, 1, 1, 0, 2])
    cmc, mAP, mINP = evaluate_rank(distmat, [1], g_pids, [0], g_camids, max_rank=5, return_minp=True)
    # kept ranking: pid 2, pid 1, pid 3, pid 1 -> matches at ranks 2 and 4
    np.testing.assert_allclose(cmc, [0, 1, 1, 1, 1])
    assert mAP == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert mINP == pytest.approx(2 / 4)
    # a second query with a perfect ranking and one without any valid match (skipped)
    distmat = np.array([[0.1, 0.2, 0.3, 0.4, 0.5], [0.9, 0.8, 0.1, 0.7, 0.2], [0.1, 0.1, 0.1, 0.1, 0.1]])
    cmc, mAP = evaluate_rank(distmat, [1, 1, 7], g_pids, [0, 0, 0], g_camids, max_rank=3)
    np.testing.assert_allclose(cmc, [0.5, 1, 1])
    assert mAP == pytest.approx((0.5 + 1.0) / 2)


def test_max_rank_longer_than_gallery_and_torch_inputs():
    distmat = torch.tensor([[0.3, 0.1, 0.2]])
    cmc, mAP = evaluate_rank(distmat, torch.tensor([4]), torch.tensor([5, 6, 4]), torch.tensor([0]),
                             torch.tensor([1, 1, 1]), max_rank=10)
    assert cmc.shape == (10,)
    np.testing.assert_allclose(cmc, [0, 1, 1] + [1] * 7)  # sorted: pid 6, pid 4 (match), pid 5
    assert mAP == pytest.approx(1 / 2)


def test_errors():
    d = np.zeros((2, 3))
    ok = dict(q_pids=[0, 1], g_pids=[0, 1, 2], q_camids=[0, 0], g_camids=[1, 1, 1])
    evaluate_rank(d, **ok)
    with pytest.raises(ValueError, match="2-D"):
        evaluate_rank(np.zeros(3), **ok)
    with pytest.raises(ValueError, match="g_pids has 2 entries"):
        evaluate_rank(d, **{**ok, "g_pids": [0, 1]})
    with pytest.raises(ValueError, match="q_camids has 3 entries"):
        evaluate_rank(d, **{**ok, "q_camids": [0, 0, 0]})
    with pytest.raises(ValueError, match="1-D"):
        evaluate_rank(d, **{**ok, "q_pids": [[0, 1]]})
    with pytest.raises(ValueError, match="max_rank"):
        evaluate_rank(d, **ok, max_rank=0)
    with pytest.raises(ValueError, match="NaN"):
        evaluate_rank(np.full((2, 3), np.nan), **ok)
    # no valid query: every match is in the query's own camera
    with pytest.warns(RuntimeWarning), pytest.raises(ValueError, match="No query"):
        evaluate_rank(d, q_pids=[0, 1], g_pids=[0, 1, 2], q_camids=[1, 1], g_camids=[1, 1, 1])


def test_faster_than_classic_loop():
    # Market-1501 scale (3368 x 15913): see benchmarks/RESULTS.md. Here a smaller problem keeps the
    # test quick. Timed in CPU time of the process (time spent waiting for a core under load is not
    # counted), best of 3 for the fast side; the bound is far below the measured ratio (~50x).
    args = random_problem(11, num_q=300, num_g=4000, num_ids=300, num_cams=6)
    t0 = time.process_time()
    ref = classic_eval_market1501(*args)
    t_classic = time.process_time() - t0
    t_vec = float("inf")
    for _ in range(3):
        t0 = time.process_time()
        cmc, mAP = evaluate_rank(*args)
        t_vec = min(t_vec, time.process_time() - t0)
    np.testing.assert_allclose(cmc, ref[0], atol=1e-6)
    assert mAP == pytest.approx(ref[1], abs=1e-10)
    assert t_classic / max(t_vec, 1e-6) > 2.0, (t_classic, t_vec)


def _tied(distmat, kind, rng):
    """The same problem with ties of a given kind (none, a few, massive)."""
    if kind == "none":
        return distmat
    if kind == "few":  # float32 rounded to 2 decimals: some ties, many distinct values
        return np.round(distmat, 2).astype(np.float32)
    if kind == "int":  # integer distances (e.g. Hamming): massive ties, integer dtype
        return rng.integers(0, 8, distmat.shape).astype(np.int64)
    raise ValueError(kind)


@pytest.mark.parametrize("kind", ["none", "few", "int"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_cases_against_naive_loop(seed, kind):
    rng = np.random.default_rng(100 + seed)
    num_g = [400, 30, 120, 7][seed]  # seed 1 and 3: gallery shorter than max_rank
    distmat, q_pids, g_pids, q_camids, g_camids = random_problem(
        seed, num_q=50, num_g=num_g, num_ids=[40, 6, 20, 3][seed], num_cams=[4, 2, 3, 2][seed])
    distmat = _tied(distmat, kind, rng)
    if kind != "none":
        assert len(np.unique(distmat)) < distmat.size  # really has ties
    cmc, mAP, mINP, all_ap, all_inp = evaluate_rank(
        distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50, return_minp=True,
        return_per_query=True)
    ref_cmc, ref_mAP, ref_mINP = classic_eval_market1501(
        distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50, kind="stable")
    ref_ap, ref_inp = naive_per_query(distmat, q_pids, g_pids, q_camids, g_camids)
    assert cmc.shape == (50,)
    np.testing.assert_allclose(cmc, ref_cmc, atol=1e-6)
    assert mAP == pytest.approx(ref_mAP, abs=1e-12)
    assert mINP == pytest.approx(ref_mINP, abs=1e-12)
    np.testing.assert_array_equal(np.isnan(all_ap), np.isnan(ref_ap))
    np.testing.assert_allclose(all_ap, ref_ap, atol=1e-12)  # NaN == NaN for the skipped queries
    np.testing.assert_allclose(all_inp, ref_inp, atol=1e-12)
    assert np.nanmean(all_ap) == pytest.approx(mAP, abs=1e-12)
    for chunk in (1, 3, 1000):  # chunking changes nothing
        c2, m2, i2 = evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, 50,
                                   return_minp=True, chunk_size=chunk)
        np.testing.assert_array_equal(c2, cmc)
        assert m2 == pytest.approx(mAP, abs=1e-12) and i2 == pytest.approx(mINP, abs=1e-12)


def clustered_problem(seed, num_q=80, num_g=500, num_ids=30, num_cams=3, noise=1.0, dim=16):
    """Distances from features (identity centre + noise): a model that ranks matches early, so
    the counting leaves its comparison passes for the gathered entries after a level or two."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((num_ids + 5, dim))
    q_pids = rng.integers(0, num_ids + 5, num_q)  # ids >= num_ids are not in the gallery
    g_pids = rng.integers(0, num_ids, num_g)
    q_camids, g_camids = rng.integers(0, num_cams, num_q), rng.integers(0, num_cams, num_g)
    qf = centres[q_pids] + noise * rng.standard_normal((num_q, dim))
    gf = centres[g_pids] + noise * rng.standard_normal((num_g, dim))
    return cosine_distance(qf, gf), q_pids, g_pids, q_camids, g_camids


def _with_kind(distmat, kind, rng):
    if kind == "inf":  # masked pairs at +inf, a few at -inf
        d = distmat.copy()
        d[rng.random(d.shape) < 0.2] = np.inf
        d[rng.random(d.shape) < 0.05] = -np.inf
        return d
    return _tied(distmat, kind, rng)


def _ranks(fn, distmat, q_pids, g_pids, q_camids, g_camids, chunk_size):
    rows, cols = _same_pid_pairs(q_pids, g_pids)
    junk = g_camids[cols] == q_camids[rows]
    return fn(distmat, rows[~junk], cols[~junk], rows[junk], cols[junk], chunk_size)


# the counting uses comparison passes ("dense") while more than _SPARSE_FRACTION of a chunk lies at
# or below the thresholds, then the gathered entries ("sparse"): 0.0 never leaves the passes, 1.0
# leaves them after the first level, 0.2 is the default
@pytest.mark.parametrize("sparse_fraction", [0.0, 0.2, 1.0])
@pytest.mark.parametrize("kind", ["none", "few", "int", "inf"])
@pytest.mark.parametrize("problem", ["random", "clustered", "short_gallery"])
def test_counting_equals_sorted_twin(problem, kind, sparse_fraction, monkeypatch):
    """evaluate_rank (counting, no row sort) == _evaluate_rank_sorted (the previous, sorting one):
    the same match ranks, hence the same CMC, mAP, mINP, per-query AP and INP."""
    monkeypatch.setattr(match_ranks, "_SPARSE_FRACTION", sparse_fraction)
    seed = {"random": 0, "clustered": 1, "short_gallery": 2}[problem]
    rng = np.random.default_rng(200 + seed)
    if problem == "clustered":
        args = list(clustered_problem(seed))
    elif problem == "random":
        args = list(random_problem(seed, num_q=60, num_g=300, num_ids=25, num_cams=3))
    else:  # gallery shorter than max_rank
        args = list(random_problem(seed, num_q=40, num_g=12, num_ids=4, num_cams=2))
    args[0] = _with_kind(args[0], kind, rng)
    distmat, q_pids, g_pids, q_camids, g_camids = args
    # the problem has what the protocol must handle: junk, skipped queries, and, for the tied
    # kinds, true matches at the same distance as another entry of their row
    same = q_pids[:, None] == g_pids[None]
    junk = same & (q_camids[:, None] == g_camids[None])
    assert junk.any() and (~(same & ~junk).any(1)).any() and (same & ~junk).any()
    if kind in ("few", "int", "inf"):
        tied = [np.count_nonzero(distmat[q] == distmat[q, c]) > 1 for q, c in zip(*np.nonzero(same & ~junk))]
        assert any(tied)
    max_rank = 50
    assert problem != "short_gallery" or distmat.shape[1] < max_rank
    for chunk in (None, 1, 7):
        want_ranks = _ranks(_match_ranks_sorted, *args, chunk_size=chunk or 1000)
        got_ranks = _ranks(_match_ranks, *args, chunk_size=chunk or 1000)
        np.testing.assert_array_equal(got_ranks, want_ranks)
        got = evaluate_rank(*args, max_rank=max_rank, return_minp=True, return_per_query=True, chunk_size=chunk)
        want = _evaluate_rank_sorted(*args, max_rank=max_rank, return_minp=True, return_per_query=True,
                                     chunk_size=chunk)
        assert got[0].shape == (max_rank,)
        np.testing.assert_allclose(got[0], want[0], rtol=0, atol=1e-9)
        assert abs(got[1] - want[1]) <= 1e-9 and abs(got[2] - want[2]) <= 1e-9
        np.testing.assert_array_equal(np.isnan(got[3]), np.isnan(want[3]))
        np.testing.assert_allclose(got[3], want[3], rtol=0, atol=1e-9)
        np.testing.assert_allclose(got[4], want[4], rtol=0, atol=1e-9)
    # and both agree with the classic per-query loop (independent code)
    ref = classic_eval_market1501(*args, max_rank=max_rank, kind="stable")
    np.testing.assert_allclose(got[0], ref[0], atol=1e-6)
    assert got[1] == pytest.approx(ref[1], abs=1e-12) and got[2] == pytest.approx(ref[2], abs=1e-12)


def test_tie_rule_is_gallery_index_order():
    # one query, pid 1 camera 0; every gallery entry at the same distance
    d = np.zeros((1, 4))
    # the match at index 3, three others before it in index order -> rank 3 (0-based)
    cmc, mAP = evaluate_rank(d, [1], [2, 3, 4, 1], [0], [1, 1, 1, 1], max_rank=4)
    np.testing.assert_allclose(cmc, [0, 0, 0, 1])
    assert mAP == pytest.approx(1 / 4)
    # the match at index 0 -> rank 0
    cmc, mAP = evaluate_rank(d, [1], [1, 3, 4, 2], [0], [1, 1, 1, 1], max_rank=4)
    np.testing.assert_allclose(cmc, [1, 1, 1, 1])
    assert mAP == 1.0
    # a junk entry (same pid, same camera) tied at a smaller index does not count
    cmc, mAP = evaluate_rank(np.zeros((1, 3)), [1], [1, 2, 1], [0], [0, 1, 1], max_rank=3)
    np.testing.assert_allclose(cmc, [0, 1, 1])  # kept ranking: pid 2, pid 1
    assert mAP == pytest.approx(1 / 2)
    # ties only with the smaller distances broken; strict order elsewhere
    d = np.array([[0.5, 0.2, 0.5, 0.5, 0.1]])
    cmc, mAP, ap, inp = evaluate_rank(d, [7], [7, 1, 2, 7, 3], [0], [1, 1, 1, 2, 1], max_rank=5,
                                      return_per_query=True)
    # order: g4 (0.1), g1 (0.2), g0 (0.5, match), g2 (0.5), g3 (0.5, match)
    assert ap[0] == pytest.approx((1 / 3 + 2 / 5) / 2)
    assert inp[0] == pytest.approx(2 / 5)
    np.testing.assert_allclose(cmc, [0, 0, 1, 1, 1])


def test_infinite_distances_and_dtypes():
    rng = np.random.default_rng(7)
    args = list(random_problem(7, num_q=30, num_g=80, num_ids=10, num_cams=3))
    d = args[0]
    d[rng.random(d.shape) < 0.2] = np.inf  # e.g. masked pairs
    d[rng.random(d.shape) < 0.05] = -np.inf
    ref = classic_eval_market1501(d, *args[1:], max_rank=20, kind="stable")
    for dist in (d, d.astype(np.float32), torch.from_numpy(d), np.asfortranarray(d), d.astype(">f8")):
        cmc, mAP, mINP = evaluate_rank(dist, *args[1:], max_rank=20, return_minp=True)
        np.testing.assert_allclose(cmc, ref[0], atol=1e-6)
        assert mAP == pytest.approx(ref[1], abs=1e-12) and mINP == pytest.approx(ref[2], abs=1e-12)
    # unsigned integers, with matches at the dtype's largest value (the value junk is set to)
    di = rng.integers(0, 3, d.shape).astype(np.uint8)
    di[rng.random(d.shape) < 0.3] = 255
    ref = classic_eval_market1501(di, *args[1:], max_rank=20, kind="stable")
    cmc, mAP, mINP = evaluate_rank(di, *args[1:], max_rank=20, return_minp=True)
    np.testing.assert_allclose(cmc, ref[0], atol=1e-6)
    assert mAP == pytest.approx(ref[1], abs=1e-12) and mINP == pytest.approx(ref[2], abs=1e-12)


def test_torchreid_style_calls():
    args = random_problem(4, num_q=30, num_g=150, num_ids=25, num_cams=2)
    cmc, mAP = evaluate_rank(*args)
    # torchreid's positional order: max_rank, use_metric_cuhk03, use_cython (ignored)
    for use_cython in (True, False):
        c, m = evaluate_rank(*args, 50, False, use_cython)
        np.testing.assert_array_equal(c, cmc)
        assert m == mAP
    # use_metric_cuhk03 dispatches to the single-gallery-shot CMC; mAP is on the full ranking,
    # as in torchreid's eval_cuhk03
    c, m = evaluate_rank(*args, max_rank=10, use_metric_cuhk03=True)
    ref_c, ref_m = evaluate_cuhk03(*args, max_rank=10)
    np.testing.assert_array_equal(c, ref_c)
    assert m == pytest.approx(ref_m, abs=1e-12) and m == pytest.approx(mAP, abs=1e-12)
    c, m, mi, ap, inp = evaluate_rank(*args, 10, True, return_minp=True, return_per_query=True)
    np.testing.assert_array_equal(c, ref_c)
    ref_ap, ref_inp = naive_per_query(*args)
    np.testing.assert_allclose(ap, ref_ap, atol=1e-12)
    np.testing.assert_allclose(inp, ref_inp, atol=1e-12)
    with pytest.raises(TypeError):  # the extra options are keyword-only
        evaluate_rank(*args, 50, False, True, True)
    with pytest.raises(ValueError, match="chunk_size"):
        evaluate_rank(*args, chunk_size=0)


def naive_cuhk03_cmc(distmat, q_pids, g_pids, q_camids, g_camids, max_rank, repeats, seed):
    """torchreid's eval_cuhk03 single-shot CMC loop (only the CMC part)."""
    rng = np.random.default_rng(seed)
    indices = np.argsort(distmat, axis=1, kind="stable")
    all_cmc = []
    for q in range(distmat.shape[0]):
        order = indices[q]
        keep = ~((g_pids[order] == q_pids[q]) & (g_camids[order] == q_camids[q]))
        raw = (g_pids[order] == q_pids[q])[keep].astype(int)
        if not raw.any():
            continue
        groups = defaultdict(list)
        for i, pid in enumerate(g_pids[order][keep]):
            groups[pid].append(i)
        cmc = 0.0
        for _ in range(repeats):
            mask = np.zeros(len(raw), bool)
            for idxs in groups.values():
                mask[rng.choice(idxs)] = True
            c = raw[mask].cumsum()
            c[c > 1] = 1
            c = np.concatenate([c, np.ones(max(0, max_rank - len(c)), int)])
            cmc = cmc + c[:max_rank]
        all_cmc.append(cmc / repeats)
    return np.mean(all_cmc, axis=0)


def test_cuhk03_protocol():
    args = random_problem(3, num_q=30, num_g=150, num_ids=25, num_cams=2)
    cmc, mAP = evaluate_cuhk03(*args, max_rank=10, repeats=300, seed=0)
    ref = naive_cuhk03_cmc(*args, max_rank=10, repeats=300, seed=1)
    # two independent Monte-Carlo estimates of the same expectation
    np.testing.assert_allclose(cmc, ref, atol=0.04)
    assert mAP == pytest.approx(evaluate_rank(*args)[1], abs=1e-12)  # AP on the full ranking
    # deterministic for a seed
    np.testing.assert_array_equal(cmc, evaluate_cuhk03(*args, max_rank=10, repeats=300, seed=0)[0])
    # with one gallery image per identity the draw is irrelevant: equals the Market CMC
    distmat, q_pids, _, q_camids, _ = args
    g_pids = np.arange(distmat.shape[1]) % 100
    g_camids = np.ones(distmat.shape[1], int)
    g_pids[100:] = 1000 + np.arange(distmat.shape[1] - 100)
    q_camids = np.zeros_like(q_camids)
    single, _ = evaluate_cuhk03(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=10, repeats=3)
    market, _ = evaluate_rank(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=10)
    np.testing.assert_allclose(single, market, atol=1e-12)


def test_distances():
    rng = np.random.default_rng(0)
    q, g = rng.normal(size=(5, 8)), rng.normal(size=(7, 8))
    d = cosine_distance(q, g)
    ref = 1 - torch.nn.functional.cosine_similarity(
        torch.tensor(q)[:, None], torch.tensor(g)[None], dim=2
    ).numpy()
    np.testing.assert_allclose(d, ref, atol=1e-6)
    dt = cosine_distance(torch.tensor(q, dtype=torch.float32), torch.tensor(g, dtype=torch.float32))
    assert isinstance(dt, torch.Tensor)
    np.testing.assert_allclose(dt.numpy(), ref, atol=1e-5)
    e = euclidean_distance(q, g)
    np.testing.assert_allclose(e, ((q[:, None] - g[None]) ** 2).sum(-1), atol=1e-6)
    np.testing.assert_allclose(compute_distance_matrix(q, g, "euclidean"), e)
    with pytest.raises(ValueError, match="metric"):
        compute_distance_matrix(q, g, "manhattan")
    with pytest.raises(ValueError, match="dimension"):
        cosine_distance(q, g[:, :3])
