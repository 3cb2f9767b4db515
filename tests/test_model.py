"""Modules, the IANet builder, the relation recorder and the cost report."""
import urllib.error

import pytest
import torch
from torchvision.models.feature_extraction import create_feature_extractor

import ianet_viz
from ianet_viz import CIA, SIA, IABlock, RelationRecorder, build_ianet, stage_sigma
from ianet_viz.modules import ARRANGEMENTS
from ianet_viz.cost import cost_report, format_cost_table
from ianet_viz.imagenet import cached_imagenet_weights


def _randomise_bn(module):
    """Give every BatchNorm non-trivial statistics and affine terms, so an identity is not by accident."""
    for m in module.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 1.5)


@pytest.mark.parametrize("arrangement", ARRANGEMENTS)
def test_fresh_ia_block_is_identity(arrangement):
    block = IABlock(16, arrangement=arrangement, sigma=(2.0, 4.0)).eval()
    f = torch.randn(2, 16, 8, 4)
    torch.testing.assert_close(block(f), f, rtol=0, atol=0)
    for m in block.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            assert (m.weight == 0).all() and (m.bias == 0).all()


def test_trained_block_is_not_identity_and_matches_eq9():
    block = SIA(8, ks=(1, 2), sigma=(2.0, 4.0)).eval()
    torch.nn.init.ones_(block.bn.weight)
    f = torch.randn(1, 8, 6, 4)
    e, _ = ianet_viz.functional.sia(f, ks=(1, 2), sigma=(2.0, 4.0))
    torch.testing.assert_close(block(f), block.bn(e) + f)
    assert not torch.allclose(block(f), f)


def test_taps_visible_to_hooks_and_fx_feature_extraction():
    block = IABlock(8, arrangement="sia+cia", ks=(1, 2, 3), sigma=(2.0, 4.0))
    names = [n for n, m in block.named_modules() if isinstance(m, ianet_viz.Tap)]
    assert "sia.taps.S_A_K2" in names and "cia.taps.C" in names and "taps.cia_out" in names
    extractor = create_feature_extractor(
        block, return_nodes={"sia.taps.S": "S", "cia.taps.C": "C"}, tracer_kwargs={"leaf_modules": [ianet_viz.Tap]}
    )
    out = extractor(torch.randn(2, 8, 6, 4))
    assert out["S"].shape == (2, 24, 24) and out["C"].shape == (2, 8, 8)
    torch.testing.assert_close(out["S"].sum(-1), torch.ones(2, 24))
    model = build_ianet("resnet18", ia_stages=(3,)).eval()
    x = torch.randn(2, 3, 64, 32)
    out = ianet_viz.tap_feature_extractor(model, {"ia_blocks.stage3.sia.taps.S_A_K2": "a2", "ia_blocks.stage3.sia.taps.S_A": "a"})(x)
    with RelationRecorder(model, keys=["S_A_2"]) as rec:
        model(x)
    torch.testing.assert_close(out["a2"], rec.maps["stage3"]["S_A_2"])
    with RelationRecorder(model, keys=["S_A"]) as rec:
        model(x)
    torch.testing.assert_close(out["a"], rec.maps["stage3"]["S_A"])


def test_maps_only_computed_when_recorded(monkeypatch):
    calls = []
    real = ianet_viz.functional.sia
    block = SIA(4, sigma=(2.0, 4.0))
    monkeypatch.setattr(ianet_viz.functional, "sia", lambda *a, **k: calls.append(k["need_maps"]) or real(*a, **k))
    f = torch.randn(1, 4, 4, 4)
    block(f)
    with RelationRecorder(block):
        block(f)
    assert calls == [False, True]


