"""The command line is generated from TrainConfig's fields: every field has one flag of its own name,
and a flag and a config file read a value the same way."""
import dataclasses
import typing

import pytest
import yaml

from ianet_viz.options import IAOptions
from ianet_viz.train import TrainConfig
from ianet_viz.train.__main__ import build_parser, config_from_args, given_flags
from ianet_viz.train.config import save_config

HINTS = typing.get_type_hints(TrainConfig)


def _example(f: dataclasses.Field):
    """A value of field ``f`` that is not its default."""
    default = getattr(TrainConfig(), f.name)
    kind = HINTS[f.name]
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    base = args[0] if typing.get_origin(kind) is typing.Union and len(args) == 1 else kind
    if f.metadata.get("choices"):
        return [c for c in f.metadata["choices"] if c != default][-1]
    if base is bool:
        return not default if default is not None else True
    if f.name == "sigma":
        return (3.0, 6.0)
    if typing.get_origin(base) is tuple:
        return {"ia_stages": (3,), "ks": (1, 3), "milestones": (5, 9)}[f.name]
    if base is int:
        return (default or 0) + 3
    if base is float:
        return 0.125 if default != 0.125 else 0.25
    return f"some/{f.name}"


def _argv(values):
    argv = []
    for name, value in values.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            argv.append(flag if value else "--no-" + name.replace("_", "-"))
        elif isinstance(value, tuple):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    return argv


def _parse(argv):
    return config_from_args(build_parser().parse_args(argv), given_flags(argv))


FIELDS = dataclasses.fields(TrainConfig)


@pytest.mark.parametrize("f", FIELDS, ids=[f.name for f in FIELDS])
def test_every_field_round_trips_through_its_flag_and_a_config_file(f, tmp_path):
    value = _example(f)
    assert value != getattr(TrainConfig(), f.name)
    assert getattr(_parse(_argv({f.name: value})), f.name) == value
    for key in (f.name, f.name.replace("_", "-")):  # a config file may use the field's or the flag's name
        path = tmp_path / "c.yaml"
        path.write_text(yaml.safe_dump({key: list(value) if isinstance(value, tuple) else value}))
        assert getattr(_parse(["--config", str(path)]), f.name) == value, key


def test_a_saved_config_reads_back_whole_and_flags_override_it(tmp_path):
    """save_config writes what --config reads: every field at once, with a typed flag on top."""
    values = {f.name: _example(f) for f in FIELDS if f.name not in ("resume", "overwrite")}
    cfg = TrainConfig(**values)
    save_config(cfg, tmp_path / "config.yaml")
    assert _parse(["--config", str(tmp_path / "config.yaml")]) == cfg
    assert _parse(["--config", str(tmp_path / "config.yaml"), "--ks", "2"]) == dataclasses.replace(cfg, ks=(2,))


def test_every_ia_option_is_a_train_config_field_and_a_flag():
    """The block's options are declared once (IAOptions) and reach the run and the command line by name."""
    flags = {a.dest for a in build_parser()._actions}
    for f in dataclasses.fields(IAOptions):
        assert TrainConfig.__dataclass_fields__[f.name].metadata["help"] == f.metadata["help"]
        assert f.name in flags
    cfg = TrainConfig(ks=(1,), sia_relation="cosine", gate_init=0.1).resolved()
    assert cfg.ia_options == IAOptions(ks=(1,), sia_relation="cosine", gate_init=0.1)


def test_tab4c_in_one_word_sets_both_switches(tmp_path):
    assert (_parse(["--relation", "location"]).use_appearance, _parse(["--relation", "location"]).use_location) \
        == (False, True)
    cfg = _parse(["--relation", "appearance"])
    assert (cfg.use_appearance, cfg.use_location) == (True, False)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--relation", "both"])


def test_a_config_file_gives_sigma_per_stage(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("sigma: {2: [10, 20], 3: [5, 10]}\n")
    cfg = _parse(["--config", str(path)]).resolved()
    assert cfg.ia_options.sigma == {2: (10.0, 20.0), 3: (5.0, 10.0)}
    path.write_text("sigma: {2: [10, -1]}\n")
    with pytest.raises(ValueError, match="positive"):
        _parse(["--config", str(path)]).resolved()
