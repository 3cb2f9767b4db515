"""Redraw only what changes: :class:`Blitter` (matplotlib's blitting pattern, in layers) for the
receptive-field viewer, and :func:`png_bytes` for its static (no ipympl) widgets."""
from __future__ import annotations

from typing import Sequence

import numpy as np


class Blitter:
    """Draws a figure's changing artists over cached backgrounds (matplotlib's blitting pattern).

    Three layers: the static background (titles, colour bar: drawn by a full draw), the ``photo``
    artists (change with the image) and the ``dynamic`` artists (change with every click). The
    photo and dynamic artists are kept invisible, so that no full draw (nor ``savefig``) paints
    them into the background, and animated, so that changing them does not mark the figure stale
    (a stale figure gets a full redraw); they are drawn here only. After every full draw
    (``draw_event``) the background is copied, the photos are drawn and copied too (for the image
    ``key``), then the dynamic artists. :meth:`update` restores the photo layer of the same image (or the background
    plus new photos after a change of image) and draws only the dynamic artists. This works on an
    Agg canvas (the static PNG widget, the benchmark) and on an ipympl canvas, whose ``blit``
    sends the changed pixels to the browser.
    """

    def __init__(self, fig, photo: Sequence, dynamic: Sequence):
        self.fig = fig
        self.canvas = fig.canvas
        self.photo = list(photo)
        self.dynamic = list(dynamic)
        for artist in self.photo + self.dynamic:
            # animated: their changes do not mark the figure stale, so nothing (pyplot, or
            # IPython's draw-all-stale-figures hook after every comm message under ipympl)
            # answers a click with a full redraw; invisible: see above
            artist.set_animated(True)
            artist.set_visible(False)
        self.key = None  # the image the photo artists show
        self.background = self.photo_layer = self._layer_key = self._bg_size = None
        self.full_draws = 0
        self.blits = 0
        self._cid = self.canvas.mpl_connect("draw_event", self._on_draw)

    @staticmethod
    def _paint(artists, renderer) -> None:
        for artist in artists:
            ax = artist.axes
            if ax is not None and not ax.get_visible():
                continue
            artist.set_visible(True)  # drawn here and only here (see the class docstring)
            try:
                artist.draw(renderer)
            finally:
                artist.set_visible(False)

    def _on_draw(self, event) -> None:
        if self.canvas.is_saving():  # savefig: paint everything onto its renderer, keep the caches
            self._paint(self.photo + self.dynamic, event.renderer)
            return
        self.background = self.canvas.copy_from_bbox(self.fig.bbox)
        self._bg_size = tuple(self.fig.bbox.size)
        self.full_draws += 1
        self._new_photo_layer(event.renderer)
        self._paint(self.dynamic, event.renderer)

    def _new_photo_layer(self, renderer) -> None:
        self._paint(self.photo, renderer)
        self.photo_layer = self.canvas.copy_from_bbox(self.fig.bbox)
        self._layer_key = self.key

    def update(self, key=None, full: bool = False) -> None:
        """Show the current state of image ``key``: restore its photo layer and draw the dynamic
        artists; a full draw when ``full`` or when there is no background of the figure's current
        size yet (under ipympl: requested from the browser, which blits nothing until it is done)."""
        self.key = key
        if full or self.background is None or self._bg_size != tuple(self.fig.bbox.size):
            # draw_event -> new background, photo layer and dynamic artists. An Agg canvas draws
            # at once; ipympl asks the browser, which requests the draw when its view is ready
            # (a frame pushed before the browser has initialised the canvas leaves it blank)
            self.background = None
            self.canvas.draw_idle()
            return
        renderer = self.canvas.get_renderer()
        if key == self._layer_key:
            self.canvas.restore_region(self.photo_layer)
        else:
            self.canvas.restore_region(self.background)
            self._new_photo_layer(renderer)
        self._paint(self.dynamic, renderer)
        self.canvas.blit(self.fig.bbox)
        self.blits += 1

    def disconnect(self) -> None:
        self.canvas.mpl_disconnect(self._cid)


def png_bytes(fig) -> bytes:
    """Encode what ``fig``'s Agg canvas holds (already rendered: no draw here) as a fast,
    lightly compressed PNG."""
    import cv2

    rgba = np.asarray(fig.canvas.buffer_rgba())
    ok, buf = cv2.imencode(".png", cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover - cv2 always encodes an 8-bit image
        raise RuntimeError("PNG encoding failed")
    return buf.tobytes()
