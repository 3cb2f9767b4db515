"""ianet_viz.measures: normalised row entropy and self weight of relation maps."""
import numpy as np
import pytest
import torch

from ianet_viz import functional as Fn
from ianet_viz.measures import normalised_entropy, row_entropy, self_weight


def test_normalised_entropy_bounds():
    m = 12
    assert normalised_entropy(torch.eye(m)) == pytest.approx(0.0)
    assert normalised_entropy(torch.full((m, m), 1.0 / m)) == pytest.approx(1.0)
    s_l = Fn.location_relation(4, 3, (1.0, 2.0), dtype=torch.float64)
    assert 0.0 < normalised_entropy(s_l) < 1.0


def test_row_entropy_and_self_weight():
    m = 5
    s = torch.eye(m).expand(2, m, m)
    assert row_entropy(s).shape == (2, m) and float(row_entropy(s).abs().max()) == 0.0
    assert self_weight(s) == pytest.approx(1.0)
    assert self_weight(torch.full((m, m), 1.0 / m)) == pytest.approx(1.0 / m)


def _naive_cells_for_mass(row, mass):
    # try every subset size k: the k largest weights are the best k cells
    values = sorted(row.tolist(), reverse=True)
    for k in range(1, len(values) + 1):
        if sum(values[:k]) >= mass * sum(values) - 1e-12:
            return k
    return len(values)


def test_cells_for_mass_matches_naive_count():
    from ianet_viz.measures import cells_for_mass

    torch.manual_seed(0)
    rows = [torch.softmax(3 * torch.randn(40, dtype=torch.float64), 0) for _ in range(20)]
    rows += [Fn.location_relation(16, 8, (s, 2 * s), dtype=torch.float64)[8 * 8 + 4] for s in (0.5, 1, 2, 5)]
    for row in rows:
        for mass in (0.1, 0.5, 0.9, 1.0):
            assert cells_for_mass(row, mass) == _naive_cells_for_mass(row, mass)
    assert cells_for_mass(torch.full((8,), 1 / 8)) == 4  # uniform: half the cells hold half the mass
    assert cells_for_mass(torch.eye(8)[3]) == 1


def test_cells_for_mass_bad_input():
    from ianet_viz.measures import cells_for_mass

    with pytest.raises(ValueError, match="one row"):
        cells_for_mass(torch.eye(4))
    with pytest.raises(ValueError, match="mass"):
        cells_for_mass(torch.ones(4) / 4, mass=0.0)


def test_mean_by_offset_matches_naive_displacement_sum():
    from ianet_viz.measures import mean_by_offset

    h, w = 4, 3
    torch.manual_seed(1)
    s = torch.softmax(torch.randn(2, h * w, h * w, dtype=torch.float64), -1)
    naive = torch.zeros(2 * h - 1, 2 * w - 1, dtype=torch.float64)
    for b in range(2):
        for i in range(h * w):
            for j in range(h * w):
                dy, dx = j // w - i // w, j % w - i % w
                naive[h - 1 + dy, w - 1 + dx] += s[b, i, j]
    naive /= 2 * h * w
    got = mean_by_offset(s, h, w)
    assert torch.allclose(got, naive, atol=1e-12)
    assert float(got.sum()) == pytest.approx(1.0)  # every row's unit mass lands somewhere
    s_l = Fn.location_relation(h, w, (1.0, 2.0), dtype=torch.float64).expand(2, -1, -1)
    peak = mean_by_offset(s_l, h, w)
    assert int(peak.argmax()) == (h - 1) * (2 * w - 1) + (w - 1)  # a location prior peaks at zero offset


def test_mean_by_offset_bad_shape():
    from ianet_viz.measures import mean_by_offset

    with pytest.raises(ValueError, match="M = h \\* w"):
        mean_by_offset(torch.eye(6).expand(1, 6, 6), 4, 3)


