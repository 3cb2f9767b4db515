"""nn.Modules around the equations: SIA, CIA and the IA block (eq. 9: ``Y = BN(E) + F``).

Every relation map passes through a named identity ``Tap`` submodule. A tap does nothing, but
forward hooks (``RelationRecorder``) and ``torchvision.models.feature_extraction`` can both see
its output by name, e.g. ``ia_blocks.stage3.sia.taps.S_A_K2`` (the map "S_A_2", S^A for K=2).
The maps are built only while a recorder listens (``SIA.listeners``/``CIA.listeners``, set by the
recorder); otherwise SIA and CIA take the fast paths of :mod:`ianet_viz.kernels`.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional

import torch
from torch import nn

from . import functional as Fn
from .options import ARRANGEMENTS, IAOptions, ia_options  # noqa: F401  (ARRANGEMENTS: the modules' API)


def _is_fx_tracing() -> bool:
    from torch.fx import _symbolic_trace as st

    check = getattr(st, "is_fx_symbolic_tracing", None) or getattr(st, "is_fx_tracing", None)
    return bool(check and check())


# torch.fx treats these as leaves: tracing records one call instead of descending into the
# shape-dependent shifted sums, and the taps after them still become named graph nodes.
@torch.fx.wrap
def _sia_op(f, options, learned_scale, need_maps):
    return Fn.sia(f, options, need_maps=need_maps, learned_scale=learned_scale)


@torch.fx.wrap
def _cia_op(f, scale, need_map):
    return Fn.cia(f, scale=scale, need_map=need_map)


class Tap(nn.Identity):
    """A named no-op that exposes a tensor (a relation map) to hooks and feature extractors."""

    def __init__(self, key: str):
        super().__init__()
        self.key = key

    def extra_repr(self) -> str:
        return repr(self.key)


def _zero_bn(channels: int, gate_init: float = 0.0) -> nn.BatchNorm2d:
    """BatchNorm whose weight and bias start at 0, so that ``BN(E) = 0`` and the block is the identity.

    ``gate_init`` (an ablation, not the paper) starts the weight at that value instead: the block
    then adds ``gate_init`` times the normalised aggregate from the first step.
    """
    bn = nn.BatchNorm2d(channels)
    nn.init.constant_(bn.weight, float(gate_init))
    nn.init.zeros_(bn.bias)
    return bn


class _Taps(nn.Module):
    """Base class: maps are computed only when someone listens.

    ``listeners`` counts the recorders that read this module's taps; :class:`RelationRecorder`
    raises it on entry and lowers it on exit. torch.fx tracing (``tap_feature_extractor``) also
    takes the path that builds the maps, so the taps become graph nodes.
    """

    taps: nn.ModuleDict
    listeners: int = 0

    def _maps_wanted(self) -> bool:
        return self.listeners > 0 or _is_fx_tracing()


class SIA(_Taps):
    """Spatial interaction-aggregation block (eq. 1-6, 9): ``Y = BN(F S^T) + F``.

    ``options``: an :class:`~ianet_viz.options.IAOptions`, or single options by name
    (``SIA(256, ks=(1,), sigma=(10, 20))``); ``sigma=None`` is the paper's stage-3 pair.
    """

    def __init__(self, channels: int, options: Optional[IAOptions] = None, **values):
        super().__init__()
        o = ia_options(options, **values)
        if isinstance(o.sigma, dict):
            raise ValueError(f"an SIA block takes one sigma pair, got {o.sigma!r}; a {{stage: pair}} dict is for build_ianet")
        self.options = dataclasses.replace(o, sigma=o.sigma or Fn.STAGE3_SIGMA)
        self.ks = self.options.ks if o.use_appearance else ()
        self.sigma = self.options.sigma
        # a learnable temperature (cosine relation) is stored as its log, so it stays positive
        init = Fn.COSINE_TEMPERATURE if o.sia_scale is None else float(o.sia_scale)
        self.log_scale = nn.Parameter(torch.tensor(math.log(init))) if o.sia_learn_scale else None
        keys = [f"S_A_{k}" for k in self.ks] + (["S_A"] if o.use_appearance else [])
        keys += (["S_L"] if o.use_location else []) + ["S"]
        # module names avoid a trailing "_<digits>", which torch.fx/torchvision read as a repeat count
        self.taps = nn.ModuleDict({k.replace("S_A_", "S_A_K"): Tap(k) for k in keys})
        self.bn = _zero_bn(channels, o.gate_init)

    # the options a reader of a trained model asks about, by their short names
    relation = property(lambda self: self.options.sia_relation)
    scale = property(lambda self: self.options.sia_scale)
    fusion = property(lambda self: self.options.fusion)
    multi = property(lambda self: self.options.multi)
    use_appearance = property(lambda self: self.options.use_appearance)
    use_location = property(lambda self: self.options.use_location)

    def logit_scale(self):
        """The scale SIA applies to its logits: the learnable temperature when there is one."""
        return self.log_scale.exp() if self.log_scale is not None else self.options.sia_scale

    def scale_text(self) -> str:
        """The logit scale in words, for every relation: ``logit_scale()`` is a tensor (learned
        temperature), a number, or ``None`` (the paper's dot relation with the default scale), so
        printing it needs no ``.detach()`` guesswork."""
        s = self.logit_scale()
        if isinstance(s, torch.Tensor):
            return f"temperature {float(s.detach()):.2f} (learned)"
        if self.relation == "cosine":
            return f"temperature {Fn.COSINE_TEMPERATURE if s is None else float(s):g}"
        return "scale 1/(sqrt(C) K^2)" if s is None else f"scale {float(s):g}"

    def residual(self, f: torch.Tensor) -> torch.Tensor:
        """``BN(E_S)``: the part that the block adds to its input."""
        wanted = self._maps_wanted()  # a Python bool, also while torch.fx traces
        learned = self.log_scale.exp() if self.log_scale is not None else None
        e, maps = _sia_op(f, self.options, learned, wanted)
        if wanted:
            for tap in self.taps.values():
                tap(maps[tap.key])
        return self.bn(e)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.residual(f) + f

    def extra_repr(self) -> str:
        o = self.options
        return (f"ks={self.ks}, sigma={self.sigma}, sia_scale={o.sia_scale}, fusion={o.fusion!r}, "
                f"multi={o.multi!r}, use_appearance={o.use_appearance}, use_location={o.use_location}, "
                f"sia_relation={o.sia_relation!r}, sia_learn_scale={o.sia_learn_scale}")


class CIA(_Taps):
    """Channel interaction-aggregation block (eq. 7-9): ``Y = BN(C F) + F``."""

    def __init__(self, channels: int, scale: Optional[float] = None, gate_init: float = 0.0):
        super().__init__()
        self.scale = scale
        self.taps = nn.ModuleDict({"C": Tap("C")})
        self.bn = _zero_bn(channels, gate_init)

    def residual(self, f: torch.Tensor) -> torch.Tensor:
        wanted = self._maps_wanted()
        e, c_map = _cia_op(f, self.scale, wanted)
        if wanted:
            self.taps["C"](c_map)
        return self.bn(e)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.residual(f) + f


class IABlock(nn.Module):
    """An interaction-aggregation block: SIA and/or CIA in one of the Tab. 4d arrangements.

    * ``"sia+cia"`` (the paper's IA block): ``CIA(SIA(F))``, each with its own residual.
    * ``"cia+sia"``: the reverse order.
    * ``"parallel"``: ``F + BN_S(E_S(F)) + BN_C(E_C(F))``.
    * ``"sia"`` / ``"cia"``: one of the two.

    ``cia_out`` taps the output of the CIA part (the feature map shown as channel maps in Fig. 8).
    """

    def __init__(self, channels: int, options: Optional[IAOptions] = None, name: str = "block", **values):
        super().__init__()
        o = ia_options(options, **values)
        self.options, self.arrangement, self.block_name = o, o.arrangement, name
        self.sia = SIA(channels, o) if o.has_sia else None
        self.cia = CIA(channels, o.cia_scale, o.gate_init) if o.has_cia else None
        self.taps = nn.ModuleDict({"cia_out": Tap("cia_out")}) if self.cia is not None else nn.ModuleDict()

    def _cia_out(self, y: torch.Tensor) -> torch.Tensor:
        return self.taps["cia_out"](y)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        a = self.arrangement
        if a == "sia":
            return self.sia(f)
        if a == "cia":
            return self._cia_out(self.cia(f))
        if a == "sia+cia":
            return self._cia_out(self.cia(self.sia(f)))
        if a == "cia+sia":
            return self.sia(self._cia_out(self.cia(f)))
        return self._cia_out(f + self.sia.residual(f) + self.cia.residual(f))

    def extra_repr(self) -> str:
        return f"name={self.block_name!r}, arrangement={self.arrangement!r}"
