"""Who is drawn and how: identities (attributes), poses and framings (the nuisances of Fig. 1)."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np

from .parts import VIEWS


# ----------------------------------------------------------------------------
# Palettes (RGB)
# ----------------------------------------------------------------------------

CLOTH_COLORS: Dict[str, Tuple[int, int, int]] = {
    "black": (32, 32, 36),
    "white": (232, 232, 226),
    "grey": (130, 130, 132),
    "darkgrey": (72, 72, 78),
    "navy": (30, 42, 92),
    "blue": (40, 92, 190),
    "lightblue": (128, 178, 224),
    "red": (192, 32, 38),
    "darkred": (112, 22, 32),
    "pink": (232, 140, 172),
    "purple": (112, 52, 142),
    "green": (42, 122, 62),
    "olive": (112, 116, 52),
    "yellow": (232, 200, 52),
    "orange": (232, 122, 32),
    "brown": (112, 72, 42),
    "beige": (212, 192, 152),
    "khaki": (172, 152, 102),
}
_UPPER_WEIGHTS = {name: 1.0 for name in CLOTH_COLORS}
_UPPER_WEIGHTS.update(black=2.5, white=2.0, grey=1.5, darkgrey=1.5, navy=1.5, blue=1.5)
_LOWER_WEIGHTS = {name: 0.35 for name in CLOTH_COLORS}
_LOWER_WEIGHTS.update(black=4.0, navy=2.5, blue=2.5, darkgrey=2.0, grey=1.5, khaki=1.5,
                      beige=1.0, brown=1.0, white=0.8, lightblue=1.0)
SKIN_COLORS: Dict[str, Tuple[int, int, int]] = {
    "light": (246, 214, 188), "fair": (238, 192, 160), "medium": (212, 160, 120),
    "olive": (186, 134, 92), "brown": (146, 96, 62), "dark": (96, 62, 40),
}
HAIR_COLORS: Dict[str, Tuple[int, int, int]] = {
    "black": (26, 22, 20), "darkbrown": (62, 40, 26), "brown": (112, 76, 42),
    "blonde": (206, 174, 104), "grey": (156, 154, 150), "red": (152, 62, 30),
}
SHOE_COLORS: Dict[str, Tuple[int, int, int]] = {
    "black": (28, 28, 30), "white": (236, 236, 232), "brown": (92, 58, 34),
    "grey": (120, 120, 124), "blue": (40, 70, 150), "red": (170, 36, 40),
}
UPPER_PATTERNS = ("plain", "stripes", "checks", "jacket")
LOWER_PATTERNS = ("plain", "stripes", "checks")
LOWER_STYLES = ("trousers", "shorts", "skirt")
SLEEVES = ("long", "short")
HAIR_STYLES = ("short", "long", "bald")
BAGS = ("none", "left", "right")


def _choice(rng: np.random.Generator, options: Sequence, p: Optional[Sequence[float]] = None):
    if p is not None:
        p = np.asarray(p, dtype=float)
        p = p / p.sum()
    return options[int(rng.choice(len(options), p=p))]


def _weighted_name(rng: np.random.Generator, weights: Dict[str, float], exclude: Iterable[str] = ()):
    names = [n for n in weights if n not in set(exclude)]
    return _choice(rng, names, [weights[n] for n in names])


def _jitter(rng: np.random.Generator, rgb: Tuple[int, int, int], amount: int = 12) -> Tuple[int, int, int]:
    d = rng.integers(-amount, amount + 1, size=3)
    return tuple(int(np.clip(c + x, 0, 255)) for c, x in zip(rgb, d))


# ----------------------------------------------------------------------------
# Identity, pose, framing
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Identity:
    """Appearance attributes of one synthetic person (colours are RGB tuples).

    The ``*_name`` fields give the palette entry each colour was jittered from,
    handy for attribute-based analysis in the notebooks.
    """

    skin: Tuple[int, int, int] = SKIN_COLORS["fair"]
    skin_name: str = "fair"
    hair: Tuple[int, int, int] = HAIR_COLORS["black"]
    hair_name: str = "black"
    hair_style: str = "short"  # short | long | bald
    upper_color: Tuple[int, int, int] = CLOTH_COLORS["red"]
    upper_color_name: str = "red"
    upper_color2: Tuple[int, int, int] = CLOTH_COLORS["white"]
    upper_color2_name: str = "white"
    upper_pattern: str = "plain"  # plain | stripes | checks | jacket (colour2 = shirt)
    sleeves: str = "long"  # long | short
    lower_color: Tuple[int, int, int] = CLOTH_COLORS["navy"]
    lower_color_name: str = "navy"
    lower_color2: Tuple[int, int, int] = CLOTH_COLORS["black"]
    lower_color2_name: str = "black"
    lower_pattern: str = "plain"  # plain | stripes | checks
    lower_style: str = "trousers"  # trousers | shorts | skirt
    shoes: Tuple[int, int, int] = SHOE_COLORS["black"]
    shoes_name: str = "black"
    bag: str = "none"  # none | left | right (the person's left / right)
    bag_color: Tuple[int, int, int] = CLOTH_COLORS["brown"]
    bag_color_name: str = "brown"
    hat: bool = False
    hat_color: Tuple[int, int, int] = CLOTH_COLORS["black"]
    hat_color_name: str = "black"
    build: float = 1.0  # body width factor
    stature: float = 1.0  # relative height inside the box

    def __post_init__(self):
        checks = (
            ("hair_style", HAIR_STYLES), ("upper_pattern", UPPER_PATTERNS), ("sleeves", SLEEVES),
            ("lower_pattern", LOWER_PATTERNS), ("lower_style", LOWER_STYLES), ("bag", BAGS),
        )
        for name, allowed in checks:
            if getattr(self, name) not in allowed:
                raise ValueError(f"Identity.{name} must be one of {allowed}, got {getattr(self, name)!r}")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}

    @classmethod
    def from_dict(cls, d: dict) -> "Identity":
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names}
        return cls(**kw)


def sample_identity(rng: Optional[np.random.Generator] = None) -> Identity:
    """Draw a random :class:`Identity` from ``rng`` (a ``np.random.Generator``)."""
    rng = np.random.default_rng() if rng is None else rng
    skin_name = _choice(rng, list(SKIN_COLORS))
    hair_name = _choice(rng, list(HAIR_COLORS), [5, 4, 3, 2, 1.2, 0.8])
    hair_style = _choice(rng, HAIR_STYLES, [0.62, 0.32, 0.06])
    up = _weighted_name(rng, _UPPER_WEIGHTS)
    up2 = _weighted_name(rng, _UPPER_WEIGHTS, exclude=[up])
    upper_pattern = _choice(rng, UPPER_PATTERNS, [0.55, 0.17, 0.13, 0.15])
    sleeves = _choice(rng, SLEEVES, [0.65, 0.35])
    lo = _weighted_name(rng, _LOWER_WEIGHTS)
    lo2 = _weighted_name(rng, _LOWER_WEIGHTS, exclude=[lo])
    lower_pattern = _choice(rng, LOWER_PATTERNS, [0.76, 0.12, 0.12])
    lower_style = _choice(rng, LOWER_STYLES, [0.7, 0.17, 0.13])
    shoes_name = _choice(rng, list(SHOE_COLORS), [4, 3, 2, 1.5, 1, 0.7])
    bag = _choice(rng, BAGS, [0.45, 0.275, 0.275])
    bag_name = _weighted_name(rng, {n: (3.0 if n in ("black", "brown", "darkgrey") else 1.0) for n in CLOTH_COLORS})
    hat = bool(rng.random() < 0.22)
    hat_name = _weighted_name(rng, _UPPER_WEIGHTS)
    return Identity(
        skin=_jitter(rng, SKIN_COLORS[skin_name], 8), skin_name=skin_name,
        hair=_jitter(rng, HAIR_COLORS[hair_name], 8), hair_name=hair_name, hair_style=hair_style,
        upper_color=_jitter(rng, CLOTH_COLORS[up]), upper_color_name=up,
        upper_color2=_jitter(rng, CLOTH_COLORS[up2]), upper_color2_name=up2,
        upper_pattern=upper_pattern, sleeves=sleeves,
        lower_color=_jitter(rng, CLOTH_COLORS[lo]), lower_color_name=lo,
        lower_color2=_jitter(rng, CLOTH_COLORS[lo2]), lower_color2_name=lo2,
        lower_pattern=lower_pattern, lower_style=lower_style,
        shoes=_jitter(rng, SHOE_COLORS[shoes_name], 8), shoes_name=shoes_name,
        bag=bag, bag_color=_jitter(rng, CLOTH_COLORS[bag_name]), bag_color_name=bag_name,
        hat=hat, hat_color=_jitter(rng, CLOTH_COLORS[hat_name]), hat_color_name=hat_name,
        build=float(round(rng.uniform(0.88, 1.14), 3)),
        stature=float(round(rng.uniform(0.94, 1.04), 3)),
    )


@dataclass(frozen=True)
class Pose:
    """Body pose.  Angles are in degrees.

    ``view``: "front" (facing the camera), "back", "left" or "right" (facing the
    image's left / right).  ``phase`` is the walking phase in radians; the legs
    swing by ``stride`` and the arms by ``arm_swing`` in anti-phase.
    """

    view: str = "front"
    phase: float = 0.0
    stride: float = 24.0
    arm_swing: float = 20.0
    arm_spread: float = 8.0
    knee_bend: float = 30.0
    elbow_bend: float = 18.0
    lean: float = 0.0

    def __post_init__(self):
        if self.view not in VIEWS:
            raise ValueError(f"Pose.view must be one of {VIEWS}, got {self.view!r}")


def sample_pose(rng: Optional[np.random.Generator] = None) -> Pose:
    """Draw a random walking :class:`Pose` (view, phase, limb angles, lean)."""
    rng = np.random.default_rng() if rng is None else rng
    view = _choice(rng, VIEWS, [0.3, 0.3, 0.2, 0.2])
    walking = rng.random() < 0.85
    return Pose(
        view=view,
        phase=float(rng.uniform(0.0, 2.0 * math.pi)),
        stride=float(rng.uniform(14.0, 32.0) if walking else rng.uniform(0.0, 6.0)),
        arm_swing=float(rng.uniform(10.0, 32.0) if walking else rng.uniform(0.0, 6.0)),
        arm_spread=float(rng.uniform(3.0, 16.0)),
        knee_bend=float(rng.uniform(15.0, 45.0) if walking else rng.uniform(0.0, 8.0)),
        elbow_bend=float(rng.uniform(5.0, 40.0)),
        lean=float(np.clip(rng.normal(0.0, 3.0), -8.0, 8.0)),
    )


@dataclass(frozen=True)
class Framing:
    """Where the detection box puts the person.

    ``scale``: person height / image height (> 1 cuts the person);
    ``dx``: horizontal offset of the person's centre, fraction of the width;
    ``dy``: vertical offset of the person's centre, fraction of the height
    (negative moves the person up, cutting the head when large).
    """

    scale: float = 0.9
    dx: float = 0.0
    dy: float = 0.0


def sample_framing(rng: Optional[np.random.Generator] = None) -> Framing:
    """Draw an imperfect detection box: mostly good, sometimes shrunk or cut."""
    rng = np.random.default_rng() if rng is None else rng
    u = rng.random()
    if u < 0.68:  # a good box
        return Framing(float(rng.uniform(0.8, 0.97)), float(rng.normal(0, 0.05)), float(rng.normal(0, 0.02)))
    if u < 0.80:  # box too large: the person is small and off-centre
        s = float(rng.uniform(0.55, 0.8))
        lim = (1 - s) / 2
        return Framing(s, float(rng.normal(0, 0.1)), float(rng.uniform(-lim, lim)))
    if u < 0.91:  # box too small vertically: head or feet are cut
        s = float(rng.uniform(0.95, 1.25))
        sign = 1.0 if rng.random() < 0.6 else -1.0  # more often cut at the feet
        return Framing(s, float(rng.normal(0, 0.05)), sign * float(rng.uniform(0.04, 0.16)))
    s = float(rng.uniform(0.8, 1.0))  # box shifted sideways: one side is cut
    sign = 1.0 if rng.random() < 0.5 else -1.0
    return Framing(s, sign * float(rng.uniform(0.15, 0.3)), float(rng.normal(0, 0.02)))