def test_cia_fuses_only_when_nobody_records(monkeypatch):
    """C > M: plain forward takes the fused kernel; a recorder gets the map; outputs agree."""
    calls = []
    real = ianet_viz.functional.fused_channel_attention
    monkeypatch.setattr(ianet_viz.functional, "fused_channel_attention", lambda *a, **k: calls.append(1) or real(*a, **k))
    block = CIA(32).eval()
    torch.nn.init.ones_(block.bn.weight)  # a fresh block would output f whatever E_C is
    f = torch.randn(2, 32, 3, 2)
    plain = block(f)
    assert calls == [1]
    with RelationRecorder(block) as rec:
        recorded = block(f)
    assert calls == [1] and rec.maps["cia"]["C"].shape == (2, 32, 32)
    torch.testing.assert_close(plain, recorded)


@pytest.mark.parametrize("backbone, dim", [("resnet18", 512), ("resnet34", 512), ("resnet50", 2048), ("resnet101", 2048)])
def test_backbones_and_last_stride(backbone, dim):
    model = build_ianet(backbone, num_classes=5, ia_stages=(3,)).eval()
    x = torch.randn(1, 3, 64, 32)
    assert model.feature_map(x).shape[-2:] == (4, 2)  # stride 16 with last stride 1
    assert model(x).shape == (1, dim) and model.feat_dim == dim
    model2 = build_ianet(backbone, num_classes=5, ia_stages=(), last_stride=2).eval()
    assert model2.feature_map(x).shape[-2:] == (2, 1)


def test_fresh_ianet_equals_its_backbone():
    torch.manual_seed(0)
    base = build_ianet("resnet50", num_classes=10, ia_stages=()).eval()
    _randomise_bn(base)
    ia = build_ianet("resnet50", num_classes=10, ia_stages=(1, 2, 3, 4)).eval()
    result = ia.load_state_dict(base.state_dict(), strict=False)
    assert result.unexpected_keys == []
    assert result.missing_keys and all(k.startswith("ia_blocks.") for k in result.missing_keys)
    x = torch.randn(2, 3, 128, 64)
    with torch.no_grad():
        assert (ia(x) - base(x)).abs().max().item() < 1e-4


def test_train_mode_outputs():
    model = build_ianet("resnet18", num_classes=7, ia_stages=(2, 3)).train()
    x = torch.randn(4, 3, 64, 32)
    assert model(x).shape == (4, 7)
    logits, feat = model(x, return_features=True)
    assert logits.shape == (4, 7) and feat.shape == (4, 512)


def test_stage_names_per_block_and_sigma_rule():
    model = build_ianet("resnet50", ia_stages=(2, 3), per_block=True, arrangement="sia")
    assert list(model.ia_blocks) == [f"stage2_b{i}" for i in range(4)] + [f"stage3_b{i}" for i in range(6)]
    assert model.ia_blocks["stage2_b0"].sia.sigma == (10.0, 20.0)
    assert model.ia_blocks["stage3_b5"].sia.sigma == (5.0, 10.0)
    assert stage_sigma(1) == (20.0, 40.0) and stage_sigma(4) == (5.0, 10.0) and stage_sigma(4, 2) == (2.5, 5.0)
    m = build_ianet("resnet18", ia_stages=(2,), sigma={2: (3.0, 6.0)})
    assert m.ia_blocks["stage2"].sia.sigma == (3.0, 6.0)
    x = torch.randn(1, 3, 64, 32)
    with RelationRecorder(model.eval(), keys=["S"]) as rec, torch.no_grad():
        model(x)
    assert set(rec.maps) == set(model.ia_blocks)


def test_options_reach_the_blocks():
    m = build_ianet("resnet18", ia_stages=(3,), arrangement="cia+sia", ks=(1, 3), fusion="softmax", multi="max",
                    use_location=False)
    sia = m.ia_blocks["stage3"].sia
    assert (sia.ks, sia.fusion, sia.multi, sia.use_location) == ((1, 3), "softmax", "max", False)
    assert {t.key for t in sia.taps.values()} == {"S_A_1", "S_A_3", "S_A", "S"}


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"backbone": "vgg16"}, "backbone must be one of"),
        ({"ia_stages": (5,)}, "subset of"),
        ({"arrangement": "serial"}, "arrangement must be one of"),
        ({"last_stride": 3}, "last_stride"),
        ({"num_classes": 0}, "num_classes"),
    ],
)
def test_builder_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_ianet(**{"backbone": "resnet18", **kwargs})


