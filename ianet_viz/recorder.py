"""The only owner of hooks: the relation maps, feature-map shapes and SIA inputs of a forward pass.

In the style of pytorch-grad-cam and torch-cam: :class:`RelationRecorder` is a context manager that
registers forward hooks on the ``Tap`` submodules, stores detached tensors, and removes every hook
in ``finally``. While it is open, the SIA/CIA modules it listens to build their maps (their
``listeners`` count); otherwise they take the fast paths.

One-call helpers on top of it: :func:`record` (maps and shapes of one eval-mode pass),
:func:`sia_inputs` (the feature map each SIA sees) and :func:`sia_blocks` (which blocks have an SIA).
"""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .modules import CIA, SIA, IABlock, Tap, _Taps

#: The SIA maps of the paper's IA block (K = 1, 2, 3), the default of :func:`record`.
SIA_KEYS = ("S_A_1", "S_A_2", "S_A_3", "S_A", "S_L", "S")


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
    * ``rec.inputs[block]`` (with ``inputs=True``): the feature map ``F`` the block's SIA sees,
      float32; Fig. 4 recomputes ``S^A_K`` from it for context sizes the model was not built with.
      ``rec.cia_inputs[block]``: the same for the block's CIA (what eq. 9's residual ratio needs).
    * ``keys``: record only these keys (maps are large: ``B * M^2`` floats each); maps that no
      recorder asks for are not even computed (``keys=()`` records no map at all).
    * ``cpu``: move stored tensors to the CPU (default), freeing accelerator memory.
    Each forward pass overwrites what the previous one stored.
    """

    def __init__(self, model: nn.Module, keys: Optional[Iterable[str]] = None, cpu: bool = True,
                 inputs: bool = False):
        self.model = model
        self.keys = None if keys is None else set(keys)
        self.cpu = cpu
        self.record_inputs = inputs
        self.maps: Dict[str, Dict[str, torch.Tensor]] = {}
        self.shapes: Dict[str, Tuple[int, int]] = {}
        self.inputs: Dict[str, torch.Tensor] = {}
        self.cia_inputs: Dict[str, torch.Tensor] = {}
        self._handles = []
        self._listening: List[_Taps] = []

    def _store(self, block: str, key: str, tensor: torch.Tensor) -> None:
        t = tensor.detach()
        self.maps.setdefault(block, {})[key] = t.cpu() if self.cpu else t

    def _store_input(self, store: Dict[str, torch.Tensor], block: str, f: torch.Tensor) -> None:
        t = f.detach().float()
        store[block] = t.cpu() if self.cpu else t

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
                    if isinstance(m, _Taps) and any(self.keys is None or t.key in self.keys for t in m.taps.values()):
                        m.listeners += 1  # its maps are wanted while this recorder is open
                        self._listening.append(m)
                    self._handles.append(m.register_forward_pre_hook(
                        lambda mod, inp, block=block: self.shapes.__setitem__(block, tuple(inp[0].shape[-2:]))))
                    if self.record_inputs and isinstance(m, (SIA, CIA)):
                        store = self.inputs if isinstance(m, SIA) else self.cia_inputs
                        self._handles.append(m.register_forward_pre_hook(
                            lambda mod, inp, block=block, store=store: self._store_input(store, block, inp[0])))
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
        for m in self._listening:
            m.listeners -= 1
        self._listening.clear()

    def __exit__(self, *exc) -> None:
        self.remove()

    def clear(self) -> None:
        self.maps.clear()
        self.shapes.clear()
        self.inputs.clear()
        self.cia_inputs.clear()


def model_device(model: nn.Module) -> torch.device:
    """Where the model's parameters are (the CPU for a model without any)."""
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def sia_blocks(model: nn.Module) -> List[str]:
    """Names of the IA blocks of ``model`` that contain an SIA (whose relation maps exist)."""
    blocks = getattr(model, "ia_blocks", None)
    if blocks is None:
        raise ValueError(
            f"{type(model).__name__} has no ia_blocks; pass an IANet from ianet_viz.build_ianet(ia_stages=(2, 3))"
        )
    names = [n for n, b in blocks.items() if getattr(b, "sia", None) is not None]
    if not names:
        raise ValueError("the model has no SIA block (arrangement 'cia' or ia_stages=()): nothing to visualise")
    return names


@torch.no_grad()
def _eval_pass(model: nn.Module, x: torch.Tensor, device, **recorder_kw) -> RelationRecorder:
    """One eval-mode forward pass under a recorder; the model's train/eval mode is restored."""
    device = model_device(model) if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    try:
        with RelationRecorder(model, **recorder_kw) as rec:
            model(x.to(device))
    finally:
        model.train(was_training)
    return rec


def record(
    model: nn.Module, x: torch.Tensor, keys: Optional[Iterable[str]] = SIA_KEYS, device=None
) -> Tuple[Dict[str, Dict[str, torch.Tensor]], Dict[str, Tuple[int, int]]]:
    """One eval-mode forward pass under :class:`RelationRecorder`: ``(maps, shapes)`` on the CPU."""
    rec = _eval_pass(model, x, device, keys=keys)
    return rec.maps, rec.shapes


def sia_inputs(model: nn.Module, x: torch.Tensor, blocks: Optional[Sequence[str]] = None,
               device=None) -> Dict[str, torch.Tensor]:
    """The feature map ``F`` each SIA sees (its input), per block, ``[N, C, H, W]`` float32 on the CPU.

    No map is built (the recorder records no key), so this costs one plain forward pass.
    """
    blocks = sia_blocks(model) if blocks is None else list(blocks)
    rec = _eval_pass(model, x, device, keys=(), inputs=True)
    return {name: rec.inputs[name] for name in blocks}


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
