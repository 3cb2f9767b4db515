"""Field size and part share read together (course.mechanism.part_following), against hand-made maps."""
import numpy as np
import torch

from ianet_viz.course.mechanism import follows_its_part, part_following, size_matched_gaussian, _person_cells
from ianet_viz.measures import effective_cells

# a 4 x 2 map of one person: head on row 0, torso rows 1-2, background row 3 (labels 1, 2, 0)
MASKS = np.array([[[1, 1], [2, 2], [2, 2], [0, 0]]], dtype=np.uint8)
HW = (4, 2)


def own_part_field() -> torch.Tensor:
    lab = torch.tensor([1, 1, 2, 2, 2, 2, 0, 0])
    s = (lab[:, None] == lab[None, :]).double()
    return (s / s.sum(-1, keepdim=True)).unsqueeze(0)


def test_effective_cells_of_uniform_and_one_hot_rows():
    assert torch.allclose(effective_cells(torch.full((3, 5), 0.2)), torch.full((3,), 5.0, dtype=torch.float64))
    assert torch.allclose(effective_cells(torch.eye(4)), torch.ones(4, dtype=torch.float64))


def test_an_own_part_field_is_all_own_part_and_as_big_as_its_part():
    r = part_following(own_part_field(), MASKS, HW)
    assert r["own part"] == 1.0 and r["background"] == 0.0 and r["other parts"] == 0.0
    assert r["cells"] == 4.0  # median over the 6 person cells: the torso's 4 cells
    assert r["own part (gaussian)"] < 1.0  # a blob of 4 cells spills over the part's border


def test_size_matched_gaussian_has_the_target_size():
    person = _person_cells(np.repeat(MASKS, 2, 0), HW)
    for target in (1.5, 3.0, 6.0):
        g = size_matched_gaussian(HW, target, person)
        got = float(effective_cells(g).expand(person.shape)[person].median())
        assert abs(got - target) < 1e-3 * target


def test_follows_its_part_needs_share_and_spread():
    s = own_part_field()[0]
    own = torch.tensor([1, 1, 2, 2, 2, 2, 0, 0]) == 2
    assert follows_its_part(s[3], own, 3)  # torso cell: 3 other torso cells, all own part
    spot = torch.zeros(8, dtype=torch.float64)
    spot[2] = 1.0
    assert not follows_its_part(spot, own, 3)  # all on one other torso cell: a spot
    wrong = torch.tensor([0.3, 0.3, 0, 0, 0, 0, 0.2, 0.2], dtype=torch.float64)
    assert not follows_its_part(wrong, own, 3)  # spread, but on the head and the background


def test_fields_on_part_text_counts_and_names_the_misses():
    from ianet_viz.course.mechanism import fields_on_part_text

    fields = [{"image": 0, "point": "torso", "part": "torso", "own part": 0.8, "cells": 6.0},
              {"image": 0, "point": "shoes", "part": "shoes", "own part": 0.9, "cells": 1.2},  # a spot
              {"image": 1, "point": "legs", "part": "legs", "own part": 0.3, "cells": 9.0}]  # off its part
    text = fields_on_part_text(fields)
    assert text.startswith("1 of 3 fields") and "shoes of person 1" in text and "legs of person 2" in text


def test_fig8_reports_every_field_of_a_masked_person():
    import matplotlib

    matplotlib.use("Agg")
    from ianet_viz import build_ianet
    from ianet_viz.synthetic import render_person, sample_identity, sample_pose
    from ianet_viz.viz.figures import fig8

    rng = np.random.default_rng(0)
    img, mask = render_person(sample_identity(rng), sample_pose(rng), height=128, width=64, camera=0, rng=rng)[:2]
    torch.manual_seed(0)
    model = build_ianet("resnet18", num_classes=3, ia_stages=(2,), ks=(1,)).eval()
    fig, info = fig8(model, [img], masks=[mask], block="stage2", key="S", size=(128, 64), n_channels=0, return_info=True)
    assert [f["point"] for f in info["fields"]] == list(info["points"][0])
    for f in info["fields"]:
        assert 0.0 <= f["own part"] <= 1.0 + 1e-9 and (f["cells"] >= 1.0 or f["part"] == "background")


def test_part_points_snap_to_a_cell_of_their_part():
    from ianet_viz.synthetic import render_person, sample_identity, sample_pose
    from ianet_viz.viz.alignment import cell_labels, part_labels
    from ianet_viz.viz.figures import part_points
    from ianet_viz.viz.overlay import pixel_to_cell

    ids = {v: k for k, v in part_labels().items()}
    rng = np.random.default_rng(3)
    for _ in range(4):
        mask = render_person(sample_identity(rng), sample_pose(rng), height=128, width=64, camera=0, rng=rng)[1]
        lab = cell_labels(mask[None], (16, 8))[0]
        for name in ("head", "torso", "legs"):
            py, px = part_points(mask, hw=(16, 8))[name]
            r, c = pixel_to_cell(py, px, mask.shape, (16, 8))
            assert lab[r, c] == ids[name] or not (lab == ids[name]).any(), name
