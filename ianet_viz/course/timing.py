"""Latency of the receptive-field viewer: what a click costs once the maps are cached."""
from __future__ import annotations

import time
from typing import Dict

import numpy as np

from ..viz.viewer import ReceptiveFieldViewer


def benchmark_select(viewer: ReceptiveFieldViewer, n: int = 30, seed: int = 0) -> Dict[str, float]:
    """Latency of cached ``select`` calls (random points on the current image), in milliseconds.

    The maps are cached first (one forward pass), so this times what a click costs afterwards:
    slicing a row, upsampling, ``set_data`` and the full re-render of both figures. Under ipympl
    ``select`` itself only schedules the render (``draw_idle``), so the render is forced here
    with Agg to time what the kernel does before the browser gets the new picture; in a static
    render ``select`` already includes the render and PNG encoding.
    Returns ``median_ms``, ``p90_ms``, ``max_ms`` (select + render) and ``select_only_ms`` (median).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    rng = np.random.default_rng(seed)
    img_h, img_w = viewer.image_hw
    viewer.select(viewer.image_index, img_h / 2, img_w / 2)  # fills the cache
    total, only = [], []
    for _ in range(n):
        y, x = rng.uniform(0, img_h), rng.uniform(0, img_w)
        t0 = time.perf_counter()
        viewer.select(viewer.image_index, y, x)
        t1 = time.perf_counter()
        if viewer.interactive:
            FigureCanvasAgg.draw(viewer.image_fig.canvas)
            FigureCanvasAgg.draw(viewer.panel_fig.canvas)
        t2 = time.perf_counter()
        only.append((t1 - t0) * 1e3)
        total.append((t2 - t0) * 1e3)
    t = np.asarray(total)
    return {"median_ms": float(np.median(t)), "p90_ms": float(np.percentile(t, 90)), "max_ms": float(t.max()),
            "select_only_ms": float(np.median(only)), "n": n}
