"""Every equation against a naive loop written from the paper, in float64, plus properties."""
import math

import numpy as np
import pytest
import torch

from ianet_viz import functional as Fn
from ianet_viz import reference as R

# ----------------------------------------------------------------------------- naive references
# (ianet_viz.reference: the equations as loops, written from the paper without the package's helpers)
naive_appearance = R.appearance_loop  # eq. 1: patch dot products with zero padding, then a row softmax


SHAPES = [(5, 3), (4, 6), (3, 3)]

# ----------------------------------------------------------------------------- eq. 1


@pytest.mark.parametrize("k", [1, 2, 3, 5])
@pytest.mark.parametrize("hw", SHAPES)
@pytest.mark.parametrize("scale", [None, 1.0, 0.3])
def test_appearance_matches_naive_loop(k, hw, scale):
    f = torch.rand(2, 4, *hw, dtype=torch.float64)
    got = Fn.appearance_relation(f, k, scale=scale)
    eff = 1 / (math.sqrt(4) * k * k) if scale is None else scale  # default: mean patch product / sqrt(C)
    for b in range(2):
        np.testing.assert_allclose(got[b].numpy(), naive_appearance(f[b], k, eff), rtol=1e-9, atol=1e-12)


def test_default_scale_keeps_every_k_at_the_temperature_of_k1():
    """With scale=None a K x K logit is the mean patch product: a constant map gives equal logits per K."""
    f = torch.ones(1, 4, 6, 6, dtype=torch.float64)
    logits = Fn.appearance_logits(f, (1, 2, 3))
    centre = 3 * 6 + 3  # an interior position: all K^2 patch terms exist
    for k in (2, 3):
        torch.testing.assert_close(logits[k][0, centre, centre], logits[1][0, centre, centre])
    assert Fn.context_weights((1, 3), None, 16) == (0.25, {1: 1.0, 3: 1 / 9})
    assert Fn.context_weights((1, 3), 1.0, 16) == (1.0, {1: 1.0, 3: 1.0})


def test_patch_offsets():
    assert list(Fn.patch_offsets(1)) == [0]
    assert list(Fn.patch_offsets(2)) == [0, 1]
    assert list(Fn.patch_offsets(3)) == [-1, 0, 1]
    assert list(Fn.patch_offsets(5)) == [-2, -1, 0, 1, 2]


# ----------------------------------------------------------------------------- eq. 2-6


