"""RelationRecorder: capture the relation maps of every IA block during a forward pass.

In the style of pytorch-grad-cam and torch-cam: a context manager that registers forward hooks on
the ``Tap`` submodules, stores detached tensors, and removes every hook in ``finally``.
"""
from __future__ import annotations

from typing import Dict, Iterable, Optional, Tuple

import torch
from torch import nn

from .modules import CIA, SIA, IABlock, Tap


def _owners(model: nn.Module) -> Dict[str, str]:
    """Module path -> block name for every IABlock, and for SIA/CIA modules not inside one."""
    owners: Dict[str, str] = {}
    for path, m in model.named_modules():
        inside = any(path.startswith(p + ".") or p == "" for p in owners)
        if isinstance(m, IABlock):
            owners[path] = m.block_name
        elif isinstance(m, (SIA, CIA)) and not inside:
            owners[path] = path or type(m).__name__.lower()
    return owners


def _block_of(path: str, owners: Dict[str, str]) -> str:
    """Name of the innermost recorded block that contains module ``path``."""
    prefixes = [p for p in owners if p == "" or path == p or path.startswith(p + ".")]
    return owners[max(prefixes, key=len)]


class RelationRecorder:
    """``with RelationRecorder(model) as rec: model(x)`` then ``rec.maps["stage3"]["S"]``.

    * ``rec.maps[block][key]``: detached tensors; keys ``"S_A_1", ..., "S_A", "S_L", "S"`` (SIA),
      ``"C"`` (CIA) and ``"cia_out"`` (the CIA output feature map).
    * ``rec.shapes[block]``: the ``(H, W)`` of the feature map the block saw, to reshape a row of an
      ``[M, M]`` map into an image.
    * ``keys``: record only these keys (maps are large: ``B * M^2`` floats each); maps that no
      recorder asks for are not even computed.
    * ``cpu``: move stored tensors to the CPU (default), freeing accelerator memory.
    Each forward pass overwrites what the previous one stored.
    """

    def __init__(self, model: nn.Module, keys: Optional[Iterable[str]] = None, cpu: bool = True):
        self.model = model
        self.keys = None if keys is None else set(keys)
        self.cpu = cpu
        self.maps: Dict[str, Dict[str, torch.Tensor]] = {}
        self.shapes: Dict[str, Tuple[int, int]] = {}
        self._handles = []

    def _store(self, block: str, key: str, tensor: torch.Tensor) -> None:
        t = tensor.detach()
        self.maps.setdefault(block, {})[key] = t.cpu() if self.cpu else t

    def __enter__(self) -> "RelationRecorder":
        named = dict(self.model.named_modules())
        blocks = _owners(self.model)
        try:
            for path, m in named.items():
                if isinstance(m, Tap) and (self.keys is None or m.key in self.keys):
                    block = _block_of(path, blocks)
                    self._handles.append(m.register_forward_hook(
                        lambda mod, inp, out, block=block: self._store(block, mod.key, out)))
                elif isinstance(m, (SIA, CIA, IABlock)):  # IABlock too: "parallel" calls sia.residual() directly
                    block = _block_of(path, blocks)
                    self._handles.append(m.register_forward_pre_hook(
                        lambda mod, inp, block=block: self.shapes.__setitem__(block, tuple(inp[0].shape[-2:]))))
        except BaseException:
            self.remove()
            raise
        if not any(isinstance(m, Tap) for m in named.values()):
            self.remove()
            raise ValueError(
                f"{type(self.model).__name__} has no IA blocks to record (no Tap modules); "
                "build it with build_ianet(ia_stages=(2, 3)) or pass an SIA/CIA/IABlock module"
            )
        return self

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def __exit__(self, *exc) -> None:
        self.remove()

    def clear(self) -> None:
        self.maps.clear()
        self.shapes.clear()


def tap_feature_extractor(model: nn.Module, return_nodes):
    """``torchvision.models.feature_extraction.create_feature_extractor`` that keeps the taps.

    Taps must be leaves of the trace (else tracing passes through the identity and the name is
    gone), e.g. ``tap_feature_extractor(model, {"ia_blocks.stage3.sia.taps.S": "S"})``.
    """
    import inspect

    from torchvision.models.feature_extraction import create_feature_extractor

    # IANet.forward's return_features flag is Python control flow: fix it for the trace
    concrete = {"return_features": False} if "return_features" in inspect.signature(model.forward).parameters else None
    extractor = create_feature_extractor(
        model, return_nodes, tracer_kwargs={"leaf_modules": [Tap]}, concrete_args=concrete
    )
    return extractor.train(model.training)  # torchvision returns it in train mode
