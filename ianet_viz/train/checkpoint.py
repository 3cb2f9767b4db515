"""Atomic file writes, RNG state capture and the run checkpoint.

Every file of a run is written to a temporary file in the same directory, flushed and fsync'ed,
then renamed over the target with ``os.replace`` (atomic on POSIX and Windows). A crash or a kill
at any moment leaves either the old file or the new one, never a truncated one, and no temporary
file survives an exception.

The checkpoint only holds tensors, numbers, strings, lists, tuples and dicts, so it loads with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import numpy as np
import torch

__all__ = [
    "CHECKPOINT_NAME", "FORMAT", "atomic_write", "atomic_save", "atomic_write_json",
    "capture_rng_state", "restore_rng_state", "save_checkpoint", "load_checkpoint",
]

CHECKPOINT_NAME = "checkpoint.pt"
FORMAT = "ianet_viz.train/1"


def _fsync_dir(directory: Path) -> None:
    try:  # make the rename durable; not possible on every OS / file system
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()


def atomic_write(path, write: Callable[[Any], None], mode: str = "wb") -> Path:
    """Call ``write(file_object)`` on a temp file next to ``path``, fsync, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            if hasattr(os, "fchmod"):  # mkstemp makes 0600 files; use the usual mode
                os.fchmod(f.fileno(), 0o666 & ~_UMASK)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)
    return path


def atomic_save(obj: Any, path) -> Path:
    """``torch.save(obj, path)``, atomically."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write_json(obj: Any, path, indent: int = 2) -> Path:
    text = json.dumps(obj, indent=indent, sort_keys=False, default=_json_default) + "\n"
    return atomic_write(path, lambda f: f.write(text), mode="w")


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ----------------------------------------------------------------------------- RNG state

def capture_rng_state() -> Dict[str, Any]:
    """torch (CPU and every CUDA device), numpy and python ``random`` states, weights_only-safe."""
    np_state = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), int(np_state[2]),
                  int(np_state[3]), float(np_state[4])),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.int64).astype(np.uint32), pos, has_gauss, gauss))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)


# ----------------------------------------------------------------------------- checkpoint

def save_checkpoint(path, *, model, optimizer, scheduler, epoch: int, config: Dict[str, Any],
                    sampler=None, scaler=None, extra: Optional[Dict[str, Any]] = None) -> Path:
    """Atomically write the run state: model, optimizer, scheduler, epoch, config, RNG states."""
    state = {
        "format": FORMAT,
        "epoch": int(epoch),
        "config": config,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "scaler": scaler.state_dict() if scaler is not None else None,
        "sampler": sampler.state_dict() if sampler is not None else None,
        "rng": capture_rng_state(),
        "torch_version": str(torch.__version__),
    }
    if extra:
        state.update(extra)
    return atomic_save(state, path)


def load_checkpoint(path, map_location="cpu") -> Dict[str, Any]:
    """Load a checkpoint written by :func:`save_checkpoint` (``weights_only=True``)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    what = file_kind(path)
    if what != "torch.save":
        raise ValueError(f"{path} is {what}, not a training checkpoint: pass the run folder or its "
                         f"{CHECKPOINT_NAME} (or best.pt)" + (" ; load an export with torch.jit.load or ONNX Runtime"
                                                               if "export" in what else ""))
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # one line: torch's advice about weights_only=False does not apply here
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{path} is damaged or not an ianet_viz checkpoint ({first[:160]}); restore it, "
                         "or train again with --overwrite") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise ValueError(f"{path} is a torch file but not an ianet_viz training checkpoint (format {FORMAT}): "
                         "pass a run folder written by python -m ianet_viz.train")
    return state


def file_kind(path) -> str:
    """What a model file is, from its first bytes: "torch.save" (a checkpoint or weights), "a TorchScript
    export (--export .pt)", "an ONNX export (--export .onnx)", or "not a model file (damaged or of
    another kind)"."""
    import zipfile

    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except zipfile.BadZipFile:
            return "not a model file (a damaged archive)"
        if any(n.endswith("constants.pkl") or "/code/" in n for n in names):
            return "a TorchScript export (--export .pt)"
        return "torch.save" if any(n.endswith("data.pkl") for n in names) else "not a model file (a zip archive)"
    if path.suffix.lower() == ".onnx" or head[:1] == b"\x08":
        return "an ONNX export (--export .onnx)"
    if head[:1] == b"\x80":  # a legacy (non-zip) torch.save pickle
        return "torch.save"
    return "not a model file (damaged or of another kind)"
