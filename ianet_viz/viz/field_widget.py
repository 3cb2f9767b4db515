"""The receptive-field viewer in the browser: a click answered by the page, with or without a kernel.

:class:`FieldWidget` (an `anywidget <https://anywidget.dev>`_ widget) gets, once per image, the photo
and every row of every map of every SIA block as float16 bytes (a 16 x 8 map: 32 KB per map); the
browser (``field_viewer.js``) draws the overlays on canvases at cell resolution, with the colour
scale, colour bar, outlined cell and self/peak numbers of the matplotlib viewer. Click, drag, the
arrow keys and the image / block / view selectors need no kernel; the selection is synced back, so
``viewer.selected`` and the label agree.

:func:`field_player_html` is the same front-end with the fields of a few images inlined in one HTML
snippet (no kernel, no widget manager, nothing fetched): the widget's ``text/html`` representation,
which a saved notebook and its HTML export (``jupyter nbconvert --to html``) show.

Why anywidget: it is the maintained way to write a widget as one ES module with two-way synced
traits and binary buffers, and it runs unchanged in JupyterLab, Notebook 7, VS Code and Colab.
"""
from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import anywidget
import numpy as np
import traitlets

HERE = Path(__file__).resolve().parent
#: Marks the kernel-free player in an output's HTML (notebooks/regenerate.py keeps it, not the widget view).
PLAYER_MARK = "data-ianet-player"
#: Screen pixels of the drawn pedestrian's height: a 128 x 64 input is drawn at twice its size, 256 x 128 as it is.
DRAWN_HEIGHT = 256


def _source(name: str) -> str:
    return (HERE / name).read_text()


def colour_table(cmap: str) -> List[List[int]]:
    """256 RGB entries of ``cmap``: the browser's lookup table for the log colour scale."""
    import matplotlib

    rgb = matplotlib.colormaps[cmap](np.linspace(0, 1, 256))[:, :3]
    return (rgb * 255).round().astype(int).tolist()


def viewer_meta(viewer, images: Sequence[int]) -> Dict:
    """What the front-end needs besides the bytes: sizes, blocks and their maps, panels, views,
    titles, the colour table, for the viewer's images ``images`` (their order is the picker's)."""
    from .inputs import item_label
    from .style import CMAP, PAPER, RELATIVE_MIN
    from .panels import PANEL_HTML_TITLES, PANELS, VIEWS

    blocks = {}
    for b in viewer.blocks:
        maps, hw = viewer.maps(images[0], b)
        keys = [k for k in PANELS if k in maps]
        ks = viewer.model.ia_blocks[b].sia.ks
        # sent once, not per image: S^L is the same for every image; with one K, S^A is S^A_K
        alias = {"S_A": f"S_A_{ks[0]}"} if len(ks) == 1 and "S_A" in keys else {}
        shared = [k for k in keys if k == "S_L"]
        blocks[b] = {"hw": [int(hw[0]), int(hw[1])], "keys": keys, "alias": alias, "shared": shared,
                     "packed": [k for k in keys if k not in alias and k not in shared]}
    return {
        "image_hw": list(viewer.image_hw), "scale": max(1, round(DRAWN_HEIGHT / viewer.image_hw[0])), "alpha": viewer.alpha, "relative_min": RELATIVE_MIN,
        "block_names": list(viewer.blocks), "blocks": blocks, "panels": list(PANELS), "titles": PANEL_HTML_TITLES,
        "views": {name: [label, list(keys)] for name, (label, keys) in VIEWS.items()},
        "image_labels": [item_label(viewer.items[i], i) for i in images], "lut": colour_table(CMAP),
        "figure_title": f"Fig. 4/8 ({PAPER}): receptive field of the selected point",
        "label": viewer.label,
    }


def pack_fields(viewer, image_index: int, meta: Dict, which: str = "packed") -> bytes:
    """Every row of every map of every block of one image, float16 little-endian, in ``meta``'s order:
    the maps listed as ``which`` ("packed": the image's own; "shared": those of every image)."""
    parts = []
    for b in meta["block_names"]:
        maps, _ = viewer.maps(image_index, b)
        parts += [np.ascontiguousarray(maps[k], dtype="<f2").tobytes() for k in meta["blocks"][b][which]]
    return b"".join(parts)


