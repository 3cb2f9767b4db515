"""Project-wide switches and folders.

``SMOKE`` is the one smoke switch (Pyro/BoTorch style): set ``IANET_SMOKE=1`` and every notebook,
benchmark and experiment shrinks its loops so it finishes in minutes on a 2-core CPU.

Folders the package writes to (it never reads anything else of a repository):

* ``WORKSPACE``: the checkout when the package is installed editable from one (a ``pyproject.toml``
  beside the package), else the current directory.
* ``DATA_DIR`` (``IANET_DATA_DIR``, default ``WORKSPACE/data``): datasets the user downloads
  (``market1501/``, ...) and generated ones (``synthetic-train/``, gitignored). The bundled real
  crops are package data (``ianet_viz/reid/vtest``); a ``vtest/`` folder here takes precedence.
* ``RUNS_DIR`` (``IANET_RUNS_DIR``, default ``WORKSPACE/runs``): training runs and checkpoints,
  the demo model included.
* ``RESULTS_DIR`` (``IANET_RESULTS_DIR``, default ``WORKSPACE/benchmarks/results``): the committed
  full sweeps that notebooks 05 and 06 show next to their own small ones (read only; a missing
  file is reported, never an error).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union


def smoke() -> bool:
    """True when the environment variable ``IANET_SMOKE`` is set to anything but "" or "0"."""
    return os.environ.get("IANET_SMOKE", "0").strip().lower() not in ("", "0", "false", "no")


def _workspace() -> Path:
    checkout = Path(__file__).resolve().parent.parent
    return checkout if (checkout / "pyproject.toml").is_file() else Path.cwd()


SMOKE: bool = smoke()

#: Where data/ and runs/ live by default: the checkout (editable install) or the current directory.
WORKSPACE: Path = _workspace()
#: Downloaded and generated datasets.
DATA_DIR: Path = Path(os.environ.get("IANET_DATA_DIR", WORKSPACE / "data"))
#: Training runs and checkpoints (gitignored).
RUNS_DIR: Path = Path(os.environ.get("IANET_RUNS_DIR", WORKSPACE / "runs"))
#: Committed sweep results (CSV) that the course notebooks read.
RESULTS_DIR: Path = Path(os.environ.get("IANET_RESULTS_DIR", WORKSPACE / "benchmarks" / "results"))


def relpath(path: Union[str, os.PathLike]) -> str:
    """``path`` relative to ``WORKSPACE`` when it lies inside it, else its name only: for printing
    (notebook outputs carry no local paths)."""
    p = Path(path).resolve()
    try:
        return p.relative_to(WORKSPACE.resolve()).as_posix()
    except ValueError:
        return p.name
