"""Viewer: CPU cost of ``ReceptiveFieldViewer.select`` once the maps are cached, before and after blitting.

A click on the pedestrian calls ``select``: slice the cached row of every map, update the artists
and render. The first selection of an image runs the model once (the maps of every block are
cached); this script times the selections after that, at random points, in CPU time of the process
with one thread (``--clock cpu``, the default; medians), for today's viewer ("after") and, in the
same process on the same model and points, the viewer of commit ``BEFORE_COMMIT`` ("before":
its ``viewer.py`` and ``overlay.py`` read with ``git show``, which redraw both figures on every
click). Variants run round-robin (:func:`benchmarks.common.interleaved`); "before / after" is the
median of the per-round ratios.

Three ways a student sees the viewer, each timed as the CPU time the kernel spends per click:

* ``Agg canvas``: ``select`` renders into the figures' Agg buffers (what every path starts with);
* ``static widget (PNG)``: after ``show()`` without ipympl, ``select`` also encodes both figures
  as PNG for the ``Image`` widgets;
* ``ipympl (to browser)``: under ``%matplotlib widget`` (ipympl canvases, emulating a connected
  browser): after: ``select`` blits and ipympl encodes the changed pixels (diff PNG) for the
  browser; before: ``select`` asks the browser for a redraw (``draw_idle``), so the click costs
  ``select`` plus the full ``canvas.draw()`` + diff PNG that the browser's request runs.

Rows: clicks on the current image (what a click costs; the headline) at stage 3 and stage 2, and
selections that switch the image (the image picker). Model: IANet-R50 (random init; speed does
not depend on the weights), the paper's 256x128 input, IA blocks after stages 2 and 3. Target:
median <= 50 ms per click.

    python -m benchmarks.viewer [--quick] [--write] [--repeats 30] [--clock cpu|wall]
"""
from __future__ import annotations

import inspect

import os
import subprocess
import sys
import types
from typing import Callable, Dict, List, Optional, Sequence

os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np

from benchmarks.common import (REPO_DIR, apply_threads, command_line, describe_device, format_table, interleaved,
                               make_parser, median, paired_ratio, section, update_results)

TARGET_MS = 50.0
#: the last commit whose viewer redrew both figures on every click (no blitting, bicubic rows)
BEFORE_COMMIT = "5183a980ad33b0d807b7cc473863e678b5cde070"
IPYMPL = "module://ipympl.backend_nbagg"


def images(n: int = 4):
    """A few real pedestrians (the bundled vtest.avi crops), else synthetic ones."""
    try:
        from ianet_viz.reid import bundled_crops

        items = bundled_crops().query[:n]
        if items:
            return [it[0] for it in items], "bundled vtest.avi crops"
    except Exception:
        pass
    from ianet_viz.synthetic import render_person, sample_identity

    rng = np.random.default_rng(0)
    return [render_person(sample_identity(rng), rng=rng)[0] for _ in range(n)], "synthetic pedestrians"


def before_viewer_class():
    """``ReceptiveFieldViewer`` as of :data:`BEFORE_COMMIT` (its viewer.py and overlay.py from git,
    imported as ``ianet_viz.viz._before_*`` next to today's package), or ``None`` without git."""
    name = "ianet_viz.viz._before_viewer"
    if name in sys.modules:
        return sys.modules[name].ReceptiveFieldViewer
    try:
        src = {m: subprocess.run(["git", "-C", str(REPO_DIR), "show", f"{BEFORE_COMMIT}:ianet_viz/viz/{m}.py"],
                                 capture_output=True, text=True, check=True, timeout=30).stdout
               for m in ("overlay", "viewer")}
    except (OSError, subprocess.SubprocessError):
        return None
    src["viewer"] = src["viewer"].replace("from .overlay import", "from ._before_overlay import")
    for m in ("overlay", "viewer"):
        mod = types.ModuleType(f"ianet_viz.viz._before_{m}")
        mod.__package__ = "ianet_viz.viz"
        mod.__file__ = f"<git {BEFORE_COMMIT[:7]}:ianet_viz/viz/{m}.py>"
        sys.modules[mod.__name__] = mod
        exec(compile(src[m], mod.__file__, "exec"), mod.__dict__)
    return sys.modules[name].ReceptiveFieldViewer


