"""The body painter: a person drawn with OpenCV primitives into a *material* map (each material
maps to a part label and a colour), so the image and the part mask agree pixel for pixel."""
from __future__ import annotations

import math
from typing import Tuple

import cv2
import numpy as np

from .people import Identity, Pose


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
    """One piece: drawing code, one body part after another in painting order."""
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
