"""ianet_viz.rerank.k_reciprocal_rerank (Zhong et al., CVPR 2017) against the loop written from
the paper's definitions (ianet_viz.reference.rerank_loop), its properties, its errors, and that it
helps retrieval on a clustered toy problem."""
import numpy as np
import pytest
import torch

from ianet_viz import rerank as RR
from ianet_viz.metrics import cosine_distance, euclidean_distance, evaluate_rank
from ianet_viz.reference import rerank_loop
from ianet_viz.rerank import k_reciprocal_rerank


def feature_problem(seed, nq, ng, dim=8):
    """(q_g, q_q, g_g) euclidean distances of random features: symmetric, non-negative, tie-free."""
    rng = np.random.default_rng(seed)
    f = rng.standard_normal((nq + ng, dim))
    d = np.sqrt(euclidean_distance(f, f))
    return d[:nq, nq:], d[:nq, :nq], d[nq:, nq:]


def toy_reid(seed, ids=20, per_gallery=10, per_query=2, noise=1.2, dim=16):
    """Identity centres + noise; queries seen by camera 0, gallery by camera 1 (no junk)."""
    rng = np.random.default_rng(seed)
    g_pids, q_pids = np.repeat(np.arange(ids), per_gallery), np.repeat(np.arange(ids), per_query)
    centres = rng.standard_normal((ids, dim))
    qf = centres[q_pids] + noise * rng.standard_normal((q_pids.size, dim))
    gf = centres[g_pids] + noise * rng.standard_normal((g_pids.size, dim))
    dists = cosine_distance(qf, gf), cosine_distance(qf, qf), cosine_distance(gf, gf)
    return dists, (q_pids, g_pids, np.zeros(q_pids.size, int), np.ones(g_pids.size, int))


def _kth_ties(q_g, q_q, g_g, k):
    """Whether some image's k-th smallest normalised squared distance is tied with another entry
    (where the selection of the first k neighbours has to break a tie)."""
    d = np.block([[q_q, q_g], [q_g.T, g_g]]).astype(np.float64) ** 2
    d = (d / np.where(d.max(0) > 0, d.max(0), 1)).T
    s = np.sort(d, axis=1)
    return bool((s[:, k - 1] == s[:, k]).any())


CASES = {
    # name: (problem, k1, k2, lambda)
    "features": ("features", 5, 3, 0.3),
    "paper_defaults": ("features", 20, 6, 0.3),
    "odd_k1_no_query_expansion": ("features", 5, 1, 0.5),  # round(5 / 2) = 2 (half to even)
    "asymmetric": ("asymmetric", 4, 2, 0.3),  # q_q, g_g not symmetric: columns are used, as the authors' code
    "asymmetric_k2_3": ("asymmetric", 4, 3, 0.3),
    "integer_ties": ("integer", 6, 3, 0.3),
    "jaccard_only": ("features", 3, 2, 0.0),
    "original_only": ("features", 3, 2, 1.0),
    "every_image_a_neighbour": ("tiny", 8, 2, 0.3),  # k1 + 1 = all 9 images
}


@pytest.mark.parametrize("small_chunks", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_loop_from_the_paper(case, small_chunks, monkeypatch):
    problem, k1, k2, lam = CASES[case]
    if small_chunks:  # many chunks, one of them across the query / gallery boundary; tiny joins
        monkeypatch.setattr(RR, "_CHUNK_ELEMENTS", 97)
        monkeypatch.setattr(RR, "_JOIN_PAIRS", 13)
    rng = np.random.default_rng(len(case))
    nq, ng = {"integer": (10, 30), "tiny": (3, 6)}.get(problem, (12, 40))
    if problem in ("features", "tiny"):
        q_g, q_q, g_g = feature_problem(len(case), nq, ng)
    else:
        # an image is at distance 0 from itself and further from any other: every image is its
        # own first neighbour, so has a k-reciprocal neighbour (see k_reciprocal_rerank, step 6)
        if problem == "asymmetric":
            q_g, q_q, g_g = rng.random((nq, ng)), rng.random((nq, nq)), rng.random((ng, ng))
            assert not np.allclose(q_q, q_q.T) and not np.allclose(g_g, g_g.T)
        else:
            q_g, q_q, g_g = rng.integers(1, 5, (nq, ng)), rng.integers(1, 5, (nq, nq)), rng.integers(1, 5, (ng, ng))
        np.fill_diagonal(q_q, 0)
        np.fill_diagonal(g_g, 0)
        if problem == "integer":
            assert _kth_ties(q_g, q_q, g_g, k1 + 1)  # the neighbour selection must break ties
    got = k_reciprocal_rerank(q_g, q_q, g_g, k1, k2, lam)
    want = rerank_loop(q_g, q_q, g_g, k1, k2, lam)
    assert got.shape == (nq, ng) and got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)  # float32 output of float64 work
    assert (got >= -1e-7).all() and (got <= 1 + 1e-6).all()