def pack_photos(viewer, images: Sequence[int]) -> bytes:
    """The displayed (model-input) images, RGB uint8, one after the other."""
    from .overlay import display_image

    out = []
    for i in images:
        img = display_image(viewer.display[i])
        if img.dtype != np.uint8:
            img = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
        out.append(np.ascontiguousarray(img[..., :3]).tobytes())
    return b"".join(out)


def selection_of(viewer, image: Optional[int] = None) -> Dict:
    """The viewer's selection as the front-end holds it."""
    row, col = viewer.selected if viewer.selected is not None else (0, 0)
    y, x = viewer.selected_yx
    return {"image": viewer.image_index if image is None else image, "block": viewer.block, "view": viewer.view,
            "row": int(row), "col": int(col), "y": float(y), "x": float(x)}


def field_player_html(viewer, images: Sequence[int] = (0,)) -> str:
    """The front-end with the fields of ``images`` inlined: one HTML snippet that needs no kernel.

    Its size, x 4/3 for base64: per image the photo and 2 bytes x M^2 for each map of its own (S^L is
    stored once, and S^A once when it equals S^A_1).
    """
    images = list(images)
    meta = viewer_meta(viewer, images)
    data = {"meta": meta, "photos": base64.b64encode(pack_photos(viewer, images)).decode(),
            "shared": base64.b64encode(pack_fields(viewer, images[0], meta, "shared")).decode(),
            "fields": [base64.b64encode(pack_fields(viewer, i, meta)).decode() for i in images],
            "selection": selection_of(viewer, image=images.index(viewer.image_index) if viewer.image_index in images else 0)}
    esm = _source("field_viewer.js")
    if "export default { render };" not in esm:
        raise RuntimeError("field_viewer.js must end with 'export default { render };'")
    uid = f"ianet-{uuid.uuid4().hex[:12]}"
    return (f'<div id="{uid}" {PLAYER_MARK}></div>\n<style>{_source("field_viewer.css")}</style>\n'
            f"<script>\n(function () {{\n{esm.replace('export default { render };', '')}\n"
            f"{_source('field_player.js')}\n"
            f"play(render, document.getElementById({json.dumps(uid)}), {json.dumps(data)});\n}})();\n</script>")


class FieldWidget(anywidget.AnyWidget):
    """The live viewer: the browser draws, Python sends each image's fields once (see module docstring).
    ``saved_images``: the images that its kernel-free player (the ``text/html`` representation) keeps."""

    _esm = HERE / "field_viewer.js"
    _css = HERE / "field_viewer.css"
    meta = traitlets.Dict().tag(sync=True)
    photos = traitlets.Bytes().tag(sync=True)
    shared = traitlets.Bytes().tag(sync=True)
    fields = traitlets.Bytes().tag(sync=True)
    fields_image = traitlets.Int(0).tag(sync=True)
    selection = traitlets.Dict().tag(sync=True)

    def __init__(self, viewer, saved_images: Sequence[int] = (0,)):
        everything = list(range(len(viewer.items)))
        meta = viewer_meta(viewer, everything)
        super().__init__(meta=meta, photos=pack_photos(viewer, everything), selection=selection_of(viewer),
                         shared=pack_fields(viewer, viewer.image_index, meta, "shared"),
                         fields_image=viewer.image_index, fields=pack_fields(viewer, viewer.image_index, meta))
        self.viewer, self.saved_images = viewer, list(saved_images)
        self.observe(self._from_browser, names="selection")

    def send_image(self, index: int) -> None:
        """The fields of image ``index`` (its forward pass, once: the viewer caches the maps)."""
        if index != self.fields_image:
            with self.hold_sync():
                self.fields_image = index
                self.fields = pack_fields(self.viewer, index, self.meta)

    def show_selection(self, selection: Dict) -> None:
        """Python selected something (``viewer.select``): the browser follows."""
        self.send_image(int(selection["image"]))
        self.selection = selection

    def _from_browser(self, change) -> None:
        s = change["new"]
        self.send_image(int(s["image"]))
        self.viewer.follow(s)

    def _repr_mimebundle_(self, **kwargs):
        bundle = super()._repr_mimebundle_(**kwargs)
        data = bundle[0] if isinstance(bundle, tuple) else bundle
        data["text/html"] = field_player_html(self.viewer, self.saved_images)
        return bundle
