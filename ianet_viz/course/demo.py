"""The demo model the notebooks share: a small IANet trained on synthetic pedestrians, and the
paper-literal model shipped beside it.

This is the one place that states them. Both are IANet-R18, SIA+CIA after stages 2 and 3, 128x64
input, trained in the paper's regime: a pretrained backbone (:mod:`ianet_viz.course.pretrain`, the
stand-in for ImageNet: identities, then body parts taught by the part pretext of
:mod:`ianet_viz.course.part_pretext`), IA blocks inserted fresh, then 6 epochs of the paper recipe
(cross-entropy, Adam 3e-4, batch 32, flip) on the demo split, 100 synthetic identities x 12 images
(50 train identities), with the backbone at a tenth of the learning rate (``FINETUNE``) so that it
keeps the parts it was taught. A few minutes on a 2-core CPU.

* The **demo model** departs from the paper's block in two settings (``DEMO_MECHANISM``): one context
  size, K = 1, as in the authors' released code, and the eq. 9 gate starting at 0.1. Its stage-2
  fields spread over about a part and hold most of their weight on the query's own part, well above
  a Gaussian of the same size (README "Design decisions"; the numbers are in RESULTS.md
  "pretraining", on held-out people).
* The **paper-literal model** (``paper_model``) is the same run with the paper's block (dot relation,
  product fusion of K = 1, 2, 3, gate at 0): the product keeps most of each field on the query cell,
  and its gates stay almost shut.
* :func:`demo_model` loads the shipped weights (``weights/``, fp16, checked against their sha256):
  instant and offline. ``retrain=True``, or any option, trains a run under ``runs/`` instead
  (resumable), which is what notebook 03 shows.
* ``python -m ianet_viz.course.demo --export [--paper]`` retrains the shipped weights from the
  shipped pretrained backbone and writes them back; the shipped files are its seed-0 runs, the
  ``parts:demo`` and ``parts:paper`` configurations of ``benchmarks.mechanism``.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Tuple

from torch import nn

from ..options import IAOptions
from ..settings import RUNS_DIR, smoke as smoke_env
from ..train import TrainConfig, load_checkpoint, load_model, train
from .shipped import check_shipped, save_shipped, sha256  # noqa: F401  (sha256: for the tests and notebooks)

#: How the demo model departs from the paper-literal block (``TrainConfig``'s default: dot relation,
#: product fusion of K = 1, 2, 3, gate at 0): one context size, K = 1, as in the authors' released
#: code, and the eq. 9 gate starting at 0.1. Evidence: README "Design decisions", RESULTS.md "pretraining".
DEMO_MECHANISM = IAOptions(ks=(1,), gate_init=0.1)
#: How both shipped models are fine-tuned from the pretrained backbone: the paper's recipe and loss,
#: with the backbone at a tenth of the learning rate so that it keeps the body parts its pretraining
#: taught (identity fine-tuning at the full rate erodes them; RESULTS.md "pretraining").
FINETUNE = dict(backbone_lr_mult=0.1)
#: The previous demo mechanism (cosine relation with a learnable temperature from 7,
#: geometric mean of the K maps, gate 0.1): the committed protocol sweeps of notebooks 05/06 used it.
COSINE_MEAN_LEVERS = IAOptions(sia_relation="cosine", sia_learn_scale=True, sia_scale=7.0, multi="mean", gate_init=0.1)
#: The shipped weights (package data); their sha256 is in the file beside them (``.pt.sha256``).
WEIGHTS = Path(__file__).resolve().parent / "weights" / "demo_ianet_r18.pt"
#: The paper-literal model shipped beside it (dot relation, product fusion, gate at 0), same recipe.
PAPER_WEIGHTS = Path(__file__).resolve().parent / "weights" / "paper_ianet_r18.pt"
#: The command that rebuilds each shipped model from the pretrained backbone.
REBUILD = {"demo": "python -m ianet_viz.course.demo --export", "paper": "python -m ianet_viz.course.demo --export --paper"}
#: Fine-tuning epochs on the demo split, from the pretrained backbone (the paper's regime).
FINETUNE_EPOCHS = 6


def demo_config(smoke: Optional[bool] = None, mechanism: str = "demo", **overrides) -> TrainConfig:
    """The demo model's training configuration (module docstring); smoke mode makes it tiny.

    ``mechanism="paper"`` is the paper-literal model shipped beside it: the same run without the levers.
    Both fine-tune the shipped pretrained backbone (:mod:`ianet_viz.course.pretrain`)."""
    from .pretrain import pretrained_backbone

    if mechanism not in ("demo", "paper"):
        raise ValueError(f"mechanism must be 'demo' or 'paper', got {mechanism!r}")
    smoke = smoke_env() if smoke is None else smoke
    size = dict(synthetic_identities=24, synthetic_images=8, epochs=2, max_steps_per_epoch=6, batch_size=16) if smoke \
        else dict(synthetic_identities=100, synthetic_images=12, epochs=FINETUNE_EPOCHS, batch_size=32)
    name = mechanism + ("-smoke" if smoke else "")
    cfg = dict(
        dataset="synthetic", backbone="resnet18", height=128, width=64, ia_stages=(2, 3), recipe="paper",
        seed=0, num_workers=0, output=str(Path(RUNS_DIR) / name),
        **(DEMO_MECHANISM.changes() if mechanism == "demo" else {}), **FINETUNE, **size,
    )
    cfg.update(overrides)
    if "pretrained" not in overrides:  # only then is the shipped backbone file needed
        cfg["pretrained"] = str(pretrained_backbone())
    return TrainConfig(**cfg)


def load_shipped(device: str = "cpu", path=WEIGHTS, expected: Optional[str] = None,
                 rebuild: str = REBUILD["demo"]) -> nn.Module:
    """A shipped model (eval mode), its file checked against its sha256 first (:func:`check_shipped`)."""
    return load_model(shipped_file(path, rebuild, expected), device=device)


def shipped_file(path=WEIGHTS, rebuild: str = REBUILD["demo"], expected: Optional[str] = None) -> Path:
    """A shipped model's weights file, checked against its sha256 (:func:`check_shipped`)."""
    return check_shipped(path, "the shipped model's weights file", f"{rebuild} (a few minutes on a CPU)", expected)


