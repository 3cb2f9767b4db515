"""The options of an IA block, declared once: :class:`IAOptions`.

``functional.sia``, the modules (``SIA``, ``IABlock``), ``build_ianet``, the training configuration
(``TrainConfig`` carries these fields under the same names), its command line (``--ks``,
``--sia-relation``, ... are generated from them) and the course's named mechanisms all take this one
object, or its fields by name. Each field's ``help`` says which table of the paper it varies.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

from .basics import _check_choice, _check_k, _check_sigma

ARRANGEMENTS = ("sia", "cia", "sia+cia", "cia+sia", "parallel")
FUSIONS = ("renorm", "softmax")
MULTI_FUSIONS = ("prod", "sum", "max", "mean")
RELATIONS = ("dot", "cosine")
#: The location prior's sigma at stage 3 (sigma1 along x, sigma2 along y, in cells): the paper's value,
#: and what :func:`ianet_viz.functional.sia` uses when ``sigma`` is ``None``.
STAGE3_SIGMA = (5.0, 10.0)

#: ``sigma``: ``None`` (each stage's value, :func:`ianet_viz.model.stage_sigma`), one pair for every
#: stage, or ``{stage: pair}``.
Sigma = Union[None, Tuple[float, float], Dict[int, Tuple[float, float]]]


def option(default: Any, help: str, choices: Optional[Sequence[Any]] = None, factory=None, **metadata: Any):
    """A dataclass field with the ``help`` and ``choices`` that its command-line flag shows (``factory``:
    a default computed when the object is made; ``metadata``: more for the flag, e.g. its ``metavar``)."""
    meta = dict(help=help, choices=choices, **metadata)
    return field(default_factory=factory, metadata=meta) if factory else field(default=default, metadata=meta)


@dataclass(frozen=True)
class IAOptions:
    """SIA's options (eq. 1-6 and Tab. 4a-c), CIA's (eq. 7) and the block's arrangement (Tab. 4d, eq. 9).

    Frozen: a model's options cannot change under it; ``dataclasses.replace(opts, ks=(1,))`` makes a
    variant. Values are checked and normalised here, once (``ks`` becomes a tuple of ints).
    """

    arrangement: str = option("sia+cia", "SIA and/or CIA and their order (Tab. 4d)", ARRANGEMENTS)
    ks: Tuple[int, ...] = option((1, 2, 3), "SIA context sizes K of eq. 1 (Tab. 4a)")
    multi: str = option("prod", "multi-context fusion of the S^A_K, eq. 2 (Tab. 4b); mean: the geometric mean",
                        MULTI_FUSIONS)
    fusion: str = option("renorm", "eq. 2 and 5: renormalised product (renorm) or the paper's literal softmax "
                         "of the product (softmax)", FUSIONS)
    use_appearance: bool = option(True, "SIA uses the appearance relation S^A (Tab. 4c; with --no-use-location: "
                                  "appearance only)")
    use_location: bool = option(True, "SIA uses the location prior S^L (Tab. 4c; with --no-use-appearance: "
                                "location only)")
    sigma: Sigma = option(None, "location prior sigma (x, y) in cells for every stage; default: (5, 10) at "
                          "stage 3 of a 256x128 input, scaled with each stage's map (the paper's rule)")
    sia_relation: str = option("dot", "eq. 1 between raw features (dot, the paper) or unit-norm ones "
                               "(cosine x temperature)", RELATIONS)
    sia_scale: Optional[float] = option(None, "SIA logit scale (default 1/(sqrt(C) K^2); with cosine: the "
                                        "temperature, default 10)")
    sia_learn_scale: bool = option(False, "cosine only: one learnable temperature per SIA block")
    cia_scale: Optional[float] = option(None, "CIA logit scale of eq. 7 (default 1/sqrt(M))")
    gate_init: float = option(0.0, "initial weight of the IA blocks' BatchNorm, eq. 9 (0, the paper: a fresh "
                              "block is the identity)")

    def __post_init__(self):
        _check_choice(self.arrangement, ARRANGEMENTS, "arrangement")
        _check_choice(self.multi, MULTI_FUSIONS, "multi")
        _check_choice(self.fusion, FUSIONS, "fusion")
        _check_choice(self.sia_relation, RELATIONS, "sia_relation")
        ks = (self.ks,) if isinstance(self.ks, int) else self.ks
        object.__setattr__(self, "ks", tuple(_check_k(k) for k in ks))
        object.__setattr__(self, "sigma", _normalised_sigma(self.sigma))
        if self.use_appearance and not self.ks:
            raise ValueError("ks must hold at least one context size when use_appearance=True")
        if not (self.use_appearance or self.use_location):
            raise ValueError("SIA needs appearance, location or both: use_appearance and use_location are both False")
        if self.sia_learn_scale and self.sia_relation != "cosine":
            raise ValueError("sia_learn_scale=True needs sia_relation='cosine' (a learnable temperature of the "
                             "cosine relation); the dot relation's scale is 1/sqrt(C) by design")
        for name in ("sia_scale", "cia_scale"):
            value = getattr(self, name)
            if value is not None and not float(value) > 0:
                raise ValueError(f"{name} must be a positive number or None (the default scale), got {value!r}")
        object.__setattr__(self, "gate_init", float(self.gate_init))

    @property
    def has_sia(self) -> bool:
        return self.arrangement != "cia"

    @property
    def has_cia(self) -> bool:
        return self.arrangement != "sia"

    def changes(self) -> Dict[str, Any]:
        """The fields that differ from the paper's block (``IAOptions()``), by name: what a named
        mechanism changes (``TrainConfig(**DEMO_MECHANISM.changes())``)."""
        paper = IAOptions()
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(paper, f.name)}

    def stage_sigma(self, stage: int) -> Optional[Tuple[float, float]]:
        """This option's sigma for ``stage``: the pair given for it, or ``None`` (the stage's default)."""
        if isinstance(self.sigma, dict):
            return self.sigma.get(stage)
        return self.sigma


def ia_options(options: Optional[IAOptions] = None, **values: Any) -> IAOptions:
    """``options`` (default: the paper's block) with the fields named in ``values`` replaced: the one way
    the functions and modules read their options, so ``sia(f, ks=(1,))`` and
    ``sia(f, IAOptions(ks=(1,)))`` mean the same."""
    base = IAOptions() if options is None else options
    if not isinstance(base, IAOptions):
        raise TypeError(f"options must be an IAOptions, got {type(base).__name__}; pass single options by name "
                        "(ks=(1,), sia_relation='cosine', ...)")
    unknown = sorted(set(values) - FIELD_NAMES)
    if unknown:
        raise TypeError(f"unknown IA option(s) {', '.join(unknown)}; the options are: {', '.join(sorted(FIELD_NAMES))}")
    return dataclasses.replace(base, **values) if values else base


def _normalised_sigma(sigma: Any) -> Sigma:
    if sigma is None:
        return None
    if isinstance(sigma, Mapping):  # YAML/JSON may give "2": [10, 20]
        return {int(stage): _check_sigma(pair) for stage, pair in sigma.items()}
    return _check_sigma(sigma)


FIELD_NAMES = frozenset(f.name for f in dataclasses.fields(IAOptions))
