"""The model notebooks 04-06 look at: the shipped demo model, or any run, through one switch.

    from ianet_viz.course import course_model
    cm = course_model()          # reads IANET_MODEL; unset: the shipped demo model
    cm.model, cm.size, cm.block  # model (eval mode), input (H, W), the IA block to look at
    cm.pixels((0.34, 0.56))      # a point given as fractions of the image -> (y, x) in pixels

``IANET_MODEL`` (or the ``spec`` argument) is one of

* ``demo`` (the default): the shipped demo model (:func:`ianet_viz.course.demo.demo_model`);
* ``paper``: the shipped paper-literal model (:func:`ianet_viz.course.demo.paper_model`);
* a run folder written by ``python -m ianet_viz.train`` (it holds ``checkpoint.pt``), e.g. the
  instructor's Market-1501 run, or a checkpoint or weights file (``.pt``, e.g. from
  :func:`ianet_viz.course.demo.export_weights`). A relative path is looked up in the current folder,
  then in the checkout (:data:`ianet_viz.settings.WORKSPACE`), then in ``RUNS_DIR``.

Backbone, input size, IA stages and the SIA relation come from the run's configuration, so one
notebook serves the demo model (R18, 128 x 64) and the paper's setting (R50, 256 x 128) alike.
Retrieval uses the run's dataset when its folder is here, else the bundled real crops; the
mechanism measurements need part masks, so they use the run's data when it has masks (synthetic
pedestrians), else synthetic pedestrians at the model's input size. Each fallback prints a note.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from ..recorder import record, sia_blocks
from ..settings import RUNS_DIR, WORKSPACE, relpath
from ..train import TrainConfig, build_model, load_dataset
from ..train.checkpoint import CHECKPOINT_NAME
from ..train.loaders import dataset_root, local_root
from ..train.runs import load_run, saved_metrics

#: the environment variable that picks the model of notebooks 04-06
ENV = "IANET_MODEL"
#: the names IANET_MODEL accepts besides a path
NAMED = ("demo", "paper")
#: cells of the paper's stage-3 map at 256 x 128 (16 x 8): the notebooks look at the block whose
#: map is closest to it in size
PAPER_MAP_CELLS = 16 * 8
#: the numbers of an evaluation worth printing (``metrics.json`` of a run, ``metrics`` of a weights file)
METRIC_KEYS = ("mAP", "rank1", "rank5", "rank10", "mINP", "epoch", "dataset")
_HOW = ("Set IANET_MODEL (or the notebook's MODEL) to 'demo' (the shipped demo model, the default), 'paper' "
        "(the shipped paper-literal model), a run folder of `python -m ianet_viz.train` (it holds checkpoint.pt) "
        "or a weights file (.pt); or unset it.")


def read_metrics(path, state: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """The numbers worth printing (:data:`METRIC_KEYS`) of the last evaluation of a run folder (its
    ``metrics.json``) or of a checkpoint/weights file (its ``metrics`` entry, else the ``metrics.json``
    of the run folder it sits in); ``{}`` when none was recorded. The same rules as
    :func:`ianet_viz.train.load_run`'s metrics: :func:`ianet_viz.train.runs.saved_metrics`.
    ``state``: the file's loaded checkpoint, when the caller has it already."""
    saved = saved_metrics(path, state)
    return {k: saved[k] for k in METRIC_KEYS if k in saved}


def resolve_spec(spec: Optional[str] = None) -> Tuple[str, str]:
    """``(what, origin)``: ``spec``, else ``IANET_MODEL``, else ``"demo"``; ``origin`` names where it
    came from, for error messages."""
    if spec is not None and str(spec).strip():
        return str(spec).strip(), f"course_model({str(spec)!r})"
    env = os.environ.get(ENV, "").strip()
    if env:
        return env, f"{ENV}={env!r}"
    return "demo", "the default"


