"""The demo model the notebooks share: a small IANet trained on synthetic pedestrians.

Notebook 03 trains it (or a student runs ``python -m ianet_viz.course.demo``); notebooks 04-06
load it from ``runs/demo-<mode>/`` and train their own copy when it is missing, so each notebook
also runs on its own. Smoke mode (``IANET_SMOKE=1``) makes it tiny; the maps of a smoke model are
only a little more structured than those of a random network.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Tuple

from torch import nn

from ..settings import RUNS_DIR, smoke as smoke_env
from ..train import TrainConfig, load_checkpoint, load_model, train


def demo_config(smoke: Optional[bool] = None, **overrides) -> TrainConfig:
    """IANet-R18 (SIA+CIA after stages 2 and 3) at 128x64 on synthetic pedestrians, paper recipe."""
    smoke = smoke_env() if smoke is None else smoke
    size = dict(synthetic_identities=24, synthetic_images=8, epochs=2, max_steps_per_epoch=6, batch_size=16) if smoke \
        else dict(synthetic_identities=100, synthetic_images=12, epochs=12, batch_size=32)  # ~5-10 min on a laptop CPU
    cfg = dict(
        dataset="synthetic", backbone="resnet18", height=128, width=64, ia_stages=(2, 3), recipe="paper",
        seed=0, num_workers=0, output=str(Path(RUNS_DIR) / ("demo-smoke" if smoke else "demo")), **size,
    )
    cfg.update(overrides)
    return TrainConfig(**cfg)


def demo_model(smoke: Optional[bool] = None, device: str = "cpu", progress: bool = True,
               **overrides) -> Tuple[nn.Module, Path]:
    """Load the demo model from its run folder, or train it there first. Returns (model in eval mode, run dir).

    An interrupted training resumes from its last checkpoint.
    """
    cfg = demo_config(smoke, progress=progress, **overrides)
    run = Path(cfg.output)
    if (run / "metrics.json").is_file():
        return load_model(run, device=device), run
    resume = (run / "checkpoint.pt").is_file()
    if resume:
        state = load_checkpoint(run)
        resume = TrainConfig.from_dict(state["config"]).epochs == cfg.epochs
    result = train(cfg, resume=resume, overwrite=not resume, device=device)
    return result.model, run


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="the tiny smoke-mode model")
    args = p.parse_args(argv)
    _, run = demo_model(smoke=args.smoke or None)
    print(f"demo model in {run}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
