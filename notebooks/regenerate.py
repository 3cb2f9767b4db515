"""Regenerate the committed outputs of every notebook from the full path (``IANET_SMOKE`` off).

What a reader sees in a committed notebook is its full experiment, not the smoke run that CI
executes. This runs each notebook top to bottom in a fresh kernel, in its own folder, writes the
outputs back into the file and prints how long each took. Notebooks 05 and 06 retrain their sweeps
in full mode (hours on a CPU; resumable, so an interrupted run continues where it stopped).

    python notebooks/regenerate.py                      # every notebook
    python notebooks/regenerate.py notebooks/04_*.ipynb # some of them
"""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent


def regenerate(path: Path, timeout: int = 36000) -> float:
    """Execute ``path`` in full mode and write its outputs back; returns the wall time in seconds."""
    nb = nbformat.read(str(path), as_version=4)
    os.environ["IANET_SMOKE"] = "0"  # the kernel inherits it
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=timeout, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    seconds = time.perf_counter() - t0
    nbformat.write(nb, str(path))
    return seconds


def main(argv=None) -> int:
    paths = [Path(p) for p in (argv if argv is not None else sys.argv[1:])] or sorted(HERE.glob("[0-9]*.ipynb"))
    total = 0.0
    for path in paths:
        seconds = regenerate(path)
        total += seconds
        print(f"{path.name}: {seconds:.0f} s", flush=True)
    print(f"all {len(paths)}: {total:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