def find_source(spec: str, origin: str = "") -> Path:
    """The file or folder that ``spec`` (a path) names, looked up as the module docstring says;
    a missing one, or a folder that is no run, gets an error that says what to set instead."""
    p = Path(spec).expanduser()
    tried = [p] if p.is_absolute() else list(dict.fromkeys([Path.cwd() / p, Path(WORKSPACE) / p, Path(RUNS_DIR) / p]))
    found = next((c for c in tried if c.exists()), None)
    origin = origin or repr(spec)
    if found is None:
        raise FileNotFoundError(f"{origin}: no such file or folder (looked in: {', '.join(map(str, tried))}). "
                                + _HOW)
    if found.is_dir() and not (found / CHECKPOINT_NAME).is_file():
        raise FileNotFoundError(f"{origin}: {found} is a folder without {CHECKPOINT_NAME}, so not a training run "
                                "(or one that has not finished an epoch yet). Point it at the folder that "
                                "`python -m ianet_viz.train --output DIR` wrote, or at a weights file. " + _HOW)
    return found.resolve()


def _backbone_short(name: str) -> str:
    return "R" + name[len("resnet"):] if name.startswith("resnet") else name


def pick_block(shapes: Dict[str, Tuple[int, int]]) -> str:
    """The block whose map is closest in size to the paper's stage-3 map at 256 x 128 (16 x 8 cells),
    the later one on a tie: stage 2 of the demo model (16 x 8 at 128 x 64), stage 3 at 256 x 128."""
    if not shapes:
        raise ValueError("no SIA block to choose from")
    names = list(shapes)
    return min(names, key=lambda b: (abs(math.log(shapes[b][0] * shapes[b][1] / PAPER_MAP_CELLS)), -names.index(b)))


def retrieval_subset(query: Sequence, gallery: Sequence, max_query: int = 100, max_gallery: int = 2000):
    """``(query, gallery)`` no larger than the caps, deterministic: the queries of evenly spaced
    identities (at most ``max_query`` images), every gallery image of those identities, then evenly
    spaced other gallery images (distractors) up to ``max_gallery``. Unchanged when within the caps."""
    query, gallery = list(query), list(gallery)
    if len(query) <= max_query and len(gallery) <= max_gallery:
        return query, gallery
    by_pid: Dict[int, list] = {}
    for q in query:
        by_pid.setdefault(q[1], []).append(q)
    pids = sorted(by_pid)
    keep: list = []
    for pid in pids[::max(1, math.ceil(len(query) / max_query))]:  # identities spread over the sorted ids
        if keep and len(keep) + len(by_pid[pid]) > max_query:
            break
        keep += by_pid[pid]
    chosen = {q[1] for q in keep}
    own = [i for i, g in enumerate(gallery) if g[1] in chosen][:max_gallery]
    others = [i for i, g in enumerate(gallery) if g[1] not in chosen]
    room = max_gallery - len(own)
    extra = others[::max(1, math.ceil(len(others) / room))][:room] if room > 0 and others else []
    return keep, [gallery[i] for i in sorted(own + extra)]


