"""The viewer's matplotlib front-end: its figures in an ipywidgets layout (ipympl canvases under
``%matplotlib widget``, else PNG images), with an image picker, block and view selectors, row / column
sliders and the selection's label. :meth:`ReceptiveFieldViewer.show` builds it with
``frontend="matplotlib"``; the default front-end draws in the browser (:mod:`.field_widget`)."""
from __future__ import annotations

from .inputs import item_label
from .panels import VIEW_BUTTONS, VIEWS


def matplotlib_layout(viewer):
    """The widget layout of ``viewer``'s figures; keeps its widgets on the viewer (``viewer._label``, ...)."""
    import ipywidgets as widgets

    viewer._picker = widgets.Dropdown(
        options=[(item_label(it, i), i) for i, it in enumerate(viewer.items)], value=viewer.image_index,
        description="image", layout=widgets.Layout(width="240px"), style={"description_width": "48px"})
    viewer._block_sel = widgets.ToggleButtons(options=viewer.blocks, value=viewer.block,
                                            tooltips=[f"relation maps of the IA block after {b}" for b in viewer.blocks])
    viewer._block_sel.style.button_width = "80px"
    viewer._view_sel = widgets.ToggleButtons(
        options=[(VIEW_BUTTONS[name], name) for name in VIEWS], value=viewer.view,
        tooltips=[label for label, _ in VIEWS.values()])
    viewer._view_sel.style.button_width = "240px"
    _, hw = viewer.maps(viewer.image_index, viewer.block)
    viewer._row = widgets.IntSlider(min=0, max=hw[0] - 1, value=0, description="row", continuous_update=False)
    viewer._col = widgets.IntSlider(min=0, max=hw[1] - 1, value=0, description="col", continuous_update=False)
    viewer._label = widgets.Label(value=viewer.label_text())
    viewer._label.add_class("ianet-selected")
    if viewer.interactive:
        for fig in (viewer.image_fig, viewer.panel_fig):
            c = fig.canvas
            c.header_visible = False
            c.footer_visible = False
            c.toolbar_visible = False
            c.resizable = False
            c.capture_scroll = False
        viewer._image_view = widgets.Box([viewer.image_fig.canvas])
        viewer._panel_view = widgets.Box([viewer.panel_fig.canvas])
    else:
        viewer._image_view = widgets.Image(format="png")
        viewer._panel_view = widgets.Image(format="png")
    viewer._image_view.add_class("ianet-image")
    viewer._panel_view.add_class("ianet-panels")

    def on_picker(change):
        if not viewer._syncing:
            viewer.select(change["new"], *viewer.selected_yx)

    def on_block(change):
        if not viewer._syncing:
            viewer.set_block(change["new"])

    def on_view(change):
        viewer.set_view(change["new"])

    def on_slider(change):
        if not viewer._syncing:
            viewer.select_cell(viewer.image_index, viewer._row.value, viewer._col.value)

    viewer._picker.observe(on_picker, names="value")
    viewer._block_sel.observe(on_block, names="value")
    viewer._view_sel.observe(on_view, names="value")
    viewer._row.observe(on_slider, names="value")
    viewer._col.observe(on_slider, names="value")
    hint = widgets.HTML(
        "<small>Click the pedestrian (left) or move the sliders: each panel shows the selected point's "
        "row of a relation map, i.e. where SIA gathers features from (bright = large weight).</small>")
    viewer._widget = widgets.VBox([
        widgets.HBox([viewer._picker, widgets.Label("block", layout=widgets.Layout(margin="0 6px 0 16px")),
                      viewer._block_sel]),
        widgets.HBox([widgets.Label("view", layout=widgets.Layout(width="48px", margin="0 4px 0 2px")),
                      viewer._view_sel]),
        widgets.HBox([viewer._image_view, viewer._panel_view]),
        widgets.HBox([viewer._row, viewer._col]),
        viewer._label,
        hint,
    ])
    viewer._widget.add_class("ianet-viewer")
    viewer.select(viewer.image_index, *viewer.selected_yx)
    return viewer._widget


def sync_layout(viewer) -> None:
    """The layout's widgets show the viewer's selection (without calling back into it)."""
    viewer._syncing = True
    try:
        h, w = viewer.selected_hw
        viewer._picker.value = viewer.image_index
        viewer._block_sel.value = viewer.block
        viewer._row.max, viewer._col.max = h - 1, w - 1
        viewer._row.value, viewer._col.value = viewer.selected
        viewer._label.value = viewer.label_text()
    finally:
        viewer._syncing = False

