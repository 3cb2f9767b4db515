"""The linear part probe (ianet_viz.course.probe): features, labels, fit and score."""
import numpy as np
import pytest
import torch

from ianet_viz import build_ianet
from ianet_viz.course import probe as P
from ianet_viz.viz.alignment import cell_labels


def test_stage_features_are_the_sia_inputs():
    from ianet_viz.recorder import RelationRecorder

    torch.manual_seed(0)
    model = build_ianet("resnet18", num_classes=5, ia_stages=(2, 3), gate_init=0.5).eval()
    x = torch.randn(2, 3, 64, 32)
    f = P.stage_features(model, x)
    assert f[2].shape == (2, 128, 8, 4) and f[3].shape == (2, 256, 4, 2)
    with RelationRecorder(model, inputs=True) as rec, torch.no_grad():
        model(x)
    for stage in (2, 3):  # exactly what SIA relates: stage 3 sees stage 2's block output
        torch.testing.assert_close(f[stage], rec.inputs[f"stage{stage}"], atol=1e-4, rtol=1e-4)  # float order


def test_cell_dataset_labels_by_majority():
    masks = np.zeros((2, 8, 4), np.uint8)
    masks[0, :4] = 1  # top half of image 0 is head
    masks[1, :, :2] = 5  # left half of image 1 is shoes
    f = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).reshape(2, 3, 2, 2)
    X, y = P.cell_dataset(f, masks)
    assert X.shape == (8, 3) and y.tolist() == cell_labels(masks, (2, 2)).reshape(-1).tolist() == [1, 1, 0, 0, 5, 0, 5, 0]
    torch.testing.assert_close(X[1], f[0, :, 0, 1])  # cell (0, 1) of image 0: row-major order
    with pytest.raises(ValueError, match="masks"):
        P.cell_dataset(f, masks[:1])


def test_probe_separates_separable_labels_and_not_noise():
    g = torch.Generator().manual_seed(0)
    y = torch.randint(0, 4, (800,), generator=g)
    centres = torch.randn(4, 16, generator=g) * 3
    X = centres[y] + torch.randn(800, 16, generator=g)
    probe = P.fit_probe(X[:600], y[:600], 4)
    assert P.probe_accuracy(probe, X[600:], y[600:]) > 0.95
    noise = torch.randn(800, 16, generator=g)  # nothing to learn: chance is 1/4
    acc = P.probe_accuracy(P.fit_probe(noise[:600], y[:600], 4), noise[600:], y[600:])
    assert acc < 0.4


def test_balanced_accuracy_counts_each_label_once():
    class Always(torch.nn.Module):
        def forward(self, x):
            return torch.tensor([[1.0, 0.0]]).expand(len(x), 2)

    y = torch.tensor([0] * 99 + [1])  # always "0": right 99 % of the time, balanced accuracy 0.5
    assert P.probe_accuracy(Always(), torch.zeros(100, 1), y) == pytest.approx(0.5)


def test_part_probe_position_control():
    # labels that depend on the row only: position alone predicts them perfectly
    masks = np.zeros((6, 16, 8), np.uint8)
    masks[:, :4], masks[:, 4:8], masks[:, 8:12], masks[:, 12:] = 1, 2, 4, 5
    feats = torch.randn(6, 8, 4, 2)  # features that know nothing
    res = P.part_probe(feats, masks, n_train=4)
    assert res["position"] == pytest.approx(1.0) and res["features+position"] > 0.9
    assert res["features"] < 0.6
    with pytest.raises(ValueError, match="n_train"):
        P.part_probe(feats, masks, n_train=6)


def test_probe_people_cut_between_people():
    from ianet_viz.reid import Market1501

    x, masks, cut = P.probe_people()
    pids = [pid for _, pid, _ in sorted(Market1501(P.held_out_root()).gallery)]
    assert len(x) == len(masks) == len(pids) and 0 < cut < len(pids)
    assert not set(pids[:cut]) & set(pids[cut:])  # fitted and scored on different people
