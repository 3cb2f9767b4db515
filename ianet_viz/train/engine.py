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
"""

from __future__ import annotations

import itertools
import json
import math
import os
import random
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from .checkpoint import (CHECKPOINT_NAME, FORMAT, atomic_save, atomic_write, atomic_write_json, load_checkpoint,
                         restore_rng_state, save_checkpoint)
from .config import CONFIG_NAME, TrainConfig, config_differences, save_config, start_weights
from .loaders import DevicePrefetcher, build_train_loader, load_dataset, relabel, set_loader_epoch
from .distributed import DistInfo, barrier, cleanup_distributed, init_distributed
from .retrieval import autocast_context, evaluate, resolve_device
from .losses import ReIDLoss
from .samplers import epoch_seed

__all__ = ["TrainResult", "TrainingDiverged", "train", "build_model", "load_model", "load_run", "evaluate_run",
           "save_weights", "eval_file", "lr_factor",
           "seed_everything", "read_log", "summary_writer", "LOG_NAME", "METRICS_NAME", "STEPS_NAME",
           "BEST_NAME", "EVAL_NAME"]

LOG_NAME = "log.jsonl"
METRICS_NAME = "metrics.json"
STEPS_NAME = "steps.jsonl"  # one record per training step: epoch, step, loss
BEST_NAME = "best.pt"  # the model of the best evaluation so far (by mAP), with --eval-every
EVAL_NAME = "eval.json"  # written by --eval-only, never by training
TENSORBOARD_DIR = "tb"


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


def lr_factor(cfg: TrainConfig, epoch: int) -> float:
    """LR multiplier during (0-based) ``epoch``: linear warm-up, then x gamma at each milestone."""
    f = 1.0
    if cfg.warmup_epochs and epoch < cfg.warmup_epochs:
        f = cfg.warmup_factor + (1.0 - cfg.warmup_factor) * epoch / cfg.warmup_epochs
    return f * cfg.gamma ** sum(1 for m in cfg.milestones if epoch >= m)


def build_model(cfg: TrainConfig, num_classes: int) -> nn.Module:
    """:func:`ianet_viz.build_ianet` with the model options of ``cfg``."""
    from ..model import build_ianet

    pretrained = start_weights(cfg.pretrained, cfg.dataset)
    return build_ianet(
        backbone=cfg.backbone, num_classes=num_classes, pretrained=pretrained,
        ia_stages=tuple(cfg.ia_stages), arrangement=cfg.arrangement, last_stride=cfg.last_stride,
        ks=tuple(cfg.ks), fusion=cfg.fusion, sigma=None if cfg.sigma is None else tuple(cfg.sigma),
        multi=cfg.multi, use_appearance=cfg.use_appearance, use_location=cfg.use_location,
        per_block=cfg.per_block, sia_scale=cfg.sia_scale, cia_scale=cfg.cia_scale,
        relation=cfg.sia_relation, learn_scale=cfg.sia_learn_scale, gate_init=cfg.gate_init,
        input_size=(cfg.height, cfg.width), sigma_rule=cfg.sigma_rule,
    )


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


def load_run(path, device="cpu") -> TrainedModel:
    """The trained model of a run folder, a checkpoint, a ``best.pt`` or a shipped weights file,
    with its config and metrics.

    A weights file carries its metrics; a run's ``checkpoint.pt`` has none (they change at every
    evaluation), so they come from the ``metrics.json`` beside it (``{}`` before the first one)."""
    path = Path(path)
    state = load_checkpoint(path)
    if "num_classes" not in state:
        raise ValueError(f"{path} holds a backbone without its re-ID head (no number of classes): it is "
                         "a starting point, not a trained model; train from it with --pretrained FILE")
    cfg = TrainConfig.from_dict(state["config"])
    model = build_model(replace(cfg, pretrained=None), int(state["num_classes"]))  # weights: the file's
    model.load_state_dict(state["model"])
    metrics = state.get("metrics")
    if metrics is None:
        saved = (path if path.is_dir() else path.parent) / METRICS_NAME
        metrics = json.loads(saved.read_text()) if saved.is_file() else {}
    return TrainedModel(model.to(resolve_device(device)).eval(), cfg, dict(metrics), path, state.get("epoch"))


def eval_file(path) -> Path:
    """Where ``--eval-only`` writes: ``RUN/eval.json`` for a run folder, ``NAME.eval.json`` beside a file."""
    path = Path(path)
    return path / EVAL_NAME if path.is_dir() else path.with_suffix(".eval.json")


def evaluate_run(path, rerank: bool = False, **changes) -> Dict[str, Any]:
    """Evaluate the model of a run folder, ``best.pt`` or weights file and write :func:`eval_file`.

    The dataset and the evaluation settings are the run's, except for ``changes`` (``TrainConfig``
    fields: ``data_root``, ``device``, ``flip_test``, ``metric``, even another ``dataset`` to test
    across domains). ``rerank`` re-ranks with k-reciprocal encoding. The training's ``metrics.json``
    is left as it is: an evaluation with other settings does not rewrite what the training measured.
    """
    trained = load_run(path)
    cfg = replace(trained.config, **changes).resolved()
    device = resolve_device(cfg.device)
    m = evaluate(trained.model, load_dataset(cfg), height=cfg.height, width=cfg.width,
                 batch_size=cfg.eval_batch_size, device=device, metric=cfg.metric, flip=cfg.flip_test,
                 amp=cfg.amp, channels_last=cfg.channels_last, num_workers=min(cfg.num_workers, 4),
                 protocol="cuhk03" if cfg.dataset == "cuhk03" and cfg.cuhk03_classic_split else "market",
                 progress=cfg.progress, rerank=rerank)
    out = {k: m[k] for k in ("mAP", "rank1", "rank5", "rank10", "mINP")}
    out.update(epoch=trained.epoch, dataset=cfg.dataset, flip_test=cfg.flip_test, rerank=rerank, metric=cfg.metric,
               num_query=m["num_query"], num_gallery=m["num_gallery"], eval_seconds=m["seconds"], cmc=m["cmc"],
               model=str(path), config=cfg.to_dict())
    target = atomic_write_json(out, eval_file(path))
    return dict(out, eval_file=str(target))


def load_model(path, device="cpu") -> nn.Module:
    """Rebuild the trained model of a run folder, checkpoint, ``best.pt`` or weights file, in eval mode."""
    return load_run(path, device).model


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


def _rewind_log(run_dir: Path, name: str, epoch: int, write: bool) -> List[Dict[str, Any]]:
    """The records of ``run_dir/name`` up to ``epoch``; with ``write``, the file is rewritten to
    them (atomically): a resumed run drops the records of an epoch that never reached its checkpoint."""
    keep = [r for r in read_log(run_dir, name) if int(r.get("epoch", 0)) <= epoch]
    if write:
        atomic_write(Path(run_dir) / name, lambda f: f.write("".join(json.dumps(r) + "\n" for r in keep)), "w")
    return keep


def _append_log(path: Path, *records: Dict[str, Any]) -> None:
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


def _scalars(writer, prefix: str, values: Dict[str, Any], step: int) -> None:
    if writer is not None:
        for key, value in values.items():
            if isinstance(value, (int, float)):  # None (not measured) is left out
                writer.add_scalar(f"{prefix}/{key}", value, step)


def _pbar(enabled: bool, **kw):
    from tqdm.auto import tqdm

    return tqdm(disable=not enabled, **kw)


def param_groups(model: nn.Module, cfg: TrainConfig) -> List[Dict[str, Any]]:
    """Optimiser groups: the IA blocks' BatchNorm parameters (eq. 9's gate, zero at init) get
    ``cfg.ia_bn_weight_decay`` when it is set; everything else gets ``cfg.weight_decay``. Every
    IA-block parameter gets the learning rate times ``cfg.ia_lr_mult``."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    ia = {id(p) for name, p in model.named_parameters() if name.startswith("ia_blocks.")}
    gate = {id(p) for name, m in model.named_modules() if name.startswith("ia_blocks.")
            and isinstance(m, nn.modules.batchnorm._BatchNorm) for p in m.parameters()}
    gate_decay = cfg.weight_decay if cfg.ia_bn_weight_decay is None else cfg.ia_bn_weight_decay
    # one group per distinct setting, in model order: the defaults give one group, as before the
    # options existed, so older checkpoints' optimiser states still load
    groups: Dict[Tuple[float, float], List[nn.Parameter]] = {}
    for p in trainable:
        decay = gate_decay if id(p) in gate else cfg.weight_decay
        lr_mult = cfg.ia_lr_mult if id(p) in ia else 1.0
        groups.setdefault((decay, lr_mult), []).append(p)
    return [{"params": params, "weight_decay": decay, **({"lr": cfg.lr * mult} if mult != 1.0 else {})}
            for (decay, mult), params in groups.items()]


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


