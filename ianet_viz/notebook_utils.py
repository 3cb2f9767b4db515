"""Small helpers for the notebooks: offline checks and printing. No model code lives here.

* :func:`cached_imagenet_weights`: the torchvision ImageNet file for a backbone if it is already in
  the torch hub cache, else ``None``. Notebooks use it to take the ImageNet path only when it works
  offline (``build_ianet(pretrained="imagenet")`` would otherwise try to download).
* :func:`relpath`: a path relative to the repository, for printing (outputs carry no local paths).
* :func:`normalised_entropy`: mean row entropy of relation maps divided by ``log(M)``.
* :func:`demo_config`, :func:`load_or_train_demo_model`: the small IANet that notebook 03 trains on
  synthetic pedestrians (ResNet-18, 128x64, CPU, about a minute) and that notebooks 04-06 load, or
  train themselves when ``runs/`` does not hold it yet. Both only call :mod:`ianet_viz.train`.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Optional, Tuple, Union

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


#: The demo run: notebook 03 trains it, notebooks 04-06 load it (``runs/`` is gitignored).
DEMO_RUN = "demo-synthetic-r18"
#: Its configuration (fields of :class:`ianet_viz.train.TrainConfig`). A ResNet-18 IANet from random
#: init at 128x64 on 60 synthetic identities (30 train, 30 test) x 10 images, the paper recipe
#: except lr 1e-3 (the paper's 3e-4 is for an ImageNet-pretrained ResNet-50), 6 epochs, on the
#: CPU, so that it is the same model, bit for bit, on every machine.
DEMO_SETTINGS = dict(
    dataset="synthetic", synthetic_identities=60, synthetic_images=10, synthetic_seed=0,
    backbone="resnet18", pretrained=None, height=128, width=64, ia_stages=(2, 3), recipe="paper",
    lr=1e-3, epochs=6, eval_every=2, seed=0, device="cpu", num_workers=0, progress=False,
)


def demo_config(**overrides):
    """The :class:`~ianet_viz.train.TrainConfig` of the demo run (``output`` = ``runs/demo-synthetic-r18``)."""
    from .train import TrainConfig

    settings = dict(DEMO_SETTINGS, output=str(Path(RUNS_DIR) / DEMO_RUN))
    settings.update(overrides)
    return TrainConfig(**settings)


def _finished(run_dir: Path, epochs: int) -> bool:
    from .train import load_checkpoint

    try:
        return int(load_checkpoint(run_dir)["epoch"]) >= epochs
    except (FileNotFoundError, RuntimeError, KeyError):
        return False


def load_or_train_demo_model(run_dir: Optional[Union[str, os.PathLike]] = None, verbose: bool = True):
    """The demo IANet in eval mode: loaded from ``run_dir`` (default ``runs/demo-synthetic-r18``)
    when a finished run is there, else trained now with :func:`ianet_viz.train.train` (resumed
    when an interrupted run is there; about a minute on a laptop CPU). Returns ``(model, config)``.
    """
    from .train import load_model, train

    cfg = demo_config() if run_dir is None else demo_config(output=str(run_dir))
    out = Path(cfg.output)
    if _finished(out, cfg.epochs):
        if verbose:
            print(f"loading the demo model from {relpath(out)}")
        return load_model(out, device="cpu"), cfg
    resume = (out / "checkpoint.pt").is_file()
    if verbose:
        print(f"{'resuming' if resume else 'training'} the demo model in {relpath(out)} "
              "(ResNet-18 IANet on synthetic pedestrians, about a minute on a CPU)")
    try:
        result = train(cfg, resume=resume, overwrite=not resume)
    except ValueError:  # an incompatible interrupted run (other settings): start over
        result = train(cfg, resume=False, overwrite=True)
    return result.model.cpu().eval(), cfg
