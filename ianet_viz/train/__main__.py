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

from .config import TrainConfig, read_config_file
from .flags import add_config_flags, fields_from_flags, read_value, value_actions

#: The flags of the command, not settings of a run.
_MODE_FLAGS = ("config", "eval_only", "rerank", "export", "rerank_k1", "rerank_k2", "rerank_lambda")
#: What --eval-only may change: where and how to evaluate. The model is the run's, as trained.
EVAL_FIELDS = frozenset({
    "dataset", "data_root", "cuhk03_labeled", "cuhk03_classic_split", "synthetic_identities", "synthetic_images",
    "synthetic_seed", "device", "amp", "channels_last", "num_workers", "eval_batch_size", "flip_test", "metric",
    "progress", "overwrite",  # --overwrite: with --export, replace an existing file
})


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults as the user types them: a switch (``--no-progress``) shows none, since the field it sets
    (``progress: True``) is not what typing the switch does."""

    def _get_help_string(self, action):
        if action.nargs == 0:
            return (action.help or "") + (" (on by default)" if action.default is True else "")
        if action.default is None:  # the help says what None means
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
    add_config_flags(p)  # one flag per TrainConfig field (ianet_viz.train.flags)
    return p


def _fields(values: Dict[str, Any]) -> Dict[str, Any]:
    """Parsed flags -> ``TrainConfig`` fields (only those in ``values``)."""
    return fields_from_flags({k: v for k, v in values.items() if k not in _MODE_FLAGS})


def given_flags(argv: Optional[Sequence[str]]) -> Set[str]:
    """The settings typed on the command line (by their field name): they override a config file."""
    p = build_parser()
    for action in p._actions:  # parse again with no defaults: only what was typed remains
        action.default = argparse.SUPPRESS
    return set(vars(p.parse_args(argv)))


def config_file_values(path) -> Dict[str, Any]:
    """A config file's settings as ``TrainConfig`` fields, each value read by the parser of its flag, so
    that ``lr: 3e-4`` (a string to YAML 1.1), ``epochs: "2"`` and ``ia_stages: none`` mean what
    ``--lr 3e-4``, ``--epochs 2`` and ``--ia-stages none`` mean. Keys are field names (``batch_size``)
    or flag names (``batch-size``); a value the flag would refuse is one error naming the key."""
    actions = value_actions(build_parser())
    dashed = {name.replace("_", "-"): name for name in actions}
    raw = read_config_file(path, names=set(dashed))
    out = {}
    for key, value in raw.items():
        name = dashed.get(key, key)
        out[name] = read_value(actions[name], key, value, f"--config {path}") if name in actions else value
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