MECHANISM_NAME = "mechanism.jsonl"

#: What the training loop adds up on the device during a logging interval (sums over the images).
_SLOTS = {name: i for i, name in enumerate(("loss", "correct", "images", "ce", "triplet", "nonfinite"))}


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


def sync_batchnorm(model: nn.Module) -> nn.Module:
    """Every BatchNorm of ``model`` as a SyncBatchNorm: under DDP each process otherwise normalises
    with the statistics of its own share of the batch (batch / N images), which gets noisy for small
    shares. The parameters stay the same objects (an optimiser built before still holds them)."""
    return nn.SyncBatchNorm.convert_sync_batchnorm(model)


def _train(cfg: TrainConfig, info: DistInfo, callback, monitor=None, state=None) -> TrainResult:
    if info.enabled and torch.cuda.is_available() and cfg.device in ("auto", "cuda"):
        device = torch.device("cuda", info.local_rank)
    else:
        device = resolve_device(cfg.device)
    if cfg.amp == "fp16" and device.type != "cuda":
        raise ValueError("--amp fp16 needs CUDA; use --amp bf16 or none on CPU")
    main = info.is_main
    progress = cfg.progress and main
    run_dir = Path(cfg.output)
    ckpt_path = run_dir / CHECKPOINT_NAME
    log_path = run_dir / LOG_NAME
    metrics_path = run_dir / METRICS_NAME

    if cfg.resume:
        if state is None:
            raise FileNotFoundError(
                f"--resume: no checkpoint at {ckpt_path}; start a new run without --resume")
        diffs = config_differences(state["config"], cfg.to_dict())
        if diffs:
            raise ValueError(
                f"cannot resume {ckpt_path}: the configuration differs from the checkpoint's in ways "
                "that change the run:\n  " + "\n  ".join(diffs)
                + "\nUse the original settings (or a new --output directory)."
                + ("\nmilestones and warmup_epochs default to fractions of --epochs: pass them "
                   "explicitly to keep the original schedule when extending a run."
                   if any(d.startswith(("milestones", "warmup_epochs")) for d in diffs) else ""))
    elif ckpt_path.exists() and not cfg.overwrite:
        raise FileExistsError(
            f"{run_dir} already holds a run ({ckpt_path.name}); pass --resume to continue it or "
            "--overwrite to start over")
    # ---------------------------------------------------------------- data, model, optimiser
    seed_everything(cfg.seed)
    if main:
        dataset = load_dataset(cfg)  # rank 0 first: it may generate the synthetic data
    barrier(info)
    if not main:
        dataset = load_dataset(cfg)
    train_items, num_classes = relabel(dataset.train)
    pin = cfg.pin_memory and device.type == "cuda"
    loader, sampler = build_train_loader(cfg, train_items, info.rank, info.world_size, pin)

    seed_everything(cfg.seed)  # the model's initial weights depend on the seed only
    # a resumed run's weights come from its checkpoint: no ImageNet file needed (nor downloaded)
    model = build_model(cfg if state is None else replace(cfg, pretrained=None), num_classes)
    if cfg.bnneck_frozen_bias and hasattr(model, "neck"):
        model.neck.bias.requires_grad_(False)  # BNNeck (Luo et al. 2019): no shift before the classifier
    if state is None and cfg.init_from:
        load_init_weights(model, cfg.init_from)
    if cfg.sync_bn and info.enabled:
        model = sync_batchnorm(model)
    model.to(device)
    if cfg.channels_last:
        model.to(memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input size: let cuDNN pick the fastest kernels
    if main:  # the data and the model are ready: now touch the run directory
        run_dir.mkdir(parents=True, exist_ok=True)
        if state is None:  # a new run: nothing of an older one may be mistaken for its results
            for name in (CHECKPOINT_NAME, LOG_NAME, METRICS_NAME, STEPS_NAME, BEST_NAME, EVAL_NAME):
                (run_dir / name).unlink(missing_ok=True)
            shutil.rmtree(run_dir / TENSORBOARD_DIR, ignore_errors=True)
        save_config(cfg, run_dir / CONFIG_NAME)  # feed it back with --config to train the same run
    optimizer = torch.optim.Adam(param_groups(model, cfg), lr=cfg.lr)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: lr_factor(cfg, e))
    scaler = torch.amp.GradScaler("cuda") if cfg.amp == "fp16" else None
    criterion = ReIDLoss(cfg.label_smoothing, cfg.triplet_weight, cfg.margin)

    start_epoch = 0
    history: List[Dict[str, Any]] = []
    if state is not None:
        if int(state.get("num_classes", num_classes)) != num_classes:
            raise ValueError(
                f"cannot resume: the checkpoint has {state['num_classes']} training identities, "
                f"the dataset now has {num_classes}")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        if state.get("sampler"):
            sampler.load_state_dict(state["sampler"])
        start_epoch = int(state["epoch"])
        restore_rng_state(state["rng"])
        history = _rewind_log(run_dir, LOG_NAME, start_epoch, write=main)
        _rewind_log(run_dir, STEPS_NAME, start_epoch, write=main)
    best_map = state.get("best_mAP") if state is not None else None

    train_model: nn.Module = model
    if info.enabled:
        from torch.nn.parallel import DistributedDataParallel as DDP

        train_model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:
        train_model = torch.compile(train_model)

    def run_eval(epoch: int) -> Optional[Dict[str, Any]]:
        metrics = None
        if main:
            metrics = evaluate(
                model, dataset, height=cfg.height, width=cfg.width, batch_size=cfg.eval_batch_size,
                device=device, metric=cfg.metric, flip=cfg.flip_test, amp=cfg.amp,
                channels_last=cfg.channels_last, num_workers=min(cfg.num_workers, 4),
                protocol="cuhk03" if cfg.dataset == "cuhk03" and cfg.cuhk03_classic_split else "market",
                progress=progress)
            metrics["epoch"] = epoch
            out = {k: metrics[k] for k in ("mAP", "rank1", "rank5", "rank10", "mINP")}
            out.update(epoch=epoch, dataset=cfg.dataset, num_query=metrics["num_query"],
                       num_gallery=metrics["num_gallery"], eval_seconds=metrics["seconds"],
                       cmc=metrics["cmc"], config=cfg.to_dict())
            atomic_write_json(out, metrics_path)
        barrier(info)
        return metrics

    mech_path = run_dir / MECHANISM_NAME

    def run_monitor(epoch: int) -> None:
        if monitor is None or not main:
            return
        rec = monitor(model, epoch)
        if rec:
            _append_log(mech_path, {"epoch": epoch, **rec})

    if monitor is not None and main:
        if state is None:
            mech_path.unlink(missing_ok=True)
            run_monitor(0)
        elif mech_path.is_file():
            _rewind_log(run_dir, MECHANISM_NAME, start_epoch, write=True)

    steps_per_epoch = len(sampler)
    if cfg.max_steps_per_epoch:
        steps_per_epoch = min(steps_per_epoch, cfg.max_steps_per_epoch)
    if steps_per_epoch == 0:
        raise ValueError("an epoch has no batch: the training set is too small for this batch size")
    steps_path = run_dir / STEPS_NAME
    writer = summary_writer(run_dir, purge_step=start_epoch * steps_per_epoch + 1 if state else None) \
        if main else None

    metrics: Optional[Dict[str, Any]] = None
    evaluated = False  # on every rank (only rank 0 gets the metrics)
    stopped = False
    epoch_bar = _pbar(progress, total=cfg.epochs, initial=start_epoch, desc="training", unit="epoch")
    try:
        for epoch in range(start_epoch, cfg.epochs):
            seed_everything(epoch_seed(cfg.seed, epoch, info.rank, 0))  # main-process randomness
            set_loader_epoch(loader, sampler, cfg.seed, epoch, info.rank)
            lr = optimizer.param_groups[0]["lr"]
            model.train()
            t0 = time.perf_counter()
            totals = [0.0] * len(_SLOTS)  # the epoch's sums, on the host, one interval at a time
            sums = torch.zeros(len(_SLOTS), dtype=torch.float64, device=device)  # this interval's
            step_losses: List[torch.Tensor] = []
            bar = _pbar(progress, total=steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                        leave=False, unit="batch")
            batches = DevicePrefetcher(itertools.islice(loader, steps_per_epoch), device, cfg.channels_last)
            for step, (imgs, pids) in enumerate(batches):
                with autocast_context(device, cfg.amp):
                    if criterion.needs_features:
                        logits, feat = train_model(imgs, return_features=True)
                    else:
                        logits, feat = train_model(imgs), None
                loss, parts = criterion(logits.float(), pids, None if feat is None else feat.float())
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
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
                    sums[_SLOTS["nonfinite"]] += (~torch.isfinite(value)).double()
                    step_losses.append(value)
                bar.update(1)
                if (step + 1) % cfg.log_every and step + 1 < steps_per_epoch:
                    continue
                # the end of a logging interval: the loop's one read from the device
                got, losses = _read_interval(sums, step_losses, info)
                sums.zero_()
                first = step + 2 - len(losses)  # 1-based step of the interval's first loss
                step_losses = []
                if got[_SLOTS["nonfinite"]] > 0:  # noticed at the end of its interval: the weights
                    # in memory may have taken a few bad steps, the checkpoint on disk has not
                    bad = next(i for i, v in enumerate(losses) if not math.isfinite(v))
                    raise TrainingDiverged(
                        f"loss became {losses[bad]} at epoch {epoch + 1}, step {first + bad}; training "
                        f"stopped. The last good checkpoint ({ckpt_path}, epoch {epoch}) is kept. "
                        "Try a lower --lr, --amp none, or check the data.")
                totals = [a + b for a, b in zip(totals, got)]
                if main:
                    done = epoch * steps_per_epoch + first  # the run's step number of losses[0]
                    _append_log(steps_path, *({"epoch": epoch + 1, "step": done + i, "loss": v}
                                              for i, v in enumerate(losses)))
                    for i, v in enumerate(losses):
                        _scalars(writer, "train", {"loss": v}, done + i)
                n_seen = max(got[_SLOTS["images"]], 1.0)
                bar.set_postfix(loss=f"{losses[-1]:.3f}", acc=f"{got[_SLOTS['correct']] / n_seen:.2f}")
            bar.close()
            scheduler.step()
            seconds = time.perf_counter() - t0
            n_img = max(totals[_SLOTS["images"]], 1.0)
            record: Dict[str, Any] = {
                "epoch": epoch + 1, "loss": totals[_SLOTS["loss"]] / n_img, "ce": totals[_SLOTS["ce"]] / n_img,
                "acc": totals[_SLOTS["correct"]] / n_img, "lr": lr, "time": seconds,
                "images": int(n_img), "images_per_s": n_img / seconds if seconds > 0 else None,
                "steps": steps_per_epoch, "data_wait": batches.wait_s,
            }
            if criterion.needs_features:
                record["triplet"] = totals[_SLOTS["triplet"]] / n_img
            last = epoch + 1 == cfg.epochs
            if last or (cfg.eval_every and (epoch + 1) % cfg.eval_every == 0):
                m = run_eval(epoch + 1)
                evaluated = True
                if m is not None:
                    metrics = m
                    record.update({k: m[k] for k in ("mAP", "rank1", "rank5", "rank10", "mINP")})
                    if cfg.eval_every and (best_map is None or m["mAP"] > best_map):
                        best_map = m["mAP"]
                        save_weights(run_dir / BEST_NAME, model, cfg, num_classes, epoch + 1,
                                     {k: m[k] for k in ("mAP", "rank1", "rank5", "rank10", "mINP")})
            history.append(record)
            run_monitor(epoch + 1)
            if main:
                _append_log(log_path, record)
                _scalars(writer, "epoch", {k: record.get(k) for k in ("loss", "acc", "lr", "images_per_s", "data_wait")},
                         (epoch + 1) * steps_per_epoch)
                _scalars(writer, "eval", {k: record[k] for k in ("mAP", "rank1") if k in record},
                         (epoch + 1) * steps_per_epoch)
                if writer is not None:
                    writer.flush()
                save_checkpoint(ckpt_path, model=model, optimizer=optimizer, scheduler=scheduler,
                                epoch=epoch + 1, config=cfg.to_dict(), sampler=sampler, scaler=scaler,
                                extra={"num_classes": num_classes, "best_mAP": best_map})
            barrier(info)
            epoch_bar.update(1)
            post = {"loss": f"{record['loss']:.3f}", "acc": f"{record['acc']:.2f}"}
            if "mAP" in record:
                post["mAP"] = f"{record['mAP']:.3f}"
            epoch_bar.set_postfix(post)
            if progress:
                from tqdm.auto import tqdm

                extra = (f"  mAP {record['mAP']:.4f}  rank1 {record['rank1']:.4f}" if "mAP" in record else "")
                tqdm.write(f"epoch {epoch + 1}/{cfg.epochs}  loss {record['loss']:.4f}  acc "
                           f"{record['acc']:.4f}  lr {lr:.2e}  {seconds:.1f}s{extra}")
            if callback is not None and callback(dict(record)) is False:
                stopped = epoch + 1 < cfg.epochs
                break
    finally:
        epoch_bar.close()
        if writer is not None:
            writer.close()

    if not evaluated and not stopped:
        # nothing evaluated in this call (e.g. resuming a finished run): evaluate the final model
        metrics = run_eval(start_epoch if start_epoch >= cfg.epochs else len(history))
    if metrics is None and main and metrics_path.is_file():
        metrics = json.loads(metrics_path.read_text())
    model.eval()
    return TrainResult(metrics=metrics or {}, history=history, model=model, run_dir=run_dir,
                       config=cfg, stopped_early=stopped)
