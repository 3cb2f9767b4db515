"""ImageNet weights for the backbone: torchvision's files, found in the torch hub cache or given as a
path, checked against the hash in their name, and errors that say where to put the file when offline.
:func:`ianet_viz.build_ianet` calls :func:`load_backbone_weights`; notebooks call
:func:`cached_imagenet_weights`, which never downloads."""
from __future__ import annotations

import hashlib
import os
import re
import urllib.error
from pathlib import Path
from typing import Optional, Union

import torch
import torchvision
from torch import nn

_WEIGHTS = {
    "resnet18": "ResNet18_Weights",
    "resnet34": "ResNet34_Weights",
    "resnet50": "ResNet50_Weights",
    "resnet101": "ResNet101_Weights",
}


class PretrainedWeightsError(RuntimeError):
    """ImageNet weights could not be loaded (typically: offline and not in the torch hub cache)."""


def _imagenet_weights(backbone: str):
    """torchvision's ImageNet weights entry of ``backbone`` (``ResNet50_Weights.IMAGENET1K_V1``...)."""
    if backbone not in _WEIGHTS:
        raise ValueError(f"backbone must be one of {', '.join(_WEIGHTS)}; got {backbone!r}")
    return getattr(torchvision.models, _WEIGHTS[backbone]).IMAGENET1K_V1


def _hub_path(backbone: str) -> Path:
    """Where torchvision keeps the ImageNet weights of ``backbone`` (the torch hub cache)."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(_imagenet_weights(backbone).url)


def cached_imagenet_weights(backbone: str = "resnet50") -> Optional[Path]:
    """Path of torchvision's ImageNet weights for ``backbone`` in the torch hub cache, or ``None``.

    Never downloads. Pass the result to ``build_ianet(pretrained=...)``: notebooks take the ImageNet
    path only when it works offline (``pretrained="imagenet"`` would otherwise try to download).
    """
    path = _hub_path(backbone)
    return path if path.is_file() else None


def _hub_file_hint(backbone: str) -> str:
    url, hub = _imagenet_weights(backbone).url, _hub_path(backbone)
    return (
        f"download {url} on a machine with internet access and put it at {hub} (the torch hub "
        f"cache, where it is found by itself), or anywhere and pass --pretrained /path/to/{hub.name} "
        "(the `pretrained` argument in Python)"
    )


#: torchvision's weight files are named ``<arch>-<first hex digits of their sha256>.pth``
#: (``resnet50-0676ba61.pth``); torch.hub checks that prefix only while downloading.
_HASHED_NAME = re.compile(r"^[A-Za-z0-9_]+-([0-9a-f]{8,64})\.pth$")


def sha256(path) -> str:
    """The sha256 of a file, read in 1 MB pieces (weights files are hundreds of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def check_weights_hash(path: Union[str, os.PathLike], backbone: str = "resnet50") -> None:
    """Refuse a file whose name carries a sha256 prefix (torchvision's naming) that its content lacks.

    torch.hub checks the hash only when it downloads, and then trusts any file of the right name in
    its cache: a partial copy or an HTML error page saved under that name would load as garbage or
    fail deep inside ``torch.load``. Files named otherwise (your own weights) are not checked.
    """
    path = Path(path)
    match = _HASHED_NAME.match(path.name)
    if match is None:
        return
    digest = sha256(path)
    if not digest.startswith(match.group(1)):
        raise PretrainedWeightsError(
            f"{path} is not the file its name promises: its sha256 starts {digest[:len(match.group(1))]}, "
            f"the name says {match.group(1)} (a partial download, an error page, or another file). Delete "
            f"it, then {_hub_file_hint(backbone)}; or use --pretrained none for random initialisation."
        )


def load_backbone_weights(net: nn.Module, pretrained: Union[str, os.PathLike], backbone: str) -> None:
    """Load ImageNet weights into a torchvision ResNet: "imagenet" via the weights API, or a file."""
    if str(pretrained) == "imagenet":
        weights = _imagenet_weights(backbone)
        if _hub_path(backbone).is_file():  # a cached file: torch.hub would load it unchecked
            check_weights_hash(_hub_path(backbone), backbone)
        try:
            state = weights.get_state_dict(progress=False, check_hash=True)
        except (urllib.error.URLError, OSError, RuntimeError) as err:
            raise PretrainedWeightsError(
                f"could not load ImageNet weights for {backbone} ({type(err).__name__}: {err}). "
                f"Offline? {_hub_file_hint(backbone)}; or use --pretrained none for random initialisation."
            ) from err
    else:
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise PretrainedWeightsError(
                f"pretrained weights file not found: {path}. Pass --pretrained imagenet, none, or an "
                f"existing .pth file; for ImageNet weights offline: {_hub_file_hint(backbone)}"
            )
        check_weights_hash(path, backbone)
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise PretrainedWeightsError(f"could not read weights file {path}: {err}. Is it a torch state_dict?") from err
        if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
            state = state["model"]  # one of our checkpoints
        state = {k[len("backbone."):] if k.startswith("backbone.") else k: v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError as err:  # shape mismatches: weights of another backbone
        raise PretrainedWeightsError(
            f"weights do not fit {backbone} (tensor shapes differ): is the file for a different backbone? "
            f"{str(err).splitlines()[1].strip() if len(str(err).splitlines()) > 1 else err}"
        ) from err
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing:
        raise PretrainedWeightsError(
            f"weights do not fit {backbone}: {len(missing)} backbone tensors missing (e.g. {missing[:3]}). "
            "Is the file for a different backbone?"
        )
