"""The training configuration: one dataclass, two recipes, and the resume compatibility rule."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

def _runs_dir() -> Path:
    from ..settings import RUNS_DIR

    return Path(RUNS_DIR)


DATASETS = ("market1501", "dukemtmcreid", "cuhk03", "msmt17", "synthetic", "vtest")
#: The photographed datasets: ``pretrained="auto"`` (the command line's default) starts them from
#: ImageNet, as the paper (and the bag of tricks of the modern recipe) does. Synthetic people and the
#: vtest crops start from scratch: they are the offline course, where nothing may download.
REAL_DATASETS = ("market1501", "dukemtmcreid", "cuhk03", "msmt17")
RECIPES = ("paper", "modern")
AMP_MODES = ("none", "bf16", "fp16")

def start_weights(pretrained: Optional[str], dataset: str) -> Optional[str]:
    """What ``pretrained`` means for ``dataset``: "auto" is "imagenet" for :data:`REAL_DATASETS` and
    ``None`` (random initialisation) otherwise; "none" and "" are ``None``; the rest is kept."""
    if pretrained in ("", "none"):
        return None
    if pretrained == "auto":
        return "imagenet" if dataset in REAL_DATASETS else None
    return None if pretrained is None else str(pretrained)


#: The run's settings, written at its start; ``--config RUN/config.yaml`` trains the same run again.
CONFIG_NAME = "config.yaml"
#: Actions of one command, not settings of the run: left out of config.yaml.
_ACTIONS = ("resume", "overwrite")


#: Values each recipe fills in for the fields left at ``None``.
#: ``paper``: Hou et al. 2019 (CE, Adam 3e-4, batch 32, flip, 256x128).
#: ``modern``: the "bag of tricks" of Luo et al. 2019 (label smoothing, batch-hard triplet with
#: a PK sampler, linear warm-up, random erasing, BNNeck).
RECIPE_DEFAULTS: Dict[str, Dict[str, Any]] = {
    "paper": dict(
        batch_size=32, lr=3e-4, label_smoothing=0.0, triplet_weight=0.0, sampler="random",
        warmup_epochs=0, erasing_p=0.0, bnneck_frozen_bias=False,
    ),
    "modern": dict(
        batch_size=64, lr=3.5e-4, label_smoothing=0.1, triplet_weight=1.0, sampler="pk",
        warmup_epochs=None, erasing_p=0.5, bnneck_frozen_bias=True,
    ),
}

#: What a field that an older checkpoint lacks meant when it was written (not today's default).
LEGACY_DEFAULTS: Dict[str, Any] = {"sigma_rule": "cells"}

#: Fields that only shape the location prior: a baseline (no IA block) has none, so they cannot differ.
PRIOR_FIELDS = frozenset({"sigma", "sigma_rule"})

#: Fields that may change between a run and its ``--resume`` without changing what is trained.
RESUME_MAY_DIFFER = frozenset({
    "epochs", "output", "resume", "overwrite", "device", "num_workers", "progress", "eval_every",
    "eval_batch_size", "flip_test", "compile", "channels_last", "amp", "data_root", "pin_memory",
    "log_every",
})


@dataclass
class TrainConfig:
    """Everything a run depends on. ``None`` fields are filled by the recipe (see ``resolved``).

    Model options are passed to :func:`ianet_viz.build_ianet` (``ia_stages=()`` is the baseline).
    """

    # data
    dataset: str = "market1501"
    data_root: Optional[str] = None  # default: ianet_viz.settings.DATA_DIR / <dataset>
    height: int = 256
    width: int = 128
    synthetic_identities: int = 100  # only for dataset="synthetic" (half are train identities)
    synthetic_images: int = 12
    synthetic_seed: int = 0
    cuhk03_labeled: bool = True  # only for dataset="cuhk03": labeled (True) or detected boxes
    cuhk03_classic_split: bool = False  # 1367/100 split + single-gallery-shot protocol (else 767/700)
    # model
    backbone: str = "resnet50"
    # None (random init), "imagenet", a path, or "auto": "imagenet" for REAL_DATASETS, else None.
    # "auto" is the command line's default; here None, so building a config never starts a download
    pretrained: Optional[str] = None
    ia_stages: Tuple[int, ...] = (2, 3)
    arrangement: str = "sia+cia"
    ks: Tuple[int, ...] = (1, 2, 3)
    fusion: str = "renorm"
    multi: str = "prod"  # multi-context fusion of eq. 2: prod, sum or max (Tab. 4b)
    use_appearance: bool = True  # Tab. 4c: appearance / location / semantic (both)
    use_location: bool = True
    per_block: bool = False  # an IA block after every residual block of ia_stages (Tab. 4f)
    sia_scale: Optional[float] = None  # None: 1/(sqrt(C) K^2), see ianet_viz.functional
    cia_scale: Optional[float] = None  # None: 1/sqrt(M)
    sia_relation: str = "dot"  # eq. 1 between raw features ("dot", the paper) or unit-norm ones ("cosine")
    sia_learn_scale: bool = False  # cosine only: a learnable temperature per SIA block
    gate_init: float = 0.0  # initial weight of the IA blocks' BatchNorm (eq. 9; 0 is the paper)
    sigma: Optional[Tuple[float, float]] = None  # None: the per-stage rule of build_ianet
    # "map": sigma scaled with the map (the paper's per-stage values at 256x128); "cells": the paper's
    # numbers of cells at any input. Checkpoints written before this field existed used "cells".
    sigma_rule: str = "map"
    last_stride: int = 1
    # optimisation
    recipe: str = "paper"
    epochs: int = 60
    batch_size: Optional[int] = None  # the global batch: images per step over all DDP processes
    # per process instead (DDP): resolved() turns it into batch_size = this x processes (WORLD_SIZE)
    batch_size_per_gpu: Optional[int] = None
    lr: Optional[float] = None
    weight_decay: float = 5e-4
    # weight decay of the IA blocks' BatchNorm, the zero-initialised gate of eq. 9 that decay pulls
    # back to 0 (None: weight_decay, as in the paper's recipe)
    ia_bn_weight_decay: Optional[float] = None
    ia_lr_mult: float = 1.0  # learning-rate multiplier of every IA-block parameter (new layers)
    # learning-rate multiplier of the backbone's parameters (pretrained layers; torchreid's staged lr):
    # below 1, fine-tuning keeps more of what pretraining taught (the part pretext's parts)
    backbone_lr_mult: float = 1.0
    # the paper's regime: start from a trained model (e.g. the baseline's run folder) and fine-tune;
    # the IA blocks it lacks keep their fresh (identity) initialisation
    init_from: Optional[str] = None
    milestones: Optional[Tuple[int, ...]] = None  # lr x gamma at these epochs; default 50%, 75%
    gamma: float = 0.1
    warmup_epochs: Optional[int] = None
    warmup_factor: float = 0.01
    label_smoothing: Optional[float] = None
    triplet_weight: Optional[float] = None
    margin: float = 0.3
    sampler: Optional[str] = None  # "random" or "pk"
    num_instances: int = 4  # K of the PK sampler
    erasing_p: Optional[float] = None
    bnneck_frozen_bias: Optional[bool] = None
    max_steps_per_epoch: Optional[int] = None  # for smoke runs
    sync_bn: bool = False  # DDP: BatchNorm statistics over the global batch (SyncBatchNorm, CUDA only)
    seed: int = 0
    # evaluation
    eval_every: int = 0  # 0: only after the last epoch
    val_ids: int = 0  # > 0: hold out this many training identities; best.pt is chosen on them (not the test split)
    eval_batch_size: int = 128
    flip_test: bool = False
    metric: str = "cosine"
    # run
    output: str = field(default_factory=lambda: str(_runs_dir() / "ianet"))
    resume: bool = False
    overwrite: bool = False
    device: str = "auto"
    amp: str = "none"
    channels_last: bool = False
    compile: bool = False
    num_workers: int = field(default_factory=lambda: min(4, os.cpu_count() or 1))
    pin_memory: bool = True
    progress: bool = True
    log_every: int = 50  # steps per logging interval: the loss is read from the device once per interval

    # ------------------------------------------------------------------ helpers
    def resolved(self) -> "TrainConfig":
        """A copy with every recipe-dependent ``None`` filled in and the values checked."""
        if self.recipe not in RECIPES:
            raise ValueError(f"recipe must be one of {RECIPES}, got {self.recipe!r}")
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}")
        if self.amp not in AMP_MODES:
            raise ValueError(f"amp must be one of {AMP_MODES}, got {self.amp!r}")
        if self.metric not in ("cosine", "euclidean"):
            raise ValueError(f"metric must be 'cosine' or 'euclidean', got {self.metric!r}")
        # torchrun says how many processes share the batch (WORLD_SIZE, read again by init_distributed)
        c = dataclasses.replace(self.with_global_batch(int(os.environ.get("WORLD_SIZE", "1"))))
        c.pretrained = start_weights(c.pretrained, c.dataset)
        for key, value in RECIPE_DEFAULTS[c.recipe].items():
            if getattr(c, key) is None:
                setattr(c, key, value)
        if c.warmup_epochs is None:  # 10 epochs of a 120-epoch run, scaled to the run length
            c.warmup_epochs = min(10, c.epochs // 12)
        if c.milestones is None:
            c.milestones = tuple(m for m in sorted({int(c.epochs * 0.5), int(c.epochs * 0.75)}) if m > 0)
        c.ia_stages = tuple(int(s) for s in c.ia_stages)
        c.ks = tuple(int(k) for k in c.ks)
        c.milestones = tuple(int(m) for m in c.milestones)
        if c.sigma is not None:
            c.sigma = tuple(float(s) for s in c.sigma)
            if len(c.sigma) != 2:
                raise ValueError(f"sigma must be a pair (sigma1, sigma2), got {c.sigma!r}")
        if c.sampler not in ("random", "pk"):
            raise ValueError(f"sampler must be 'random' or 'pk', got {c.sampler!r}")
        for name in ("epochs", "batch_size", "height", "width", "num_instances", "eval_batch_size", "log_every"):
            v = getattr(c, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        if c.sampler == "pk" and c.batch_size % c.num_instances:
            raise ValueError(
                f"batch_size ({c.batch_size}) must be a multiple of num_instances K ({c.num_instances}) "
                "for the PK sampler (P identities x K images per batch)"
            )
        if c.sampler == "pk" and c.batch_size // c.num_instances < 2:
            raise ValueError("the PK sampler needs at least 2 identities per batch (batch_size >= 2K)")
        if c.lr <= 0:
            raise ValueError(f"lr must be positive, got {c.lr}")
        if isinstance(c.val_ids, bool) or not isinstance(c.val_ids, int) or c.val_ids < 0:
            raise ValueError(f"val_ids must be an integer >= 0 (training identities held out for validation), "
                             f"got {c.val_ids!r}")
        if c.num_workers < 0:
            raise ValueError(f"num_workers must be >= 0, got {c.num_workers}")
        if c.max_steps_per_epoch is not None and c.max_steps_per_epoch < 1:
            raise ValueError("max_steps_per_epoch must be >= 1 (or None)")
        return c

    def to_dict(self) -> Dict[str, Any]:
        d = dataclasses.asdict(self)
        for k, v in d.items():
            if isinstance(v, tuple):
                d[k] = list(v)
            elif isinstance(v, os.PathLike):
                d[k] = str(v)
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        d = {**LEGACY_DEFAULTS, **d}  # a field missing from an old checkpoint means what it did then
        kwargs = {}
        for k, v in d.items():
            if k not in names:
                continue
            if isinstance(v, list):
                v = tuple(v)
            kwargs[k] = v
        return cls(**kwargs)

    def with_global_batch(self, world_size: int) -> "TrainConfig":
        """``batch_size_per_gpu`` turned into the global ``batch_size`` (= per GPU x ``world_size``).

        The run records the global batch only, so its config means the same on any number of GPUs."""
        per = self.batch_size_per_gpu
        if per is None:
            return self
        if not isinstance(per, int) or isinstance(per, bool) or per < 1:
            raise ValueError(f"batch_size_per_gpu must be a positive integer, got {per!r}")
        if self.batch_size is not None and self.batch_size != per * world_size:
            raise ValueError(
                f"batch_size {self.batch_size} (global) and batch_size_per_gpu {per} x {world_size} "
                f"process(es) disagree: give only one of --batch-size and --batch-size-per-gpu")
        return dataclasses.replace(self, batch_size=per * world_size, batch_size_per_gpu=None)

    @property
    def run_dir(self) -> Path:
        return Path(self.output)


def save_config(cfg: "TrainConfig", path) -> Path:
    """Write ``cfg``'s settings as YAML (atomically): the file ``--config`` reads."""
    import yaml

    from .checkpoint import atomic_write

    settings = {k: v for k, v in cfg.to_dict().items() if k not in _ACTIONS}
    text = ("# ianet_viz.train settings of this run; train it again with\n"
            "#   python -m ianet_viz.train --config THIS_FILE [--output NEW_DIR] [other flags override it]\n"
            + yaml.safe_dump(settings, sort_keys=False))
    return atomic_write(path, lambda f: f.write(text), "w")


