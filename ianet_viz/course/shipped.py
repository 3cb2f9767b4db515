"""Files that ship with the package (the models' and the backbone's weights): written atomically with
their sha256 beside them (``<name>.sha256``), and checked against it before they are read, so that a
failed checkout or a Git LFS pointer gets an error that says how to get the file back."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..imagenet import sha256
from ..train import atomic_save


def _sha_file(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save_shipped(obj, path) -> str:
    """Write a file that ships with the package (weights) atomically, with its sha256 beside it
    (``<name>.sha256``); returns the sha256."""
    path = Path(path)
    atomic_save(obj, path)  # creates the folder; a crash never leaves half a weights file
    digest = sha256(path)
    _sha_file(path).write_text(f"{digest}  {path.name}\n")
    return digest


def check_shipped(path, what: str, rebuild: str, expected: Optional[str] = None) -> Path:
    """``path`` after checking it against its sha256 (``expected``, else the file beside it): a
    missing, truncated or altered file (a failed checkout, a Git LFS pointer) gets an error that names
    ``what`` it is and how to get it back (``rebuild``: the command that makes it again)."""
    path = Path(path)
    if expected is None and _sha_file(path).is_file():
        expected = _sha_file(path).read_text().split()[0]
    if not path.is_file():
        raise FileNotFoundError(
            f"{what} is missing: {path}. It ships with the package; reinstall it (pip install .), "
            f"or rebuild it offline with `{rebuild}`.")
    got = sha256(path)
    if expected and got != expected:
        raise RuntimeError(
            f"{what} {path} is damaged (sha256 {got[:12]}..., expected {expected[:12]}...): restore it with "
            f"`git checkout -- ianet_viz/course/weights` or reinstall the package, or rebuild it with `{rebuild}`.")
    return path