def test_lambda_one_is_the_normalised_original_distance():
    q_g, q_q, g_g = feature_problem(3, 9, 31)
    got = k_reciprocal_rerank(q_g, q_q, g_g, k1=4, k2=2, lambda_value=1.0)
    row_max = np.maximum(q_q.max(1), q_g.max(1)) ** 2  # the query's row of [[q_q, q_g], ...], squared
    np.testing.assert_allclose(got, q_g ** 2 / row_max[:, None], rtol=1e-6, atol=1e-7)
    # a positive per-row scale of a square of non-negative distances: the ranking is unchanged
    np.testing.assert_array_equal(np.argsort(got, axis=1, kind="stable"), np.argsort(q_g, axis=1, kind="stable"))


def test_permuting_images_permutes_the_result():
    q_g, q_q, g_g = feature_problem(4, 10, 35)
    rng = np.random.default_rng(0)
    pq, pg = rng.permutation(10), rng.permutation(35)
    base = k_reciprocal_rerank(q_g, q_q, g_g, k1=6, k2=3)
    perm = k_reciprocal_rerank(q_g[pq][:, pg], q_q[pq][:, pq], g_g[pg][:, pg], k1=6, k2=3)
    np.testing.assert_allclose(perm, base[pq][:, pg], atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_improves_map_on_clustered_toy(seed):
    """Images of one identity form a cluster; noise pushes some true matches behind other
    identities' images. Their k-reciprocal neighbourhoods still overlap, which re-ranking uses.
    (mAP, not rank-1: re-ranking may lose a first match while it lifts the others, here in seed 2.)"""
    (q_g, q_q, g_g), ids = toy_reid(seed)
    before = evaluate_rank(q_g, *ids)[1]
    after = evaluate_rank(k_reciprocal_rerank(q_g, q_q, g_g), *ids)[1]  # the paper's k1, k2, lambda
    assert 0.3 < before < 0.7  # a problem with room to improve
    assert after > before + 0.05, (before, after)


def test_accepts_torch_tensors():
    q_g, q_q, g_g = feature_problem(5, 6, 20)
    want = k_reciprocal_rerank(q_g, q_q, g_g, k1=4, k2=2)
    got = k_reciprocal_rerank(*(torch.from_numpy(a).float() for a in (q_g, q_q, g_g)), k1=4, k2=2)
    assert isinstance(got, np.ndarray)
    np.testing.assert_allclose(got, want, atol=1e-5)


def test_errors_name_the_problem():
    q_g, q_q, g_g = feature_problem(6, 5, 12)
    with pytest.raises(ValueError, match=r"q_g_dist must be a 2-D"):
        k_reciprocal_rerank(q_g[0], q_q, g_g)
    with pytest.raises(ValueError, match=r"q_q_dist must be the \[num_query, num_query\] = \[5, 5\]"):
        k_reciprocal_rerank(q_g, g_g, q_q)  # swapped
    with pytest.raises(ValueError, match=r"g_g_dist must be the \[num_gallery, num_gallery\] = \[12, 12\]"):
        k_reciprocal_rerank(q_g, q_q, g_g[:11, :11])
    bad = q_g.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="q_g_dist contains NaN or infinite"):
        k_reciprocal_rerank(bad, q_q, g_g)
    with pytest.raises(ValueError, match=r"k1=17 needs at least k1 \+ 1 = 18 images .* got 17; use k1 <= 16"):
        k_reciprocal_rerank(q_g, q_q, g_g, k1=17)
    with pytest.raises(ValueError, match="k2=18 averages over more neighbours"):
        k_reciprocal_rerank(q_g, q_q, g_g, k1=4, k2=18)
    for k in (0, 2.5, True):
        with pytest.raises(ValueError, match="k1 must be a positive integer"):
            k_reciprocal_rerank(q_g, q_q, g_g, k1=k)
    with pytest.raises(ValueError, match=r"lambda_value .* in \[0, 1\]"):
        k_reciprocal_rerank(q_g, q_q, g_g, k1=4, lambda_value=1.5)
    with pytest.raises(ValueError, match="is empty"):
        k_reciprocal_rerank(np.zeros((0, 3)), np.zeros((0, 0)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="real numbers"):
        k_reciprocal_rerank(q_g.astype(complex), q_q, g_g)