def test_bad_image_shape_is_explained():
    model = build_ianet("resnet18", ia_stages=()).eval()
    with pytest.raises(ValueError, match=r"\[B, 3, H, W\]"):
        model(torch.randn(3, 64, 32))
    with pytest.raises(ValueError, match="too small"):
        model(torch.randn(1, 3, 16, 8))


def test_pretrained_offline_says_where_to_put_the_file(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", offline)
    with pytest.raises(ianet_viz.PretrainedWeightsError) as err:
        build_ianet("resnet18", pretrained="imagenet")
    msg = str(err.value)
    assert "resnet18-f37072fd.pth" in msg and str(tmp_path) in msg
    # the hint is for the command line, where an offline instructor meets it
    assert "--pretrained /path/to/resnet18-f37072fd.pth" in msg and "--pretrained none" in msg
    assert "pretrained=None" not in msg


def test_weights_file_is_checked_against_the_hash_in_its_name(monkeypatch, tmp_path):
    """torch.hub checks the sha256 prefix of torchvision's file names only while downloading: a
    cached file of the right name is loaded unchecked. build_ianet checks it, and refuses a fake."""
    import hashlib

    import torchvision

    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    (tmp_path / "checkpoints").mkdir()
    fake = tmp_path / "checkpoints" / "resnet18-f37072fd.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), fake)  # loadable, wrong content
    for pretrained in ("imagenet", fake):
        with pytest.raises(ianet_viz.PretrainedWeightsError, match="not the file its name promises") as err:
            build_ianet("resnet18", pretrained=pretrained)
        assert "Delete it" in str(err.value) and "--pretrained" in str(err.value)
    # a file whose content matches the prefix in its name loads
    ref = torchvision.models.resnet18(weights=None)
    blob = tmp_path / "blob.pth"
    torch.save(ref.state_dict(), blob)
    digest = hashlib.sha256(blob.read_bytes()).hexdigest()
    named = tmp_path / f"resnet18-{digest[:8]}.pth"
    blob.rename(named)
    model = build_ianet("resnet18", pretrained=named, ia_stages=())
    torch.testing.assert_close(model.backbone.layer1[0].conv1.weight, ref.layer1[0].conv1.weight)
    # names without a hash (your own files) are not checked
    plain = tmp_path / "my_weights.pth"
    torch.save(ref.state_dict(), plain)
    build_ianet("resnet18", pretrained=plain, ia_stages=())


def test_pretrained_from_local_file(tmp_path):
    import torchvision

    ref = torchvision.models.resnet18(weights=None)
    path = tmp_path / "r18.pth"
    torch.save(ref.state_dict(), path)
    model = build_ianet("resnet18", pretrained=path, ia_stages=(2,))
    torch.testing.assert_close(model.backbone.layer3[1].conv2.weight, ref.layer3[1].conv2.weight)
    with pytest.raises(ianet_viz.PretrainedWeightsError, match="not found"):
        build_ianet("resnet18", pretrained=tmp_path / "missing.pth")
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), tmp_path / "r50.pth")
    with pytest.raises(ianet_viz.PretrainedWeightsError, match="different backbone"):
        build_ianet("resnet18", pretrained=tmp_path / "r50.pth")


def test_cached_imagenet_weights_never_downloads(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert cached_imagenet_weights("resnet18") is None
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "resnet18-f37072fd.pth").write_bytes(b"")
    assert cached_imagenet_weights("resnet18") == tmp_path / "checkpoints" / "resnet18-f37072fd.pth"
    with pytest.raises(ValueError, match="backbone"):
        cached_imagenet_weights("vgg16")