@dataclass
class CourseModel:
    """What the notebooks use of a model: the model itself (eval mode) and what was read around it."""

    model: nn.Module
    config: TrainConfig  # the run's configuration; ``pretrained=None``: the weights are in ``model``
    source: Path         # the weights file or run folder
    name: str            # "demo model", "paper-literal model", "run <folder>"
    num_classes: int
    metrics: Dict[str, Any] = field(default_factory=dict)  # its last evaluation; {} when none was recorded
    shapes: Dict[str, Tuple[int, int]] = field(default_factory=dict)  # SIA block -> (H, W) of its map
    started_from: Optional[str] = None  # the run's ``pretrained``: where its backbone's weights came from

    @property
    def size(self) -> Tuple[int, int]:
        """The model's input size ``(H, W)``."""
        return int(self.config.height), int(self.config.width)

    @property
    def blocks(self):
        """The IA blocks with an SIA, in order."""
        return list(self.shapes)

    @property
    def block(self) -> str:
        """The block the notebooks look at (:func:`pick_block`)."""
        return pick_block(self.shapes)

    @property
    def label(self) -> str:
        """For titles: ``"IANet-R18 128x64, demo model"``."""
        return f"IANet-{_backbone_short(self.config.backbone)} {self.size[0]}x{self.size[1]}, {self.name}"

    def pixels(self, point: Sequence[float]) -> Tuple[float, float]:
        """A point given as fractions ``(y, x)`` of the image's height and width, in pixels of the
        model input, e.g. ``(0.34, 0.56)`` -> ``(44.0, 36.0)`` at 128 x 64 and ``(88.0, 72.0)`` at 256 x 128."""
        y, x = (float(v) for v in point)
        if not (0.0 <= y <= 1.0 and 0.0 <= x <= 1.0):
            raise ValueError(f"a point is (y, x) as fractions of the image's height and width, in [0, 1]; got {point}")
        return y * self.size[0], x * self.size[1]

    def random_init(self, seed: int = 0) -> nn.Module:
        """The same architecture and settings with fresh random weights (eval mode): the control."""
        torch.manual_seed(seed)
        cfg = replace(self.config, pretrained=None)
        return build_model(cfg, self.num_classes).to(next(self.model.parameters()).device).eval()

    # ------------------------------------------------------------------ data
    def data_root(self) -> Optional[Path]:
        """The run's dataset folder when it is here (synthetic data is generated when missing), else ``None``."""
        cfg = self.config
        if cfg.dataset == "synthetic":
            root = dataset_root(cfg)
            return root if root.is_dir() else dataset_root(replace(cfg, data_root=None))
        if cfg.dataset == "vtest" and not cfg.data_root:
            from ..reid.bundled import bundled_crops_dir

            return bundled_crops_dir()
        root = local_root(cfg)  # the recorded --data-root, else IANET_DATA_DIR/<dataset> (a copied run)
        return root if root.is_dir() else None

    def dataset(self, verbose: bool = True):
        """The run's dataset (``.query``, ``.gallery``) for retrieval; when its folder is not here (or
        incomplete), the bundled real crops, with a printed note."""
        from ..reid import DatasetNotFoundError, bundled_crops

        root = self.data_root()
        if root is not None:
            try:
                return load_dataset(replace(self.config, data_root=str(root)))
            except DatasetNotFoundError as err:
                why = str(err).splitlines()[0]
        else:
            why = f"{dataset_root(self.config)} is not here"
        if verbose:
            print(f"note: the run's dataset ({self.config.dataset}) is not available ({why}); retrieval uses the "
                  f"bundled real crops instead. Set IANET_DATA_DIR to the folder that holds {self.config.dataset}/ "
                  "(export IANET_DATA_DIR=~/datasets before starting Jupyter) and run this again.")
        return bundled_crops()

    def retrieval_set(self, max_gallery: int = 2000, max_query: int = 100, verbose: bool = True):
        """``(query, gallery)`` lists of (path, pid, camid) for a retrieval grid: the test set of
        :meth:`dataset`, or, when its gallery is larger than ``max_gallery`` (Market-1501: 15,913 images,
        half an hour of ResNet-50 features on a laptop CPU), :func:`retrieval_subset` of it, with a note."""
        ds = self.dataset(verbose)
        query, gallery = retrieval_subset(ds.query, ds.gallery, max_query, max_gallery)
        if verbose and (len(query), len(gallery)) != (len(ds.query), len(ds.gallery)):
            print(f"note: retrieval on a subset of the test set: {len(query)} of {len(ds.query)} queries, {len(gallery)} of "
                  f"{len(ds.gallery)} gallery images (every gallery image of their identities, then others); the "
                  "rank-1 and mAP of the run are those of the whole set")
        return query, gallery

    def people_root(self, verbose: bool = True) -> Path:
        """A folder of synthetic pedestrians with part masks (``masks/query``): the run's own data when it
        has masks, else synthetic pedestrians as the demo model's, at this model's input size (generated once
        under ``DATA_DIR``)."""
        root = self.data_root()
        if root is not None and self.config.dataset == "synthetic":  # generated on first use
            root = Path(load_dataset(replace(self.config, data_root=str(root))).root)
        if root is not None and (root / "masks" / "query").is_dir():
            return root
        from .mechanism import synthetic_people_root

        if verbose:
            print(f"note: the run's data ({self.config.dataset}) has no part masks; the part measurements use held-out "
                  f"synthetic pedestrians at {self.size[0]}x{self.size[1]} instead")
        return synthetic_people_root(self.size)

    def held_out_people(self, n: int = 32, verbose: bool = True):
        """``(x [n, 3, H, W], masks [n, H, W])``: people of the test identities with part masks
        (:func:`ianet_viz.course.mechanism.held_out_people` of :meth:`people_root`)."""
        from .mechanism import held_out_people

        return held_out_people(self.people_root(verbose), self.size, n=n)

    # ------------------------------------------------------------------ text
    def relation_text(self) -> str:
        """The SIA relation of every block: ``"stage2: cosine, temperature 6.52 (learned), mean of K=1,2,3, sigma (5, 10)"``
        (sigma: the location prior's, eq. 3-4, in cells; none without the location relation)."""
        out = []
        for b in self.blocks:
            sia = self.model.ia_blocks[b].sia
            prior = f", sigma ({sia.sigma[0]:g}, {sia.sigma[1]:g})" if sia.use_location else ""
            out.append(f"{b}: {sia.relation}, {sia.scale_text()}, {sia.multi} of K={','.join(map(str, sia.ks))}{prior}")
        return " | ".join(out)

    def start_text(self) -> str:
        """Where the backbone's weights came from, in words: what taught the features what they know."""
        from .pretrain import BACKBONE

        start = self.started_from
        if not start:
            return "backbone: trained from random initialisation"
        if Path(start).name == BACKBONE.name:
            return ("backbone: pretrained on synthetic identities, then taught body parts from the synthetic part "
                    "masks (ianet_viz.course.part_pretext, a stand-in for ImageNet features); fine-tuned on "
                    "identities only")
        return f"backbone: started from {start}"

    def describe(self) -> str:
        """A few lines for the top of a notebook: what the model is, where it came from, how it did."""
        cfg, m = self.config, self.metrics
        lines = [f"{self.label} from {relpath(self.source)}: IA blocks ({cfg.arrangement}) after stages "
                 f"{tuple(cfg.ia_stages)}, trained on {cfg.dataset}",
                 f"SIA relation: {self.relation_text()}"]
        start = self.start_text()
        if start:
            lines.append(start)
        if "mAP" in m and "rank1" in m:
            lines.append(f"retrieval on its test set ({m.get('dataset', cfg.dataset)}): rank-1 {m['rank1']:.0%}, "
                         f"mAP {m['mAP']:.0%}")
        else:
            lines.append("retrieval: no evaluation recorded with these weights (no metrics.json)")
        h, w = self.shapes[self.block]
        lines.append(f"block looked at: {self.block} ({h}x{w} map; the paper's stage 3 at 256x128 is 16x8)")
        return "\n".join(lines)


