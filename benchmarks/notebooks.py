"""Notebooks: wall time of each notebook executed top to bottom in smoke mode (``IANET_SMOKE=1``).

Each notebook under ``notebooks/`` (or the paths given) runs in a fresh kernel through nbclient,
in its own folder, with ``IANET_SMOKE=1`` in the kernel's environment; the notebook file is not
modified. The table gives the wall time (kernel start included), the number of code cells and the
slowest cell. A failing notebook is reported with its error and the script exits non-zero.
These are absolute times of one run each (``--repeats N`` for a median): they name the machine.

    python -m benchmarks.notebooks [--quick] [--write] [--timeout 1200] [PATHS ...]
"""
from __future__ import annotations

import sys
from pathlib import Path

import os
import time
from typing import Dict, List, Optional, Sequence

from benchmarks.common import REPO_DIR, command_line, describe_device, format_table, make_parser, median, section, update_results


def find_notebooks(paths: Sequence[str] = ()) -> List[Path]:
    if paths:
        out = []
        for p in map(Path, paths):
            out += sorted(p.glob("*.ipynb")) if p.is_dir() else [p]
        return out
    return sorted(p for p in (REPO_DIR / "notebooks").glob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)


def run_notebook(path: Path, timeout: int = 1200, smoke: bool = True) -> Dict:
    """Execute one notebook in a fresh kernel; returns wall time, cells, slowest cell, error."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(str(path), as_version=4)
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    old = os.environ.get("IANET_SMOKE")
    os.environ["IANET_SMOKE"] = "1" if smoke else "0"
    os.environ.setdefault("MPLBACKEND", "Agg")
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    cell_times = []
    orig = client.async_execute_cell

    async def timed(cell, cell_index, *a, **k):
        t0 = time.perf_counter()
        try:
            return await orig(cell, cell_index, *a, **k)
        finally:
            cell_times.append((time.perf_counter() - t0, cell_index))

    client.async_execute_cell = timed
    error = ""
    t0 = time.perf_counter()
    try:
        client.execute()
    except Exception as err:  # CellExecutionError, timeouts, a dead kernel
        error = f"{type(err).__name__}: {str(err).strip().splitlines()[-1][:160] if str(err).strip() else ''}"
    finally:
        wall = time.perf_counter() - t0
        if old is None:
            os.environ.pop("IANET_SMOKE", None)
        else:
            os.environ["IANET_SMOKE"] = old
    slow = max(cell_times) if cell_times else (0.0, -1)
    return {"notebook": path.name, "wall s": wall, "code cells": len(code_cells),
            "slowest cell": f"#{slow[1]} {slow[0]:.1f} s", "status": "ok" if not error else "FAILED", "error": error}


def run(quick: bool = False, paths: Sequence[str] = (), timeout: int = 1200, repeats: int = 1) -> Dict:
    nbs = find_notebooks(paths)
    if quick:
        nbs = nbs[:1]
    rows = []
    for nb in nbs:
        runs = [run_notebook(nb, timeout) for _ in range(max(1, repeats))]
        row = dict(runs[-1])
        row["wall s"] = median([r["wall s"] for r in runs])
        rows.append(row)
        print(f"{row['notebook']}: {row['wall s']:.1f} s {row['status']} {row['error']}", flush=True)
    return {"rows": rows, "found": [str(p) for p in nbs], "repeats": max(1, repeats)}


def main(argv: Optional[Sequence[str]] = None) -> Dict:
    p = make_parser(__doc__.splitlines()[0])
    p.add_argument("paths", nargs="*", help="notebooks or folders (default: notebooks/*.ipynb)")
    p.add_argument("--timeout", type=int, default=1200, help="per-cell timeout in seconds")
    args = p.parse_args(argv)
    out = run(quick=args.quick, paths=args.paths, timeout=args.timeout, repeats=args.repeats or 1)
    if not out["rows"]:
        print("no notebooks found (looked in notebooks/*.ipynb); nothing to time")
        return out
    cols = ["notebook", "wall s", "code cells", "slowest cell", "status"]
    text = format_table(out["rows"], cols)
    failed = [r for r in out["rows"] if r["status"] != "ok"]
    if failed:
        text += "\n\nfailures:\n" + "\n".join(f"  {r['notebook']}: {r['error']}" for r in failed)
    print(text)
    total = sum(r["wall s"] for r in out["rows"])
    print(f"total {total:.0f} s")
    if args.write:
        update_results("notebooks", section(
            "notebooks: wall time in smoke mode (IANET_SMOKE=1)", command_line("benchmarks.notebooks", argv),
            describe_device(), "```\n" + text + f"\ntotal {total:.0f} s\n```",
            f"One run per notebook (median of {out['repeats']}), kernel start included; absolute times on a shared machine."))
    if failed and __name__ == "__main__":
        sys.exit(1)
    return out


if __name__ == "__main__":
    main()
