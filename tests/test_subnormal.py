"""Relation maps carry no subnormal floats (issue: IANet at the cost of its multiply-adds on every CPU).

A weight below the smallest normal float is computed many times slower on some x86 cores and carries
nothing; every map-making path zeroes it, rows still sum to 1 and the embeddings do not move."""
import pytest
import torch

from ianet_viz import functional as Fn
from ianet_viz.course.demo import load_shipped, PAPER_WEIGHTS, WEIGHTS
from ianet_viz.recorder import RelationRecorder
from ianet_viz.reid import bundled_crops
from ianet_viz.viz.inputs import prepare


def subnormal_count(t: torch.Tensor) -> int:
    tiny = torch.finfo(t.dtype).tiny
    return int(((t != 0) & (t.abs() < tiny)).sum())


def test_peaked_logits_give_zeros_not_subnormals():
    logits = torch.tensor([[0.0, -100.0, -200.0, -5.0]])
    plain = torch.softmax(logits, -1)
    assert subnormal_count(plain) >= 1  # what torch's softmax gives (exp(-100) = 3.7e-44)
    s = Fn.relation_softmax(logits)
    assert subnormal_count(s) == 0 and float(s[0, 1]) == 0.0 and float(s[0, 2]) == 0.0
    torch.testing.assert_close(s, plain, atol=1e-30, rtol=0)
    assert abs(float(s.sum()) - 1) < 1e-6


def test_location_prior_and_every_sia_path_are_free_of_subnormals():
    torch.manual_seed(0)
    f = 6 * torch.randn(2, 16, 8, 4)  # large features: peaked maps
    assert subnormal_count(Fn.location_relation(8, 4, (0.5, 0.5))) == 0
    for kw in (dict(), dict(ks=(1,)), dict(multi="sum"), dict(fusion="softmax"), dict(use_appearance=False),
               dict(sia_relation="cosine", sia_scale=60.0)):
        _, maps = Fn.sia(f, **{"sia_scale": 1.0, **kw})
        for key, m in maps.items():
            assert subnormal_count(m) == 0, (kw, key)
            if m.dim() == 3:
                torch.testing.assert_close(m.sum(-1), torch.ones(m.shape[:2]), atol=1e-5, rtol=0)
    c = Fn.channel_relation(f, scale=1.0)
    assert subnormal_count(c) == 0
    assert subnormal_count(Fn.semantic_relation(Fn.appearance_relation(f, 1, 1.0), Fn.location_relation(8, 4, (0.3, 0.3)))) == 0


@pytest.mark.parametrize("path", [WEIGHTS, PAPER_WEIGHTS], ids=["demo", "paper"])
def test_trained_models_maps_have_none_and_embeddings_are_unchanged(path, monkeypatch):
    torch.set_num_threads(1)
    model = load_shipped(path=path)
    items = sorted(bundled_crops().query)[:8]
    x, _ = prepare([p for p, _, _ in items], (128, 64))
    with RelationRecorder(model) as rec, torch.no_grad():
        emb = model(x)
    counted = 0
    for block, maps in rec.maps.items():
        for key, m in maps.items():
            if key in ("S", "S_A", "S_L", "C") or key.startswith("S_A_"):
                assert subnormal_count(m) == 0, (block, key)
                counted += 1
    assert counted >= 4
    from ianet_viz import basics

    for module in (basics, Fn):  # the maps as torch's softmax leaves them (basics' softmax, functional's maps)
        monkeypatch.setattr(module, "without_subnormals", lambda p, inplace=False: p)
    with torch.no_grad():
        plain = model(x)
    torch.testing.assert_close(emb, plain, atol=1e-6, rtol=0)
