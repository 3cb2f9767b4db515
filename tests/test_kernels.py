"""ianet_viz.kernels: the fast paths give the numbers of the equations (functional) and of the loops (reference)."""
import math

import numpy as np
import pytest
import torch

from ianet_viz import functional as Fn
from ianet_viz import kernels as K
from ianet_viz import reference as R


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_shifted_sums_equal_unfolded_patches(k):
    """The shifted-sum identity: patch logits equal dot products of zero-padded unfolded patches."""
    f = torch.randn(2, 3, 6, 4, dtype=torch.float64)
    want = R.unfold_logits(f, k)
    got = Fn.appearance_logits(f, (k,), scale=1.0)[k]
    torch.testing.assert_close(got, want)


@pytest.mark.parametrize("ks", [(1,), (2,), (3,), (1, 2, 3), (2, 5), (1, 3, 5), (3, 5, 7), (1, 11)])
def test_summed_patch_logits_equals_sum_of_each_k(ks):
    g = torch.randn(2, 7 * 5, 7 * 5, dtype=torch.float64)
    g_before = g.clone()
    each = K.patch_logits_multi(g, 7, 5, ks)
    torch.testing.assert_close(K.summed_patch_logits(g, 7, 5, ks), sum(each[k] for k in ks))
    weights = {k: 1.0 / (k + 0.5) for k in ks}
    weighted = K.patch_logits_multi(g, 7, 5, ks, weights)
    for k in ks:
        torch.testing.assert_close(weighted[k], each[k] * weights[k])
    torch.testing.assert_close(K.summed_patch_logits(g, 7, 5, ks, weights), sum(weighted[k] for k in ks))
    torch.testing.assert_close(g, g_before)  # the input is not modified


@pytest.mark.parametrize("ks", [(1,), (1, 2, 3), (2, 5)])
@pytest.mark.parametrize("use_location", [True, False])
def test_fast_path_equals_full_maps(ks, use_location):
    """need_maps=False (one softmax, normalisers cancel) gives the same output as the full computation."""
    f = torch.rand(2, 8, 6, 4, dtype=torch.float64)
    e_full, maps = Fn.sia(f, ks=ks, sigma=(2.0, 3.0), use_location=use_location)
    e_fast, none = Fn.sia(f, ks=ks, sigma=(2.0, 3.0), use_location=use_location, need_maps=False)
    assert none == {}
    torch.testing.assert_close(e_fast, e_full)


@pytest.mark.parametrize("scale", [None, 1.0, 0.2])
@pytest.mark.parametrize("shape", [(2, 24, 3, 4), (2, 5, 4, 4), (1, 9, 1, 1)])
def test_fused_cia_matches_naive_loop(scale, shape):
    """The fused kernel (eq. 7-8 without the C x C map) against the loops, for C > M and C <= M."""
    f = torch.rand(*shape, dtype=torch.float64)
    b, c, h, w = shape
    eff = 1 / math.sqrt(h * w) if scale is None else scale
    fused = K.fused_channel_attention(f, scale)
    e, c_map = Fn.cia(f, scale=scale, need_map=False)
    assert c_map is None
    for i in range(b):
        e_n, _ = R.cia_loop(f[i], eff)
        np.testing.assert_allclose(fused[i].reshape(c, -1).numpy(), e_n, rtol=1e-9)
        np.testing.assert_allclose(e[i].reshape(c, -1).numpy(), e_n, rtol=1e-9)


def test_fused_cia_gradients_match_explicit_path():
    f = torch.randn(2, 24, 3, 4, dtype=torch.float64, requires_grad=True)
    g = torch.randn(2, 24, 3, 4, dtype=torch.float64)
    (grad_fused,) = torch.autograd.grad((K.fused_channel_attention(f) * g).sum(), f)
    (grad_explicit,) = torch.autograd.grad((Fn.cia(f)[0] * g).sum(), f)
    torch.testing.assert_close(grad_fused, grad_explicit)


def test_fused_cia_keeps_float32_under_bf16_autocast():
    f = torch.randn(2, 24, 3, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        e = K.fused_channel_attention(f.bfloat16())
    assert e.dtype == torch.bfloat16
    ref = Fn.cia(f.bfloat16().float())[0]
    torch.testing.assert_close(e.float(), ref, atol=2e-2, rtol=2e-2)


@pytest.mark.parametrize("shape", [(2, 16, 8, 4), (1, 8, 5, 3), (2, 32, 32, 16)])
@pytest.mark.parametrize("ks", [(1,), (2,), (1, 2, 3), (3, 1)])
@pytest.mark.parametrize("rows", [1, 3, 16])
def test_slabs_of_query_rows_equal_the_whole_tensor_path(shape, ks, rows):
    """kernels.sia_by_query_rows: every slab size gives the whole-tensor summed logits' E_S."""
    from ianet_viz.kernels import sia_by_query_rows

    torch.manual_seed(sum(shape) + rows)
    f = 0.2 * torch.randn(*shape, dtype=torch.float64)
    b, c, h, w = shape
    base, weights = Fn.context_weights(ks, None, c)
    g = Fn.dot_product_matrix(f, base)
    log_l = Fn.log_location_relation(h, w, (2.0, 4.0), dtype=torch.float64)
    for prior in (log_l, None):
        total = K.summed_patch_logits(g, h, w, ks, weights) + (0 if prior is None else prior)
        want = Fn.aggregate(f, torch.softmax(total, -1)).flatten(2)
        got = sia_by_query_rows(f.flatten(2), g, h, w, ks, weights, prior, rows=rows)
        assert torch.allclose(got, want, atol=1e-12, rtol=0)


def test_sia_takes_the_slab_path_only_without_autograd_and_agrees_with_it():
    torch.manual_seed(3)
    f = (0.3 * torch.randn(4, 8, 32, 16, dtype=torch.float64)).requires_grad_(True)  # 4 x 512 x 512: 4 MB
    with_grad, _ = Fn.sia(f, ks=(1, 2, 3), sigma=(2.0, 4.0), need_maps=False)
    assert with_grad.grad_fn is not None  # the whole-tensor path, differentiable
    with torch.no_grad():
        slab, _ = Fn.sia(f, ks=(1, 2, 3), sigma=(2.0, 4.0), need_maps=False)
    assert Fn._slab_path(f.detach()) and not Fn._slab_path(f)
    assert not Fn._slab_path(torch.zeros(1, 8, 32, 16)) and not Fn._slab_path(torch.zeros(64, 8, 16, 8))  # fits
    assert torch.allclose(slab, with_grad.detach(), atol=1e-12, rtol=0)
