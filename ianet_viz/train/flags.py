"""The command line's settings, generated from :class:`~ianet_viz.train.TrainConfig`'s fields.

Every field is one flag of the same name (``batch_size`` -> ``--batch-size``; a switch ``progress``
-> ``--progress/--no-progress``) with the field's type, choices and help. A config file's value is read
by the same flag's parser, so ``lr: 3e-4`` in YAML and ``--lr 3e-4`` mean one thing.
"""
from __future__ import annotations

import argparse
import dataclasses
import typing
from typing import Any, Dict

from .config import TrainConfig

#: Tab. 4c's rows in one word (``--relation location``): which of SIA's two relations are used, as
#: ``(use_appearance, use_location)``.
TAB4C = {"semantic": (True, True), "appearance": (True, False), "location": (False, True)}
#: The first field of each section of the help, and the section's title.
SECTIONS = {"dataset": "data", "backbone": "model (passed to ianet_viz.build_ianet)",
            "recipe": "optimisation", "eval_every": "evaluation", "output": "run"}


def _ia_stages(value: str):
    """``--ia-stages``: stage numbers, or ``none`` for the baseline."""
    if value.lower() in ("none", "baseline", ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--ia-stages takes stage numbers 1-4 or 'none', got {value!r}") from None


_ia_stages.__name__ = "stage number or 'none'"


def _flag_kind(name: str, kind: Any) -> Dict[str, Any]:
    """argparse keywords for a field of type ``kind``: a switch, a list, a pair or one value."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) is typing.Union and len(args) == 1:
        kind = args[0]  # Optional[X]: None is the default, never typed
    if kind is bool:
        return dict(action=argparse.BooleanOptionalAction)
    if name == "ia_stages":
        return dict(nargs="+", type=_ia_stages, metavar="STAGE")
    if name == "sigma":  # a pair for every stage; a {stage: pair} mapping only in a config file
        return dict(nargs=2, type=float, metavar=("SIGMA1", "SIGMA2"))
    if typing.get_origin(kind) is tuple:
        return dict(nargs="+" if name != "milestones" else "*", type=typing.get_args(kind)[0])
    return dict(type=kind)


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per ``TrainConfig`` field, in the fields' order, grouped as :data:`SECTIONS` says."""
    hints = typing.get_type_hints(TrainConfig)
    defaults = TrainConfig()
    group = parser
    for f in dataclasses.fields(TrainConfig):
        if f.name in SECTIONS:
            group = parser.add_argument_group(SECTIONS[f.name])
        meta = f.metadata
        keywords = _flag_kind(f.name, hints[f.name])
        default = meta.get("flag_default", getattr(defaults, f.name))
        keywords["default"] = list(default) if isinstance(default, tuple) else default
        if meta.get("choices") is not None:
            keywords["choices"] = meta["choices"]
        if meta.get("metavar"):
            keywords["metavar"] = meta["metavar"]
        group.add_argument("--" + f.name.replace("_", "-"), dest=f.name, help=meta.get("help"), **keywords)
        if f.name == "use_location":
            group.add_argument("--relation", choices=tuple(TAB4C), default=None,
                               help="Tab. 4c in one word: sets --use-appearance and --use-location")


def fields_from_flags(values: Dict[str, Any]) -> Dict[str, Any]:
    """Parsed flag values -> ``TrainConfig`` fields: lists become tuples, ``--ia-stages none`` the
    baseline's ``()``, ``--pretrained none`` ``None``."""
    out = {}
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    for key, value in values.items():
        if key not in names:
            continue
        if key == "ia_stages" and value is not None:
            value = tuple(v for v in value if v is not None)
        elif isinstance(value, list):
            value = tuple(value)
        if key == "pretrained" and value in ("none", ""):
            value = None
        out[key] = value
    if values.get("relation") is not None:  # after the two switches' defaults, which it sets
        out["use_appearance"], out["use_location"] = TAB4C[values["relation"]]
    return out


def value_actions(parser: argparse.ArgumentParser) -> Dict[str, argparse.Action]:
    """The parser's actions by field name, for reading a config file's values."""
    names = {*TrainConfig.__dataclass_fields__, "relation"}
    return {a.dest: a for a in parser._actions if a.option_strings and a.dest in names}


def read_value(action: argparse.Action, key: str, value: Any, source: str) -> Any:
    """A config file's ``value`` for ``key``, read as its flag would read it (a string ``"3e-4"`` is
    the float ``--lr`` takes); a value the flag refuses is one error naming the key."""
    if value is None or isinstance(value, dict) or action.nargs == 0:
        return value  # None, a sigma per stage, a switch: YAML's own types (IAOptions checks them)
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    try:
        parsed = [action.type(str(v)) if action.type else str(v) for v in items]
        if action.choices is not None and any(v not in action.choices for v in parsed):
            raise ValueError(f"choose from {', '.join(map(str, action.choices))}")
    except (ValueError, TypeError, argparse.ArgumentTypeError) as err:
        kind = getattr(action.type, "__name__", "text")
        many = "a list of " if action.nargs not in (None, "?") else ""
        raise ValueError(f"{source}: {key}: {value!r} is not what {action.option_strings[0]} takes "
                         f"({many}{kind}; {err})") from None
    return parsed if action.nargs not in (None, "?") else parsed[0]
