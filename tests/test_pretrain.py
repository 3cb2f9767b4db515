"""The pretraining stage (ianet_viz.course.pretrain): a resumable run, an exported backbone that
fine-tuning loads, and clear errors for a missing or damaged backbone file."""
import pytest
import torch

from ianet_viz import build_ianet
from ianet_viz.course import pretrain as PT


def test_full_config_is_a_large_disjoint_corpus_and_smoke_is_tiny():
    full, smoke = PT.pretrain_config(smoke=False), PT.pretrain_config(smoke=True)
    assert full.ia_stages == () and full.synthetic_seed == PT.CORPUS_SEED != 0  # not the demo split's seed
    assert full.synthetic_identities * full.synthetic_images >= 20000  # tens of thousands of images
    assert smoke.synthetic_identities * smoke.synthetic_images <= 200 and smoke.max_steps_per_epoch <= 4


def test_pretrain_export_and_load_into_an_ianet(tmp_path):
    torch.set_num_threads(1)
    cfg = PT.pretrain_config(smoke=True, output=str(tmp_path / "run"), data_root=str(tmp_path / "corpus"),
                             height=64, width=32, max_steps_per_epoch=1, batch_size=8, progress=False)
    run = PT.run_pretraining(cfg)
    assert (run / "metrics.json").is_file()
    assert PT.run_pretraining(cfg) == run  # a finished run is read back, not retrained
    parts = PT.run_part_stage(PT.identity_backbone(run), cfg)
    assert (parts / "backbone.pt").is_file() and len((parts / "log.jsonl").read_text().splitlines()) == 1
    digest = PT.export_backbone(parts, tmp_path / "bb.pt")
    saved = torch.load(tmp_path / "bb.pt", weights_only=True)
    assert all(k.startswith("backbone.") for k in saved["model"]) and saved["config"]["data_root"] is None
    assert saved["part_pretext"]["epochs"] >= 1  # the file says what taught it parts
    stage1 = torch.load(run / "backbone.pt", weights_only=True)["model"]
    assert any(not torch.equal(stage1[k].half(), v) for k, v in saved["model"].items())  # stage 2 trained
    assert (tmp_path / "bb.pt.sha256").read_text().split()[0] == digest
    path = PT.pretrained_backbone(tmp_path / "bb.pt")
    net = build_ianet("resnet18", num_classes=3, ia_stages=(2, 3), pretrained=str(path))
    for k, v in saved["model"].items():  # the backbone is the pretrained one, the IA blocks are fresh
        torch.testing.assert_close(net.state_dict()[k].float(), v.float())
    assert all(float(b.sia.bn.weight.abs().max()) == 0.0 for b in net.ia_blocks.values())


def test_missing_or_damaged_backbone_says_how_to_rebuild(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m ianet_viz.course.pretrain --export"):
        PT.pretrained_backbone(tmp_path / "nope.pt")
    bad = tmp_path / "bb.pt"
    bad.write_bytes(b"not a weights file")
    (tmp_path / "bb.pt.sha256").write_text("0" * 64 + "  bb.pt\n")
    with pytest.raises(RuntimeError, match="damaged"):
        PT.pretrained_backbone(bad)
