"""The part pretext (ianet_viz.course.part_pretext): labels follow the image through a flip, small
parts weigh as much as the background, the loss learns, and a resumed run refuses other settings."""
import math

import pytest
import torch

from ianet_viz.course import part_pretext as PP
from ianet_viz.reid import Market1501
from ianet_viz.synthetic import ensure_dataset


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    root = ensure_dataset(tmp_path_factory.mktemp("people") / "ds", identities=6, images_per_identity=4,
                          seed=7, height=64, width=32)
    items = sorted(Market1501(root).train)
    return root, PP.MaskedPeople(root, items, {2: (8, 4), 3: (4, 2)}, (64, 32))


def test_a_flip_moves_labels_with_the_image(people):
    _, data = people
    x, labels, ids = next(PP.batches(data, len(data), seed=0, epoch=0))
    g = torch.Generator().manual_seed(0)
    order = torch.randperm(len(data), generator=g).tolist()
    flips = torch.rand(len(data), generator=g) < 0.5
    assert flips.any() and not flips.all()
    for row, i in enumerate(order):
        x0, lab0, _ = data.load(i)
        want = x0.flip(-1) if flips[i] else x0
        torch.testing.assert_close(x[row], want)
        for s in (2, 3):
            assert torch.equal(labels[s][row], lab0[s].flip(-1) if flips[i] else lab0[s])
    assert labels[2].shape == (len(data), 8, 4) and int(labels[2].max()) < PP.N_PARTS


def test_class_weights_balance_the_labels(people):
    _, data = people
    w = PP.class_weights(data)[2]
    counts = sum(torch.bincount(data.load(i)[1][2].reshape(-1), minlength=PP.N_PARTS).float() for i in range(len(data)))
    present = counts > 0
    assert torch.allclose((w * counts)[present], (w * counts)[present][0])  # every label weighs the same in all
    assert float(w[~present].abs().sum()) == 0.0 and abs(float(w[present].mean()) - 1) < 1e-6


def test_pretext_trains_and_resume_checks_settings(people, tmp_path):
    torch.set_num_threads(1)
    from ianet_viz import build_ianet

    root, _ = people
    init = tmp_path / "init.pt"
    torch.save({"model": {f"backbone.{k}": v for k, v in build_ianet("resnet18", num_classes=1, ia_stages=()).backbone.state_dict().items()},
                "config": {}}, init)
    s = PP.PartPretext(epochs=2, batch_size=8, max_steps_per_epoch=2)
    out = PP.train_part_pretext(init, root, tmp_path / "run", s, size=(64, 32), log=lambda *_: None)
    log = (out / "log.jsonl").read_text().splitlines()
    assert len(log) == 2 and "part2" in log[0] and "part3" in log[0]
    assert PP.train_part_pretext(init, root, out, s, size=(64, 32)) == out  # a finished run is read back
    (out / "backbone.pt").unlink()
    with pytest.raises(ValueError, match="other settings"):
        PP.train_part_pretext(init, root, out, PP.PartPretext(epochs=3, batch_size=8), size=(64, 32))


def test_part_affinity_loss_is_lowest_for_features_that_group_by_part():
    labels = torch.tensor([[[1, 1], [2, 2], [2, 2], [0, 0]]])  # head, torso, background on a 4 x 2 map
    onehot = torch.nn.functional.one_hot(labels, 3).permute(0, 3, 1, 2).float()  # [1, 3, 4, 2]
    grouped = 30 * onehot  # every cell like its part's cells, unlike the others'
    spots = 30 * torch.eye(8).reshape(8, 4, 2).unsqueeze(0)  # every cell like itself only
    lg, ls = PP.part_affinity_loss(grouped, labels), PP.part_affinity_loss(spots, labels)
    # grouped: the relation is uniform over the own part, the loss is log(part size) at its minimum
    want = (2 * math.log(2) + 4 * math.log(4)) / 6  # 2 head cells, 4 torso cells; background is no anchor
    assert abs(float(lg) - want) < 1e-3
    assert float(ls) > float(lg) + 1
