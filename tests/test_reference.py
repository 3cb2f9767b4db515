"""ianet_viz.reference: the slow references agree with each other and with the fast code they check."""
import numpy as np
import pytest
import torch

from ianet_viz import functional as Fn
from ianet_viz import reference as R
from ianet_viz.metrics import evaluate_rank


def test_offsets_are_the_papers_patch():
    assert [R.offsets(k) for k in (1, 2, 3, 5)] == [[0], [0, 1], [-1, 0, 1], [-2, -1, 0, 1, 2]]
    assert all(R.offsets(k) == list(Fn.patch_offsets(k)) for k in range(1, 8))


@pytest.mark.parametrize("k", [1, 2, 3])
def test_loop_and_unfold_agree(k):
    f = torch.randn(1, 3, 4, 3, dtype=torch.float64)
    torch.testing.assert_close(R.eq1_logits_loop(f[0], k), R.unfold_logits(f, k)[0])


def test_sia_unfold_equals_functional_sia():
    f = 0.3 * torch.randn(2, 6, 5, 4, dtype=torch.float64)
    ks, sigma = (1, 2, 3), (2.0, 4.0)
    base, weights = Fn.context_weights(ks, None, 6)
    want = Fn.sia(f, ks=ks, sigma=sigma)[0]
    torch.testing.assert_close(R.sia_unfold(f, ks, sigma, {k: base * w for k, w in weights.items()}), want)
    e_loop, _ = R.sia_loop(f[0], (1,), sigma, base)
    np.testing.assert_allclose(e_loop, Fn.sia(f, ks=(1,), sigma=sigma)[0][0].reshape(6, -1).numpy(), rtol=1e-9)


def test_classic_loop_equals_evaluate_rank():
    rng = np.random.default_rng(0)
    q_pids, g_pids = rng.integers(0, 8, 20), rng.integers(0, 8, 80)
    q_cams, g_cams = rng.integers(0, 3, 20), rng.integers(0, 3, 80)
    dist = rng.random((20, 80))
    cmc, m_ap, _ = R.classic_eval_market1501(dist, q_pids, g_pids, q_cams, g_cams, max_rank=10)
    want_cmc, want_map = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, max_rank=10)
    np.testing.assert_allclose(cmc, want_cmc, atol=1e-6)
    assert m_ap == pytest.approx(want_map)