def course_model(spec: Optional[str] = None, device: str = "cpu") -> CourseModel:
    """The model of notebooks 04-06: ``spec``, else ``IANET_MODEL``, else the shipped demo model (module
    docstring). The model is in eval mode on ``device``."""
    what, origin = resolve_spec(spec)
    from . import demo

    if what in NAMED:  # a shipped file: checked against its sha256, then read once below
        path = demo.WEIGHTS if what == "demo" else demo.PAPER_WEIGHTS
        try:
            source = demo.shipped_file(path, demo.REBUILD[what])
        except FileNotFoundError as err:
            if what == "demo":
                raise
            raise FileNotFoundError(
                f"{origin}: the paper-literal model's weights are not here ({demo.PAPER_WEIGHTS}). They ship with "
                "the package once trained (train(demo_config(mechanism='paper')), then "
                "export_weights(run, PAPER_WEIGHTS)); until then use IANET_MODEL=demo or a run folder.") from err
        name = "demo model" if what == "demo" else "paper-literal model"
    else:
        source = find_source(what, origin)
        name = f"run {source.name}" if source.is_dir() else f"{source.parent.name}/{source.name}"
    try:
        trained = load_run(source, device=device)
    except (RuntimeError, ValueError) as err:  # a damaged file, an export, another kind of file
        if what in NAMED:
            raise
        raise ValueError(f"{origin}: {err} " + _HOW) from None
    model = trained.model
    config = replace(trained.config, pretrained=None)
    if not getattr(model, "ia_blocks", None):
        raise ValueError(f"{origin}: {relpath(source)} is a baseline (ia_stages=()): it has no IA block to look at. "
                         "Notebooks 04-06 need a model with IA blocks. " + _HOW)
    blocks = sia_blocks(model)
    _, shapes = record(model, torch.zeros(1, 3, int(config.height), int(config.width)), keys=())
    return CourseModel(model=model, config=config, source=Path(source), name=name, started_from=trained.config.pretrained,
                       num_classes=int(model.classifier.out_features),
                       metrics={k: trained.metrics[k] for k in METRIC_KEYS if k in trained.metrics},
                       shapes={b: tuple(shapes[b]) for b in blocks})