def _ipympl_available() -> bool:
    try:
        import ipympl  # noqa: F401
        import matplotlib.pyplot as plt

        plt.switch_backend(IPYMPL)
        return True
    except Exception:
        return False


def build_viewers(model, imgs, size, before_cls) -> Dict[str, Dict[str, object]]:
    """``{path: {"after": viewer, "before": viewer}}`` for the three paths (see the module docstring)."""
    from ianet_viz.viz import ReceptiveFieldViewer

    classes = {"after": ReceptiveFieldViewer}
    if before_cls is not None:
        classes["before"] = before_cls
    paths: Dict[str, Dict[str, object]] = {"Agg canvas": {}, "static widget (PNG)": {}}
    for version, cls in classes.items():
        paths["Agg canvas"][version] = cls(model, imgs, size=size, interactive=False)
        paths["static widget (PNG)"][version] = cls(model, imgs, size=size, interactive=False)
        static = paths["static widget (PNG)"][version]
        # the matplotlib layout (a viewer of an older commit has no other front-end to choose)
        static.show(**({"frontend": "matplotlib"} if "frontend" in inspect.signature(static.show).parameters else {}))
    if _ipympl_available():
        paths["ipympl (to browser)"] = {}
        for version, cls in classes.items():
            v = cls(model, imgs, size=size, interactive=True)
            if not v.interactive:  # no widget canvas after all
                paths.pop("ipympl (to browser)")
                break
            for fig in (v.image_fig, v.panel_fig):
                fig.canvas.syncing_data_url = False  # as after the browser's "initialized" message
            paths["ipympl (to browser)"][version] = v
    return paths


def _browser_draw(viewer) -> None:
    """Under ipympl, a full redraw waits for the browser to ask for it (``draw_idle``); there is no
    browser here, so answer as it would (an Agg canvas has drawn already: nothing to do)."""
    if viewer.interactive:
        viewer.image_fig.canvas.draw()
        viewer.panel_fig.canvas.draw()


def _click_fn(path: str, version: str, viewer, points, switch: bool) -> Callable[[], object]:
    """One click per call, walking through ``points`` (every variant sees the same sequence)."""
    it = iter(points)
    n_images = len(viewer.items)
    redraw = path.startswith("ipympl") and version == "before"  # the browser's redraw request

    def fn():
        y, x = next(it)
        i = (viewer.image_index + 1) % n_images if switch else viewer.image_index
        viewer.select(i, y, x)
        if redraw:
            _browser_draw(viewer)

    return fn


def run(quick: bool = False, repeats: Optional[int] = None, clock: str = "cpu") -> Dict:
    """Time the viewers; pyplot's backend is switched to ipympl for the ipympl rows and back after."""
    import matplotlib
    import matplotlib.pyplot as plt

    backend = matplotlib.get_backend()  # read before switching, so that the caller gets its own back
    matplotlib.use("Agg")
    try:
        return _run(quick, repeats, clock)
    finally:
        plt.close("all")
        plt.switch_backend(backend)  # a caller (e.g. a test session) keeps its backend


