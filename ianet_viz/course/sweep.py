"""Small helpers for the notebooks: offline checks and printing. No model code lives here.

* :func:`cached_imagenet_weights`: the torchvision ImageNet file for a backbone if it is already in
  the torch hub cache, else ``None``. Notebooks use it to take the ImageNet path only when it works
  offline (``build_ianet(pretrained="imagenet")`` would otherwise try to download).
* :func:`relpath`: a path relative to the repository, for printing (outputs carry no local paths).
* :func:`normalised_entropy`: mean row entropy of relation maps divided by ``log(M)``.
* :func:`sweep_config`, :func:`run_sweep`, :func:`summarise`: small ablation sweeps (notebooks 05, 06)
  through :func:`ianet_viz.train.train`, seeds x configurations, mean and std per configuration.
  (The demo model the notebooks share is :func:`ianet_viz.train.demo_model`.)
* :func:`read_results`: a CSV of ``benchmarks/results/`` (the committed full sweeps) as a list of dicts.
"""
from __future__ import annotations

import csv
import math
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import torch

from .config import REPO_DIR, RUNS_DIR

_WEIGHT_FILES = {
    "resnet18": "ResNet18_Weights",
    "resnet34": "ResNet34_Weights",
    "resnet50": "ResNet50_Weights",
    "resnet101": "ResNet101_Weights",
}


def cached_imagenet_weights(backbone: str = "resnet50") -> Optional[Path]:
    """Path of torchvision's ImageNet weights for ``backbone`` in the torch hub cache, or ``None``.

    Never downloads. Pass the result to ``build_ianet(pretrained=...)``.
    """
    import torchvision

    if backbone not in _WEIGHT_FILES:
        raise ValueError(f"backbone must be one of {', '.join(_WEIGHT_FILES)}; got {backbone!r}")
    url = getattr(torchvision.models, _WEIGHT_FILES[backbone]).IMAGENET1K_V1.url
    path = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)
    return path if path.is_file() else None


def relpath(path: Union[str, os.PathLike]) -> str:
    """``path`` relative to the repository root when it lies inside it, else its name only."""
    p = Path(path).resolve()
    try:
        return p.relative_to(REPO_DIR).as_posix()
    except ValueError:
        return p.name


def normalised_entropy(s: torch.Tensor) -> float:
    """Mean over rows of ``H(row) / log(M)`` for row-stochastic maps ``[..., M]``: 0 one-hot, 1 uniform."""
    return float((torch.special.entr(s.double()).sum(-1) / math.log(s.shape[-1])).mean())


#: Sweep scales, on top of the demo model's settings (ResNet-18 IANet from random init, 128x64,
#: synthetic pedestrians, paper recipe, CPU). "smoke": seconds per run (exercises the code; the
#: numbers are noise). "cpu": the scale of ``benchmarks/experiments.py`` (a few minutes per run on a
#: 2-core CPU).
SWEEP_SCALES = {
    "smoke": dict(synthetic_identities=16, synthetic_images=6, epochs=2, lr=1e-3, milestones=(), batch_size=32),
    "cpu": dict(synthetic_identities=100, synthetic_images=12, epochs=6, lr=3e-4, milestones=None, batch_size=32),
}


def sweep_config(scale: str = "smoke", **overrides):
    """A :class:`~ianet_viz.train.TrainConfig` for one sweep run: the demo model's settings
    (:func:`ianet_viz.train.demo.demo_config`) at ``scale``, on the CPU, plus ``overrides``."""
    from .train.demo import demo_config

    if scale not in SWEEP_SCALES:
        raise ValueError(f"scale must be one of {', '.join(SWEEP_SCALES)}; got {scale!r}")
    settings = dict(SWEEP_SCALES[scale], eval_every=0, max_steps_per_epoch=None, device="cpu", progress=False,
                    synthetic_seed=0, pretrained=None)
    settings.update(overrides)
    return demo_config(smoke=False, **settings)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_.=" else "_" for c in text)[:60]


def _finished_run(cfg) -> Optional[Dict]:
    """The metrics of a run that already finished with exactly this configuration, else ``None``."""
    import json

    from .train.config import config_differences

    path = Path(cfg.output) / "metrics.json"
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # a half-written or foreign file: train again
    if saved.get("epoch") != cfg.epochs or config_differences(saved.get("config", {}), cfg.resolved().to_dict()):
        return None
    return saved


def run_sweep(variants: Dict[str, dict], seeds: Sequence[int] = (0,), scale: str = "smoke",
              name: str = "sweep", verbose: bool = True, resume: bool = False) -> List[Dict]:
    """Train every ``(label, overrides)`` of ``variants`` for every seed; one row per run.

    Rows: ``{"config": label, "seed", "mAP", "rank1", "rank5", "wall_s"}`` (fractions). Runs go to
    ``runs/notebooks/<name>/<label>-seed<k>``. ``resume=False`` starts every run afresh.
    ``resume=True`` (a sweep of hours) loses nothing when interrupted: a run that finished with the
    same configuration is read back (``wall_s`` is then ``None``), a run that stopped part-way
    continues from its last checkpoint, and only a run with another configuration starts over.
    """
    import time

    from .train import train

    rows = []
    for label, overrides in variants.items():
        for seed in seeds:
            cfg = sweep_config(scale, seed=seed, output=str(Path(RUNS_DIR) / "notebooks" / name / f"{_slug(label)}-seed{seed}"),
                               **overrides)
            done = _finished_run(cfg) if resume else None
            t0 = time.perf_counter()
            if done is not None:
                metrics, wall = done, None
            elif resume and (Path(cfg.output) / "checkpoint.pt").is_file():
                try:
                    metrics, wall = train(cfg, resume=True).metrics, None
                except ValueError:  # the checkpoint belongs to another configuration
                    metrics, wall = train(cfg, overwrite=True).metrics, None
            else:
                metrics = train(cfg, overwrite=True).metrics
                wall = time.perf_counter() - t0
            row = {"config": label, "seed": seed, "mAP": metrics["mAP"], "rank1": metrics["rank1"],
                   "rank5": metrics["rank5"], "wall_s": wall}
            rows.append(row)
            if verbose:
                note = "  (finished earlier: read back)" if done is not None else ""
                print(f"{label:<18} seed {seed}: mAP {100 * row['mAP']:5.1f}%  rank-1 {100 * row['rank1']:5.1f}%{note}")
    return rows


def summarise(rows: List[Dict], keys: Sequence[str] = ("rank1", "mAP")) -> List[Dict]:
    """Mean and sample std (in %) of ``keys`` per ``config``, in order of first appearance."""
    import numpy as np

    out = []
    for label in dict.fromkeys(r["config"] for r in rows):
        rs = [r for r in rows if r["config"] == label]
        row = {"config": label, "n": len(rs)}
        for k in keys:
            v = np.array([float(r[k]) for r in rs if r.get(k) not in (None, "")], dtype=float)
            v = v * 100 if v.size and v.max() <= 1.0 else v
            row[f"{k}_mean"] = float(v.mean()) if v.size else float("nan")
            row[f"{k}_std"] = float(v.std(ddof=1)) if v.size > 1 else 0.0
            row[f"{k}_values"] = v.tolist()
        out.append(row)
    return out


def read_results(name: str) -> Optional[List[Dict]]:
    """Rows of ``benchmarks/results/<name>`` (a CSV written by ``benchmarks/experiments.py``), or
    ``None`` when the file is not there."""
    path = Path(REPO_DIR) / "benchmarks" / "results" / name
    if not path.is_file():
        return None
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))
