"""CIA measured (issue 18): ianet_viz.viz.cia.cia_features (F, E_C = C F, Y of every CIA block) and
fig_cia (one channel per small part as F, E_C and Y, with colour bars and a title naming model and data)."""
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from ianet_viz import build_ianet, functional as Fn  # noqa: E402
from ianet_viz.measures import PART_IDS, cia_part_gain  # noqa: E402
from ianet_viz.modules import Tap  # noqa: E402
from ianet_viz.viz import cia_features, fig_cia  # noqa: E402

SIZE = (128, 64)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = build_ianet("resnet18", num_classes=4, pretrained=None, ia_stages=(2, 3)).eval()
    for blk in m.ia_blocks.values():  # open the CIA gates (they start at 0: Y would equal F)
        torch.nn.init.constant_(blk.cia.bn.weight, 0.5)
        torch.nn.init.constant_(blk.cia.bn.bias, 0.01)
    return m


@pytest.fixture(scope="module")
def people():
    """6 images with masks: head on top, a bag on the right, shoes at the bottom, on every image."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(6, 3, *SIZE, generator=g)
    masks = np.zeros((6, *SIZE), np.uint8)
    masks[:, 8:24, 24:40] = PART_IDS["head"]
    masks[:, 24:70, 20:44] = PART_IDS["torso"]
    masks[:, 50:70, 44:56] = PART_IDS["bag"]
    masks[:, 70:116, 22:42] = PART_IDS["legs"]
    masks[:, 116:126, 20:44] = PART_IDS["shoes"]
    return x, masks


def _hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_cia_features_are_eq_7_to_9(model, people):
    x, _ = people
    before = _hooks(model)
    model.train()
    feats = cia_features(model, x[:2])
    assert model.training and _hooks(model) == before  # mode restored, every hook removed
    model.eval()
    assert set(feats) == {"stage2", "stage3"}
    for name, f in feats.items():
        assert set(f) == {"F", "E_C", "Y", "C"} and f["F"].shape == f["E_C"].shape == f["Y"].shape
        cia = model.ia_blocks[name].cia
        e_ref, c_ref = Fn.cia(f["F"], cia.scale)  # eq. 7-8 from the recorded input
        assert torch.allclose(f["C"], c_ref, atol=1e-5) and torch.allclose(f["E_C"], e_ref, atol=1e-4)
        with torch.no_grad():
            y = cia.bn(f["E_C"]) + f["F"]  # eq. 9
        assert torch.allclose(f["Y"], y, atol=1e-4)
        assert not torch.allclose(f["Y"], f["F"])  # the gate is open: Y is not its input
    assert set(cia_features(model, x[:2], ["stage3"])) == {"stage3"}


def test_cia_features_without_cia_says_so(model, people):
    x, _ = people
    with pytest.raises(ValueError, match="no CIA in block"):
        cia_features(model, x[:1], ["stage4"])
    sia_only = build_ianet("resnet18", num_classes=4, pretrained=None, ia_stages=(3,), arrangement="sia").eval()
    with pytest.raises(ValueError, match="no CIA block"):
        cia_features(sia_only, x[:1])


def test_fig_cia_draws_the_measured_channels(model, people):
    x, masks = people
    fig, info = fig_cia(model, x, masks, "stage2", label="IANet-R18 128x64, test model", data="toy people",
                        return_info=True)
    title = fig._suptitle.get_text()
    assert title.startswith("eq. 7-9 (Hou et al. 2019)") and "test model" in title and "toy people" in title
    f = cia_features(model, x, ["stage2"])["stage2"]
    gain = cia_part_gain(f["F"], f["Y"], masks, parts=("head", "shoes", "bag"))
    assert set(info["channels"]) == {"head", "shoes", "bag"}
    for part, c in info["channels"].items():
        assert c == gain[part]["channels"][0]       # the channel of the printed number
        assert info["images"][part] % 2 == 1         # drawn on a measuring (odd) image
        assert set(info["shares"][part]) == {"F", "E_C", "Y"}
        assert all(0.0 <= s <= 1.0 for s in info["shares"][part].values())
    bars = [ax for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]
    assert len(bars) == 3 and all("relu(ch" in ax.get_ylabel() for ax in bars)  # one colour bar per row
    plt.close(fig)
    fig = fig_cia(model, x, masks, "stage2", parts=("bag",), gain=gain, title="my title")
    assert fig._suptitle.get_text() == "my title" and len(fig.axes) == 4 + 1
    plt.close(fig)
    with pytest.raises(ValueError, match="none of the parts"):
        fig_cia(model, x, np.zeros_like(masks), "stage2")