def paper_model(device: str = "cpu", path=PAPER_WEIGHTS) -> Tuple[nn.Module, Path]:
    """``(model in eval mode, its file)``: the shipped paper-literal model (dot relation, product
    fusion, gate at 0), trained exactly as the demo model but without its levers."""
    return load_shipped(device, path, rebuild=REBUILD["paper"]), Path(path)


def demo_model(smoke: Optional[bool] = None, device: str = "cpu", progress: bool = True, retrain: bool = False,
               **overrides) -> Tuple[nn.Module, Path]:
    """``(model in eval mode, where it came from)``: the shipped demo weights, loaded in a second.

    With ``retrain=True`` or any ``TrainConfig`` override (``epochs=...``, ``output=...``), the
    model is trained in its run folder under ``runs/`` instead, once (``smoke`` then picks the
    tiny or the full run): a finished run is loaded, an interrupted one resumes from its last
    checkpoint.
    """
    if not (retrain or overrides):
        return load_shipped(device), WEIGHTS
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


def export_weights(run, path=WEIGHTS, output: Optional[str] = None) -> str:
    """Write a trained run's model as the shipped weights (fp16, with its config and metrics) and their
    sha256 beside them (``<name>.sha256``); returns the sha256. ``output`` is the run folder the
    shipped config names (default ``runs/<the run's folder name>``), where ``--export`` retrains it."""
    import json

    state = load_checkpoint(run)
    model = {k: (v.half() if v.is_floating_point() else v) for k, v in state["model"].items()}
    metrics_file = Path(run) / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    keep = {k: metrics[k] for k in ("mAP", "rank1", "rank5", "rank10", "epoch") if k in metrics}
    out = {k: state[k] for k in ("format", "config", "num_classes", "epoch")}
    # no local paths in a shipped file: the pretrained backbone is named by its file name
    pre = out["config"].get("pretrained")
    out["config"] = dict(out["config"], data_root=None, output=output or f"runs/{Path(run).name}",
                         pretrained=Path(pre).name if pre else None)
    out.update(model=model, metrics=keep)
    return save_shipped(out, path)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--smoke", action="store_true", help="the tiny smoke-mode model")
    p.add_argument("--export", action="store_true",
                   help="train the full demo run (resumable) and write it as the shipped weights")
    p.add_argument("--paper", action="store_true",
                   help="the paper-literal model (dot relation, product fusion, gate 0) instead of the demo model")
    p.add_argument("--to", default=None, metavar="FILE",
                   help="where --export writes (default: the package's weights, replacing them)")
    args = p.parse_args(argv)
    if args.export:
        mechanism = "paper" if args.paper else "demo"
        to = args.to or str(PAPER_WEIGHTS if args.paper else WEIGHTS)
        _, run = demo_model(smoke=False, retrain=True, mechanism=mechanism)
        print(f"{mechanism} run in {run}; weights {to}: sha256 {export_weights(run, to)}")
        return 0
    _, run = demo_model(smoke=args.smoke or None, retrain=args.smoke, progress=not args.smoke)
    print(f"demo model from {run}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