# ----------------------------------------------------------------------------- recorder


def _hook_count(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_recorder_maps_detached_cpu_and_hooks_removed():
    model = build_ianet("resnet18", num_classes=3, ia_stages=(2, 3)).train()
    x = torch.randn(2, 3, 64, 32, requires_grad=True)
    before = _hook_count(model)
    with RelationRecorder(model) as rec:
        model(x).sum().backward()
        assert _hook_count(model) > before
    assert _hook_count(model) == before
    assert set(rec.maps) == {"stage2", "stage3"}
    assert set(rec.maps["stage3"]) == {"S_A_1", "S_A_2", "S_A_3", "S_A", "S_L", "S", "C", "cia_out"}
    assert rec.shapes == {"stage2": (8, 4), "stage3": (4, 2)}
    assert rec.maps["stage2"]["S"].shape == (2, 32, 32)
    for maps in rec.maps.values():
        for t in maps.values():
            assert not t.requires_grad and t.device.type == "cpu"


def test_recorder_removes_hooks_on_exception_and_filters_keys():
    model = build_ianet("resnet18", ia_stages=(3,)).eval()
    before = _hook_count(model)
    with pytest.raises(RuntimeError):
        with RelationRecorder(model, keys=["S"]) as rec:
            model(torch.randn(1, 3, 64, 32))
            raise RuntimeError("boom")
    assert _hook_count(model) == before
    assert set(rec.maps["stage3"]) == {"S"}


def test_recorder_on_bare_modules_and_on_baseline():
    sia = SIA(4, sigma=(1.0, 2.0))
    with RelationRecorder(sia) as rec:
        sia(torch.randn(1, 4, 3, 3))
    assert set(rec.maps["sia"]) >= {"S", "S_L"}
    cia = CIA(4)
    with RelationRecorder(cia) as rec:
        cia(torch.randn(1, 4, 3, 3))
    assert set(rec.maps["cia"]) == {"C"}
    with pytest.raises(ValueError, match="no IA blocks"):
        RelationRecorder(build_ianet("resnet18", ia_stages=())).__enter__()


# ----------------------------------------------------------------------------- cost report


def test_cost_report_matches_paper_baseline_and_sia_increment():
    base = cost_report(build_ianet("resnet50", ia_stages=()))
    sia3 = cost_report(build_ianet("resnet50", ia_stages=(3,), arrangement="sia"))
    total_base, total_sia = base[-1]["gmacs"], sia3[-1]["gmacs"]
    assert abs(total_base - 4.06) < 0.05  # paper: ~4.06 G multiply-adds at 256x128, last stride 1
    assert 0.5 < 100 * (total_sia / total_base - 1) < 1.0  # paper: +0.73%
    parts = sum(r["gmacs"] for r in sia3[:-1])
    assert abs(parts - total_sia) < 1e-6
    assert "IA stage3" in format_cost_table(sia3)


def test_cost_report_counts_the_fused_cia_kernel():
    """C > M takes the fused kernel; its two matrix products are counted all the same."""
    b, c, h, w = 2, 32, 4, 2
    rows = cost_report(IABlock(c, arrangement="cia", name="cia"), input_size=(h, w), batch=b, in_channels=c)
    assert rows[-1]["gmacs"] * 1e9 == pytest.approx(2 * c * c * h * w)


def test_recorder_shapes_for_every_arrangement():
    x = torch.randn(1, 3, 64, 32)
    for arrangement in ARRANGEMENTS:
        model = build_ianet("resnet18", ia_stages=(3,), arrangement=arrangement).eval()
        with RelationRecorder(model) as rec, torch.no_grad():
            model(x)
        assert rec.shapes == {"stage3": (4, 2)}, arrangement


def test_stage_sigma_follows_the_map():
    # the paper's values at its input size, 256 x 128 (stage 3: 16 x 8 cells, stage 2: 32 x 16)
    assert stage_sigma(3, input_size=(256, 128)) == (5.0, 10.0)
    assert stage_sigma(2, input_size=(256, 128)) == (10.0, 20.0)
    # half the input, half the cells: the same share of the person
    assert stage_sigma(3, input_size=(128, 64)) == (2.5, 5.0)
    assert stage_sigma(2, input_size=(128, 64)) == (5.0, 10.0)
    # sigma1 follows the width, sigma2 the height
    assert stage_sigma(3, input_size=(256, 64)) == (2.5, 10.0)
    for stage in (1, 2, 3, 4):  # sigma / map side is the same at every input size
        stride = {1: 4, 2: 8, 3: 16, 4: 16}[stage]
        h, w = 256 // stride, 128 // stride  # the map at 256 x 128; at 128 x 64 it is h/2 x w/2
        big, small = stage_sigma(stage, input_size=(256, 128)), stage_sigma(stage, input_size=(128, 64))
        assert small[0] / (w / 2) == pytest.approx(big[0] / w) and small[1] / (h / 2) == pytest.approx(big[1] / h)


def test_stage_sigma_refuses_a_bad_stage_or_size():
    with pytest.raises(ValueError, match="stage must be"):
        stage_sigma(5)
    with pytest.raises(ValueError, match="input_size"):
        stage_sigma(3, input_size=(0, 64))


def test_build_ianet_sigma_follows_input_size():
    m = build_ianet("resnet18", ia_stages=(2, 3), input_size=(128, 64))
    assert m.ia_blocks["stage2"].sia.sigma == (5.0, 10.0) and m.ia_blocks["stage3"].sia.sigma == (2.5, 5.0)
    cells = build_ianet("resnet18", ia_stages=(2, 3), input_size=(128, 64), sigma={2: (10.0, 20.0), 3: (5.0, 10.0)})
    assert cells.ia_blocks["stage2"].sia.sigma == (10.0, 20.0) and cells.ia_blocks["stage3"].sia.sigma == (5.0, 10.0)


def test_a_checkpoint_of_the_removed_cells_rule_fails_with_the_line_that_rebuilds_it(tmp_path):
    """``sigma_rule`` is gone: "map" (the shipped models) loads as before; "cells" is refused with the
    sigma line that reproduces it, and that line, put into the run's config.yaml, builds the same prior."""
    import yaml

    from ianet_viz.train import TrainConfig
    from ianet_viz.train.__main__ import build_parser, config_from_args, given_flags
    from ianet_viz.train.config import config_differences
    from ianet_viz.train.runs import build_model

    cfg = TrainConfig(backbone="resnet18", height=128, width=64).resolved()
    assert build_model(cfg, 5).ia_blocks["stage3"].sia.sigma == (2.5, 5.0)
    saved = {**cfg.to_dict(), "sigma_rule": "map"}
    assert TrainConfig.from_dict(saved) == cfg and config_differences(saved, cfg.to_dict()) == []
    saved["sigma_rule"] = "cells"
    with pytest.raises(ValueError, match=r"sigma: \{2: \[10.0, 20.0\], 3: \[5.0, 10.0\]\}") as err:
        TrainConfig.from_dict(saved)
    assert "python -m ianet_viz.train --config" in str(err.value) and len(str(err.value).splitlines()) == 1
    with pytest.raises(ValueError, match="sigma_rule 'cells'"):
        config_differences(saved, cfg.to_dict())
    fixed = {k: v for k, v in saved.items() if k not in ("sigma_rule", "sigma")}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(fixed) + "sigma: {2: [10.0, 20.0], 3: [5.0, 10.0]}\n")
    argv = ["--config", str(tmp_path / "config.yaml")]
    rebuilt = build_model(config_from_args(build_parser().parse_args(argv), given_flags(argv)).resolved(), 5)
    assert rebuilt.ia_blocks["stage2"].sia.sigma == (10.0, 20.0) and rebuilt.ia_blocks["stage3"].sia.sigma == (5.0, 10.0)
