"""Command line: ``python -m ianet_viz.train --dataset market1501 --data-root DIR --output RUN_DIR``.

Multi-GPU: ``torchrun --nproc_per_node N -m ianet_viz.train ...`` (DDP; rank 0 writes the files).
``--config FILE.yaml`` reads the settings from a file (a run's ``config.yaml``; flags typed on the
command line override it). ``--eval-only RUN`` evaluates a trained run (or weights file) and writes
``eval.json``; ``--export FILE.pt|FILE.onnx`` writes the model for deployment.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys
from typing import Any, Dict, Optional, Sequence, Set

from .config import AMP_MODES, DATASETS, RECIPES, TrainConfig, read_config_file

#: The flags of the command, not settings of a run.
_MODE_FLAGS = ("config", "eval_only", "rerank", "export", "rerank_k1", "rerank_k2", "rerank_lambda")
#: What --eval-only may change: where and how to evaluate. The model is the run's, as trained.
EVAL_FIELDS = frozenset({
    "dataset", "data_root", "cuhk03_labeled", "cuhk03_classic_split", "synthetic_identities", "synthetic_images",
    "synthetic_seed", "device", "amp", "channels_last", "num_workers", "eval_batch_size", "flip_test", "metric",
    "progress", "overwrite",  # --overwrite: with --export, replace an existing file
})


def _ia_stages(values):
    if len(values) == 1 and values[0].lower() in ("none", "baseline", ""):
        return ()
    try:
        return tuple(int(v) for v in values)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ia-stages takes stage numbers 1-4 or 'none', got {values}")


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults as the user types them: a switch (``--no-progress``) shows none, since the field it sets
    (``progress: True``) is not what typing the switch does."""

    def _get_help_string(self, action):
        if action.nargs == 0:
            return action.help or ""
        return super()._get_help_string(action)