@pytest.mark.parametrize("ks", [(1,), (3,), (1, 2, 3), (1, 3, 5)])
@pytest.mark.parametrize("fusion", ["renorm", "softmax"])
@pytest.mark.parametrize("multi", ["prod", "sum", "max"])
@pytest.mark.parametrize("hw", [(5, 3), (4, 6)])
def test_sia_matches_naive_loop(ks, fusion, multi, hw):
    f = torch.rand(2, 5, *hw, dtype=torch.float64)
    sigma = (1.5, 2.5)
    e, maps = Fn.sia(f, ks=ks, sigma=sigma, sia_scale=0.7, fusion=fusion, multi=multi)
    h, w = hw
    for b in range(2):
        e_n, ref = R.sia_loop(f[b], ks, sigma, 0.7, multi, fusion)
        for key, want in ref.items():
            got = maps[key] if key == "S_L" else maps[key][b]
            np.testing.assert_allclose(got.numpy(), want, rtol=1e-8, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(e[b].reshape(f.shape[1], -1).numpy(), e_n, rtol=1e-8, atol=1e-12)


def test_location_only_and_appearance_only(features):
    e, maps = Fn.sia(features, ks=(1,), sigma=(2.0, 4.0), use_appearance=False)
    assert "S_A" not in maps
    s_l = Fn.location_relation(5, 3, (2.0, 4.0), dtype=torch.float64)
    torch.testing.assert_close(maps["S"], s_l.expand(2, -1, -1))
    e, maps = Fn.sia(features, ks=(1,), use_location=False)
    assert "S_L" not in maps
    torch.testing.assert_close(maps["S"], maps["S_A_1"])


def test_location_sigma_axes():
    """sigma1 acts along x (width), sigma2 along y (height)."""
    s_l = Fn.location_relation(9, 9, (1.0, 4.0), dtype=torch.float64)
    centre = 4 * 9 + 4
    row = s_l[centre].reshape(9, 9)
    assert row[4, 6] < row[6, 4]  # two cells along x fall off faster than two cells along y (sigma_x < sigma_y)
    np.testing.assert_allclose(s_l.numpy(), R.location_loop(9, 9, (1.0, 4.0)), rtol=1e-12)


def test_location_is_cached_per_key():
    a = Fn.location_relation(16, 8, (5.0, 10.0))
    assert Fn.location_relation(16, 8, (5.0, 10.0)) is a
    assert Fn.location_relation(16, 8, (5.0, 11.0)) is not a
    assert Fn.location_relation(8, 16, (5.0, 10.0)) is not a


@pytest.mark.parametrize("fusion", ["renorm", "softmax"])
def test_rows_nonnegative_and_sum_to_one(fusion):
    f = torch.randn(3, 16, 16, 8) * 3
    _, maps = Fn.sia(f, ks=(1, 2, 3), fusion=fusion)
    for key, m in maps.items():
        assert (m >= 0).all(), key
        torch.testing.assert_close(m.sum(-1), torch.ones(m.shape[:-1]), msg=key)
    _, c = Fn.cia(f)
    assert (c >= 0).all()
    torch.testing.assert_close(c.sum(-1), torch.ones(c.shape[:-1]))


def test_literal_softmax_fusion_is_near_uniform_on_16x8():
    """The fusion pitfall: softmax of a product of probabilities is almost global average pooling."""
    f = torch.relu(torch.randn(2, 64, 16, 8))
    _, lit = Fn.sia(f, ks=(1, 2, 3), fusion="softmax")
    _, ren = Fn.sia(f, ks=(1, 2, 3), fusion="renorm")
    m = 16 * 8
    assert lit["S"].max().item() < 1.05 / m  # every weight within 5% of uniform 1/M
    assert ren["S"].max().item() > 3.0 / m  # the renormalised map keeps a shape


def test_products_do_not_underflow():
    """With large logits each factor is ~1e-30 far from the peak; log-space keeps S finite and normalised."""
    f = torch.rand(1, 32, 8, 4) * 20
    _, maps = Fn.sia(f, ks=(1, 2, 3, 5), sia_scale=1.0, sigma=(0.3, 0.3))
    s = maps["S"]
    assert torch.isfinite(s).all()
    torch.testing.assert_close(s.sum(-1), torch.ones(1, 32))


def test_bf16_autocast_runs_logits_in_float32():
    f = torch.randn(2, 16, 8, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        e, maps = Fn.sia(f.bfloat16(), ks=(1, 2, 3))
        _, c = Fn.cia(f.bfloat16())
    assert e.dtype == torch.bfloat16
    assert maps["S"].dtype == torch.float32 and c.dtype == torch.float32
    torch.testing.assert_close(maps["S"].sum(-1), torch.ones(2, 32))


# ----------------------------------------------------------------------------- eq. 7-8


@pytest.mark.parametrize("scale", [None, 1.0, 0.2])
@pytest.mark.parametrize("hw", SHAPES)
def test_cia_matches_naive_loop(scale, hw):
    f = torch.rand(2, 5, *hw, dtype=torch.float64)
    e, c = Fn.cia(f, scale=scale)
    eff = 1 / math.sqrt(hw[0] * hw[1]) if scale is None else scale
    for b in range(2):
        e_n, c_n = R.cia_loop(f[b], eff)
        np.testing.assert_allclose(c[b].numpy(), c_n, rtol=1e-9)
        np.testing.assert_allclose(e[b].reshape(5, -1).numpy(), e_n, rtol=1e-9)


def test_cia_is_equivariant_to_channel_permutation():
    f = torch.randn(2, 12, 4, 3, dtype=torch.float64)
    perm = torch.randperm(12)
    e, c = Fn.cia(f)
    e_p, c_p = Fn.cia(f[:, perm])
    torch.testing.assert_close(e_p, e[:, perm])
    torch.testing.assert_close(c_p, c[:, perm][:, :, perm])


def test_cia_attends_to_similar_channels():
    """No DANet inversion: a channel attends most to itself/its copy, not to the least similar channel."""
    base = torch.rand(1, 1, 4, 4)
    f = torch.cat([base, base, -base], 1)
    _, c = Fn.cia(f, scale=1.0)
    assert c[0, 0, 1] > c[0, 0, 2]


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: Fn.appearance_relation(torch.rand(4, 5, 6), 1), r"\[B, C, H, W\]"),
        (lambda: Fn.appearance_relation(torch.rand(1, 4, 5, 6), 0), "positive int"),
        (lambda: Fn.sia(torch.rand(1, 4, 5, 6), fusion="mult"), "fusion must be one of"),
        (lambda: Fn.sia(torch.rand(1, 4, 5, 6), multi="avg"), "multi must be one of"),
        (lambda: Fn.sia(torch.rand(1, 4, 5, 6), sigma=(-1, 2)), "positive"),
        (lambda: Fn.sia(torch.rand(1, 4, 5, 6), use_location=False, use_appearance=False), "appearance, location"),
        (lambda: Fn.location_relation(0, 3), "positive ints"),
        (lambda: Fn.cia(torch.rand(2, 3)), r"\[B, C, H, W\]"),
    ],
)
def test_bad_input_has_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_integer_tensor_is_rejected():
    with pytest.raises(TypeError, match="floating-point"):
        Fn.sia(torch.ones(1, 2, 3, 3, dtype=torch.long))
