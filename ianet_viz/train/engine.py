"""The training loop: one function, :func:`train`, used by the CLI and the notebooks.

Reproducibility and resume. All randomness of epoch ``e`` is a function of ``(seed, e, rank)``:
the batch sampler draws its order from ``(seed, e)``, the augmentation of every drawn image is
seeded from ``(seed, e, image index)`` (:class:`~.loaders.SeededAugmentation`, so the worker count
changes nothing), and the global torch/numpy/python RNGs are re-seeded from ``(seed, e, rank)`` at
the start of every epoch, as is the DataLoader's generator (which seeds the worker processes). The
checkpoint, written atomically at the end of every epoch, holds the model, the optimizer, the
LR scheduler, the epoch, the config, the sampler state and every RNG state, so ``resume=True``
continues exactly where the run stopped: on CPU one epoch plus a resumed second epoch gives the
same weights and metrics as two uninterrupted epochs.

What the loop uses lives beside it: :mod:`.runs` (build, save and load a trained model),
:mod:`.logs` (the run folder's file names, its JSON-lines logs, TensorBoard), :mod:`.optim`
(parameter groups, learning-rate schedule), :mod:`.loaders` (data, the device prefetcher).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import warnings
import random
import shutil
import time
from types import SimpleNamespace
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from .checkpoint import CHECKPOINT_NAME, atomic_write_json, load_checkpoint, restore_rng_state, save_checkpoint
from .config import CONFIG_NAME, TrainConfig, config_differences, save_config
from .loaders import DevicePrefetcher, build_train_loader, hold_out_identities, load_dataset, relabel, set_loader_epoch
from .distributed import DistInfo, barrier, cleanup_distributed, init_distributed
from .logs import (BEST_NAME, EVAL_NAME, LOG_NAME, MECHANISM_NAME, METRICS_NAME, STEPS_NAME, TENSORBOARD_DIR,
                   append_log, rewind_log, summary_writer, write_scalars)
from .optim import lr_factor, param_groups
from .retrieval import SUMMARY_KEYS, autocast_context, eval_settings, evaluate, resolve_device
from .losses import ReIDLoss
from .runs import build_model, save_weights
from .samplers import epoch_seed

__all__ = ["TrainResult", "TrainingDiverged", "train", "load_init_weights", "sync_batchnorm", "seed_everything",
           "RUN_FILES", "run_files"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; the last good checkpoint is left untouched."""


@dataclass
class TrainResult:
    """What :func:`train` returns: final metrics, the per-epoch log, the trained model (eval mode)."""

    metrics: Dict[str, Any]
    history: List[Dict[str, Any]]
    model: nn.Module
    run_dir: Path
    config: TrainConfig
    stopped_early: bool = False


