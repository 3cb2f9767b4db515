"""The training configuration: one dataclass, two recipes, and the resume compatibility rule."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, get_type_hints


from ..model import BACKBONES
from ..options import FIELD_NAMES as IA_FIELDS
from ..options import IAOptions, option

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

#: Fields that only shape the location prior: a baseline (no IA block) has none, so they cannot differ.
PRIOR_FIELDS = frozenset({"sigma"})

#: Fields that may change between a run and its ``--resume`` without changing what is trained.
RESUME_MAY_DIFFER = frozenset({
    "epochs", "output", "resume", "overwrite", "device", "num_workers", "progress", "eval_every",
    "eval_batch_size", "flip_test", "compile", "channels_last", "amp", "data_root", "pin_memory",
    "log_every",
})


def with_ia_options(cls):
    """Give ``cls`` the fields of :class:`~ianet_viz.options.IAOptions` (applied before ``@dataclass``),
    placed after ``ia_stages``: the block's options are declared once, and a run names them alike."""
    hints = get_type_hints(IAOptions)
    annotations = {}
    for name, kind in cls.__annotations__.items():
        annotations[name] = kind
        if name == "ia_stages":
            for f in dataclasses.fields(IAOptions):
                annotations[f.name] = hints[f.name]
                setattr(cls, f.name, dataclasses.field(default=f.default, metadata=f.metadata))
    cls.__annotations__ = annotations
    return cls


