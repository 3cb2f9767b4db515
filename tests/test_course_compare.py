"""Two models side by side (issue 18): ianet_viz.course.compare: side_by_side (the selected model and the
paper-literal one, or one with a note), map_self_weights, lift_summary."""
import pytest
import torch

from ianet_viz import build_ianet
from ianet_viz.course import demo
from ianet_viz.course import notebook_model as active
from ianet_viz.course.notebook_model import course_model
from ianet_viz.course.compare import lift_summary, map_self_weights, side_by_side


@pytest.fixture(autouse=True)
def _no_env_model(monkeypatch):
    monkeypatch.delenv(active.ENV, raising=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny run folder and its weights file (export_weights), standing in for the shipped models."""
    from ianet_viz.train import TrainConfig, train

    tmp = tmp_path_factory.mktemp("compare")
    cfg = TrainConfig(dataset="synthetic", data_root=str(tmp / "syn"), synthetic_identities=4, synthetic_images=4,
                      backbone="resnet18", height=64, width=32, epochs=1, max_steps_per_epoch=1, batch_size=8,
                      num_workers=0, pretrained=None, output=str(tmp / "run"), progress=False, device="cpu")
    train(cfg, overwrite=True)
    demo.export_weights(tmp / "run", tmp / "paper.pt")
    return tmp / "run", tmp / "paper.pt"


def test_side_by_side_adds_the_paper_model(run, monkeypatch, capsys):
    folder, weights = run
    monkeypatch.setattr(demo, "PAPER_WEIGHTS", weights)
    cm = course_model(str(folder))
    models = side_by_side(cm)
    assert [m.name for m in models] == [cm.name, "paper-literal model"] and models[0] is cm
    assert models[1].source == weights and capsys.readouterr().out == ""


def test_side_by_side_shows_one_model_with_a_note(run, monkeypatch, tmp_path, capsys):
    folder, weights = run
    monkeypatch.setattr(demo, "PAPER_WEIGHTS", tmp_path / "not-trained-yet.pt")
    cm = course_model(str(folder))
    assert side_by_side(cm) == [cm]
    assert "paper-literal model's weights are not here" in capsys.readouterr().out
    monkeypatch.setattr(demo, "PAPER_WEIGHTS", weights)
    paper = course_model("paper")
    assert side_by_side(paper) == [paper]  # the selected model is the paper-literal one
    assert "is the paper-literal model itself" in capsys.readouterr().out
    assert side_by_side(cm, other=str(folder)) == [cm]  # any comparison that is the selected model
    assert "comparison model itself" in capsys.readouterr().out


def test_map_self_weights():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 32)
    prod = build_ianet("resnet18", num_classes=4, pretrained=None, ia_stages=(2,)).eval()
    w = map_self_weights(prod, x, "stage2")
    assert set(w) == {"S_A_1", "S_A_2", "S_A_3", "S_A", "S", "product of the S_A_K"}
    assert all(0.0 < v <= 1.0 for v in w.values())
    assert w["product of the S_A_K"] == pytest.approx(w["S_A"], abs=1e-6)  # the paper fuses by product already
    mean = build_ianet("resnet18", num_classes=4, pretrained=None, ia_stages=(2,), multi="mean").eval()
    w = map_self_weights(mean, x, "stage2")
    assert w["product of the S_A_K"] > w["S_A"]  # three logits added: sharper than their mean


def test_lift_summary():
    reports = {"a": {"stage2": {"self_S": 0.2, "lift_S": 2.0, "lift_matched": 4.0, "lift_local": 5.0},
                     "stage3": {"sia_ratio": 0.1}},  # a block without S: no row
               "b": {"stage2": {"self_S": 0.9, "lift_S": 3.0, "lift_matched": 2.0, "lift_local": 5.0}}}
    rows = lift_summary(reports)
    assert [(r["model"], r["block"]) for r in rows] == [("a", "stage2"), ("b", "stage2")]
    assert [r["S / matched"] for r in rows] == [0.5, 1.5] and rows[1]["self_S"] == 0.9