def read_config_file(path, names=()) -> Dict[str, Any]:
    """The settings of a YAML file (``TrainConfig`` field names: ``batch_size: 64``), as keyword
    arguments of ``TrainConfig``. A run's ``metrics.json`` or ``eval.json`` works too (YAML reads
    JSON): its ``config`` is used. Settings it does not name keep their defaults (on the command
    line: the flags' defaults); unknown ones are an error. ``names``: other keys to accept (the flags'
    names, which the command line maps to fields)."""
    import yaml

    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"--config: no file {path}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ValueError(f"--config {path} is not valid YAML: {err}") from err
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ValueError(f"--config {path} must hold settings as 'name: value' lines, got a {type(data).__name__}")
    if isinstance(data.get("config"), dict):  # a run's record: its config, read as a checkpoint's would be
        data = {k: v for k, v in TrainConfig.from_dict(data["config"]).to_dict().items() if k not in _ACTIONS}
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(data) - fields - set(names))
    if unknown:
        raise ValueError(f"--config {path}: unknown setting(s) {', '.join(unknown)}; use the flags' names "
                         "(batch-size, ia-stages, ...) or the fields' (batch_size, ia_stages, ...), as in a run's config.yaml")
    return {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}


def _field_defaults() -> Dict[str, Any]:
    import dataclasses

    return {f.name: f.default for f in dataclasses.fields(TrainConfig) if f.default is not dataclasses.MISSING}


def config_differences(saved: Dict[str, Any], current: Dict[str, Any]) -> List[str]:
    """Human-readable list of the fields that differ in a way that matters for a resume."""
    defaults = _field_defaults()
    saved = {**LEGACY_DEFAULTS, **saved}  # as from_dict reads the checkpoint
    out = []
    baseline = not saved.get("ia_stages", True) and not current.get("ia_stages", True)
    for key in sorted(set(saved) | set(current)):
        if key in RESUME_MAY_DIFFER or (baseline and key in PRIOR_FIELDS):
            continue
        if key not in saved and key in defaults and current.get(key) == defaults[key]:
            continue  # a field added after the checkpoint was written, left at its default
        a, b = saved.get(key, "<missing>"), current.get(key, "<missing>")
        if isinstance(a, tuple):
            a = list(a)
        if isinstance(b, tuple):
            b = list(b)
        if a != b:
            out.append(f"{key}: checkpoint has {a!r}, now {b!r}")
    return out