def _is_rank0() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _error(err) -> None:
    """An error in one line on stderr, by one process only under torchrun."""
    if _is_rank0():
        print(f"error: {err}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    """Argument errors in one line and a hint, not under 50 lines of usage (``--help`` shows those)."""

    def error(self, message):
        # under torchrun every process parses the same flags: one of them says what is wrong
        self.exit(2, f"error: {message}\n  (python -m ianet_viz.train --help lists every flag)\n" if _is_rank0() else None)


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = _Parser(
        prog="python -m ianet_viz.train",
        description="Train and evaluate IANet (Hou et al., CVPR 2019) for person re-identification. "
                    "Writes RUN_DIR/checkpoint.pt, RUN_DIR/log.jsonl and RUN_DIR/metrics.json.",
        formatter_class=_HelpFormatter,
    )
    g = p.add_argument_group("what to do (default: train)")
    g.add_argument("--config", metavar="FILE.yaml", default=None,
                   help="read the settings from a YAML file (a run's config.yaml, or its metrics.json); "
                        "the flags given on the command line override it")
    g.add_argument("--eval-only", metavar="RUN", default=None,
                   help="no training: evaluate RUN (a run folder, its best.pt, or a weights file) on its "
                        "dataset and write RUN/eval.json (metrics.json stays the training's)")
    g.add_argument("--rerank", action="store_true",
                   help="with --eval-only: k-reciprocal re-ranking (Zhong et al. 2017) of the gallery")
    g.add_argument("--rerank-k1", type=int, default=20, help="re-ranking: k-reciprocal neighbours (Zhong et al.'s k1)")
    g.add_argument("--rerank-k2", type=int, default=6, help="re-ranking: neighbours averaged in query expansion (k2)")
    g.add_argument("--rerank-lambda", type=float, default=0.3, help="re-ranking: weight of the original distance")
    g.add_argument("--export", metavar="FILE", default=None,
                   help="after training (or with --eval-only RUN, after evaluating RUN) write the model to "
                        "FILE: TorchScript (FILE.pt) or ONNX (FILE.onnx, needs the onnx package)")
    g = p.add_argument_group("data")
    g.add_argument("--dataset", choices=DATASETS, default=d.dataset)
    g.add_argument("--data-root", default=None,
                   help="dataset folder (or torchreid-style parent); default: data/<dataset>")
    g.add_argument("--height", type=int, default=d.height)
    g.add_argument("--width", type=int, default=d.width)
    g.add_argument("--synthetic-identities", type=int, default=d.synthetic_identities)
    g.add_argument("--synthetic-images", type=int, default=d.synthetic_images,
                   help="images per identity of the synthetic dataset")
    g.add_argument("--synthetic-seed", type=int, default=d.synthetic_seed)
    g.add_argument("--cuhk03-detected", dest="cuhk03_labeled", action="store_false",
                   help="CUHK03: use the detected boxes instead of the labeled ones")
    g.add_argument("--cuhk03-classic-split", action="store_true",
                   help="CUHK03: classic 1367/100 split with the single-gallery-shot protocol (default: 767/700)")
    g = p.add_argument_group("model (passed to ianet_viz.build_ianet)")
    g.add_argument("--backbone", default=d.backbone, choices=("resnet18", "resnet34", "resnet50", "resnet101"))
    g.add_argument("--pretrained", default="auto",
                   help="auto (imagenet for market1501, dukemtmcreid, cuhk03, msmt17; none for synthetic "
                        "and vtest), imagenet (torchvision's file, downloaded once into the torch hub cache "
                        "when missing), none (random init), or a path to a weights file (offline)")
    g.add_argument("--ia-stages", nargs="+", default=["2", "3"], metavar="STAGE",
                   help="stages followed by an IA block, e.g. 2 3; 'none' for the plain ResNet baseline")
    g.add_argument("--arrangement", default=d.arrangement, choices=("sia", "cia", "sia+cia", "cia+sia", "parallel"))
    g.add_argument("--ks", nargs="+", type=int, default=list(d.ks), help="SIA context sizes K")
    g.add_argument("--fusion", default=d.fusion, choices=("renorm", "softmax"))
    g.add_argument("--multi", default=d.multi, choices=("prod", "sum", "max", "mean"),
                   help="multi-context fusion of eq. 2 (Tab. 4b)")
    g.add_argument("--relation", default="semantic", choices=("semantic", "appearance", "location"),
                   help="SIA relation (Tab. 4c): appearance and location (semantic), or one of them")
    g.add_argument("--per-block", action="store_true",
                   help="an IA block after every residual block of the IA stages (Tab. 4f)")
    g.add_argument("--sia-scale", type=float, default=None, help="SIA logit scale (default 1/sqrt(C))")
    g.add_argument("--cia-scale", type=float, default=None, help="CIA logit scale (default 1/sqrt(M))")
    g.add_argument("--sia-relation", default=d.sia_relation, choices=("dot", "cosine"),
                   help="eq. 1 between raw features (dot, the paper) or unit-norm ones (cosine x temperature)")
    g.add_argument("--sia-learn-scale", action="store_true", help="cosine: one learnable temperature per SIA block")
    g.add_argument("--gate-init", type=float, default=d.gate_init,
                   help="initial weight of the IA blocks' BatchNorm (0: a fresh block is the identity)")
    g.add_argument("--sigma", nargs=2, type=float, default=None, metavar=("SIGMA1", "SIGMA2"),
                   help="location prior sigma (x, y) for every stage; default: (5,10) at stage 3, scaled per stage")
    g.add_argument("--sigma-rule", default=d.sigma_rule, choices=("map", "cells"),
                   help="default sigma per stage: 'map' scales the paper's values with the map (theirs at "
                        "256x128, half at 128x64); 'cells' keeps the paper's numbers of cells at any input")
    g.add_argument("--last-stride", type=int, default=d.last_stride, choices=(1, 2))
    g = p.add_argument_group("optimisation")
    g.add_argument("--recipe", choices=RECIPES, default=d.recipe,
                   help="paper: CE, Adam 3e-4, batch 32, flip; modern: + label smoothing, triplet/PK, "
                        "warm-up, random erasing, BNNeck")
    g.add_argument("--epochs", type=int, default=d.epochs)
    g.add_argument("--batch-size", type=int, default=None,
                   help="global batch: images per optimiser step over all processes (under torchrun each of "
                        "N processes gets batch/N); default: 32 (paper), 64 (modern)")
    g.add_argument("--batch-size-per-gpu", type=int, default=None,
                   help="images per step per process instead; the global batch is this x N processes")
    g.add_argument("--sync-bn", action="store_true",
                   help="torchrun/DDP on GPUs: BatchNorm statistics over the global batch (SyncBatchNorm)")
    g.add_argument("--lr", type=float, default=None, help="default: 3e-4 (paper), 3.5e-4 (modern)")
    g.add_argument("--weight-decay", type=float, default=d.weight_decay)
    g.add_argument("--ia-bn-weight-decay", type=float, default=None,
                   help="weight decay of the IA blocks' zero-initialised BatchNorm (default: --weight-decay)")
    g.add_argument("--ia-lr-mult", type=float, default=d.ia_lr_mult,
                   help="learning-rate multiplier for the IA blocks' parameters")
    g.add_argument("--backbone-lr-mult", type=float, default=d.backbone_lr_mult,
                   help="learning-rate multiplier for the pretrained backbone's parameters")
    g.add_argument("--init-from", default=None, metavar="RUN_DIR",
                   help="start from a trained model's weights (e.g. a baseline run) and fine-tune")
    g.add_argument("--milestones", nargs="*", type=int, default=None,
                   help="epochs where the lr is multiplied by --gamma; default: 50%% and 75%% of --epochs")
    g.add_argument("--gamma", type=float, default=d.gamma)
    g.add_argument("--warmup-epochs", type=int, default=None, help="default: 0 (paper), min(10, epochs/12) (modern)")
    g.add_argument("--label-smoothing", type=float, default=None)
    g.add_argument("--triplet-weight", type=float, default=None)
    g.add_argument("--margin", type=float, default=d.margin)
    g.add_argument("--num-instances", type=int, default=d.num_instances, help="K images per identity (PK sampler)")
    g.add_argument("--sampler", choices=("random", "pk"), default=None)
    g.add_argument("--erasing", dest="erasing_p", type=float, default=None, help="random erasing probability")
    g.add_argument("--max-steps-per-epoch", type=int, default=None, help="cap the steps per epoch (smoke runs)")
    g.add_argument("--seed", type=int, default=d.seed)
    g = p.add_argument_group("evaluation")
    g.add_argument("--eval-every", type=int, default=d.eval_every, help="0: only after the last epoch")
    g.add_argument("--val-ids", type=int, default=d.val_ids, metavar="N",
                   help="hold out N training identities as a validation set; with --eval-every, best.pt is the "
                        "best validation mAP (the test split is only reported)")
    g.add_argument("--eval-batch-size", type=int, default=d.eval_batch_size)
    g.add_argument("--flip-test", action="store_true", help="add the embedding of the flipped image")
    g.add_argument("--metric", choices=("cosine", "euclidean"), default=d.metric)
    g = p.add_argument_group("run")
    g.add_argument("--output", default=d.output, metavar="RUN_DIR")
    g.add_argument("--resume", action="store_true", help="continue from RUN_DIR/checkpoint.pt")
    g.add_argument("--overwrite", action="store_true",
                   help="start over even if RUN_DIR holds a run (deletes its files); with --export, replace the file")
    g.add_argument("--device", default=d.device, help="auto (CUDA if present), cpu, cuda, cuda:1, ...")
    g.add_argument("--amp", choices=AMP_MODES, default=d.amp, help="autocast dtype (bf16 recommended on GPU)")
    g.add_argument("--channels-last", action="store_true")
    g.add_argument("--compile", action="store_true", help="torch.compile the model")
    g.add_argument("--num-workers", type=int, default=d.num_workers)
    g.add_argument("--no-pin-memory", dest="pin_memory", action="store_false")
    g.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    g.add_argument("--log-every", type=int, default=d.log_every,
                   help="steps per logging interval (the loss is read from the GPU once per interval)")
    return p


def _fields(values: Dict[str, Any]) -> Dict[str, Any]:
    """Parsed flags -> ``TrainConfig`` fields (only those in ``values``)."""
    values = {k: v for k, v in values.items() if k not in _MODE_FLAGS}
    if "relation" in values:
        relation = values.pop("relation")
        values["use_appearance"] = relation in ("semantic", "appearance")
        values["use_location"] = relation in ("semantic", "location")
    if "ia_stages" in values:
        values["ia_stages"] = _ia_stages(values["ia_stages"])
    for key in ("ks", "sigma", "milestones"):
        if values.get(key) is not None:
            values[key] = tuple(values[key])
    if values.get("pretrained") in ("none", ""):
        values["pretrained"] = None
    return values


def given_flags(argv: Optional[Sequence[str]]) -> Set[str]:
    """The settings typed on the command line (by their field name): they override a config file."""
    p = build_parser()
    for action in p._actions:  # parse again with no defaults: only what was typed remains
        action.default = argparse.SUPPRESS
    return set(vars(p.parse_args(argv)))


def _flag_actions() -> Dict[str, argparse.Action]:
    """The parser's value-taking actions by every name a config file may use: the field (``weight_decay``)
    and the flag without dashes (``weight-decay``, ``erasing``, ``relation``)."""
    out: Dict[str, argparse.Action] = {}
    for action in build_parser()._actions:
        if action.option_strings and action.nargs != 0:  # flags with a value, not switches
            out.setdefault(action.dest, action)
            for opt in action.option_strings:
                out.setdefault(opt.lstrip("-"), action)
    return out


def config_file_values(path) -> Dict[str, Any]:
    """A config file's settings as ``TrainConfig`` fields, each value read by the parser of its flag, so
    that ``lr: 3e-4`` (a string to YAML 1.1), ``epochs: "2"`` and ``ia_stages: none`` mean what
    ``--lr 3e-4``, ``--epochs 2`` and ``--ia-stages none`` mean. Keys are field or flag names; a value
    the flag would refuse is one error naming the key and what it takes."""
    from .config import read_config_file

    actions = _flag_actions()
    raw = read_config_file(path, names=set(actions))
    out: Dict[str, Any] = {}
    for key, value in raw.items():
        action = actions.get(key)
        if action is None or value is None:
            out[key] = value
            continue
        items = list(value) if isinstance(value, (list, tuple)) else [value]
        try:
            parsed = [action.type(str(v)) if action.type else str(v) for v in items]
            if action.choices is not None and any(v not in action.choices for v in parsed):
                raise ValueError(f"choose from {', '.join(map(str, action.choices))}")
        except (ValueError, TypeError, argparse.ArgumentTypeError) as err:
            flag = action.option_strings[0]
            kind = getattr(action.type, "__name__", "text")
            raise ValueError(f"--config {path}: {key}: {value!r} is not what {flag} takes "
                             f"({'a list of ' if action.nargs not in (None, '?') else ''}{kind}; {err})") from None
        out[action.dest] = parsed if action.nargs not in (None, "?") else parsed[0]
    return _fields(out)


def config_from_args(args: argparse.Namespace, given: Optional[Set[str]] = None) -> TrainConfig:
    """The run's config: ``--config FILE`` (if any) with the flags in ``given`` on top, else the flags."""
    if not getattr(args, "config", None):
        return TrainConfig(**_fields(vars(args)))
    typed = {k: v for k, v in vars(args).items() if given is None or k in given}
    # the flags' defaults, then the file, then what was typed
    return TrainConfig(**{**_fields(vars(args)), **config_file_values(args.config), **_fields(typed)})


def _print_metrics(name, m: Dict[str, Any]) -> None:
    print(f"{name}: epoch {m.get('epoch')}  mAP {m.get('mAP', float('nan')):.4f}  "
          f"rank1 {m.get('rank1', float('nan')):.4f}  rank5 {m.get('rank5', float('nan')):.4f}  "
          f"rank10 {m.get('rank10', float('nan')):.4f}")


def _eval_only(args: argparse.Namespace, given: Set[str]) -> int:
    from .export import export_model
    from .runs import evaluate_run, load_run

    changes = _fields({k: v for k, v in vars(args).items() if k in given})
    if args.config or set(changes) - EVAL_FIELDS:
        bad = ["--config"] if args.config else sorted(set(changes) - EVAL_FIELDS)
        raise ValueError(f"--eval-only evaluates {args.eval_only}'s model as it was trained: {', '.join(bad)} "
                         "cannot change it (dataset and evaluation flags can: " + ", ".join(sorted(EVAL_FIELDS)) + ")")
    trained = load_run(args.eval_only)  # read once: evaluated, then exported
    settings = dict(k1=args.rerank_k1, k2=args.rerank_k2, lambda_value=args.rerank_lambda)
    out = evaluate_run(args.eval_only, rerank=args.rerank, trained=trained, rerank_settings=settings, **changes)
    _print_metrics(out["eval_file"], out)
    if args.export:
        print(f"exported to {export_model(trained.model, args.export, trained.config.height, trained.config.width, overwrite=args.overwrite)}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from ..model import PretrainedWeightsError
    from .engine import TrainingDiverged, train
    from .export import check_export_path, export_model

    errors = (FileNotFoundError, FileExistsError, ValueError, PretrainedWeightsError)
    given = given_flags(sys.argv[1:] if argv is None else argv)
    if args.rerank and not args.eval_only:
        parser.error("--rerank re-ranks an evaluation: use it with --eval-only RUN")
    if args.eval_only:
        try:
            if args.export:
                check_export_path(args.export, args.overwrite)
            return _eval_only(args, given)
        except (*errors, RuntimeError, OSError) as err:
            _error(err)
            return 2
    try:  # argument errors before any work
        if args.export:
            check_export_path(args.export, args.overwrite)  # before hours of training, not after
        cfg = config_from_args(args, given)
        cfg.resolved()
    except (ValueError, RuntimeError, FileNotFoundError, argparse.ArgumentTypeError) as err:
        parser.error(str(err))
    try:
        result = train(cfg)
    except (TrainingDiverged, *errors) as err:
        _error(err)
        return 2 if not isinstance(err, TrainingDiverged) else 3
    except KeyboardInterrupt:  # every write is atomic: what was on disk before the key press is whole
        _error(f"interrupted; {cfg.output} keeps its last complete checkpoint: add --resume to continue")
        return 130
    except OSError as err:  # a full disk, a folder that vanished: the old files stay whole (atomic writes)
        hint = " (free some space, or pass another --output)" if err.errno == errno.ENOSPC else ""
        _error(f"{err}{hint}; {cfg.output} keeps its last complete checkpoint: add --resume to continue")
        return 2
    if result.metrics:
        _print_metrics(cfg.output, result.metrics)
    if args.export and _is_rank0():  # under torchrun one process writes it
        print(f"exported to {export_model(result.model, args.export, cfg.height, cfg.width)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
