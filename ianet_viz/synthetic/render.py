"""Cameras (backgrounds, light, blur) and :func:`render_person`: an identity in a pose, seen by a
camera, as an RGB image and its part mask."""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Optional, Tuple

import cv2
import numpy as np

from .body import (M_BAG, M_DARK, M_HAIR, M_HAT, M_LOWER_F, M_LOWER_N, M_OCCLUDER, M_SHOE_F, M_SHOE_N,
                   M_SKIN_ARM_F, M_SKIN_ARM_N, M_SKIN_HEAD, M_SKIN_LEG_F, M_SKIN_LEG_N, M_SLEEVE_F, M_SLEEVE_N,
                   M_STRAP, M_UPPER, N_MATERIALS, _FAR_SHADE, _MATERIAL_PART, _ONE, _SHIFT, _draw_person, _Painter)
from .parts import PART_COLORS, _check_size
from .people import Framing, Identity, Pose, _choice, _jitter, sample_framing, sample_identity, sample_pose


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

    One piece: the renderer's drawing code, in the order the layers are painted.
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
