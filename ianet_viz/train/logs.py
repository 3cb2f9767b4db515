"""A run folder's files and its logs: the names :func:`~ianet_viz.train.train` writes, the JSON-lines
records (``log.jsonl`` one per epoch, ``steps.jsonl`` one per step, ``mechanism.jsonl``) and the
TensorBoard scalars (``tb/``, when the ``tensorboard`` package is installed)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from .checkpoint import atomic_write

__all__ = ["LOG_NAME", "METRICS_NAME", "STEPS_NAME", "BEST_NAME", "EVAL_NAME", "TENSORBOARD_DIR", "MECHANISM_NAME",
           "read_log", "rewind_log", "append_log", "summary_writer", "write_scalars"]

LOG_NAME = "log.jsonl"
METRICS_NAME = "metrics.json"
STEPS_NAME = "steps.jsonl"  # one record per training step: epoch, step, loss
BEST_NAME = "best.pt"  # the model of the best evaluation so far (by mAP), with --eval-every
EVAL_NAME = "eval.json"  # written by --eval-only, never by training
TENSORBOARD_DIR = "tb"
MECHANISM_NAME = "mechanism.jsonl"  # one record per epoch of a training monitor (ianet_viz.course.mechanism)


def read_log(run_dir, name: str = LOG_NAME) -> List[Dict[str, Any]]:
    """The records of ``run_dir/log.jsonl`` (or of another JSON-lines file, e.g. ``mechanism.jsonl``);
    unparsable lines are skipped."""
    path = Path(run_dir) / name
    out = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return out


def rewind_log(run_dir: Path, name: str, epoch: int, write: bool) -> List[Dict[str, Any]]:
    """The records of ``run_dir/name`` up to ``epoch``; with ``write``, the file is rewritten to
    them (atomically): a resumed run drops the records of an epoch that never reached its checkpoint."""
    keep = [r for r in read_log(run_dir, name) if int(r.get("epoch", 0)) <= epoch]
    if write:
        atomic_write(Path(run_dir) / name, lambda f: f.write("".join(json.dumps(r) + "\n" for r in keep)), "w")
    return keep


def append_log(path: Path, *records: Dict[str, Any]) -> None:
    """Add ``records`` to the JSON-lines file ``path``, one line each, on disk before it returns."""
    with open(path, "a") as f:
        f.write("".join(json.dumps(r) + "\n" for r in records))
        f.flush()
        os.fsync(f.fileno())


def summary_writer(run_dir, purge_step: Optional[int] = None):
    """TensorBoard's ``SummaryWriter`` on ``run_dir/tb`` when the ``tensorboard`` package is installed
    (``pip install .[tensorboard]``), else ``None``: the run's JSON-lines files hold the same numbers.
    ``purge_step``: a resumed run drops the events the interrupted one wrote from that step on."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # tensorboard is optional
        return None
    return SummaryWriter(log_dir=str(Path(run_dir) / TENSORBOARD_DIR), purge_step=purge_step)


def write_scalars(writer, prefix: str, values: Dict[str, Any], step: int) -> None:
    """``values`` as TensorBoard scalars ``prefix/key`` at ``step`` (nothing when ``writer`` is None)."""
    if writer is not None:
        for key, value in values.items():
            if isinstance(value, (int, float)):  # None (not measured) is left out
                writer.add_scalar(f"{prefix}/{key}", value, step)