def seed_everything(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy's global RNG and python's ``random``."""
    seed = int(seed) % 2**32
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


def _pbar(enabled: bool, **kw):
    from tqdm.auto import tqdm

    return tqdm(disable=not enabled, **kw)


def train(config: Optional[TrainConfig] = None, *, callback: Optional[Callable[[Dict[str, Any]], Any]] = None,
          monitor: Optional[Callable[[nn.Module, int], Optional[Dict[str, Any]]]] = None,
          **overrides) -> TrainResult:
    """Train IANet as described by ``config`` (plus keyword ``overrides``), evaluate, write the run.

    Writes to ``config.output``: ``checkpoint.pt`` (every epoch, atomically), ``log.jsonl`` (one
    JSON record per epoch: epoch, loss, acc, lr, time, images_per_s, data_wait (seconds spent
    waiting for the loader), and mAP/rank-k when evaluated),
    ``metrics.json`` (the last evaluation: mAP, rank1, rank5, rank10, mINP, cmc, epoch, config),
    ``steps.jsonl`` (the loss of every step), ``config.yaml`` (the settings, for ``--config``),
    ``best.pt`` (with ``eval_every``: the model of the best mAP so far) and, when the ``tensorboard``
    package is installed, TensorBoard scalars in ``tb/``.

    ``callback(record)`` is called after each epoch (after the checkpoint); returning ``False``
    stops training there (the run can be resumed later). ``monitor(model, epoch)`` is called before
    the first epoch (epoch 0: the network at initialisation) and after each epoch; the dicts it
    returns go to ``mechanism.jsonl``, one record per epoch (see :mod:`ianet_viz.course.mechanism`).
    Raises :class:`TrainingDiverged` if the
    loss becomes NaN/inf (the last good checkpoint stays).
    """
    cfg = config if config is not None else TrainConfig()
    if overrides:
        cfg = replace(cfg, **overrides)
    state = None
    ckpt_path = Path(cfg.output) / CHECKPOINT_NAME
    if cfg.resume and ckpt_path.is_file():
        state = load_checkpoint(ckpt_path)
        if cfg.pretrained == "auto":  # a resumed run keeps the start it had (its weights come from the checkpoint)
            cfg = replace(cfg, pretrained=state["config"].get("pretrained"))
    if cfg.sync_bn and int(os.environ.get("WORLD_SIZE", "1")) > 1 and resolve_device(cfg.device).type != "cuda":
        raise ValueError("--sync-bn needs CUDA GPUs (PyTorch's SyncBatchNorm has no CPU version); "
                         "leave it out on the CPU")
    if cfg.sync_bn and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        warnings.warn("--sync-bn has no effect in a single process: it shares BatchNorm statistics between the "
                      "DDP processes of torchrun on several GPUs; this run trains with plain BatchNorm", stacklevel=2)
    info = init_distributed(cfg.device)
    try:
        return _train(cfg.resolved(), info, callback, monitor, state)
    finally:
        cleanup_distributed(info)


def load_init_weights(model: nn.Module, path) -> List[str]:
    """Copy a trained model's weights (a run folder or checkpoint) into ``model``: the paper's regime
    of inserting zero-initialised IA blocks into a trained baseline. Returns the names left at their
    initialisation (the IA blocks the source lacks); any other mismatch is an error."""
    src = load_checkpoint(path)["model"]
    own = model.state_dict()
    bad = [k for k, v in src.items() if k in own and own[k].shape != v.shape]
    if bad:
        raise ValueError(f"--init-from {path}: shapes differ for {', '.join(bad[:5])}; the source must "
                         "have the same backbone and number of training identities")
    result = model.load_state_dict(src, strict=False)
    stray = [k for k in result.missing_keys if not k.startswith("ia_blocks.")] + list(result.unexpected_keys)
    if stray:
        raise ValueError(f"--init-from {path}: the source does not match this model outside the IA blocks "
                         f"({', '.join(stray[:5])}); use a run of the same backbone")
    return list(result.missing_keys)


#: What the training loop adds up on the device during a logging interval (sums over the images).
_SLOTS = {name: i for i, name in enumerate(("loss", "correct", "images", "ce", "triplet"))}


def _read_interval(sums: torch.Tensor, step_losses: List[torch.Tensor], info: DistInfo
                   ) -> Tuple[List[float], List[float]]:
    """The one host sync of a logging interval: the interval's sums (over all ranks under DDP) and
    each step's loss (the mean over ranks), read back from the device together."""
    buf = torch.cat([sums, torch.stack(step_losses)])
    if info.enabled:
        import torch.distributed as dist

        dist.all_reduce(buf)
    values = buf.tolist()  # the CPU waits here for the device, once per interval
    k = len(sums)
    return values[:k], [v / info.world_size for v in values[k:]]


#: What a run writes in its folder: a new run starts only where none of these is (or with --overwrite,
#: which deletes them), so a folder whose checkpoint was deleted to save space still keeps its results.
RUN_FILES = (CHECKPOINT_NAME, LOG_NAME, METRICS_NAME, STEPS_NAME, BEST_NAME, EVAL_NAME, MECHANISM_NAME)


def run_files(run_dir: Path):
    """The files of :data:`RUN_FILES` that ``run_dir`` holds."""
    return [run_dir / n for n in RUN_FILES if (run_dir / n).exists()]


def sync_batchnorm(model: nn.Module) -> nn.Module:
    """Every BatchNorm of ``model`` as a SyncBatchNorm: under DDP each process otherwise normalises
    with the statistics of its own share of the batch (batch / N images), which gets noisy for small
    shares. The parameters stay the same objects (an optimiser built before still holds them)."""
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


class _Run(SimpleNamespace):
    """Everything one call of :func:`train` holds between its steps: the config, where it runs, its files,
    the data, the model and its optimiser, and the running tallies (start epoch, history, best mAP)."""


def _train(cfg: TrainConfig, info: DistInfo, callback, monitor=None, state=None) -> TrainResult:
    """The loop, in named steps: prepare the run, restore it, then per epoch train and finish the epoch."""
    run = _prepare(cfg, info, monitor, state)
    _restore(run, state)
    _start_logs(run, state)
    metrics, evaluated, stopped = None, False, False  # evaluated: on every rank (only rank 0 gets metrics)
    epoch_bar = _pbar(run.progress, total=cfg.epochs, initial=run.start_epoch, desc="training", unit="epoch")
    try:
        for epoch in range(run.start_epoch, cfg.epochs):
            record = _train_epoch(run, epoch)
            m = _evaluate_epoch(run, epoch, record)
            evaluated = evaluated or _is_eval_epoch(cfg, epoch)
            metrics = m if m is not None else metrics
            _finish_epoch(run, epoch, record)
            epoch_bar.update(1)
            epoch_bar.set_postfix({k: f"{record[k]:.3f}" for k in ("loss", "acc", "mAP") if k in record})
            if callback is not None and callback(dict(record)) is False:
                stopped = epoch + 1 < cfg.epochs
                break
    finally:
        epoch_bar.close()
        if run.writer is not None:
            run.writer.close()
    if not evaluated and not stopped:
        # nothing evaluated in this call (e.g. resuming a finished run): evaluate the final model
        metrics = _evaluate(run, run.start_epoch if run.start_epoch >= cfg.epochs else len(run.history))
    if metrics is None and run.main and run.metrics_path.is_file():
        metrics = json.loads(run.metrics_path.read_text())
    run.model.eval()
    return TrainResult(metrics=metrics or {}, history=run.history, model=run.model, run_dir=run.run_dir,
                       config=cfg, stopped_early=stopped)


def _is_eval_epoch(cfg: TrainConfig, epoch: int) -> bool:
    return epoch + 1 == cfg.epochs or bool(cfg.eval_every and (epoch + 1) % cfg.eval_every == 0)


def _check_start(cfg: TrainConfig, run_dir: Path, state) -> None:
    """A resumed run must be the same run; a new one must not land on another run's files."""
    ckpt_path = run_dir / CHECKPOINT_NAME
    if cfg.resume:
        if state is None:
            raise FileNotFoundError(
                f"--resume: no checkpoint at {ckpt_path}; start a new run without --resume")
        diffs = config_differences(state["config"], cfg.to_dict())
        if diffs:
            raise ValueError(  # one line, like every error of the command line
                f"cannot resume {ckpt_path}: the configuration differs from the checkpoint's in ways "
                "that change the run (" + "; ".join(diffs) + "); use the original settings (or a new --output)"
                + ("; milestones and warmup_epochs default to fractions of --epochs: pass them "
                   "explicitly to keep the original schedule when extending a run"
                   if any(d.startswith(("milestones", "warmup_epochs")) for d in diffs) else ""))
    elif not cfg.overwrite and (found := run_files(run_dir)):
        raise FileExistsError(
            f"{run_dir} already holds a run ({', '.join(p.name for p in found)}); pass --resume to "
            "continue it, --overwrite to start over (it deletes them), or another --output")


def _prepare(cfg: TrainConfig, info: DistInfo, monitor, state) -> _Run:
    """Step 1: the device, the checks, the data (with --val-ids' held-out people) and its loader."""
    if info.enabled and torch.cuda.is_available() and cfg.device in ("auto", "cuda"):
        device = torch.device("cuda", info.local_rank)
    else:
        device = resolve_device(cfg.device)
    if cfg.amp == "fp16" and device.type != "cuda":
        raise ValueError("--amp fp16 needs CUDA; use --amp bf16 or none on CPU")
    run_dir = Path(cfg.output)
    _check_start(cfg, run_dir, state)  # before any work: a mistaken --resume or --output costs nothing
    run = _Run(cfg=cfg, info=info, device=device, main=info.is_main, progress=cfg.progress and info.is_main,
               run_dir=run_dir, ckpt_path=run_dir / CHECKPOINT_NAME, metrics_path=run_dir / METRICS_NAME,
               monitor=monitor, validation=None, writer=None, start_epoch=0, history=[], best_map=None)
    seed_everything(cfg.seed)
    if run.main:
        run.dataset = load_dataset(cfg)  # rank 0 first: it may generate the synthetic data
    barrier(info)
    if not run.main:
        run.dataset = load_dataset(cfg)
    train_source = run.dataset.train
    if cfg.val_ids:  # identities held out of training: best.pt is chosen on them, not on the test split
        train_source, v_query, v_gallery = hold_out_identities(run.dataset.train, cfg.val_ids)
        run.validation = SimpleNamespace(query=v_query, gallery=v_gallery)
    train_items, run.num_classes = relabel(train_source)
    pin = cfg.pin_memory and device.type == "cuda"
    run.loader, run.sampler = build_train_loader(cfg, train_items, info.rank, info.world_size, pin)
    return run


def _build_model(run: _Run, state) -> None:
    """The model (its weights from the checkpoint when resuming), its optimiser, schedule and loss."""
    cfg, device = run.cfg, run.device
    seed_everything(cfg.seed)  # the model's initial weights depend on the seed only
    # a resumed run's weights come from its checkpoint: no ImageNet file needed (nor downloaded)
    model = build_model(cfg if state is None else replace(cfg, pretrained=None), run.num_classes)
    if cfg.bnneck_frozen_bias and hasattr(model, "neck"):
        model.neck.bias.requires_grad_(False)  # BNNeck (Luo et al. 2019): no shift before the classifier
    if state is None and cfg.init_from:
        load_init_weights(model, cfg.init_from)
    if cfg.sync_bn and run.info.enabled:
        model = sync_batchnorm(model)
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick the fastest kernels
    run.model = model
    run.optimizer = torch.optim.Adam(param_groups(model, cfg), lr=cfg.lr)
    run.scheduler = torch.optim.lr_scheduler.LambdaLR(run.optimizer, lambda e: lr_factor(cfg, e))
    run.scaler = torch.amp.GradScaler("cuda") if cfg.amp == "fp16" else None
    run.criterion = ReIDLoss(cfg.label_smoothing, cfg.triplet_weight, cfg.margin)


def _restore(run: _Run, state) -> None:
    """Step 2: build the model, touch the run folder, and continue from ``state`` (a checkpoint) if given."""
    cfg = run.cfg
    _build_model(run, state)
    if run.main:  # the data and the model are ready: now touch the run directory
        run.run_dir.mkdir(parents=True, exist_ok=True)
        if state is None:  # a new run: nothing of an older one may be mistaken for its results
            for name in RUN_FILES:
                (run.run_dir / name).unlink(missing_ok=True)
            shutil.rmtree(run.run_dir / TENSORBOARD_DIR, ignore_errors=True)
        save_config(cfg, run.run_dir / CONFIG_NAME)  # feed it back with --config to train the same run
    if state is not None:
        if int(state.get("num_classes", run.num_classes)) != run.num_classes:
            raise ValueError(
                f"cannot resume: the checkpoint has {state['num_classes']} training identities, "
                f"the dataset now has {run.num_classes}")
        run.model.load_state_dict(state["model"])
        run.optimizer.load_state_dict(state["optimizer"])
        run.scheduler.load_state_dict(state["scheduler"])
        if run.scaler is not None and state.get("scaler"):
            run.scaler.load_state_dict(state["scaler"])
        if state.get("sampler"):
            run.sampler.load_state_dict(state["sampler"])
        run.start_epoch = int(state["epoch"])
        restore_rng_state(state["rng"])
        run.history = rewind_log(run.run_dir, LOG_NAME, run.start_epoch, write=run.main)
        rewind_log(run.run_dir, STEPS_NAME, run.start_epoch, write=run.main)
        run.best_map = state.get("best_mAP")
    run.train_model = run.model
    if run.info.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        run.train_model = DDP(run.model, device_ids=[run.device.index] if run.device.type == "cuda" else None)
    if cfg.compile:
        run.train_model = torch.compile(run.train_model)


def _start_logs(run: _Run, state) -> None:
    """The monitor's epoch-0 record (or its log rewound), the steps per epoch and TensorBoard."""
    cfg = run.cfg
    mech_path = run.run_dir / MECHANISM_NAME
    if run.monitor is not None and run.main:
        if state is None:
            mech_path.unlink(missing_ok=True)
            _run_monitor(run, 0)
        elif mech_path.is_file():
            rewind_log(run.run_dir, MECHANISM_NAME, run.start_epoch, write=True)
    steps = len(run.sampler)
    if cfg.max_steps_per_epoch:
        steps = min(steps, cfg.max_steps_per_epoch)
    if steps == 0:
        raise ValueError("an epoch has no batch: the training set is too small for this batch size")
    run.steps_per_epoch = steps
    run.writer = summary_writer(run.run_dir, purge_step=run.start_epoch * steps + 1 if state else None) \
        if run.main else None


def _run_monitor(run: _Run, epoch: int) -> None:
    if run.monitor is None or not run.main:
        return
    rec = run.monitor(run.model, epoch)
    if rec:
        append_log(run.run_dir / MECHANISM_NAME, {"epoch": epoch, **rec})


def _step(run: _Run, imgs: torch.Tensor, pids: torch.Tensor, sums: torch.Tensor, step_losses: List) -> None:
    """One optimiser step; its loss and counts are added up on the device (no host read)."""
    with autocast_context(run.device, run.cfg.amp):
        if run.criterion.needs_features:
            logits, feat = run.train_model(imgs, return_features=True)
        else:
            logits, feat = run.train_model(imgs), None
    loss, parts = run.criterion(logits.float(), pids, None if feat is None else feat.float())
    run.optimizer.zero_grad(set_to_none=True)
    if run.scaler is not None:
        run.scaler.scale(loss).backward()
        run.scaler.step(run.optimizer)
        run.scaler.update()
    else:
        loss.backward()
        run.optimizer.step()
    # add up on the device: reading a number (.item(), float()) makes the CPU wait
    # until the GPU has finished every queued kernel, and the GPU then waits for the CPU
    with torch.no_grad():
        value, n = loss.detach().double(), imgs.shape[0]
        sums[_SLOTS["loss"]] += value * n
        sums[_SLOTS["correct"]] += (logits.detach().argmax(1) == pids).sum()
        sums[_SLOTS["images"]] += n
        sums[_SLOTS["ce"]] += parts["ce"].double() * n
        if "triplet" in parts:
            sums[_SLOTS["triplet"]] += parts["triplet"].double() * n
        step_losses.append(value)


def _end_interval(run: _Run, epoch: int, step: int, sums: torch.Tensor, step_losses: List) -> List[float]:
    """The end of a logging interval: the loop's one read from the device; the steps' losses logged, and
    a non-finite one stops the run before its checkpoint is written. Returns the interval's sums."""
    got, losses = _read_interval(sums, step_losses, run.info)
    first = step + 2 - len(losses)  # 1-based step of the interval's first loss
    # every step's loss is read here (the mean over ranks: non-finite if any rank's is)
    bad = next((i for i, v in enumerate(losses) if not math.isfinite(v)), None)
    if bad is not None:  # noticed at the end of its interval: the weights in memory
        # may have taken a few bad steps, the checkpoint on disk has not
        raise TrainingDiverged(
            f"loss became {losses[bad]} at epoch {epoch + 1}, step {first + bad}; training "
            f"stopped. The last good checkpoint ({run.ckpt_path}, epoch {epoch}) is kept. "
            "Try a lower --lr, --amp none, or check the data.")
    if run.main:
        done = epoch * run.steps_per_epoch + first  # the run's step number of losses[0]
        append_log(run.run_dir / STEPS_NAME, *({"epoch": epoch + 1, "step": done + i, "loss": v}
                                               for i, v in enumerate(losses)))
        for i, v in enumerate(losses):
            write_scalars(run.writer, "train", {"loss": v}, done + i)
    return got, losses


def _train_epoch(run: _Run, epoch: int) -> Dict[str, Any]:
    """Step 3: one epoch of optimiser steps; returns its log record (loss, accuracy, lr, speed)."""
    cfg, steps = run.cfg, run.steps_per_epoch
    seed_everything(epoch_seed(cfg.seed, epoch, run.info.rank, 0))  # main-process randomness
    set_loader_epoch(run.loader, run.sampler, cfg.seed, epoch, run.info.rank)
    lr = run.optimizer.param_groups[0]["lr"]
    run.model.train()
    t0 = time.perf_counter()
    totals = [0.0] * len(_SLOTS)  # the epoch's sums, on the host, one interval at a time
    sums = torch.zeros(len(_SLOTS), dtype=torch.float64, device=run.device)  # this interval's
    step_losses: List[torch.Tensor] = []
    bar = _pbar(run.progress, total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", leave=False, unit="batch")
    batches = DevicePrefetcher(itertools.islice(run.loader, steps), run.device, cfg.channels_last)
    for step, (imgs, pids) in enumerate(batches):
        _step(run, imgs, pids, sums, step_losses)
        bar.update(1)
        if (step + 1) % cfg.log_every and step + 1 < steps:
            continue
        got, losses = _end_interval(run, epoch, step, sums, step_losses)
        sums.zero_()
        step_losses = []
        totals = [a + b for a, b in zip(totals, got)]
        n_seen = max(got[_SLOTS["images"]], 1.0)
        bar.set_postfix(loss=f"{losses[-1]:.3f}", acc=f"{got[_SLOTS['correct']] / n_seen:.2f}")
    bar.close()
    run.scheduler.step()
    seconds = time.perf_counter() - t0
    n_img = max(totals[_SLOTS["images"]], 1.0)
    record: Dict[str, Any] = {
        "epoch": epoch + 1, "loss": totals[_SLOTS["loss"]] / n_img, "ce": totals[_SLOTS["ce"]] / n_img,
        "acc": totals[_SLOTS["correct"]] / n_img, "lr": lr, "time": seconds,
        "images": int(n_img), "images_per_s": n_img / seconds if seconds > 0 else None,
        "steps": steps, "data_wait": batches.wait_s,
    }
    if run.criterion.needs_features:
        record["triplet"] = totals[_SLOTS["triplet"]] / n_img
    return record


def _evaluate(run: _Run, epoch: int) -> Optional[Dict[str, Any]]:
    """The test split's metrics (and --val-ids' validation mAP), written to metrics.json by rank 0."""
    cfg, metrics = run.cfg, None
    if run.main:
        metrics = evaluate(run.model, run.dataset, device=run.device, progress=run.progress, **eval_settings(cfg))
        metrics["epoch"] = epoch
        out = {k: metrics[k] for k in SUMMARY_KEYS}
        if run.validation is not None:
            val = evaluate(run.model, run.validation, device=run.device, progress=False, **eval_settings(cfg))
            metrics.update(val_mAP=val["mAP"], val_rank1=val["rank1"])
            out.update(val_mAP=val["mAP"], val_rank1=val["rank1"], val_ids=cfg.val_ids)
        if cfg.eval_every:  # what best.pt is: by default chosen on the test split, as torchreid does
            out["best_selection"] = (
                f"highest mAP on {cfg.val_ids} validation identities held out of the training split "
                "(--val-ids) over the evaluations" if run.validation is not None else
                "highest mAP on the test split (query vs gallery) over the evaluations")
        out.update(epoch=epoch, dataset=cfg.dataset, num_query=metrics["num_query"],
                   num_gallery=metrics["num_gallery"], eval_seconds=metrics["seconds"],
                   cmc=metrics["cmc"], config=cfg.to_dict())
        atomic_write_json(out, run.metrics_path)
    barrier(run.info)
    return metrics


def _evaluate_epoch(run: _Run, epoch: int, record: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """Evaluate when the epoch calls for it; keep best.pt (by --val-ids' mAP, else the test split's)."""
    if not _is_eval_epoch(run.cfg, epoch):
        return None
    m = _evaluate(run, epoch + 1)
    if m is not None:
        record.update({k: m[k] for k in (*SUMMARY_KEYS, "val_mAP", "val_rank1") if k in m})
        chosen_on = m.get("val_mAP", m["mAP"])
        if run.cfg.eval_every and (run.best_map is None or chosen_on > run.best_map):
            run.best_map = chosen_on
            save_weights(run.run_dir / BEST_NAME, run.model, run.cfg, run.num_classes, epoch + 1,
                         {k: m[k] for k in SUMMARY_KEYS})
    return m


def _finish_epoch(run: _Run, epoch: int, record: Dict[str, Any]) -> None:
    """Step 4: the epoch's record into the logs and TensorBoard, the monitor, then the checkpoint."""
    cfg = run.cfg
    run.history.append(record)
    _run_monitor(run, epoch + 1)
    if run.main:
        step = (epoch + 1) * run.steps_per_epoch
        append_log(run.run_dir / LOG_NAME, record)
        write_scalars(run.writer, "epoch",
                      {k: record.get(k) for k in ("loss", "acc", "lr", "images_per_s", "data_wait")}, step)
        write_scalars(run.writer, "eval", {k: record[k] for k in ("mAP", "rank1") if k in record}, step)
        if run.writer is not None:
            run.writer.flush()
        save_checkpoint(run.ckpt_path, model=run.model, optimizer=run.optimizer, scheduler=run.scheduler,
                        epoch=epoch + 1, config=cfg.to_dict(), sampler=run.sampler, scaler=run.scaler,
                        extra={"num_classes": run.num_classes, "best_mAP": run.best_map})
    barrier(run.info)
    if run.progress:
        from tqdm.auto import tqdm

        extra = f"  mAP {record['mAP']:.4f}  rank1 {record['rank1']:.4f}" if "mAP" in record else ""
        tqdm.write(f"epoch {epoch + 1}/{cfg.epochs}  loss {record['loss']:.4f}  acc {record['acc']:.4f}  "
                   f"lr {record['lr']:.2e}  {record['time']:.1f}s{extra}")
