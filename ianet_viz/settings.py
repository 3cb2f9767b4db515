"""Project-wide switches and paths.

``SMOKE`` is the one smoke switch (Pyro/BoTorch style): set ``IANET_SMOKE=1`` and every notebook,
benchmark and experiment shrinks its loops so it finishes in minutes on a 2-core CPU.
"""
from __future__ import annotations

import os
from pathlib import Path


def smoke() -> bool:
    """True when the environment variable ``IANET_SMOKE`` is set to anything but "" or "0"."""
    return os.environ.get("IANET_SMOKE", "0").strip().lower() not in ("", "0", "false", "no")


SMOKE: bool = smoke()

#: Repository root (the package is installed editable; data/ and runs/ live beside it).
REPO_DIR: Path = Path(__file__).resolve().parent.parent
#: Bundled data (real crops from vtest.avi) and generated data (synthetic pedestrians, gitignored).
DATA_DIR: Path = Path(os.environ.get("IANET_DATA_DIR", REPO_DIR / "data"))
#: Training runs and checkpoints (gitignored).
RUNS_DIR: Path = Path(os.environ.get("IANET_RUNS_DIR", REPO_DIR / "runs"))