# ------------------------------------------------------------------------------ CIA: part gain
def _naive_cia_part_gain(F, Y, masks, part_id, n_channels, random_channels):
    """cia_part_gain by its definition, loop by loop: area share of the part per cell, each channel's
    relu mass on it, channels chosen on the even images, measured on the odd ones."""
    b, c, h, w = F.shape
    img_h, img_w = masks.shape[1:]
    region = np.zeros((b, h, w))
    for i in range(b):
        for y in range(img_h):
            for x in range(img_w):
                if masks[i, y, x] == part_id:
                    region[i, y * h // img_h, x * w // img_w] += 1.0
    region /= (img_h // h) * (img_w // w)  # pixels per cell (the sizes divide here)

    def share(X, i, ch):
        num = den = 0.0
        for y in range(h):
            for x in range(w):
                v = max(float(X[i, ch, y, x]), 0.0)
                num += v * region[i, y, x]
                den += v
        return num / den if den > 0 else None

    present = [i for i in range(b) if region[i].sum() > 0]
    choose = [i for i in present if i % 2 == 0]
    measure = [i for i in present if i % 2 == 1]
    score = [sum((share(F, i, ch) or 0.0) for i in choose) / len(choose) for ch in range(c)]
    chosen = sorted(range(c), key=lambda ch: (-score[ch], ch))[:n_channels]

    def mean_pair(chs):
        fs, ys = [], []
        for ch in chs:
            for i in measure:
                a, bb = share(F, i, ch), share(Y, i, ch)
                if a is not None and bb is not None:
                    fs.append(a)
                    ys.append(bb)
        return sum(fs) / len(fs), sum(ys) / len(ys)

    f_sel, y_sel = mean_pair(chosen)
    f_rnd, y_rnd = mean_pair(random_channels)
    area = sum(region[i].mean() for i in measure) / len(measure)
    return {"channels": chosen, "share_F": f_sel, "share_Y": y_sel, "gain": y_sel - f_sel,
            "random_gain": y_rnd - f_rnd, "area": area}


def test_cia_part_gain_matches_naive_loop():
    from ianet_viz.measures import cia_part_gain

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    b, c, h, w = 5, 10, 4, 2
    masks = rng.integers(0, 7, size=(b, 8, 4))
    masks[3] = np.where(masks[3] == 6, 2, masks[3])  # image 3 carries no bag
    F = torch.relu(torch.randn(b, c, h, w, dtype=torch.float64))
    Y = F + 0.5 * torch.randn(b, c, h, w, dtype=torch.float64)  # an output that may dip below 0
    F[1, 4] = 0.0  # a channel with no mass in one measuring image: that pair is skipped
    got = cia_part_gain(F, Y, masks, hw=(h, w), parts=("head", "shoes", "bag"), n_channels=3, n_random=4, seed=1)
    random_channels = sorted(np.random.default_rng(1).choice(c, size=4, replace=False).tolist())
    for name, pid in (("head", 1), ("shoes", 5), ("bag", 6)):
        ref = _naive_cia_part_gain(F.numpy(), Y.numpy(), masks, pid, 3, random_channels)
        assert got[name]["channels"] == ref["channels"], name
        for key in ("share_F", "share_Y", "gain", "random_gain", "area"):
            assert got[name][key] == pytest.approx(ref[key], abs=1e-12), (name, key)
        assert got[name]["lift_Y"] == pytest.approx(ref["share_Y"] / ref["area"])


def test_cia_part_gain_sees_concentration_and_its_absence():
    """An output that moves each bag channel's mass onto the bag has a positive gain above random
    channels; the identity (a shut gate, eq. 9) has gain 0."""
    from ianet_viz.measures import cia_part_gain

    torch.manual_seed(0)
    b, c, h, w = 6, 12, 8, 4
    masks = np.zeros((b, 32, 16), dtype=np.int64)
    masks[:, 20:28, 8:12] = 6  # a bag: 2 x 1 cells
    F = torch.rand(b, c, h, w, dtype=torch.float64)
    F[:, :3, 5:7, 2] += 2.0  # channels 0-2 respond on the bag
    on_bag = torch.zeros(h, w, dtype=torch.float64)
    on_bag[5:7, 2] = 1.0
    Y = F.clone()
    Y[:, :3] = F[:, :3] * (0.2 + on_bag)  # CIA concentrates them: the bag kept, the rest damped
    res = cia_part_gain(F, Y, masks, parts=("bag",), n_channels=3, n_random=12)["bag"]
    assert sorted(res["channels"]) == [0, 1, 2]
    assert res["gain"] > 0.2 and res["gain"] > res["random_gain"] + 0.1
    same = cia_part_gain(F, F, masks, parts=("bag",), n_channels=3)["bag"]
    assert same["gain"] == 0.0 and same["random_gain"] == 0.0


def test_cia_part_gain_bad_input_and_part_ids():
    from ianet_viz.measures import PART_IDS, cia_part_gain
    from ianet_viz.synthetic.parts import PART_LABELS

    assert PART_IDS == {v: k for k, v in PART_LABELS.items()}  # the core's copy of the generator's labels
    f = torch.rand(2, 3, 4, 2)
    masks = np.ones((2, 8, 4), dtype=np.int64)
    with pytest.raises(ValueError, match="one shape"):
        cia_part_gain(f, f[:, :2], masks)
    with pytest.raises(ValueError, match="hw"):
        cia_part_gain(f, f, masks, hw=(2, 4))
    with pytest.raises(ValueError, match="at least 2 images"):
        cia_part_gain(f[:1], f[:1], masks[:1])
    with pytest.raises(ValueError, match="unknown part"):
        cia_part_gain(f, f, masks, parts=("tail",))
    assert cia_part_gain(f, f, masks, parts=("bag",)) == {}  # no bag anywhere: left out


def test_positive_mass_shares_against_a_loop():
    """One measure for CIA's part gain, Fig. 8's channel choice and the CIA figure: a channel's positive
    mass on a region over its whole positive mass, NaN for a channel with none."""
    from ianet_viz.measures import positive_mass_shares

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 4, 5))
    x[1, 2] = -1.0  # no positive mass
    region = rng.random((2, 4, 5)) > 0.5
    got = positive_mass_shares(torch.from_numpy(x), region)
    for b in range(2):
        for c in range(3):
            pos = [max(v, 0.0) for v in x[b, c].ravel()]
            on = sum(p for p, r in zip(pos, region[b].ravel()) if r)
            want = on / sum(pos) if sum(pos) > 0 else float("nan")
            assert (np.isnan(want) and np.isnan(got[b, c])) or abs(got[b, c] - want) < 1e-12
    np.testing.assert_array_equal(got, positive_mass_shares(x, region))  # arrays and tensors alike
