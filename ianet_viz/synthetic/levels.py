"""Harder synthetic sets for the question "where does IA help?": two dials, misalignment and confusability.

The paper's argument (Hou et al., CVPR 2019, Sec. 1 and Fig. 1) is that fixed receptive fields do not
follow body parts when pose, scale and the detection box vary; adaptive ones do. Its accuracy claim is
Market-1501, where many people dress alike and differ in small parts. The default generator gives
neither in quantity: most boxes are good, and identities differ in the colours of whole garments,
which a global pool finds wherever they are. A :class:`Level` turns both dials:

* **misalignment** (:data:`MISALIGNMENT`), how the detection box frames the person:
  ``framed`` (every box good), ``everyday`` (the default generator: mostly good boxes, some shrunk,
  cut or shifted) and ``misframed`` (every box drawn badly: scale 0.55-1.2, horizontal offset with
  sigma 0.15, vertical offset within +-0.15, so heads and feet are cut and people are small and
  off-centre). Pose, viewpoint, clutter and occluders are the generator's at every level.
* **confusability** (``group``): identities come in groups of ``group`` people who share their main
  garments (upper and lower colours, patterns, sleeves, trouser style), skin and build, and differ
  only in small parts: shoes, hair (colour and style), bag (side and colour) and hat. ``group=1`` is
  the default generator's independent identities. Groups never straddle the train/test split.

``generate_dataset(..., level=Level(...))`` writes such a set; the level goes into its manifest.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Dict

import numpy as np

from .people import Framing, Identity, sample_framing, sample_identity

#: the garments a confusable group shares (every other attribute is drawn per person)
SHARED_FIELDS = ("skin", "skin_name", "upper_color", "upper_color_name", "upper_color2", "upper_color2_name",
                 "upper_pattern", "sleeves", "lower_color", "lower_color_name", "lower_color2", "lower_color2_name",
                 "lower_pattern", "lower_style", "build", "stature")
#: what tells the members of a group apart
SMALL_PARTS = ("shoes", "hair", "hair_style", "bag", "bag_color", "hat", "hat_color")


def framed(rng: np.random.Generator) -> Framing:
    """A good box for everyone: the person nearly fills it, centred."""
    return Framing(float(rng.uniform(0.86, 0.96)), float(rng.normal(0.0, 0.02)), float(rng.normal(0.0, 0.01)))


def misframed(rng: np.random.Generator) -> Framing:
    """A bad box for everyone: scale 0.55-1.2, offsets of sigma 0.15 sideways and up to 0.15 vertically."""
    scale = float(rng.uniform(0.55, 1.2))
    dx = float(np.clip(rng.normal(0.0, 0.15), -0.35, 0.35))
    return Framing(scale, dx, float(rng.uniform(-0.15, 0.15)))


#: misalignment levels, from well framed to strongly misaligned
MISALIGNMENT: Dict[str, Callable[[np.random.Generator], Framing]] = {
    "framed": framed, "everyday": sample_framing, "misframed": misframed,
}


@dataclass(frozen=True)
class Level:
    """One setting of the two dials: ``misalignment`` (a key of :data:`MISALIGNMENT`) and ``group``
    (how many people share their main garments; 1 = independent identities)."""

    misalignment: str = "everyday"
    group: int = 1

    def __post_init__(self):
        if self.misalignment not in MISALIGNMENT:
            raise ValueError(f"Level.misalignment must be one of {tuple(MISALIGNMENT)}, got {self.misalignment!r}")
        if isinstance(self.group, bool) or not isinstance(self.group, int) or self.group < 1:
            raise ValueError(f"Level.group must be an int >= 1 (people per confusable group), got {self.group!r}")

    @property
    def name(self) -> str:
        return f"{self.misalignment}-g{self.group}"

    def framing(self, rng: np.random.Generator) -> Framing:
        return MISALIGNMENT[self.misalignment](rng)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def group_of(pid: int, n_train: int, group: int) -> tuple:
    """The confusable group of ``pid`` (1-based): counted within its split, so no group straddles it."""
    split, first = (0, 1) if pid <= n_train else (1, n_train + 1)
    return split, (pid - first) // group


def confusable_identity(seed: int, pid: int, n_train: int, group: int) -> Identity:
    """Identity ``pid`` of a set whose people come in groups of ``group``: the group's main garments,
    the person's own small parts. ``group=1`` is the default generator's identity."""
    own = sample_identity(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, pid))))
    if group == 1:
        return own
    split, g = group_of(pid, n_train, group)
    shared = sample_identity(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(3, split, g))))
    return dataclasses.replace(own, **{k: getattr(shared, k) for k in SHARED_FIELDS})
