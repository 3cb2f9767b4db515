"""nn.Modules around the equations: SIA, CIA and the IA block (eq. 9: ``Y = BN(E) + F``).

Every relation map passes through a named identity ``Tap`` submodule. A tap does nothing, but
forward hooks (``RelationRecorder``) and ``torchvision.models.feature_extraction`` can both see
its output by name, e.g. ``ia_blocks.stage3.sia.taps.S_A_K2`` (the map "S_A_2", S^A for K=2).
The maps are built only while a recorder listens (``SIA.listeners``/``CIA.listeners``, set by the
recorder); otherwise SIA and CIA take the fast paths of :mod:`ianet_viz.kernels`.
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
from torch import nn

from . import functional as Fn

ARRANGEMENTS = ("sia", "cia", "sia+cia", "cia+sia", "parallel")


def _is_fx_tracing() -> bool:
    from torch.fx import _symbolic_trace as st

    check = getattr(st, "is_fx_symbolic_tracing", None) or getattr(st, "is_fx_tracing", None)
    return bool(check and check())


# torch.fx treats these as leaves: tracing records one call instead of descending into the
# shape-dependent shifted sums, and the taps after them still become named graph nodes.
@torch.fx.wrap
def _sia_op(f, ks, sigma, scale, fusion, use_location, use_appearance, multi, need_maps, relation):
    return Fn.sia(f, ks, sigma, scale, fusion, use_location, use_appearance, multi, need_maps, relation)


@torch.fx.wrap
def _cia_op(f, scale, need_map):
    return Fn.cia(f, scale, need_map)


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
    """Spatial interaction-aggregation block (eq. 1-6, 9): ``Y = BN(F S^T) + F``."""

    def __init__(
        self,
        channels: int,
        ks: Sequence[int] = (1, 2, 3),
        sigma=(5.0, 10.0),
        scale: Optional[float] = None,
        fusion: str = "renorm",
        multi: str = "prod",
        use_appearance: bool = True,
        use_location: bool = True,
        relation: str = "dot",
        learn_scale: bool = False,
        gate_init: float = 0.0,
    ):
        super().__init__()
        self.ks = tuple(int(k) for k in ks) if use_appearance else ()
        self.sigma = tuple(float(s) for s in sigma)
        self.scale, self.fusion, self.multi = scale, fusion, multi
        self.use_appearance, self.use_location = use_appearance, use_location
        # validate once at construction, with a tiny map, so a bad option fails early and clearly
        Fn.sia(torch.zeros(1, 1, 2, 2), self.ks, self.sigma, scale, fusion, use_location, use_appearance, multi,
               relation=relation)
        self.relation = relation
        # a learnable temperature (cosine relation) is stored as its log, so it stays positive
        if learn_scale:
            if relation != "cosine":
                raise ValueError("learn_scale=True needs relation='cosine' (a learnable temperature of the "
                                 "cosine relation); the dot relation's scale is 1/sqrt(C) by design")
            init = Fn.COSINE_TEMPERATURE if scale is None else float(scale)
            self.log_scale = nn.Parameter(torch.tensor(math.log(init)))
        else:
            self.log_scale = None
        keys = [f"S_A_{k}" for k in self.ks] + (["S_A"] if use_appearance else [])
        keys += (["S_L"] if use_location else []) + ["S"]
        # module names avoid a trailing "_<digits>", which torch.fx/torchvision read as a repeat count
        self.taps = nn.ModuleDict({k.replace("S_A_", "S_A_K"): Tap(k) for k in keys})
        self.bn = _zero_bn(channels, gate_init)

    def logit_scale(self):
        """The scale SIA applies to its logits: the learnable temperature when there is one."""
        return self.log_scale.exp() if self.log_scale is not None else self.scale

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
        e, maps = _sia_op(
            f, self.ks, self.sigma, self.logit_scale(), self.fusion, self.use_location, self.use_appearance,
            self.multi, wanted, self.relation,
        )
        if wanted:
            for tap in self.taps.values():
                tap(maps[tap.key])
        return self.bn(e)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.residual(f) + f

    def extra_repr(self) -> str:
        return (f"ks={self.ks}, sigma={self.sigma}, scale={self.scale}, fusion={self.fusion!r}, "
                f"multi={self.multi!r}, appearance={self.use_appearance}, location={self.use_location}, "
                f"relation={self.relation!r}, learn_scale={self.log_scale is not None}")


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

    def __init__(
        self,
        channels: int,
        arrangement: str = "sia+cia",
        ks: Sequence[int] = (1, 2, 3),
        sigma=(5.0, 10.0),
        sia_scale: Optional[float] = None,
        cia_scale: Optional[float] = None,
        fusion: str = "renorm",
        multi: str = "prod",
        use_appearance: bool = True,
        use_location: bool = True,
        name: str = "block",
        relation: str = "dot",
        learn_scale: bool = False,
        gate_init: float = 0.0,
    ):
        super().__init__()
        if arrangement not in ARRANGEMENTS:
            raise ValueError(f"arrangement must be one of {', '.join(map(repr, ARRANGEMENTS))}; got {arrangement!r}")
        self.arrangement, self.block_name = arrangement, name
        self.sia = (
            SIA(channels, ks, sigma, sia_scale, fusion, multi, use_appearance, use_location, relation, learn_scale,
                gate_init)
            if "sia" in arrangement or arrangement == "parallel" else None
        )
        self.cia = CIA(channels, cia_scale, gate_init) if "cia" in arrangement or arrangement == "parallel" else None
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
