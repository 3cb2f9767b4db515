"""Pretraining the demo backbone: the paper's ImageNet start, moved to what a CPU can do.

IANet starts from an ImageNet-trained ResNet-50 and fine-tunes on 12,936 Market-1501 images. No
ImageNet weights can be downloaded here, but synthetic people are free, so the stand-in for
ImageNet is a large synthetic corpus whose identities are disjoint from the demo split's (a seed
of its own, :data:`CORPUS_SEED`): 2,000 identities x 12 images, of which the writer puts 1,000
identities (12,000 images) in the training folder. The backbone (ResNet-18, 128x64, no IA block) is
trained on it in two stages:

1. **identities**: the paper's loss, identity classification, and the paper's recipe: Adam 3e-4 for
   3 epochs, then 3e-5 for a fourth (48,000 image passes);
2. **body parts**: the part pretext of :mod:`ianet_viz.course.part_pretext` on the same training
   people, 4 more epochs: part-segmentation heads and a part-affinity loss on the stage-2/3 features,
   with the identity loss kept. This is what makes the fields follow parts (RESULTS.md "pretraining").

* ``python -m ianet_viz.course.pretrain`` runs it (resumable: run the same command again after an
  interruption) and writes ``runs/pretrain/checkpoint.pt``, then stage 2 in ``runs/pretrain-parts``
  (identity features alone know body parts barely better than a cell's position does, and SIA's
  fields can follow parts only as far as the features know them). ``--export`` then writes the
  backbone weights that :func:`pretrained_backbone` returns (fp16, with their sha256).
* :func:`pretrain_config` is the one statement of the setting; in smoke mode it is tiny, so the
  smoke path never pretrains anything large.
* Fine-tuning starts from it with ``TrainConfig(pretrained=str(pretrained_backbone()))``: the IA
  blocks are inserted at their fresh (identity) initialisation, as in the paper.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional

import torch

from ..settings import RUNS_DIR, smoke as smoke_env
from ..train import TrainConfig, load_checkpoint, train

#: The corpus's synthetic seed: its identities are drawn independently of the demo split (seed 0)
#: and of the held-out people of the mechanism measures (seed 4242).
CORPUS_SEED = 1000
#: Where the exported backbone lives (package data, beside the demo weights).
BACKBONE = Path(__file__).resolve().parent / "weights" / "pretrained_r18_synthetic.pt"


def pretrain_config(smoke: Optional[bool] = None, **overrides) -> TrainConfig:
    """The pretraining run: ResNet-18 baseline (no IA block) on the synthetic corpus, paper recipe."""
    smoke = smoke_env() if smoke is None else smoke
    size = dict(synthetic_identities=24, synthetic_images=6, epochs=1, max_steps_per_epoch=4, batch_size=16) \
        if smoke else dict(synthetic_identities=2000, synthetic_images=12, epochs=4, milestones=(3, 4), batch_size=32)
    cfg = dict(
        dataset="synthetic", synthetic_seed=CORPUS_SEED, backbone="resnet18", height=128, width=64,
        ia_stages=(), recipe="paper", seed=0, num_workers=0,
        output=str(Path(RUNS_DIR) / ("pretrain-smoke" if smoke else "pretrain")), **size,
    )
    cfg.update(overrides)
    return TrainConfig(**cfg)


def run_pretraining(cfg: Optional[TrainConfig] = None, device: str = "cpu") -> Path:
    """Train (or resume, or just return) the pretraining run of ``cfg``; returns its folder."""
    cfg = cfg or pretrain_config()
    run = Path(cfg.output)
    if (run / "metrics.json").is_file():
        return run
    resume = (run / "checkpoint.pt").is_file()
    train(cfg, resume=resume, overwrite=not resume, device=device)
    return run


def identity_backbone(run) -> Path:
    """Stage 1's backbone as a file that ``build_ianet(pretrained=...)`` reads (``run/backbone.pt``,
    written once from the run's checkpoint): the start of the part stage."""
    from ..train import atomic_save

    out = Path(run) / "backbone.pt"
    if not out.is_file():
        state = load_checkpoint(run)
        atomic_save(dict(model={k: v for k, v in state["model"].items() if k.startswith("backbone.")},
                         config=state["config"]), out)
    return out


def run_part_stage(init, cfg: Optional[TrainConfig] = None, settings=None) -> Path:
    """Stage 2 (:mod:`ianet_viz.course.part_pretext`) from the backbone file ``init``, on the training
    people of stage 1's corpus (``cfg``); returns its folder (stage 1's output + ``-parts``)."""
    from .part_pretext import PartPretext, smoke_pretext, train_part_pretext
    from ..train import load_dataset

    cfg = cfg or pretrain_config()
    settings = settings or (smoke_pretext() if smoke_env() else PartPretext())
    root = load_dataset(cfg).root  # the corpus, generated with its masks if missing
    return train_part_pretext(init, root, Path(cfg.output + "-parts"), settings, size=(cfg.height, cfg.width))


def export_backbone(parts, path=BACKBONE) -> str:
    """Write the backbone after both stages (fp16 state dict under ``backbone.``, with stage 1's
    config and stage 2's settings) and its sha256 beside it; returns the sha256. The heads are
    dropped: their classes are the corpus's identities and the part labels, which fine-tuning
    does not have."""
    from .shipped import save_shipped

    final = torch.load(Path(parts) / "backbone.pt", map_location="cpu", weights_only=True)
    start = torch.load(final["init"], map_location="cpu", weights_only=True)  # stage 1's backbone file
    model = {k: v.half() if v.is_floating_point() else v for k, v in final["model"].items()}
    out = dict(config=dict(start["config"], data_root=None, output="runs/pretrain"),
               part_pretext=final["part_pretext"], model=model)
    return save_shipped(out, path)


def pretrained_backbone(path=BACKBONE) -> Path:
    """The shipped pretrained backbone file (checked against its sha256), for ``pretrained=``."""
    from .shipped import check_shipped

    return check_shipped(path, "the pretrained backbone", "python -m ianet_viz.course.pretrain --export "
                                                           "(about an hour on a 2-core CPU)")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="the tiny smoke-mode run")
    p.add_argument("--export", action="store_true", help="after training, write the shipped backbone weights")
    p.add_argument("--to", default=str(BACKBONE), metavar="FILE", help="where --export writes")
    p.add_argument("--init", default=None, metavar="FILE",
                   help="start the part stage from this backbone file instead of stage 1's run")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = pretrain_config(smoke=args.smoke or None)
    run = Path(cfg.output) if args.init else run_pretraining(cfg)
    from .part_pretext import PartPretext, smoke_pretext

    settings = smoke_pretext() if args.smoke or smoke_env() else PartPretext()
    parts = run_part_stage(args.init or identity_backbone(run), cfg, settings)
    print(f"pretraining runs in {run} and {parts}")
    if args.export:
        print(f"backbone {args.to}: sha256 {export_backbone(parts, args.to)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
