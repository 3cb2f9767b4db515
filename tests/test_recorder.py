"""ianet_viz.recorder: the only owner of hooks; the modules build maps only while it listens."""
import pytest
import torch

from ianet_viz import SIA, IABlock, RelationRecorder, build_ianet
from ianet_viz.recorder import SIA_KEYS, record, sia_blocks, sia_inputs


def _listening(model):
    return {name: m.listeners for name, m in model.named_modules() if hasattr(m, "listeners")}


def test_recorder_sets_and_clears_the_listeners_count():
    block = IABlock(6, arrangement="sia+cia", sigma=(1.0, 2.0))
    assert set(_listening(block).values()) == {0}
    with RelationRecorder(block, keys=["S"]):  # only the SIA's taps are asked for
        assert _listening(block) == {"sia": 1, "cia": 0}
        with RelationRecorder(block):
            assert _listening(block) == {"sia": 2, "cia": 1}
        assert _listening(block) == {"sia": 1, "cia": 0}
    assert set(_listening(block).values()) == {0}
    with pytest.raises(RuntimeError):
        with RelationRecorder(block):
            raise RuntimeError("boom")
    assert set(_listening(block).values()) == {0}


def test_a_hook_outside_the_recorder_does_not_turn_maps_on(monkeypatch):
    """The modules ask the recorder, not PyTorch's private hook dictionaries."""
    import ianet_viz.functional as Fn

    block = SIA(4, sigma=(1.0, 2.0))
    calls = []
    real = Fn.sia
    monkeypatch.setattr(Fn, "sia", lambda *a, **k: calls.append(k["need_maps"]) or real(*a, **k))
    handle = block.taps["S"].register_forward_hook(lambda *a: None)
    block(torch.randn(1, 4, 3, 3))
    handle.remove()
    assert calls == [False]


def test_record_and_sia_inputs():
    model = build_ianet("resnet18", num_classes=3, ia_stages=(2, 3)).train()
    x = torch.randn(2, 3, 64, 32)
    maps, shapes = record(model, x)
    assert model.training  # the mode is restored
    assert set(maps) == {"stage2", "stage3"} and set(maps["stage3"]) == set(SIA_KEYS)
    assert shapes == {"stage2": (8, 4), "stage3": (4, 2)}
    feats = sia_inputs(model, x)
    assert sia_blocks(model) == ["stage2", "stage3"] and feats["stage2"].shape == (2, 128, 8, 4)
    model.eval()
    with torch.no_grad():
        want = model.backbone.layer2(model.backbone.layer1(model.backbone.maxpool(model.backbone.relu(
            model.backbone.bn1(model.backbone.conv1(x))))))
    torch.testing.assert_close(feats["stage2"], want)
    assert sia_inputs(model, x, ["stage3"]).keys() == {"stage3"}
    with pytest.raises(ValueError, match="no SIA"):
        sia_blocks(build_ianet("resnet18", ia_stages=(3,), arrangement="cia"))