@dataclass
@with_ia_options
class TrainConfig:
    """Everything a run depends on. ``None`` fields are filled by the recipe (see ``resolved``).

    The IA block's options (``arrangement``, ``ks``, ... ``gate_init``) are the fields of
    :class:`~ianet_viz.options.IAOptions`, added after ``ia_stages`` (``()``: the baseline);
    :attr:`ia_options` gathers them for :func:`ianet_viz.build_ianet`.
    """

    # data
    dataset: str = option("market1501", "the dataset", DATASETS)
    data_root: Optional[str] = option(None, "dataset folder (or torchreid-style parent); default: data/<dataset>")
    height: int = option(256, "input height in pixels")
    width: int = option(128, "input width in pixels")
    synthetic_identities: int = option(100, "synthetic dataset: identities (half of them train)")
    synthetic_images: int = option(12, "synthetic dataset: images per identity")
    synthetic_seed: int = option(0, "synthetic dataset: the seed that draws its people")
    cuhk03_labeled: bool = option(True, "CUHK03: the labeled boxes (--no-cuhk03-labeled: the detected ones)")
    cuhk03_classic_split: bool = option(False, "CUHK03: classic 1367/100 split with the single-gallery-shot "
                                        "protocol (default: 767/700)")
    # model
    backbone: str = option("resnet50", "the ResNet", BACKBONES)
    # "auto" is the command line's default; here None, so building a config never starts a download
    pretrained: Optional[str] = option(None, "auto (imagenet for market1501, dukemtmcreid, cuhk03, msmt17; none "
                                       "for synthetic and vtest), imagenet (torchvision's file, downloaded once into "
                                       "the torch hub cache when missing), none (random init), or a path to a "
                                       "weights file (offline)", flag_default="auto")
    ia_stages: Tuple[int, ...] = option((2, 3), "stages followed by an IA block, e.g. 2 3; 'none' for the plain "
                                        "ResNet baseline")
    per_block: bool = option(False, "an IA block after every residual block of the IA stages (Tab. 4f)")
    last_stride: int = option(1, "stride of stage 4", (1, 2))
    # optimisation
    recipe: str = option("paper", "paper: CE, Adam 3e-4, batch 32, flip; modern: + label smoothing, triplet/PK, "
                         "warm-up, random erasing, BNNeck", RECIPES)
    epochs: int = option(60, "training epochs")
    batch_size: Optional[int] = option(None, "global batch: images per optimiser step over all processes (under "
                                       "torchrun each of N processes gets batch/N); default: 32 (paper), 64 (modern)")
    batch_size_per_gpu: Optional[int] = option(None, "images per step per process instead; the global batch is "
                                               "this x N processes")
    lr: Optional[float] = option(None, "learning rate; default: 3e-4 (paper), 3.5e-4 (modern)")
    weight_decay: float = option(5e-4, "weight decay")
    ia_bn_weight_decay: Optional[float] = option(None, "weight decay of the IA blocks' zero-initialised BatchNorm, "
                                                 "the gate of eq. 9 (default: --weight-decay)")
    ia_lr_mult: float = option(1.0, "learning-rate multiplier for the IA blocks' parameters")
    backbone_lr_mult: float = option(1.0, "learning-rate multiplier for the pretrained backbone's parameters "
                                     "(below 1, fine-tuning keeps more of what pretraining taught)")
    init_from: Optional[str] = option(None, "start from a trained model's weights (e.g. a baseline run) and "
                                      "fine-tune; the IA blocks it lacks start fresh", metavar="RUN_DIR")
    milestones: Optional[Tuple[int, ...]] = option(None, "epochs where the lr is multiplied by --gamma; default: "
                                                   "50%% and 75%% of --epochs")
    gamma: float = option(0.1, "learning-rate factor at each milestone")
    warmup_epochs: Optional[int] = option(None, "linear warm-up; default: 0 (paper), min(10, epochs/12) (modern)")
    warmup_factor: float = option(0.01, "the warm-up's first learning rate, as a share of --lr")
    label_smoothing: Optional[float] = option(None, "cross-entropy label smoothing; default: 0 (paper), 0.1 (modern)")
    triplet_weight: Optional[float] = option(None, "weight of the batch-hard triplet loss; default: 0 (paper), "
                                             "1 (modern)")
    margin: float = option(0.3, "triplet margin")
    sampler: Optional[str] = option(None, "random, or pk (P identities x K images); default: random (paper), "
                                    "pk (modern)", ("random", "pk"))
    num_instances: int = option(4, "K images per identity (PK sampler)")
    erasing_p: Optional[float] = option(None, "random erasing probability; default: 0 (paper), 0.5 (modern)")
    bnneck_frozen_bias: Optional[bool] = option(None, "BNNeck without a bias; default: off (paper), on (modern)")
    max_steps_per_epoch: Optional[int] = option(None, "cap the steps per epoch (smoke runs)")
    sync_bn: bool = option(False, "torchrun/DDP on GPUs: BatchNorm statistics over the global batch (SyncBatchNorm)")
    seed: int = option(0, "the run's seed")
    # evaluation
    eval_every: int = option(0, "evaluate every N epochs; 0: only after the last epoch")
    val_ids: int = option(0, "hold out N training identities as a validation set; with --eval-every, best.pt is "
                          "the best validation mAP (the test split is only reported)", metavar="N")
    eval_batch_size: int = option(128, "images per evaluation batch")
    flip_test: bool = option(False, "add the embedding of the flipped image")
    metric: str = option("cosine", "distance between embeddings", ("cosine", "euclidean"))
    # run
    output: str = option(None, "the run folder", factory=lambda: str(_runs_dir() / "ianet"),
                         metavar="RUN_DIR")
    resume: bool = option(False, "continue from RUN_DIR/checkpoint.pt")
    overwrite: bool = option(False, "start over even if RUN_DIR holds a run (deletes its files); with --export, "
                             "replace the file")
    device: str = option("auto", "auto (CUDA if present), cpu, cuda, cuda:1, ...")
    amp: str = option("none", "autocast dtype (bf16 recommended on GPU)", AMP_MODES)
    channels_last: bool = option(False, "channels-last memory format")
    compile: bool = option(False, "torch.compile the model")
    num_workers: int = option(None, "data-loading processes", factory=lambda: min(4, os.cpu_count() or 1))
    pin_memory: bool = option(True, "pinned host memory for the batches")
    progress: bool = option(True, "progress bars")
    log_every: int = option(50, "steps per logging interval (the loss is read from the device once per interval)")

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
        c.milestones = tuple(int(m) for m in c.milestones)
        options = c.ia_options  # checks the block's options, once, and normalises them (ks -> ints)
        for name in IA_FIELDS:
            setattr(c, name, getattr(options, name))
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
            elif isinstance(v, dict):  # sigma per stage: the keys JSON would write anyway
                d[k] = {str(key): list(value) for key, value in v.items()}
            elif isinstance(v, os.PathLike):
                d[k] = str(v)
        return d

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        d = check_sigma_rule(d)
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

    @property
    def ia_options(self) -> IAOptions:
        """The IA block's options of this run, for :func:`ianet_viz.build_ianet`."""
        return IAOptions(**{name: getattr(self, name) for name in IA_FIELDS})


def check_sigma_rule(settings: Dict[str, Any]) -> Dict[str, Any]:
    """``settings`` without ``sigma_rule``, a field of earlier versions. ``"map"`` is the prior that
    ``build_ianet`` builds; ``"cells"`` (the paper's cells at any input) is refused with the line that
    reproduces it: an explicit sigma per stage."""
    settings = dict(settings)
    if settings.pop("sigma_rule", "map") != "map" and settings.get("sigma") is None:
        from ..model import stage_sigma  # at the paper's 256 x 128: the paper's cells, whatever the input

        sigma = {s: list(stage_sigma(s, settings.get("last_stride", 1))) for s in settings.get("ia_stages") or (2, 3)}
        raise ValueError("this run's location prior used sigma_rule 'cells', which ianet_viz no longer has; its "
                         f"config.yaml reproduces it with the line 'sigma: {sigma}' in place of 'sigma_rule: cells': "
                         "train it again with python -m ianet_viz.train --config RUN/config.yaml --output NEW_RUN")
    return settings


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
    data = check_sigma_rule(data)
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
    saved = check_sigma_rule(saved)  # as from_dict reads the checkpoint
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
