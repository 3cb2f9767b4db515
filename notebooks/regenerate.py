"""Regenerate the committed outputs of every notebook from the full path (``IANET_SMOKE`` off).

What a reader sees in a committed notebook is its full experiment, not the smoke run that CI
executes. This runs each notebook top to bottom in a fresh kernel, in its own folder, writes the
outputs back into the file and prints how long each took. Notebooks 05 and 06 retrain their sweeps
in full mode (hours on a CPU; resumable, so an interrupted run continues where it stopped).

A static notebook must be honest about its widgets: the file keeps the widget state only of the
widgets a reader can still see, the live ones that a cell's output displays. Widgets that were closed during the run (every ipympl figure that
``plt.close`` closed, each with its last canvas) and widgets that no output shows are dropped from
``metadata.widgets``, and an output that displays a closed widget loses its widget view
(:func:`clean_widget_state`; ``tests/test_notebook_text.py`` checks the committed files). The
receptive-field viewer is kept as its kernel-free player (its ``text/html``, which a notebook without
a kernel and the HTML export show), not as widget state.

    python notebooks/regenerate.py                      # every notebook
    python notebooks/regenerate.py notebooks/04_*.ipynb # some of them
    python notebooks/regenerate.py --strip-widgets notebooks/04_*.ipynb  # only clean the widget state
"""
from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path
from typing import Dict, Iterable, Set, Tuple

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
_REF = re.compile(r"IPY_MODEL_([0-9a-f]+)")
#: The receptive-field viewer's kernel-free player (ianet_viz.viz.field_widget.PLAYER_MARK)
PLAYER_MARK = "data-ianet-player"


class _Client(NotebookClient):
    """A NotebookClient that remembers which widget comms the kernel closed (nbclient keeps their
    last state otherwise: a closed figure's canvas would stay in the file)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.closed_comms: Set[str] = set()

    def handle_comm_msg(self, outs, msg, cell_index):
        if msg["msg_type"] == "comm_close":
            self.closed_comms.add(msg["content"]["comm_id"])
        super().handle_comm_msg(outs, msg, cell_index)


def _refs(value) -> Iterable[str]:
    """Model ids a widget's state refers to ("IPY_MODEL_<id>", at any depth)."""
    if isinstance(value, str):
        yield from _REF.findall(value)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _refs(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _refs(v)


def shown_models(nb) -> Set[str]:
    """Ids of the widgets that the notebook's outputs display (their widget-view outputs)."""
    return {o["data"][WIDGET_VIEW]["model_id"] for c in nb.cells if c.cell_type == "code"
            for o in c.get("outputs", []) if WIDGET_VIEW in o.get("data", {})}


def reachable_models(nb, models: Dict[str, dict]) -> Set[str]:
    """The displayed widgets and every widget they refer to (children, layouts, styles, canvases)."""
    seen: Set[str] = set()
    todo = [m for m in shown_models(nb) if m in models]
    while todo:
        mid = todo.pop()
        if mid in seen:
            continue
        seen.add(mid)
        todo.extend(r for r in _refs(models[mid].get("state", {})) if r in models and r not in seen)
    return seen


def clean_widget_state(nb, closed: Iterable[str] = ()) -> Tuple[int, int]:
    """Keep only the live, displayed widgets in ``nb.metadata.widgets``; returns ``(kept, dropped)``.

    ``closed``: ids of widgets the kernel closed during the run (:class:`_Client` records them). A
    closed widget is dropped even when an output displays it, and that output loses its widget view
    (its other representations stay; an output left empty goes).
    """
    closed = set(closed)
    widgets = nb.metadata.get("widgets", {})
    models = dict(widgets.get(WIDGET_STATE, {}).get("state", {}))
    for mid in closed:
        models.pop(mid, None)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        keep = []
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data and PLAYER_MARK in str(data.get("text/html", "")):
                del data[WIDGET_VIEW]  # the viewer's kernel-free player stands for it in the file
            if WIDGET_VIEW in data and data[WIDGET_VIEW]["model_id"] not in models:
                del data[WIDGET_VIEW]
                if not data:
                    continue
            keep.append(out)
        cell.outputs = keep
    live = reachable_models(nb, models)
    dropped = len(models) - len(live) + len(closed & set(widgets.get(WIDGET_STATE, {}).get("state", {})))
    if live:
        state = widgets[WIDGET_STATE]
        state["state"] = {mid: m for mid, m in models.items() if mid in live}
    else:
        widgets.pop(WIDGET_STATE, None)
        if not widgets:
            nb.metadata.pop("widgets", None)
    return len(live), dropped


def regenerate(path: Path, timeout: int = 36000) -> float:
    """Execute ``path`` in full mode and write its outputs back; returns the wall time in seconds."""
    nb = nbformat.read(str(path), as_version=4)
    os.environ["IANET_SMOKE"] = "0"  # the kernel inherits it
    t0 = time.perf_counter()
    client = _Client(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    seconds = time.perf_counter() - t0
    clean_widget_state(nb, client.closed_comms)
    nbformat.write(nb, str(path))
    return seconds


def strip_widgets(path: Path) -> Tuple[int, int]:
    """Clean the widget state of a committed notebook without running it (only what no output
    displays can be told apart in a file: see :func:`clean_widget_state`)."""
    nb = nbformat.read(str(path), as_version=4)
    kept, dropped = clean_widget_state(nb)
    nbformat.write(nb, str(path))
    return kept, dropped


def main(argv=None) -> int:
    args = list(argv if argv is not None else sys.argv[1:])
    strip_only = "--strip-widgets" in args
    args = [a for a in args if a != "--strip-widgets"]
    paths = [Path(p) for p in args] or sorted(HERE.glob("[0-9]*.ipynb"))
    if strip_only:
        for path in paths:
            kept, dropped = strip_widgets(path)
            print(f"{path.name}: kept {kept} widget models, dropped {dropped}")
        return 0
    total = 0.0
    for path in paths:
        seconds = regenerate(path)
        total += seconds
        print(f"{path.name}: {seconds:.0f} s", flush=True)
    print(f"all {len(paths)}: {total:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
