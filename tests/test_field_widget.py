"""The browser front-end's data and its two-way selection, checked from Python (the browser test,
tests/test_e2e_browser.py, clicks it)."""
import base64
import json
import re

import numpy as np
import pytest
import torch

from ianet_viz import build_ianet
from ianet_viz.viz import ReceptiveFieldViewer
from ianet_viz.viz.field_widget import PLAYER_MARK, FieldWidget, field_player_html, pack_fields, viewer_meta

SIZE = (128, 64)


@pytest.fixture(scope="module")
def viewer():
    torch.manual_seed(0)
    model = build_ianet("resnet18", num_classes=3, ia_stages=(2, 3)).eval()
    for blk in model.ia_blocks.values():  # open the gates: the maps do not depend on them, the test wants them anyway
        blk.sia.bn.weight.data.fill_(1.0)
    images = [np.random.default_rng(i).integers(0, 255, (*SIZE, 3), dtype=np.uint8) for i in range(3)]
    v = ReceptiveFieldViewer(model, images, block="stage2", size=SIZE, interactive=False)
    yield v
    v.close()


def _decode(meta, raw: bytes, which="packed"):
    """The inverse of pack_fields, as field_viewer.js's decodeMaps reads it."""
    out, at = {}, 0
    for b in meta["block_names"]:
        h, w = meta["blocks"][b]["hw"]
        m = h * w
        for k in meta["blocks"][b][which]:
            out[(b, k)] = np.frombuffer(raw[at:at + 2 * m * m], dtype="<f2").astype(np.float32).reshape(m, m)
            at += 2 * m * m
    assert at == len(raw)
    return out


def test_fields_are_every_row_of_every_map_in_float16(viewer):
    meta = viewer_meta(viewer, [0, 1])
    assert meta["blocks"]["stage2"]["hw"] == [16, 8] and meta["blocks"]["stage3"]["hw"] == [8, 4]
    assert meta["blocks"]["stage2"]["keys"] == ["S_A_1", "S_A_2", "S_A_3", "S_A", "S_L", "S"]
    assert len(meta["lut"]) == 256 and meta["image_hw"] == list(SIZE)
    assert meta["blocks"]["stage2"]["shared"] == ["S_L"] and meta["blocks"]["stage2"]["alias"] == {}
    got = {**_decode(meta, pack_fields(viewer, 1, meta)), **_decode(meta, pack_fields(viewer, 0, meta, "shared"), "shared")}
    for b in meta["block_names"]:
        maps, _ = viewer.maps(1, b)
        for k in meta["blocks"][b]["keys"]:
            np.testing.assert_allclose(got[(b, k)], maps[k], rtol=1e-3, atol=1e-7, err_msg=f"{b} {k}")
            np.testing.assert_allclose(got[(b, k)].sum(-1), 1.0, atol=2e-3)  # rows still sum to 1


def test_one_context_size_sends_s_a_once():
    model = build_ianet("resnet18", num_classes=3, ia_stages=(2,), ks=(1,)).eval()
    v = ReceptiveFieldViewer(model, [np.zeros((*SIZE, 3), np.uint8)], block="stage2", size=SIZE, interactive=False)
    info = viewer_meta(v, [0])["blocks"]["stage2"]
    assert info["alias"] == {"S_A": "S_A_1"} and info["packed"] == ["S_A_1", "S"]
    np.testing.assert_array_equal(v.maps(0)[0]["S_A"], v.maps(0)[0]["S_A_1"])  # what the alias relies on
    v.close()


def test_a_browser_selection_moves_the_python_viewer_and_back(viewer):
    w = viewer.show()
    assert isinstance(w, FieldWidget) and viewer.show() is w
    assert w.fields_image == viewer.image_index == 0
    # the browser selects a pixel of image 2 on stage3 in the "als" view: fields of image 2 are sent once
    w.selection = {"image": 2, "block": "stage3", "view": "als", "row": 5, "col": 1, "y": 85.0, "x": 20.0}
    assert w.fields_image == 2 and viewer.image_index == 2 and viewer.block == "stage3" and viewer.view == "als"
    assert viewer.selected == (5, 1) and "cell (row, col) = (5, 1) of 8x4" in viewer.label_text()
    assert "pixel (y, x) = (85, 20)" in viewer.label_text()
    # Python selects: the browser's selection follows (cell and pixel)
    viewer.select(1, 10.0, 60.0)
    assert w.fields_image == 1
    assert w.selection == {"image": 1, "block": "stage3", "view": "als", "row": 0, "col": 3, "y": 10.0, "x": 60.0}
    viewer.set_view("fig4")
    assert w.selection["view"] == "fig4"
    with pytest.raises(ValueError, match="frontend"):
        viewer.show(frontend="qt")


def test_the_player_inlines_the_saved_images_and_the_front_end(viewer):
    viewer.select(1, 30.0, 20.0)
    html = field_player_html(viewer, [0, 1])
    assert PLAYER_MARK in html and "function render" in html and "export default" not in html
    data = json.loads(re.search(r"play\(render, document\.getElementById\([^)]*\), (\{.*\})\);", html).group(1))
    assert data["meta"]["image_labels"] == viewer_meta(viewer, [0, 1])["image_labels"]
    assert data["selection"]["image"] == 1 and len(data["fields"]) == 2
    raw = base64.b64decode(data["fields"][1])
    np.testing.assert_allclose(_decode(data["meta"], raw)[("stage2", "S")], viewer.maps(1, "stage2")[0]["S"], rtol=1e-3,
                               atol=1e-7)
    shared = _decode(data["meta"], base64.b64decode(data["shared"]), "shared")
    np.testing.assert_allclose(shared[("stage2", "S_L")], viewer.maps(1, "stage2")[0]["S_L"], rtol=1e-3, atol=1e-7)
    assert len(base64.b64decode(data["photos"])) == 2 * SIZE[0] * SIZE[1] * 3
    bundle = viewer.show()._repr_mimebundle_()
    data = bundle[0] if isinstance(bundle, tuple) else bundle
    assert PLAYER_MARK in data["text/html"] and "application/vnd.jupyter.widget-view+json" in data