def _run(quick: bool, repeats: Optional[int], clock: str) -> Dict:
    import cv2
    import torch

    from ianet_viz import build_ianet

    cv2.setNumThreads(1)  # PNG encoding on this thread: CPU time = the work
    repeats = repeats or (3 if quick else 30)
    size = (64, 32) if quick else (256, 128)
    torch.manual_seed(0)
    arch = "resnet18" if quick else "resnet50"
    model = build_ianet(arch, num_classes=10, ia_stages=(2, 3)).eval()
    imgs, source = images(2 if quick else 3)
    before_cls = before_viewer_class()
    paths = build_viewers(model, imgs, size, before_cls)
    viewers = [v for p in paths.values() for v in p.values()]
    for v in viewers:  # fill the caches (one forward per image) before timing
        for i in range(len(imgs)):
            v.select(i, size[0] / 2, size[1] / 2)
        _browser_draw(v)
    rng = np.random.default_rng(0)
    tables: Dict[str, List[Dict]] = {"rows": [], "ipympl_rows": [], "switch_rows": []}
    for block in ("stage3", "stage2"):
        for v in viewers:
            v.set_block(block)
            _browser_draw(v)
        for switch in (False, True):
            if switch and block != "stage3":
                continue
            points = [(rng.uniform(0, size[0]), rng.uniform(0, size[1])) for _ in range(repeats + 1)]
            for path, versions in paths.items():
                out = tables["switch_rows" if switch else "ipympl_rows" if path.startswith("ipympl") else "rows"]
                fns = {ver: _click_fn(path, ver, v, points, switch) for ver, v in versions.items()}
                t = {k: [1e3 * s for s in ts] for k, ts in interleaved(fns, repeats, warmup=1, clock=clock).items()}
                hw = versions["after"].selected_hw
                row = {"path": path, "block": f"{block} ({hw[0]}x{hw[1]}, M={hw[0] * hw[1]})"}
                if "before" in t:
                    row["before ms"] = median(t["before"])
                row["after ms"] = median(t["after"])
                row["after p90 ms"] = float(np.percentile(t["after"], 90))
                if "before" in t:
                    row["before / after"] = paired_ratio(t["before"], t["after"])
                row[f"after <= {TARGET_MS:g} ms"] = "met" if row["after ms"] <= TARGET_MS else "MISSED"
                out.append(row)
    forwards = {f"{path} / {ver}": v.cache_info()["forward_passes"] for path, vs in paths.items() for ver, v in vs.items()}
    renders = {path: vs["after"].render_info() for path, vs in paths.items()}
    return {**tables, "repeats": repeats, "source": source, "n_images": len(imgs),
            "forwards": forwards, "renders": renders, "size": size, "arch": arch, "clock": clock,
            "before": BEFORE_COMMIT[:7] if before_cls is not None else None}


def report(out: Dict) -> str:
    unit = "CPU time of the process" if out["clock"] == "cpu" else "wall-clock time"
    before = (f"before = commit {out['before']}'s viewer (full redraw per click)" if out["before"]
              else "before: not measured (git history not available)")
    return "\n".join([
        f"IANet-{out['arch'][6:]} (random init), input {out['size'][0]}x{out['size'][1]}, {out['n_images']} "
        f"{out['source']}; {out['repeats']} random points per row, variants interleaved; median ms per select "
        f"({unit}); {before}; after = today's viewer (blitting, nearest-neighbour rows)",
        "",
        "Clicks on the current image:",
        format_table(out["rows"]),
        "",
        "Clicks on the current image under ipympl (%matplotlib widget), up to the PNG sent to the browser:",
        format_table(out["ipympl_rows"]) if out["ipympl_rows"] else "(ipympl not installed: not measured)",
        "",
        "Selections that switch the image (the image picker):",
        format_table(out["switch_rows"]),
        "",
        f"forward passes per viewer (one per image: no selection re-ran the model): {out['forwards']}",
        f"renders of today's viewers (full redraws vs blits): {out['renders']}",
    ])


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    p = make_parser(__doc__.splitlines()[0], timing=True)
    args = p.parse_args(argv)
    threads = apply_threads(args)
    out = run(quick=args.quick, repeats=args.repeats, clock=args.clock)
    text = report(out)
    print(text)
    if args.write:
        update_results("viewer", section(
            "viewer: ReceptiveFieldViewer.select after caching, before and after blitting (CPU)",
            command_line("benchmarks.viewer", argv), f"{describe_device()}; {threads}", "```\n" + text + "\n```",
            "What a click redraws now: the heat images, the markers and the one line of numbers per panel, over "
            "a cached background (titles, colour bar) and a cached photo layer per image; a change of block or "
            "view redraws everything once. The ipympl rows emulate a connected browser in this process "
            "(ipympl canvases, no kernel): the kernel's side of a click, up to the PNG it sends. The browser's "
            "own decode and paint are timed by tests/test_e2e_browser.py (printed, not asserted)."))
    return out


if __name__ == "__main__":
    main()
