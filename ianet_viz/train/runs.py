"""Trained models on disk: build one from a config, save its weights, load a run folder, checkpoint,
``best.pt`` or weights file with its config and metrics, and evaluate it again (``--eval-only``)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Dict, Optional

from torch import nn

from .checkpoint import CHECKPOINT_NAME, FORMAT, atomic_save, atomic_write_json, load_checkpoint
from .config import TrainConfig, start_weights
from .loaders import dataset_root, load_dataset, local_root
from .logs import EVAL_NAME, METRICS_NAME
from .retrieval import SUMMARY_KEYS, eval_settings, evaluate, resolve_device

__all__ = ["TrainedModel", "build_model", "save_weights", "saved_metrics", "load_run", "load_model", "eval_file",
           "evaluate_run"]


def build_model(cfg: TrainConfig, num_classes: int) -> nn.Module:
    """:func:`ianet_viz.build_ianet` with the model options of ``cfg``."""
    from ..model import build_ianet

    pretrained = start_weights(cfg.pretrained, cfg.dataset)
    return build_ianet(cfg.backbone, num_classes, pretrained, tuple(cfg.ia_stages), cfg.ia_options,
                       last_stride=cfg.last_stride, per_block=cfg.per_block, input_size=(cfg.height, cfg.width))


@dataclass
class TrainedModel:
    """What :func:`load_run` returns: the model (eval mode), its training config, its metrics."""

    model: nn.Module
    config: TrainConfig
    metrics: Dict[str, Any]
    path: Path
    epoch: Optional[int] = None


def save_weights(path, model: nn.Module, cfg: TrainConfig, num_classes: int, epoch: int,
                 metrics: Optional[Dict[str, Any]] = None) -> Path:
    """A weights file: the model, what rebuilds it (config, number of classes), its epoch and its
    metrics. ``best.pt`` has this form, as have the course's shipped weights; :func:`load_run` reads it."""
    return atomic_save({"format": FORMAT, "config": cfg.to_dict(), "num_classes": int(num_classes),
                        "epoch": int(epoch), "model": model.state_dict(), "metrics": dict(metrics or {})}, path)


def saved_metrics(path, state: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The last evaluation recorded for a run folder, a checkpoint or a weights file (the whole record).

    A weights file (``best.pt``, the course's shipped weights) carries its own ``metrics`` entry. A run's
    ``checkpoint.pt`` has none (they change at every evaluation): they come from the ``metrics.json``
    of its run folder. ``{}`` when none was recorded: a run before its first evaluation, a missing
    path, an unreadable ``metrics.json``, or a loose file without an entry (a ``metrics.json`` beside
    a file that is not in a run folder belongs to something else). ``state``: the loaded checkpoint,
    when the caller has it already."""
    path = Path(path)
    if not path.exists():
        return {}
    folder = path if path.is_dir() else path.parent
    if path.is_file() and state is None:
        state = load_checkpoint(path)
    if state is not None and state.get("metrics") is not None:
        return dict(state["metrics"])
    if path.is_file() and not (folder / CHECKPOINT_NAME).is_file():
        return {}
    file = folder / METRICS_NAME
    if not file.is_file():
        return {}
    try:
        return dict(json.loads(file.read_text()))
    except (OSError, ValueError):
        return {}


def load_run(path, device="cpu") -> TrainedModel:
    """The trained model of a run folder, a checkpoint, a ``best.pt`` or a shipped weights file,
    with its config and metrics.

    A weights file carries its metrics; a run's ``checkpoint.pt`` has none (they change at every
    evaluation), so they come from the ``metrics.json`` beside it (``{}`` before the first one):
    :func:`saved_metrics`."""
    path = Path(path)
    state = load_checkpoint(path)
    if "num_classes" not in state:
        raise ValueError(f"{path} holds a backbone without its re-ID head (no number of classes): it is "
                         "a starting point, not a trained model; train from it with --pretrained FILE")
    cfg = TrainConfig.from_dict(state["config"])
    model = build_model(replace(cfg, pretrained=None), int(state["num_classes"]))  # weights: the file's
    model.load_state_dict(state["model"])
    metrics = saved_metrics(path, state)
    return TrainedModel(model.to(resolve_device(device)).eval(), cfg, metrics, path, state.get("epoch"))


def eval_file(path) -> Path:
    """Where ``--eval-only`` writes: ``RUN/eval.json`` for a run folder, ``NAME.eval.json`` beside a file."""
    path = Path(path)
    return path / EVAL_NAME if path.is_dir() else path.with_suffix(".eval.json")


def evaluate_run(path, rerank: bool = False, trained: Optional[TrainedModel] = None,
                 rerank_settings: Optional[Dict[str, Any]] = None, **changes) -> Dict[str, Any]:
    """Evaluate the model of a run folder, ``best.pt`` or weights file and write :func:`eval_file`.

    The dataset and the evaluation settings are the run's, except for ``changes`` (``TrainConfig``
    fields: ``data_root``, ``device``, ``flip_test``, ``metric``, even another ``dataset`` to test
    across domains). ``rerank`` re-ranks with k-reciprocal encoding (``rerank_settings``: k1, k2, lambda_value). The training's ``metrics.json``
    is left as it is: an evaluation with other settings does not rewrite what the training measured.
    ``trained``: ``load_run(path)``, when the caller has it already.
    """
    trained = load_run(path) if trained is None else trained
    cfg = replace(trained.config, **changes).resolved()
    if "data_root" not in changes and cfg.data_root and local_root(cfg) != dataset_root(cfg):
        print(f"note: {cfg.data_root} is not here; evaluating on {local_root(cfg)} (IANET_DATA_DIR)", file=sys.stderr)
        cfg = replace(cfg, data_root=str(local_root(cfg)))
    device = resolve_device(cfg.device)
    m = evaluate(trained.model, load_dataset(cfg), device=device, progress=cfg.progress, rerank=rerank,
                 rerank_settings=rerank_settings, **eval_settings(cfg))
    out = {k: m[k] for k in SUMMARY_KEYS}
    out.update(epoch=trained.epoch, dataset=cfg.dataset, flip_test=cfg.flip_test, rerank=rerank, metric=cfg.metric,
               **({"rerank_settings": dict(rerank_settings or {})} if rerank else {}),
               num_query=m["num_query"], num_gallery=m["num_gallery"], eval_seconds=m["seconds"], cmc=m["cmc"],
               model=str(path), config=cfg.to_dict())
    target = atomic_write_json(out, eval_file(path))
    return dict(out, eval_file=str(target))


def load_model(path, device="cpu") -> nn.Module:
    """Rebuild the trained model of a run folder, checkpoint, ``best.pt`` or weights file, in eval mode."""
    return load_run(path, device).model
