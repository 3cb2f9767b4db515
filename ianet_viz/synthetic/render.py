"""Synthetic pedestrians with per-pixel part masks, in the Market-1501 layout.

Each *identity* is a set of attributes (skin and hair colour, upper and lower
clothing colours and patterns, shoes, bag, hat).  Each *image* of an identity
varies the nuisances the IANet paper targets (Hou et al., CVPR 2019, Fig. 1):

* pose: walking phase, arm and leg angles, front / back / side view, lean;
* scale and offset: imperfect detection boxes that shrink the person or cut the
  head, the feet or one side;
* background clutter (other pedestrians, signs, windows, occluding poles),
  illumination (per-camera gain, tint and gradient, per-image jitter) and blur.

"Cameras" are different backgrounds and lighting.  People are drawn with OpenCV
primitives (ellipses, convex polygons, capsules) into a *material* map; the
image and the part mask are both read from that map, so they agree pixel for
pixel.

Part mask label ids (``PART_LABELS``; hair and hat count as head, hands as arms,
the pelvis and a skirt as legs, the bag strap as bag)::

    0 background
    1 head
    2 torso
    3 arms
    4 legs
    5 shoes
    6 bag

Command line (Market-1501 layout, readable by ``ianet_viz.data.Market1501``)::

    python -m ianet_viz.data.synthetic --output DIR --identities N \
        --images-per-identity K --seed S [--height 256 --width 128] [--cameras 6]

writes::

    DIR/bounding_box_train/0001_c3s2_000012_00.jpg   train identities (first half of the pids)
    DIR/query/0007_c1s4_000151_00.jpg                 test identities: one image per camera
    DIR/bounding_box_test/0007_c5s1_000033_00.jpg     test identities: the rest
    DIR/masks/<subfolder>/<same stem>.png              part masks (uint8 PNG, values = label ids)
    DIR/attributes.json                                identity attributes per pid
    DIR/README.txt                                     layout and label ids
    DIR/manifest.json                                  generation parameters (written last)

Every query image has a gallery image of the same pid from another camera.
The output is byte-identical for a given seed and parameters: every image draws
from its own ``np.random.default_rng(SeedSequence(seed, spawn_key=(2, pid, index)))``,
so the order of work (and the number of worker processes) does not matter.

Python API for notebooks::

    rng = np.random.default_rng(0)
    ident = sample_identity(rng)
    image, mask = render_person(ident, sample_pose(rng), camera=2, rng=rng)
    colorize_mask(mask)                        # RGB visualisation of a mask
    render_sample(ident, pid, index, camera, seed=S)   # exactly what the dataset writer drew
    root = ensure_dataset("data/synthetic", identities=40, images_per_identity=8)

Images are RGB uint8 ``H x W x 3`` in the API; the JPEG files are ordinary colour
JPEGs (converted to BGR for OpenCV's encoder).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import cv2
import numpy as np

__all__ = [
    "PART_LABELS",
    "PART_COLORS",
    "VIEWS",
    "Identity",
    "Pose",
    "Framing",
    "sample_identity",
    "sample_pose",
    "sample_framing",
    "render_person",
    "render_sample",
    "colorize_mask",
    "contact_sheet",
    "generate_dataset",
    "ensure_dataset",
    "main",
]

PART_LABELS: Dict[int, str] = {
    0: "background",
    1: "head",
    2: "torso",
    3: "arms",
    4: "legs",
    5: "shoes",
    6: "bag",
}

#: RGB colour per part label, for visualising masks (``colorize_mask``).
PART_COLORS: Dict[int, Tuple[int, int, int]] = {
    0: (0, 0, 0),
    1: (255, 210, 60),
    2: (220, 40, 40),
    3: (60, 200, 80),
    4: (40, 90, 230),
    5: (230, 120, 230),
    6: (40, 220, 220),
}

VIEWS = ("front", "back", "left", "right")

MIN_HEIGHT = 32
MIN_WIDTH = 16
MAX_CAMERAS = 9  # Market-1501 names hold a single camera digit
MAX_IDENTITIES = 9999  # four-digit pids
JPEG_QUALITY = 90
FORMAT_VERSION = 1
SUBSETS = ("bounding_box_train", "query", "bounding_box_test")

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
    "light": (246, 214, 188),
    "fair": (238, 192, 160),
    "medium": (212, 160, 120),
    "olive": (186, 134, 92),
    "brown": (146, 96, 62),
    "dark": (96, 62, 40),
}
HAIR_COLORS: Dict[str, Tuple[int, int, int]] = {
    "black": (26, 22, 20),
    "darkbrown": (62, 40, 26),
    "brown": (112, 76, 42),
    "blonde": (206, 174, 104),
    "grey": (156, 154, 150),
    "red": (152, 62, 30),
}
SHOE_COLORS: Dict[str, Tuple[int, int, int]] = {
    "black": (28, 28, 30),
    "white": (236, 236, 232),
    "brown": (92, 58, 34),
    "grey": (120, 120, 124),
    "blue": (40, 70, 150),
    "red": (170, 36, 40),
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


# ----------------------------------------------------------------------------
# Materials: what is drawn where (each maps to a part label and a colour)
# ----------------------------------------------------------------------------

M_BG, M_SKIN_HEAD, M_HAIR, M_HAT, M_DARK = 0, 1, 2, 3, 4
M_UPPER, M_SLEEVE_N, M_SLEEVE_F, M_SKIN_ARM_N, M_SKIN_ARM_F = 5, 6, 7, 8, 9
M_LOWER_N, M_LOWER_F, M_SKIN_LEG_N, M_SKIN_LEG_F = 10, 11, 12, 13
M_SHOE_N, M_SHOE_F, M_BAG, M_STRAP, M_OCCLUDER = 14, 15, 16, 17, 18
N_MATERIALS = 19

_MATERIAL_PART = np.zeros(256, np.uint8)
for _m, _p in {
    M_SKIN_HEAD: 1, M_HAIR: 1, M_HAT: 1, M_DARK: 1,
    M_UPPER: 2,
    M_SLEEVE_N: 3, M_SLEEVE_F: 3, M_SKIN_ARM_N: 3, M_SKIN_ARM_F: 3,
    M_LOWER_N: 4, M_LOWER_F: 4, M_SKIN_LEG_N: 4, M_SKIN_LEG_F: 4,
    M_SHOE_N: 5, M_SHOE_F: 5,
    M_BAG: 6, M_STRAP: 6,
}.items():
    _MATERIAL_PART[_m] = _p
_FAR_SHADE = 0.78

_SHIFT = 4  # sub-pixel bits for OpenCV drawing
_ONE = 1 << _SHIFT


class _Painter:
    """Draws in person coordinates (units of person height, x right, y down from
    the top of the head) into a uint8 material map."""

    def __init__(self, mat: np.ndarray, cx: float, top: float, P: float, lean_deg: float):
        self.m = mat
        self.cx, self.top, self.P = cx, top, P
        self.shear = math.tan(math.radians(lean_deg))

    def pt(self, x: float, y: float) -> Tuple[int, int]:
        x = x + (0.98 - y) * self.shear
        return (int(round((self.cx + x * self.P) * _ONE)), int(round((self.top + y * self.P) * _ONE)))

    def r(self, v: float) -> int:
        return max(int(round(v * self.P * _ONE)), _ONE // 2)

    def poly(self, pts, mat: int):
        arr = np.array([self.pt(x, y) for x, y in pts], np.int32)
        cv2.fillConvexPoly(self.m, arr, mat, cv2.LINE_8, _SHIFT)

    def circle(self, c, rad: float, mat: int):
        cv2.circle(self.m, self.pt(*c), self.r(rad), mat, -1, cv2.LINE_8, _SHIFT)

    def ellipse(self, c, ax: float, ay: float, mat: int, angle: float = 0.0, start: float = 0.0, end: float = 360.0):
        cv2.ellipse(self.m, self.pt(*c), (self.r(ax), self.r(ay)), angle, start, end, mat, -1, cv2.LINE_8, _SHIFT)

    def capsule(self, p, q, r1: float, r2: float, mat: int):
        (x1, y1), (x2, y2) = p, q
        dx, dy = x2 - x1, y2 - y1
        n = math.hypot(dx, dy) or 1e-6
        nx, ny = -dy / n, dx / n
        self.poly([(x1 + nx * r1, y1 + ny * r1), (x2 + nx * r2, y2 + ny * r2),
                   (x2 - nx * r2, y2 - ny * r2), (x1 - nx * r1, y1 - ny * r1)], mat)
        self.circle(p, r1, mat)
        self.circle(q, r2, mat)

    def line(self, p, q, width: float, mat: int):
        t = max(1, int(round(width * self.P)))
        cv2.line(self.m, self.pt(*p), self.pt(*q), mat, t, cv2.LINE_8, _SHIFT)


def _lerp(p, q, t):
    return (p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t)


# Body proportions in units of person height (top of head = 0, soles = 1).
_HEAD_Y, _HEAD_RX, _HEAD_RY = 0.068, 0.05, 0.064
_SHOULDER_Y, _HIP_Y = 0.175, 0.52
_THIGH, _SHIN = 0.235, 0.215
_UPPER_ARM, _FOREARM = 0.165, 0.155


def _draw_person(p: _Painter, ident: Identity, pose: Pose) -> None:
    b = ident.build
    view = pose.view
    side = view in ("left", "right")
    d = 1.0 if view == "right" else -1.0  # facing direction for side views
    ph = pose.phase
    rad = math.radians

    # --- legs -------------------------------------------------------------
    def leg_points(sgn: float, psi: float):
        """Hip, knee, ankle for a leg whose phase is psi; sgn = image side (front/back)."""
        swing = rad(pose.stride) * math.sin(psi)
        flex = rad(pose.knee_bend) * max(0.0, math.cos(psi))
        if side:
            hip = (-0.005 * d * sgn, _HIP_Y)
            knee = (hip[0] + d * _THIGH * math.sin(swing), hip[1] + _THIGH * math.cos(swing))
            a = swing - flex
            ankle = (knee[0] + d * _SHIN * math.sin(a), knee[1] + _SHIN * math.cos(a))
        else:
            toward = 1.0 if view == "front" else -1.0
            spread = rad(3.0 + 0.15 * pose.stride * abs(math.sin(psi)))
            hip = (sgn * 0.052 * b, _HIP_Y)
            lt = _THIGH * (0.9 + 0.1 * math.cos(swing))
            knee = (hip[0] + sgn * lt * math.sin(spread), hip[1] + lt * math.cos(spread))
            ls = _SHIN * (0.9 + 0.1 * math.cos(swing - flex))
            drop = 0.02 * toward * math.sin(psi)  # the leg nearer the camera reaches lower
            ankle = (knee[0] + sgn * 0.3 * ls * math.sin(spread), knee[1] + ls * math.cos(spread * 0.3) + drop)
        return hip, knee, ankle

    def draw_leg(hip, knee, ankle, near: bool, sgn: float):
        cloth = M_LOWER_N if near else M_LOWER_F
        skin = M_SKIN_LEG_N if near else M_SKIN_LEG_F
        shoe = M_SHOE_N if near else M_SHOE_F
        rt, rk, ra = 0.05 * b, 0.036 * b, 0.026 * b
        if ident.lower_style == "trousers":
            p.capsule(hip, knee, rt, rk, cloth)
            p.capsule(knee, ankle, rk, ra + 0.002, cloth)
        else:
            p.capsule(hip, knee, rt * 0.92, rk * 0.92, skin)
            p.capsule(knee, ankle, rk * 0.92, ra, skin)
            if ident.lower_style == "shorts":
                p.capsule(hip, _lerp(hip, knee, 0.72), rt + 0.004, rt * 0.95, cloth)
        if side:
            p.ellipse((ankle[0] + d * 0.026, ankle[1] + 0.022), 0.05, 0.022, shoe)
        else:
            p.ellipse((ankle[0] + sgn * 0.004, ankle[1] + 0.02), 0.032, 0.026, shoe)

    # --- arms -------------------------------------------------------------
    def arm_points(sgn: float, psi: float):
        swing = -rad(pose.arm_swing) * math.sin(psi)
        if side:
            sh = (0.0, _SHOULDER_Y + 0.015)
            el = (sh[0] + d * _UPPER_ARM * math.sin(swing), sh[1] + _UPPER_ARM * math.cos(swing))
            a = swing + rad(pose.elbow_bend)
            wr = (el[0] + d * _FOREARM * math.sin(a), el[1] + _FOREARM * math.cos(a))
        else:
            sh = (sgn * 0.105 * b, _SHOULDER_Y + 0.018)
            spread = rad(pose.arm_spread) + 0.035 * (b - 1) * 6
            lu = _UPPER_ARM * (0.88 + 0.12 * math.cos(swing))
            el = (sh[0] + sgn * lu * math.sin(spread), sh[1] + lu * math.cos(spread))
            a = spread - rad(pose.elbow_bend) * 0.4
            lf = _FOREARM * (0.85 + 0.15 * math.cos(swing + rad(pose.elbow_bend)))
            wr = (el[0] + sgn * lf * math.sin(a), el[1] + lf * math.cos(a))
        return sh, el, wr

    def draw_arm(sh, el, wr, near: bool):
        sleeve = M_SLEEVE_N if near else M_SLEEVE_F
        skin = M_SKIN_ARM_N if near else M_SKIN_ARM_F
        ru, re, rw = 0.031 * b, 0.026 * b, 0.02 * b
        hand = (wr[0] + (wr[0] - el[0]) * 0.18, wr[1] + (wr[1] - el[1]) * 0.18)
        p.circle(hand, 0.024, skin)
        if ident.sleeves == "long":
            p.capsule(sh, el, ru, re, sleeve)
            p.capsule(el, wr, re, rw, sleeve)
        else:
            p.capsule(el, wr, re * 0.9, rw * 0.9, skin)
            p.capsule(sh, el, ru * 0.92, re * 0.9, skin)
            p.capsule(sh, _lerp(sh, el, 0.55), ru + 0.004, ru, sleeve)

    # --- torso ------------------------------------------------------------
    def draw_torso():
        if side:
            # pelvis then upper body (chest bulges forward)
            p.poly([(-0.06 * b, 0.46), (0.06 * b, 0.46), (0.055 * b, _HIP_Y + 0.04), (-0.058 * b, _HIP_Y + 0.04)],
                   M_LOWER_N)
            p.poly([(-0.045 * b * d, 0.16), (0.03 * b * d, 0.16), (0.068 * b * d, 0.24), (0.06 * b * d, 0.36),
                    (0.055 * b * d, 0.48), (-0.058 * b * d, 0.48), (-0.062 * b * d, 0.3), (-0.055 * b * d, 0.2)],
                   M_UPPER)
        else:
            sw, ww, hw = 0.112 * b, 0.085 * b, 0.098 * b
            p.poly([(-hw, 0.45), (hw, 0.45), (hw + 0.006, _HIP_Y + 0.04), (-hw - 0.006, _HIP_Y + 0.04)], M_LOWER_N)
            p.poly([(-sw + 0.03, 0.158), (sw - 0.03, 0.158), (sw, 0.19), (ww + 0.01, 0.3), (ww, 0.4), (hw, 0.48),
                    (-hw, 0.48), (-ww, 0.4), (-ww - 0.01, 0.3), (-sw, 0.19)], M_UPPER)
            p.circle((-sw + 0.028, 0.19), 0.034 * b, M_UPPER)
            p.circle((sw - 0.028, 0.19), 0.034 * b, M_UPPER)

    def draw_skirt():
        if ident.lower_style != "skirt":
            return
        if side:
            p.poly([(-0.06 * b, 0.45), (0.06 * b, 0.45), (0.1 * b, 0.69), (-0.1 * b, 0.69)], M_LOWER_N)
        else:
            hw = 0.1 * b
            p.poly([(-hw, 0.45), (hw, 0.45), (hw + 0.05, 0.69), (-hw - 0.05, 0.69)], M_LOWER_N)

    # --- head -------------------------------------------------------------
    def draw_head():
        p.poly([(-0.022, 0.11), (0.022, 0.11), (0.024, 0.165), (-0.024, 0.165)], M_SKIN_HEAD)
        c = (0.0, _HEAD_Y)
        bald = ident.hair_style == "bald"
        if view == "front":
            p.ellipse(c, _HEAD_RX, _HEAD_RY, M_HAIR if not bald else M_SKIN_HEAD)
            p.ellipse((0.0, _HEAD_Y + 0.012), _HEAD_RX * 0.84, _HEAD_RY * 0.8, M_SKIN_HEAD)
            if p.P >= 90:
                for s in (-1, 1):
                    p.circle((s * 0.018, _HEAD_Y + 0.008), 0.0055, M_DARK)
        elif view == "back":
            p.ellipse(c, _HEAD_RX, _HEAD_RY, M_HAIR if not bald else M_SKIN_HEAD)
        else:
            p.ellipse(c, _HEAD_RX * 0.95, _HEAD_RY, M_SKIN_HEAD)
            p.circle((d * 0.048, _HEAD_Y + 0.012), 0.012, M_SKIN_HEAD)  # nose
            if not bald:
                p.ellipse((-d * 0.01, _HEAD_Y - 0.008), _HEAD_RX * 0.86, _HEAD_RY * 0.9, M_HAIR)
            if p.P >= 90:
                p.circle((d * 0.03, _HEAD_Y + 0.004), 0.005, M_DARK)
        if ident.hat:
            p.ellipse((0.0, _HEAD_Y - 0.02), _HEAD_RX * 1.04, _HEAD_RY * 0.8, M_HAT, 0, 180, 360)
            if side:
                p.ellipse((d * 0.045, _HEAD_Y - 0.018), 0.04, 0.011, M_HAT)
            else:
                p.ellipse((0.0, _HEAD_Y - 0.016), _HEAD_RX * 1.12, 0.011, M_HAT)

    def draw_long_hair_back():
        # long hair hanging behind the shoulders, seen from the front
        if ident.hair_style == "long" and view == "front":
            p.poly([(-0.058, 0.06), (0.058, 0.06), (0.064, 0.215), (-0.064, 0.215)], M_HAIR)

    def draw_long_hair_front():
        # long hair over the back / the side of the neck
        if ident.hair_style != "long":
            return
        if view == "back":
            p.poly([(-0.05, 0.07), (0.05, 0.07), (0.06, 0.24), (-0.06, 0.24)], M_HAIR)
        elif side:
            p.poly([(-d * 0.058, 0.06), (-d * 0.0, 0.06), (-d * 0.01, 0.2), (-d * 0.06, 0.22)], M_HAIR)

    # --- bag --------------------------------------------------------------
    def bag_geometry():
        if ident.bag == "none":
            return None
        person_left = ident.bag == "left"
        if side:
            # facing right, the person's right side is toward the camera
            near = person_left == (view == "left")
            cx_ = -d * 0.03 if near else -d * 0.075
            return near, (cx_, 0.52), 0.075, 0.065
        sx = (1.0 if person_left else -1.0) * (1.0 if view == "front" else -1.0)
        return True, (sx * (0.098 * b + 0.03), 0.52), 0.034, 0.066

    def draw_bag(geom):
        near, (bx, by), hw, hh = geom
        p.poly([(bx - hw, by - hh), (bx + hw, by - hh), (bx + hw, by + hh), (bx - hw, by + hh)], M_BAG)
        p.ellipse((bx, by + hh), hw, 0.012, M_BAG)
        if side:
            if near:
                p.line((0.0, _SHOULDER_Y), (bx, by - hh), 0.012, M_STRAP)
        else:
            sh_x = -np.sign(bx) * 0.06 * b
            p.line((sh_x, 0.16), (bx - np.sign(bx) * hw * 0.5, by - hh), 0.012, M_STRAP)

    bag = bag_geometry()
    if side:
        # near limbs have phase ph, far limbs ph + pi
        far_arm = arm_points(1.0, ph + math.pi)
        near_arm = arm_points(1.0, ph)
        far_leg = leg_points(-1.0, ph + math.pi)
        near_leg = leg_points(1.0, ph)
        draw_arm(*far_arm, near=False)
        draw_leg(*far_leg, near=False, sgn=1.0)
        if bag is not None and not bag[0]:
            draw_bag(bag)
        draw_torso()
        draw_leg(*near_leg, near=True, sgn=1.0)
        draw_skirt()
        if bag is not None and bag[0]:
            draw_bag(bag)
        draw_long_hair_front()
        draw_head()
        draw_arm(*near_arm, near=True)
    else:
        draw_long_hair_back()
        for sgn, psi in ((-1.0, ph), (1.0, ph + math.pi)):
            draw_leg(*leg_points(sgn, psi), near=True, sgn=sgn)
        draw_torso()
        draw_skirt()
        if bag is not None:
            draw_bag(bag)
        draw_head()
        draw_long_hair_front()
        for sgn, psi in ((-1.0, ph + math.pi), (1.0, ph)):
            draw_arm(*arm_points(sgn, psi), near=True)


# ----------------------------------------------------------------------------
# Cameras: backgrounds and light
# ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Camera:
    background: np.ndarray  # uint8 RGB, larger than the image (random crops)
    gain: float
    tint: Tuple[float, float, float]
    gradient: np.ndarray  # float32 H x W light falloff
    shadow: float
    noise: np.ndarray  # float32 unit-normal sensor noise field, larger than the image


def _camera_rng(scene_seed: int, camera: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(int(scene_seed), spawn_key=(3, int(camera))))


@lru_cache(maxsize=64)
def _camera(camera: int, height: int, width: int, scene_seed: int) -> _Camera:
    rng = _camera_rng(scene_seed, camera)
    BH, BW = int(round(height * 1.3)), int(round(width * 1.6))
    s = height / 256.0
    bg = np.empty((BH, BW, 3), np.uint8)
    horizon = int(BH * rng.uniform(0.38, 0.62))
    wall = np.array(_jitter(rng, _choice(rng, [(170, 160, 150), (120, 125, 135), (200, 190, 170), (90, 85, 80),
                                                (150, 160, 150), (185, 175, 190), (110, 100, 90)]), 20))
    floor = np.array(_jitter(rng, _choice(rng, [(120, 118, 112), (90, 90, 95), (150, 140, 125), (70, 72, 70),
                                                 (135, 135, 140)]), 15))
    rows = np.arange(BH, dtype=np.float32)[:, None, None]
    bg[:horizon] = np.clip(wall * (0.92 + 0.16 * rows[:horizon] / max(horizon, 1)), 0, 255).astype(np.uint8)
    bg[horizon:] = np.clip(floor * (0.85 + 0.3 * (rows[horizon:] - horizon) / max(BH - horizon, 1)), 0, 255
                           ).astype(np.uint8)
    # wall furniture: windows, doors, shop signs, posters
    for _ in range(int(rng.integers(3, 8))):
        w = int(rng.uniform(0.15, 0.5) * BW)
        h = int(rng.uniform(0.1, 0.45) * horizon)
        x0 = int(rng.integers(-w // 2, BW))
        y0 = int(rng.integers(-h // 3, max(horizon - h // 2, 1)))
        grey = rng.uniform(40, 220)
        col = 0.35 * rng.integers(20, 236, 3) + 0.35 * grey + 0.3 * wall * rng.uniform(0.5, 1.2)
        col = tuple(int(c) for c in np.clip(col, 0, 255))
        cv2.rectangle(bg, (x0, y0), (x0 + w, min(y0 + h, horizon)), col, -1)
        if rng.random() < 0.5:  # frame / mullions
            dark = tuple(int(c * 0.5) for c in col)
            cv2.rectangle(bg, (x0, y0), (x0 + w, min(y0 + h, horizon)), dark, max(1, int(3 * s)))
            cv2.line(bg, (x0 + w // 2, y0), (x0 + w // 2, min(y0 + h, horizon)), dark, max(1, int(2 * s)))
        if rng.random() < 0.35:  # sign lettering
            txt = "".join(chr(int(c)) for c in rng.integers(65, 91, int(rng.integers(2, 6))))
            cv2.putText(bg, txt, (x0 + 2, y0 + max(8, h // 2)), cv2.FONT_HERSHEY_SIMPLEX, 0.35 * s * 2,
                        tuple(255 - c for c in col), max(1, int(2 * s)), cv2.LINE_AA)
    # poles, trees / plants
    for _ in range(int(rng.integers(0, 3))):
        x = int(rng.integers(0, BW))
        col = tuple(int(c) for c in rng.integers(30, 120, 3))
        cv2.rectangle(bg, (x, 0), (x + max(2, int(rng.uniform(4, 10) * s)), horizon + int(20 * s)), col, -1)
    for _ in range(int(rng.integers(0, 3))):
        c = (int(rng.integers(0, BW)), int(horizon - rng.uniform(0, 40) * s))
        ax = (int(rng.uniform(12, 30) * s), int(rng.uniform(15, 40) * s))
        cv2.ellipse(bg, c, ax, 0, 0, 360, _jitter(rng, (50, 100, 45), 25), -1)
    # floor tiles in perspective
    if rng.random() < 0.75:
        col = tuple(int(c) for c in np.clip(floor * 0.75, 0, 255))
        vx = BW * rng.uniform(0.2, 0.8)
        for k in range(-6, 7):
            cv2.line(bg, (int(vx + k * BW * 0.08), horizon), (int(vx + k * BW * 0.6), BH), col, max(1, int(s)))
        y = horizon + 4.0
        while y < BH:
            cv2.line(bg, (0, int(y)), (BW, int(y)), col, max(1, int(s)))
            y = y * 1.0 + (y - horizon + 6) * 0.45
    # texture: low-frequency stains + fine grain
    lo = rng.normal(0, 9, (max(2, BH // 16), max(2, BW // 16), 1)) + rng.normal(0, 2.5, (max(2, BH // 16),
                                                                                       max(2, BW // 16), 3))
    lo = cv2.resize(lo.astype(np.float32), (BW, BH), interpolation=cv2.INTER_CUBIC)
    hi = rng.normal(0, 4, (BH, BW, 3)).astype(np.float32)
    bg = np.clip(bg.astype(np.float32) + lo + hi, 0, 255).astype(np.uint8)
    bg = cv2.GaussianBlur(bg, (0, 0), 0.6 * max(s, 0.5))

    gain = float(rng.uniform(0.7, 1.2))
    tint = tuple(float(t) for t in rng.uniform(0.9, 1.1, 3))
    # light gradient across the image (a lamp, a window, a shaded side)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    ang = rng.uniform(0, 2 * math.pi)
    proj = (np.cos(ang) * (xx / width - 0.5) + np.sin(ang) * (yy / height - 0.5))
    gradient = (1.0 + rng.uniform(0.1, 0.45) * proj).astype(np.float32)
    noise = rng.standard_normal((BH, BW, 3), dtype=np.float32)
    return _Camera(bg, gain, tint, gradient, float(rng.uniform(0.55, 0.85)), noise)


@lru_cache(maxsize=16)
def _grids(height: int, width: int):
    rows = np.arange(height, dtype=np.float32)[:, None]
    cols = np.arange(width, dtype=np.float32)[None, :]
    return rows, cols


def _draw_distractor(img: np.ndarray, rng: np.random.Generator, P: float, cx: float, top: float) -> None:
    """A simple partial pedestrian at the edge of the box (background clutter)."""
    H, W = img.shape[:2]
    side = -1 if rng.random() < 0.5 else 1
    x = W / 2 + side * W * rng.uniform(0.45, 0.75)
    s = P * rng.uniform(0.85, 1.05)
    t = top + rng.normal(0, 0.04) * H
    body = tuple(int(c) for c in rng.integers(20, 200, 3))
    legs = tuple(int(c) for c in rng.integers(15, 120, 3))
    skin = _jitter(rng, (200, 160, 130), 40)
    q = lambda v: int(round(v * _ONE))  # noqa: E731
    cv2.ellipse(img, (q(x), q(t + 0.068 * s)), (q(0.05 * s), q(0.064 * s)), 0, 0, 360, skin, -1, cv2.LINE_8, _SHIFT)
    pts = np.array([[q(x - 0.11 * s), q(t + 0.16 * s)], [q(x + 0.11 * s), q(t + 0.16 * s)],
                    [q(x + 0.1 * s), q(t + 0.5 * s)], [q(x - 0.1 * s), q(t + 0.5 * s)]], np.int32)
    cv2.fillConvexPoly(img, pts, body, cv2.LINE_8, _SHIFT)
    for k in (-1, 1):
        cv2.line(img, (q(x + k * 0.05 * s), q(t + 0.5 * s)), (q(x + k * 0.07 * s), q(t + 0.97 * s)), legs,
                 max(1, int(0.07 * s)), cv2.LINE_8, _SHIFT)


def _pattern(kind: str, u: np.ndarray, v: np.ndarray, period: float) -> Optional[np.ndarray]:
    """Where the second colour shows; u, v: person coordinates (rows, cols), in person heights."""
    if kind == "plain":
        return None
    if kind == "stripes":
        return (np.floor(u / period).astype(np.int32) & 1).astype(bool)
    if kind == "checks":
        return ((np.floor(u / period).astype(np.int32) + np.floor(v / period).astype(np.int32)) & 1).astype(bool)
    if kind == "jacket":  # open jacket: a vertical strip of shirt in the middle
        return np.abs(v) < 0.032
    raise ValueError(f"unknown pattern {kind!r}")


_ALT = 32  # material + _ALT = the same material in the pattern's second colour
_UPPER_LUT = np.zeros(256, np.uint8)
_UPPER_LUT[[M_UPPER, M_SLEEVE_N, M_SLEEVE_F]] = 1
_JACKET_LUT = np.zeros(256, np.uint8)
_JACKET_LUT[M_UPPER] = 1
_LOWER_LUT = np.zeros(256, np.uint8)
_LOWER_LUT[[M_LOWER_N, M_LOWER_F]] = 1


def _palette(ident: Identity) -> np.ndarray:
    """uint8 (256, 3) RGB lookup table from material id to colour."""
    pal = np.zeros((256, 3), np.float32)
    skin = np.array(ident.skin, np.float32)
    pal[M_SKIN_HEAD] = skin
    pal[M_HAIR] = ident.hair
    pal[M_HAT] = ident.hat_color
    pal[M_DARK] = skin * 0.25
    pal[M_UPPER] = pal[M_SLEEVE_N] = ident.upper_color
    pal[M_SLEEVE_F] = np.array(ident.upper_color, np.float32) * _FAR_SHADE
    pal[M_SKIN_ARM_N] = pal[M_SKIN_LEG_N] = skin
    pal[M_SKIN_ARM_F] = pal[M_SKIN_LEG_F] = skin * _FAR_SHADE
    pal[M_LOWER_N] = ident.lower_color
    pal[M_LOWER_F] = np.array(ident.lower_color, np.float32) * _FAR_SHADE
    pal[M_SHOE_N] = ident.shoes
    pal[M_SHOE_F] = np.array(ident.shoes, np.float32) * _FAR_SHADE
    pal[M_BAG] = ident.bag_color
    pal[M_STRAP] = np.array(ident.bag_color, np.float32) * 0.7
    pal[_ALT:_ALT + N_MATERIALS] = pal[:N_MATERIALS]
    pal[_ALT + M_UPPER] = pal[_ALT + M_SLEEVE_N] = ident.upper_color2
    pal[_ALT + M_SLEEVE_F] = np.array(ident.upper_color2, np.float32) * _FAR_SHADE
    pal[_ALT + M_LOWER_N] = ident.lower_color2
    pal[_ALT + M_LOWER_F] = np.array(ident.lower_color2, np.float32) * _FAR_SHADE
    return np.clip(np.round(pal), 0, 255).astype(np.uint8)


def render_person(
    identity: Identity,
    pose: Optional[Pose] = None,
    *,
    height: int = 256,
    width: int = 128,
    camera: int = 0,
    rng: Optional[np.random.Generator] = None,
    framing: Optional[Framing] = None,
    scene_seed: int = 0,
    clean: bool = False,
) -> Tuple[np.ndarray, np.ndarray]:
    """Render one person: returns ``(image, mask)``.

    ``image`` is RGB uint8 ``height x width x 3``; ``mask`` is uint8
    ``height x width`` with the ids of :data:`PART_LABELS`.

    pose:       a :class:`Pose`; drawn from ``rng`` when None.
    camera:     0-based camera index; picks the background and lighting (the
                scenes are fixed by ``scene_seed``).
    rng:        a ``np.random.Generator`` for the nuisances (pose if None, box,
                background crop, clutter, light, blur, noise); default
                ``default_rng(0)``, so calls without rng are reproducible.
    framing:    a :class:`Framing` (person scale and offset in the box); drawn
                from ``rng`` when None (centred and full-size when ``clean``).
    clean:      no clutter, occluders, light jitter, blur or noise (for figures).
    """
    _check_size(height, width)
    if not isinstance(identity, Identity):
        raise TypeError(f"identity must be an Identity (see sample_identity), got {type(identity).__name__}")
    if isinstance(camera, bool) or not isinstance(camera, (int, np.integer)) or camera < 0:
        raise ValueError(f"camera must be a non-negative int, got {camera!r}")
    rng = np.random.default_rng(0) if rng is None else rng
    if pose is None:
        pose = sample_pose(rng)
    if framing is None:
        framing = Framing() if clean else sample_framing(rng)
    H, W = int(height), int(width)
    cam = _camera(int(camera), H, W, int(scene_seed))

    # ---- geometry ---------------------------------------------------------
    P = H * framing.scale * identity.stature
    cx = W / 2 + framing.dx * W
    top = H / 2 + framing.dy * H - P / 2
    mat = np.zeros((H, W), np.uint8)
    painter = _Painter(mat, cx, top, P, pose.lean)
    _draw_person(painter, identity, pose)

    # ---- background -------------------------------------------------------
    BH, BW = cam.background.shape[:2]
    oy = int(rng.integers(0, BH - H + 1))
    ox = int(rng.integers(0, BW - W + 1))
    bg = cam.background[oy:oy + H, ox:ox + W]
    bg = cv2.flip(bg, 1) if rng.random() < 0.5 else bg.copy()  # never draw on the cached scene
    if not clean:
        if rng.random() < 0.3:
            _draw_distractor(bg, rng, P, cx, top)
        for _ in range(int(rng.integers(0, 3))):  # small clutter: bins, boxes, bikes
            col = tuple(int(c) for c in rng.integers(10, 246, 3))
            x0, y0 = int(rng.integers(0, W)), int(rng.integers(H // 3, H))
            sz = int(rng.uniform(0.04, 0.15) * H)
            if rng.random() < 0.5:
                cv2.rectangle(bg, (x0, y0), (x0 + sz // 2, y0 + sz), col, -1)
            else:
                cv2.circle(bg, (x0, y0), max(1, sz // 3), col, max(1, sz // 12))
        if rng.random() < 0.08:  # an occluder in front of the person
            occ_col = rng.integers(20, 200, 3).astype(np.uint8)
            if rng.random() < 0.5:
                x0 = int(rng.uniform(0.0, 0.9) * W)
                cv2.rectangle(mat, (x0, 0), (x0 + max(2, int(rng.uniform(0.05, 0.12) * W)), H), M_OCCLUDER, -1)
            else:
                y0 = int(rng.uniform(0.75, 0.92) * H)
                cv2.rectangle(mat, (0, y0), (W, H), M_OCCLUDER, -1)
        else:
            occ_col = np.zeros(3, np.uint8)
    else:
        occ_col = np.zeros(3, np.uint8)

    # ---- colours: one LUT from material to RGB; "+ _ALT" selects the pattern colour
    ident = identity
    lut = _palette(ident)
    lut[M_OCCLUDER] = occ_col
    rows, cols = _grids(H, W)
    u = (rows - top) / P
    v = (cols - cx) / P
    # an open jacket shows its shirt only from the front
    pu = None if ident.upper_pattern == "jacket" and pose.view != "front" else \
        _pattern(ident.upper_pattern, u, v, 0.045)
    if ident.lower_pattern == "stripes":  # vertical stripes (tracksuit / pinstripe)
        pl = _pattern("stripes", v + 1.0, u, 0.03)
    else:
        pl = _pattern(ident.lower_pattern, u, v, 0.06)
    cmat = mat
    if pu is not None or pl is not None:
        cmat = mat.copy()
        if pu is not None:
            sel = cv2.LUT(mat, _JACKET_LUT if ident.upper_pattern == "jacket" else _UPPER_LUT).view(bool) & pu
            cmat[sel] += _ALT
        if pl is not None:
            sel = cv2.LUT(mat, _LOWER_LUT).view(bool) & pl
            cmat[sel] += _ALT
    colors = cv2.LUT(cv2.merge((cmat, cmat, cmat)), lut.reshape(256, 1, 3))

    # ---- shading: parts look rounded (darker near their outlines) ----------
    person = (mat > 0).view(np.uint8)
    edge = np.zeros((H, W), bool)
    np.not_equal(mat[:, 1:], mat[:, :-1], out=edge[:, 1:])
    edge[:, :-1] |= edge[:, 1:]
    e2 = mat[1:] != mat[:-1]
    edge[1:] |= e2
    edge[:-1] |= e2
    dist = cv2.distanceTransform((~edge).view(np.uint8), cv2.DIST_L2, 3)
    # person: shade = 0.7 + 0.3 * min(dist / (0.03 P), 1); background: 1 except the ground shadow
    r = max(0.03 * P, 1.0)
    pshade = np.minimum(dist, r)
    pshade *= 0.3 / r
    pshade += 0.7
    shade = np.ones((H, W), np.float32)
    fy = top + 0.99 * P
    cv2.ellipse(shade, (int(round(cx * _ONE)), int(round(fy * _ONE))),
                (int(0.16 * P * _ONE), int(0.025 * P * _ONE)), 0, 0, 360, cam.shadow, -1, cv2.LINE_8, _SHIFT)
    np.copyto(shade, pshade, where=person.view(bool))
    shade *= cam.gradient
    shade *= cam.gain * (1.0 if clean else float(rng.uniform(0.85, 1.15)))
    tint = np.array(cam.tint, np.float32)
    if not clean:
        tint = tint * rng.uniform(0.95, 1.05, 3).astype(np.float32)
    img = cv2.copyTo(colors, person, bg)
    img = img * (shade[..., None] * tint)
    out = np.clip(img, 0, 255).astype(np.uint8)

    # ---- optics: blur, contrast, noise -------------------------------------
    if clean:
        out = cv2.GaussianBlur(out, (0, 0), 0.5 * max(H / 256.0, 0.5))
    else:
        sig = float(rng.uniform(0.4, 1.4)) * max(H / 256.0, 0.35)
        out = cv2.GaussianBlur(out, (0, 0), sig)
        if rng.random() < 0.12:  # motion blur
            k = max(3, int(rng.uniform(0.02, 0.05) * H) | 1)
            ker = np.zeros((k, k), np.float32)
            ker[k // 2, :] = 1.0 / k
            rot = cv2.getRotationMatrix2D((k / 2 - 0.5, k / 2 - 0.5), float(rng.uniform(0, 180)), 1.0)
            ker = cv2.warpAffine(ker, rot, (k, k))
            ker /= max(float(ker.sum()), 1e-6)
            out = cv2.filter2D(out, -1, ker)
        gamma = float(rng.uniform(0.8, 1.25))
        contrast = float(rng.uniform(0.85, 1.1))
        glut = np.clip(((np.arange(256) / 255.0) ** gamma - 0.5) * contrast * 255 + 127.5, 0, 255).astype(np.uint8)
        out = cv2.LUT(out, glut)
        # sensor noise: a random crop of the camera's fixed unit-normal field
        NH, NW = cam.noise.shape[:2]
        ny, nx = int(rng.integers(0, NH - H + 1)), int(rng.integers(0, NW - W + 1))
        noisy = out.astype(np.float32)
        noisy += cam.noise[ny:ny + H, nx:nx + W] * float(rng.uniform(1.0, 6.0))
        out = np.clip(noisy, 0, 255).astype(np.uint8)
    mask = cv2.LUT(mat, _MATERIAL_PART)
    return out, mask


def colorize_mask(mask: np.ndarray) -> np.ndarray:
    """RGB uint8 visualisation of a part mask using :data:`PART_COLORS`."""
    lut = np.zeros((256, 3), np.uint8)
    for k, c in PART_COLORS.items():
        lut[k] = c
    return lut[np.asarray(mask, np.uint8)]


def contact_sheet(n: int = 24, seed: int = 0, height: int = 128, width: int = 64, cols: int = 12,
                  cameras: int = 6) -> np.ndarray:
    """A grid of ``n`` random people, each image above its coloured mask (RGB uint8)."""
    tiles = []
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(9, i)))
        ident = sample_identity(rng)
        img, mask = render_person(ident, height=height, width=width, camera=i % cameras, rng=rng, scene_seed=seed)
        tiles.append(np.concatenate([img, colorize_mask(mask)], axis=0))
    rows = []
    for r in range(0, n, cols):
        row = tiles[r:r + cols]
        row += [np.zeros_like(tiles[0])] * (cols - len(row))
        rows.append(np.concatenate([np.pad(t, ((2, 2), (2, 2), (0, 0)), constant_values=255) for t in row], axis=1))
    return np.concatenate(rows, axis=0)


# ----------------------------------------------------------------------------
# Dataset writer
# ----------------------------------------------------------------------------


def _check_int(name: str, value, minimum: int, maximum: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return int(value)


def _check_size(height, width) -> None:
    for name, v in (("height", height), ("width", width)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{name} must be an integer number of pixels, got {v!r}")
    if height < MIN_HEIGHT or width < MIN_WIDTH:
        raise ValueError(f"image size {height}x{width} is too small: height must be >= {MIN_HEIGHT} and width "
                         f">= {MIN_WIDTH} pixels (Market-1501 uses 128x64 files; models use 256x128)")


def _plan_identity(rng: np.random.Generator, k: int, cameras: int) -> List[int]:
    """0-based cameras for the k images of one identity: at least two cameras, and
    every camera used twice when there are enough images."""
    n_cams = int(rng.integers(2, max(2, min(cameras, k // 2)) + 1)) if k >= 4 else 2
    n_cams = min(n_cams, cameras)
    chosen = [int(c) for c in rng.permutation(cameras)[:n_cams]]
    per = 2 if k >= 2 * n_cams else 1
    cams = [c for c in chosen for _ in range(per)]
    cams += [chosen[int(i)] for i in rng.integers(0, n_cams, k - len(cams))]
    return [int(c) for c in rng.permutation(np.array(cams))]


def _split_queries(cams: Sequence[int]) -> List[bool]:
    """Pick at most one query per camera such that every query keeps a gallery
    image from another camera (Market-1501 drops same-camera matches)."""
    is_query = [False] * len(cams)
    for c in sorted(set(cams)):
        idx = next(i for i, cc in enumerate(cams) if cc == c and not is_query[i])
        is_query[idx] = True
        gallery = {cc for i, cc in enumerate(cams) if not is_query[i]}
        queries = {cc for i, cc in enumerate(cams) if is_query[i]}
        if not gallery or any(not (gallery - {q}) for q in queries):
            is_query[idx] = False
    return is_query


def _plan(identities: int, images_per_identity: int, seed: int, cameras: int):
    """The list of images to render: (pid, index, camera0, subset, stem)."""
    n_train = identities - identities // 2
    items = []
    for pid in range(1, identities + 1):
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(1, pid)))
        cams = _plan_identity(rng, images_per_identity, cameras)
        frames = [int(i * 40 + rng.integers(0, 40)) for i in range(images_per_identity)]
        seqs = [int(s) for s in rng.integers(1, 7, images_per_identity)]
        if pid <= n_train:
            subsets = ["bounding_box_train"] * images_per_identity
        else:
            q = _split_queries(cams)
            subsets = ["query" if f else "bounding_box_test" for f in q]
        for i in range(images_per_identity):
            stem = f"{pid:04d}_c{cams[i] + 1}s{seqs[i]}_{frames[i]:06d}_00"
            items.append((pid, i, cams[i], subsets[i], stem))
    return items, n_train


def _identity_for(seed: int, pid: int) -> Identity:
    return sample_identity(np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0, pid))))


def render_sample(identity: Identity, pid: int, index: int, camera: int, *, seed: int = 0, height: int = 256,
                  width: int = 128) -> Tuple[np.ndarray, np.ndarray]:
    """The (image RGB, mask) that :func:`generate_dataset` writes for image ``index``
    of ``pid`` seen by ``camera`` (0-based): pose and nuisances come from
    ``default_rng(SeedSequence(seed, spawn_key=(2, pid, index)))``."""
    rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(2, int(pid), int(index))))
    pose = sample_pose(rng)
    return render_person(identity, pose, height=height, width=width, camera=camera, rng=rng, scene_seed=seed)


def _render_item(args) -> None:
    out, seed, height, width, pid, index, camera, subset, stem, ident_dict = args
    img, mask = render_sample(Identity.from_dict(ident_dict), pid, index, camera, seed=seed, height=height,
                              width=width)
    ok, jpg = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    ok2, png = cv2.imencode(".png", mask, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not (ok and ok2):
        raise RuntimeError(f"OpenCV failed to encode {stem}")
    root = Path(out)
    (root / subset / f"{stem}.jpg").write_bytes(jpg.tobytes())
    (root / "masks" / subset / f"{stem}.png").write_bytes(png.tobytes())


def _params(identities, images_per_identity, seed, height, width, cameras) -> dict:
    return {
        "generator": "ianet_viz.data.synthetic",
        "format_version": FORMAT_VERSION,
        "identities": identities,
        "images_per_identity": images_per_identity,
        "seed": seed,
        "height": height,
        "width": width,
        "cameras": cameras,
        "jpeg_quality": JPEG_QUALITY,
    }


def _validate(output, identities, images_per_identity, seed, height, width, cameras) -> Path:
    identities = _check_int("identities", identities, 2, MAX_IDENTITIES)
    _check_int("images_per_identity", images_per_identity, 2)
    _check_int("seed", seed, 0)
    _check_size(height, width)
    _check_int("cameras", cameras, 2, MAX_CAMERAS)
    if output is None or str(output) == "":
        raise ValueError("output must be a directory path")
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise ValueError(f"output {str(out)!r} exists and is a file, not a directory; choose a directory path")
    return out


def _read_manifest(out: Path) -> Optional[dict]:
    try:
        m = json.loads((out / "manifest.json").read_text())
    except (OSError, ValueError):
        return None
    return m if isinstance(m, dict) else None


_README = """Synthetic pedestrians (ianet_viz.data.synthetic)
================================================

