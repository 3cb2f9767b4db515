"""Latency of the receptive-field viewer: what a click costs once the maps are cached."""
from __future__ import annotations

import time
from typing import Dict

import numpy as np

from ..viz.viewer import ReceptiveFieldViewer


def benchmark_select(viewer: ReceptiveFieldViewer, n: int = 30, seed: int = 0) -> Dict[str, float]:
    """Latency of ``n`` cached ``select`` calls at random points of the current image, in ms.

    The maps are cached first (one forward pass), so this times what a click costs afterwards:
    slicing a row per map, ``set_data`` / ``set_text`` and the render, which ``select`` does
    itself: a blit of the changed artists into the figures (under ipympl including the diff PNG
    for the browser; in a static render including the PNGs of the widgets).
    Returns ``median_ms``, ``p90_ms``, ``max_ms`` (wall clock), ``cpu_median_ms`` (CPU time of
    the process: the steadier figure on a shared machine), ``full_redraws`` (how many of the
    ``n`` clicks redrew a whole figure: 0 once the background is cached) and ``n``.
    """
    rng = np.random.default_rng(seed)
    img_h, img_w = viewer.image_hw
    viewer.select(viewer.image_index, img_h / 2, img_w / 2)  # fills the cache and the background
    full_before = viewer.render_info()
    wall, cpu = [], []
    for _ in range(n):
        y, x = rng.uniform(0, img_h), rng.uniform(0, img_w)
        t0, c0 = time.perf_counter(), time.process_time()
        viewer.select(viewer.image_index, y, x)
        cpu.append((time.process_time() - c0) * 1e3)
        wall.append((time.perf_counter() - t0) * 1e3)
    full_after = viewer.render_info()
    redraws = sum(full_after[k] - full_before[k] for k in full_after if k.endswith("full_draws"))
    t = np.asarray(wall)
    return {"median_ms": float(np.median(t)), "p90_ms": float(np.percentile(t, 90)), "max_ms": float(t.max()),
            "cpu_median_ms": float(np.median(cpu)), "full_redraws": int(redraws), "n": n}