Generated by:
    python -m ianet_viz.data.synthetic --output DIR --identities {identities} \\
        --images-per-identity {images_per_identity} --seed {seed} --height {height} --width {width} \\
        --cameras {cameras}

Layout (Market-1501 naming, readable by ianet_viz.data.Market1501(DIR)):
    bounding_box_train/  {n_train} train identities (pids 0001..{last_train:04d})
    query/               test identities: one image per camera (when a cross-camera gallery match remains)
    bounding_box_test/   test identities: the other images
    masks/<subfolder>/<stem>.png   per-pixel part mask of <subfolder>/<stem>.jpg (uint8, lossless PNG)
    attributes.json      appearance attributes of every pid ("identities"), its split, and the label ids
    manifest.json        generation parameters (written last; ensure_dataset() checks it)

File names: PPPP_cCsS_FFFFFF_00.jpg = pid (4 digits, from 0001), camera C (1..{cameras}), sequence S,
frame FFFFFF. Images are {height}x{width} RGB JPEG (quality {jpeg_quality}).

Mask label ids (hair and hat count as head, hands as arms, pelvis and skirt as legs, strap as bag):
{labels}

Every query image has a gallery image of the same pid from another camera.
Regenerating with the same parameters gives byte-identical files.
"""


def generate_dataset(
    output,
    identities: int,
    images_per_identity: int,
    seed: int = 0,
    height: int = 256,
    width: int = 128,
    cameras: int = 6,
    *,
    workers: int = 1,
    progress: bool = False,
) -> Path:
    """Write a synthetic dataset in the Market-1501 layout to ``output``; return its path.

    ``output`` must be missing, empty, or a dataset this function wrote before
    (its generated folders are replaced).  ``workers > 1`` renders in processes;
    the files are the same either way.
    """
    out = _validate(output, identities, images_per_identity, seed, height, width, cameras)
    _check_int("workers", workers, 1)
    if out.exists() and any(out.iterdir()):
        if (_read_manifest(out) or {}).get("generator") != "ianet_viz.data.synthetic":
            raise ValueError(f"output directory {str(out)!r} is not empty and holds no synthetic dataset "
                             "(manifest.json); choose an empty or new directory")
        for name in ("manifest.json", "manifest.json.tmp", *SUBSETS, "masks", "attributes.json", "README.txt"):
            p = out / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    params = _params(identities, images_per_identity, seed, height, width, cameras)
    # mark the folder as ours but incomplete: a killed run is regenerated by ensure_dataset
    (out / "manifest.json").write_text(json.dumps(dict(params, status="incomplete"), indent=1, sort_keys=True))
    for sub in SUBSETS:
        (out / sub).mkdir(parents=True, exist_ok=True)
        (out / "masks" / sub).mkdir(parents=True, exist_ok=True)

    items, n_train = _plan(identities, images_per_identity, seed, cameras)
    idents = {pid: _identity_for(seed, pid) for pid in range(1, identities + 1)}
    tasks = [(str(out), seed, height, width, pid, i, cam, sub, stem, idents[pid].to_dict())
             for pid, i, cam, sub, stem in items]
    if workers == 1:
        for k, t in enumerate(tasks):
            _render_item(t)
            if progress and (k + 1) % 500 == 0:
                print(f"  {k + 1}/{len(tasks)} images", file=sys.stderr)
    else:
        import multiprocessing as mp

        # fork where available (works from notebooks and stdin scripts; the workers only use numpy/OpenCV)
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with ctx.Pool(workers, initializer=cv2.setNumThreads, initargs=(1,)) as pool:
            for _ in pool.imap_unordered(_render_item, tasks, chunksize=16):
                pass

    counts = {sub: sum(1 for it in items if it[3] == sub) for sub in SUBSETS}
    attrs = {
        "part_labels": {str(k): v for k, v in PART_LABELS.items()},
        "identities": {
            f"{pid:04d}": {"split": "train" if pid <= n_train else "test", **idents[pid].to_dict()}
            for pid in range(1, identities + 1)
        },
    }
    (out / "attributes.json").write_text(json.dumps(attrs, indent=1, sort_keys=True) + "\n")
    labels = "\n".join(f"    {k} {v}" for k, v in PART_LABELS.items())
    (out / "README.txt").write_text(_README.format(n_train=n_train, last_train=n_train, labels=labels, **{
        k: v for k, v in params.items() if k not in ("generator", "format_version")}))
    manifest = dict(params, num_images=counts, status="complete")
    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, out / "manifest.json")
    return out


def _is_complete(out: Path, want: dict) -> bool:
    """True when ``out`` holds a finished dataset with parameters ``want`` and all its files."""
    m = _read_manifest(out)
    if m is None or m.get("status") != "complete" or any(m.get(k) != v for k, v in want.items()):
        return False
    counts = m.get("num_images") or {}
    try:
        return all(sum(1 for _ in (out / sub).glob("*.jpg")) == counts.get(sub) and
                   sum(1 for _ in (out / "masks" / sub).glob("*.png")) == counts.get(sub) for sub in SUBSETS)
    except OSError:
        return False


def ensure_dataset(
    output,
    identities: int = 40,
    images_per_identity: int = 8,
    seed: int = 0,
    height: int = 256,
    width: int = 128,
    cameras: int = 6,
    *,
    workers: int = 1,
) -> Path:
    """Return ``output`` if it already holds a complete dataset with these
    parameters (per its manifest.json and file counts); otherwise generate it."""
    out = _validate(output, identities, images_per_identity, seed, height, width, cameras)
    if _is_complete(out, _params(identities, images_per_identity, seed, height, width, cameras)):
        return out
    return generate_dataset(out, identities, images_per_identity, seed, height, width, cameras, workers=workers)


# ----------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m ianet_viz.data.synthetic",
        description="Generate synthetic pedestrians with part masks in the Market-1501 layout.",
        epilog="Mask label ids: " + ", ".join(f"{k}={v}" for k, v in PART_LABELS.items()),
    )
    ap.add_argument("--output", required=True, help="output directory (missing, empty, or a previous synthetic set)")
    ap.add_argument("--identities", type=int, required=True, help="number of identities (half train, half test)")
    ap.add_argument("--images-per-identity", type=int, required=True, help="images per identity (>= 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--height", type=int, default=256)
    ap.add_argument("--width", type=int, default=128)
    ap.add_argument("--cameras", type=int, default=6, help=f"number of cameras, 2..{MAX_CAMERAS}")
    ap.add_argument("--workers", type=int, default=1, help="processes (output is identical for any value)")
    ap.add_argument("--if-missing", action="store_true",
                    help="do nothing when OUTPUT already holds a dataset with these parameters")
    return ap


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = _parser().parse_args(argv)
    params = (args.identities, args.images_per_identity, args.seed, args.height, args.width, args.cameras)
    try:
        t0 = time.perf_counter()
        if args.if_missing:
            out = _validate(args.output, *params)
            if _is_complete(out, _params(*params)):
                print(f"{out} already holds this dataset; nothing to do")
                return 0
            out = generate_dataset(out, *params, workers=args.workers, progress=True)
        else:
            out = generate_dataset(args.output, *params, workers=args.workers, progress=True)
        dt = time.perf_counter() - t0
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    m = _read_manifest(out) or {}
    n = sum(m.get("num_images", {}).values())
    print(f"wrote {n} images ({m.get('num_images')}) to {out} in {dt:.1f} s ({n / max(dt, 1e-9):.0f} images/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
