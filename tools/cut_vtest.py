"""Cut person crops with pseudo-identities from a static-camera video (OpenCV's ``vtest.avi``).

Usage::

    python -m tools.cut_vtest --video PATH/TO/vtest.avi --output ianet_viz/reid/vtest --overwrite \\
        --sheet /tmp/vtest_sheet.png   # a contact sheet of all crops, to look at them

The pipeline, one step per function:

1. :func:`warm_up` -- feed the video through a MOG2 background model
   (``cv2.createBackgroundSubtractorMOG2``) before any cutting. vtest.avi has people in its very
   first frame; a cold model would call most of the first frames "foreground".
2. :func:`detect_blobs` -- per frame: MOG2 foreground (shadows, value 127, are dropped), a
   morphological opening (noise, the thin fluttering tape), a closing (re-joins a body split by
   a pole or by clothing), connected components, and a colour histogram of each blob's pixels.
3. :class:`IoUTracker` -- greedy IoU matching of blobs to tracks on *every* frame, with a
   constant-velocity prediction and a few frames of coasting.
4. :func:`fit_height_model` + :func:`is_person_box` -- a perspective model (box height is linear
   in the y of the feet, fitted robustly on the blobs themselves) keeps blobs that are exactly
   one whole person: no fragments, no groups, nothing cut by the frame border; a person-sized
   neighbour inside the crop, or a static occluder in front (the sign in vtest.avi), also
   rejects a box.
5. :func:`mark_crowded`, :func:`split_tracklets`, :func:`stitch_tracklets` -- a blob that also
   carries another person's track (people merging or crossing) is *crowded*; after such a
   moment an IoU tracker may follow the wrong person, so tracks are cut there, and two pieces
   of one track are re-joined only across a short crowded gap where the motion before it
   predicts the position after it and the colours agree. Each resulting chain is one
   pseudo-identity. Pieces of different tracks are never joined (see the limitations in
   data/README.md).
6. :func:`select_frames` -- per identity, good boxes at least ``every`` frames apart; crops
   whose colour disagrees with the rest of their identity are dropped; identities with fewer
   than ``min_crops`` crops are dropped (useless for re-identification).
7. :func:`split_identities` -- Market-1501 layout and naming, see below.

Layout written (Market-1501 naming ``PPPP_cCsS_FFFFFF_BB.jpg``: pid, camera, sequence, frame
number in the video, box index)::

    OUTPUT/bounding_box_train/   identities that *start* in the first ``train_fraction`` of the video
    OUTPUT/query/                later identities: their first ``queries_per_id`` crops ...
    OUTPUT/bounding_box_test/    ... and the rest of the same identity
    OUTPUT/manifest.csv          file, pid, camid, frame, track, blob box in the video (x, y, w, h)

The pseudo-camera trick: there is one camera, but the Market-1501 protocol drops every gallery
image that shares pid *and* camera with the query. So the early crops of every identity are
labelled camera 1 (``c1``) and the later ones camera 2 (``c2``): queries are all ``c1`` and
their true matches in the gallery are all ``c2``. The "cameras" are two time slices of the same
view, not two viewpoints.

Crops keep their native resolution (people are 40--155 px tall in vtest.avi): the blob box gets
a small margin and is widened (or heightened) around its centre to a 2:1 height:width box with
real image context, like a detector box; only where that box leaves the frame is the image
padded by border replication.

A curated exclude list (:data:`VTEST_EXCLUDE`) removes crops that pass every filter but are
still wrong when one looks at them; it and the occluder box of the sign apply only to vtest.avi
(frame count and size are checked), see :func:`vtest_curation`.
"""
from __future__ import annotations

import argparse
import csv
import math
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

__all__ = [
    "Box",
    "Detection",
    "Tracklet",
    "IoUTracker",
    "iou",
    "iter_frames",
    "make_subtractor",
    "warm_up",
    "detect_blobs",
    "fit_height_model",
    "is_person_box",
    "mark_crowded",
    "split_tracklets",
    "stitch_tracklets",
    "select_frames",
    "split_identities",
    "crop_box",
    "extract",
    "cut_video",
    "CutResult",
    "contact_sheet",
    "main",
    "VTEST_EXCLUDE",
    "VTEST_OCCLUDERS",
]


def _cv2():
    try:
        import cv2
    except ImportError as err:  # pragma: no cover - cv2 is a dependency
        raise ImportError(
            "tools.cut_vtest needs OpenCV: pip install opencv-python-headless"
        ) from err
    return cv2


# --------------------------------------------------------------------------------------------
# geometry
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels: top-left (x, y), width w, height h."""

    x: float
    y: float
    w: float
    h: float

    @property
    def bottom(self) -> float:
        return self.y + self.h

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    @property
    def area(self) -> float:
        return self.w * self.h

    def shifted(self, dx: float, dy: float) -> "Box":
        return Box(self.x + dx, self.y + dy, self.w, self.h)

    def as_int(self) -> tuple[int, int, int, int]:
        return int(round(self.x)), int(round(self.y)), int(round(self.w)), int(round(self.h))


def intersection(a: Box, b: Box) -> float:
    """Area of the intersection of two boxes."""
    ix = max(0.0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0.0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    return ix * iy


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when they do not overlap)."""
    inter = intersection(a, b)
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def crop_box(box: Box, margin: float = 0.08) -> Box:
    """The 2:1 (height:width) crop box around a person blob: ``margin`` of the height added
    above and below, then widened around the centre to height/2 (or heightened to 2*width)."""
    h = box.h * (1 + 2 * margin)
    w = max(box.w * (1 + margin), 1.0)
    h = max(h, 2 * w)
    w = h / 2
    return Box(box.cx - w / 2, box.cy - h / 2, w, h)


def extract(frame: np.ndarray, box: Box) -> np.ndarray:
    """Pixels of ``box`` from ``frame``; outside the frame the border is replicated."""
    cv2 = _cv2()
    fh, fw = frame.shape[:2]
    x0, y0 = int(math.floor(box.x)), int(math.floor(box.y))
    x1, y1 = x0 + max(int(round(box.w)), 1), y0 + max(int(round(box.h)), 1)
    pad = (max(0, -y0), max(0, y1 - fh), max(0, -x0), max(0, x1 - fw))
    sub = frame[max(y0, 0) : min(y1, fh), max(x0, 0) : min(x1, fw)]
    if any(pad):
        sub = cv2.copyMakeBorder(sub, *pad, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(sub)


# --------------------------------------------------------------------------------------------
# background subtraction and blobs
# --------------------------------------------------------------------------------------------
def iter_frames(video: str | Path) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (frame_index, BGR frame) for every frame of a video file."""
    cv2 = _cv2()
    if not Path(video).is_file():
        raise FileNotFoundError(
            f"video not found: {video!s}. OpenCV's sample vtest.avi is in opencv/samples/data "
            "(and in Debian's opencv-doc package)"
        )
    cap = cv2.VideoCapture(str(video))
    if not cap.isOpened():
        raise OSError(f"OpenCV cannot open {video!s} (not a video, or no codec for it)")
    try:
        idx = 0
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            yield idx, frame
            idx += 1
    finally:
        cap.release()


def make_subtractor(history: int = 500, var_threshold: float = 16.0):
    """A MOG2 background model with shadow detection (shadow pixels are dropped later)."""
    cv2 = _cv2()
    return cv2.createBackgroundSubtractorMOG2(
        history=history, varThreshold=var_threshold, detectShadows=True
    )


def warm_up(subtractor, video: str | Path, frames: int | None = None) -> int:
    """Feed the first ``frames`` frames (all when None) to ``subtractor``; return how many.

    People walk through every frame of vtest.avi, so no frame is empty background. A pass over
    the video lets MOG2 learn, per pixel, the modes that persist (the background) and their
    variance (sensor noise, the fluttering tape); the cutting pass then starts from a trained
    model instead of calling the first frames foreground.
    """
    n = 0
    for idx, frame in iter_frames(video):
        if frames is not None and idx >= frames:
            break
        subtractor.apply(frame)
        n += 1
    return n


def blob_histogram(frame: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """L1-normalised HSV histogram (8 hue x 4 saturation x 4 value bins), float32."""
    cv2 = _cv2()
    hsv = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], mask, [8, 4, 4], [0, 180, 0, 256, 0, 256])
    total = float(hist.sum())
    return (hist.flatten() / max(total, 1.0)).astype(np.float32)


def hist_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya distance between two histograms (0 identical, 1 disjoint)."""
    cv2 = _cv2()
    return float(cv2.compareHist(a.astype(np.float32), b.astype(np.float32), cv2.HISTCMP_BHATTACHARYYA))


def detect_blobs(
    subtractor,
    frame: np.ndarray,
    min_area: int = 150,
    open_size: tuple[int, int] = (3, 5),
    close_size: tuple[int, int] = (9, 17),
    with_hist: bool = True,
) -> tuple[list[Box], list[np.ndarray | None], np.ndarray]:
    """Foreground blobs of one frame: MOG2, opening, closing, connected components.

    ``open_size``/``close_size`` are (width, height) of the structuring elements: the opening is
    taller than wide, so the thin horizontal tape vanishes; the closing is an ellipse taller than
    wide, so head, torso and legs split by a pole or by clothing re-join without merging two
    people walking side by side. Returns the boxes, the colour histogram of each blob's own
    pixels (None when ``with_hist`` is False) and the cleaned mask (uint8, 0/255).
    """
    cv2 = _cv2()
    raw = subtractor.apply(frame)
    fg = np.where(raw == 255, 255, 0).astype(np.uint8)  # 127 = shadow
    k_open = cv2.getStructuringElement(cv2.MORPH_RECT, open_size)
    k_close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, close_size)
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, k_open)
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, k_close)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(fg, connectivity=8)
    boxes, hists = [], []
    for j in range(1, n):
        x, y, w, h, area = (int(v) for v in stats[j])
        if area < min_area:
            continue
        boxes.append(Box(float(x), float(y), float(w), float(h)))
        if with_hist:
            mask = np.where(labels[y : y + h, x : x + w] == j, 255, 0).astype(np.uint8)
            hists.append(blob_histogram(frame[y : y + h, x : x + w], mask))
        else:
            hists.append(None)
    return boxes, hists, fg


# --------------------------------------------------------------------------------------------
# which blobs are one whole person
# --------------------------------------------------------------------------------------------
def fit_height_model(
    boxes: Sequence[Box], tolerance: float = 0.2, iterations: int = 8
) -> tuple[float, float]:
    """Robust fit of ``height = a * bottom_y + b`` (the perspective of a ground plane).

    Least squares on person-shaped blobs (height 1.5--5 widths), refitted on the inliers (within
    ``tolerance`` of the prediction) until they stop changing: fragments and groups, the
    minority, drop out. With fewer than 8 blobs, or a degenerate fit, returns (0, median height).
    """
    shaped = [b for b in boxes if 1.5 <= b.h / max(b.w, 1.0) <= 5.0]
    if len(shaped) < 8:
        return 0.0, float(np.median([b.h for b in boxes])) if boxes else 0.0
    hs = np.array([b.h for b in shaped], dtype=float)
    ys = np.array([b.bottom for b in shaped], dtype=float)
    keep = np.ones(len(hs), dtype=bool)
    a, b = 0.0, float(np.median(hs))
    for _ in range(iterations):
        if keep.sum() < 4:
            break
        if np.ptp(ys[keep]) < 1.0:
            a, b = 0.0, float(np.median(hs[keep]))
        else:
            a, b = (float(v) for v in np.polyfit(ys[keep], hs[keep], 1))
        pred = a * ys + b
        new_keep = np.abs(hs - pred) <= tolerance * np.maximum(pred, 1.0)
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    if not (math.isfinite(a) and math.isfinite(b)) or a * ys.mean() + b <= 0:
        return 0.0, float(np.median(hs))
    return a, b


def is_person_box(
    box: Box,
    model: tuple[float, float],
    frame_size: tuple[int, int],
    height_range: tuple[float, float] = (0.82, 1.2),
    aspect_range: tuple[float, float] = (1.9, 4.5),
    min_height: float = 40.0,
    border: int = 3,
) -> bool:
    """True when ``box`` looks like exactly one whole person.

    ``model`` is (a, b) from :func:`fit_height_model`; ``frame_size`` is (height, width).
    Rejected: boxes touching the frame border (cut-off bodies), shorter than ``min_height``,
    whose height is outside ``height_range`` times the height expected where they stand
    (fragments below, two people one behind the other above), or whose height/width is outside
    ``aspect_range`` (side-by-side groups below, slivers above).
    """
    fh, fw = frame_size
    if box.x < border or box.y < border or box.x + box.w > fw - border or box.bottom > fh - border:
        return False
    if box.h < min_height:
        return False
    a, b = model
    expected = a * box.bottom + b
    if expected <= 0 or not (height_range[0] <= box.h / expected <= height_range[1]):
        return False
    return aspect_range[0] <= box.h / max(box.w, 1.0) <= aspect_range[1]


# --------------------------------------------------------------------------------------------
# tracking
# --------------------------------------------------------------------------------------------
@dataclass
class Detection:
    """One blob in one frame, with what the pipeline learns about it."""

    frame: int
    box: Box
    hist: np.ndarray | None = None
    track: int = -1
    touching: frozenset[int] = frozenset()  # tracks whose prediction touched this blob
    crowded: bool = False
    good: bool = False


class IoUTracker:
    """Greedy IoU tracker with constant-velocity prediction and coasting.

    Every (track, blob) pair whose IoU between the track's predicted box and the blob is at
    least ``iou_threshold`` is a candidate; candidates are accepted from the highest IoU down,
    one blob per track and one track per blob. An unmatched blob starts a new track; a track
    unmatched for more than ``max_missed`` frames ends. For each blob the tracker also reports
    every track whose prediction touches it (IoU > 0.05): two people's tracks on one blob is a
    merge or a crossing (see :func:`mark_crowded`).
    """

    def __init__(self, iou_threshold: float = 0.3, max_missed: int = 8, smoothing: float = 0.6):
        self.iou_threshold = iou_threshold
        self.max_missed = max_missed
        self.smoothing = smoothing
        self._next_id = 1
        # track id -> [last_frame, last_box, vx, vy]
        self._active: dict[int, list] = {}

    def update(self, frame: int, boxes: Sequence[Box]) -> tuple[list[int], list[frozenset[int]]]:
        """Match ``boxes`` seen at ``frame``. Returns (track id per box, ids of the tracks whose
        prediction touches each box)."""
        tids = list(self._active)
        preds = []
        for tid in tids:
            last, box, vx, vy = self._active[tid]
            dt = frame - last
            preds.append(box.shifted(vx * dt, vy * dt))
        pairs = []
        overlaps: list[set[int]] = [set() for _ in boxes]
        for ti, p in enumerate(preds):
            for bi, b in enumerate(boxes):
                v = iou(p, b)
                if v > 0.05:
                    overlaps[bi].add(tids[ti])
                if v >= self.iou_threshold:
                    pairs.append((-v, ti, bi))
        pairs.sort()
        assigned: list[int] = [-1] * len(boxes)
        used_t: set[int] = set()
        s = self.smoothing
        for _, ti, bi in pairs:
            if ti in used_t or assigned[bi] >= 0:
                continue
            used_t.add(ti)
            tid = tids[ti]
            last, prev, vx, vy = self._active[tid]
            b = boxes[bi]
            dt = max(frame - last, 1)
            vx = s * vx + (1 - s) * (b.cx - prev.cx) / dt
            vy = s * vy + (1 - s) * (b.bottom - prev.bottom) / dt
            self._active[tid] = [frame, b, vx, vy]
            assigned[bi] = tid
        for bi, b in enumerate(boxes):
            if assigned[bi] < 0:
                assigned[bi] = self._next_id
                self._active[self._next_id] = [frame, b, 0.0, 0.0]
                self._next_id += 1
        for tid in list(self._active):
            if frame - self._active[tid][0] > self.max_missed:
                del self._active[tid]
        return assigned, [frozenset(o) for o in overlaps]


@dataclass
class Tracklet:
    """A piece of a track between two crowded moments: one person with high confidence."""

    id: int
    track: int
    dets: list[Detection] = field(default_factory=list)

    @property
    def start(self) -> int:
        return self.dets[0].frame

    @property
    def end(self) -> int:
        return self.dets[-1].frame

    def appearance(self, n: int = 10, last: bool = False) -> np.ndarray | None:
        """Mean histogram of the first (or last) ``n`` good detections; None if none is good."""
        good = [d for d in self.dets if d.good and d.hist is not None]
        if not good:
            return None
        sel = good[-n:] if last else good[:n]
        return np.mean([d.hist for d in sel], axis=0).astype(np.float32)


def mark_crowded(
    dets: Sequence[Detection], model: tuple[float, float], min_ratio: float = 0.6, min_len: int = 3
) -> set[int]:
    """Set ``Detection.crowded``: the blob also carries another *person* track.

    A person track has at least ``min_len`` detections with a median height of at least
    ``min_ratio`` times the height expected where they stand (small fragments, a bag or a hand
    split off a body, do not count). A blob is crowded when the prediction of a person track
    other than its own touches it: that track merged into this blob (people meeting or
    crossing), or this blob is a new track split off it. Returns the person track ids.
    """
    a, b = model
    ratios: dict[int, list[float]] = {}
    for d in dets:
        exp = a * d.box.bottom + b
        ratios.setdefault(d.track, []).append(d.box.h / exp if exp > 0 else 0.0)
    people = {t for t, r in ratios.items() if len(r) >= min_len and np.median(r) >= min_ratio}
    for d in dets:
        d.crowded = any(t != d.track and t in people for t in d.touching)
    return people


def split_tracklets(dets: Sequence[Detection]) -> list[Tracklet]:
    """Cut every track at its crowded detections (which belong to no tracklet)."""
    by_track: dict[int, list[Detection]] = {}
    for d in sorted(dets, key=lambda d: (d.track, d.frame)):
        by_track.setdefault(d.track, []).append(d)
    out: list[Tracklet] = []
    for tid in sorted(by_track):
        cur: list[Detection] = []
        for d in by_track[tid] + [None]:
            if d is None or d.crowded:
                if cur:
                    out.append(Tracklet(len(out), tid, cur))
                cur = []
            else:
                cur.append(d)
    return out


def _velocity(dets: Sequence[Detection]) -> tuple[float, float]:
    if len(dets) < 2:
        return 0.0, 0.0
    d0, d1 = dets[0], dets[-1]
    dt = max(d1.frame - d0.frame, 1)
    return (d1.box.cx - d0.box.cx) / dt, (d1.box.bottom - d0.box.bottom) / dt


def stitch_tracklets(
    tracklets: Sequence[Tracklet],
    max_gap: int = 8,
    max_offset: float = 0.5,
    max_distance: float = 0.3,
) -> list[list[Tracklet]]:
    """Chain consecutive tracklets *of the same track* across a short crowded moment.

    B continues A when both come from one track, B starts at most ``max_gap`` frames after A
    ends, B's first box is within ``max_offset`` person heights of where A's last 6 frames
    extrapolate it (people crossing in different directions part here), and their colour
    histograms (A's last good crops, B's first) are within ``max_distance`` (Bhattacharyya).
    Links across tracks are never made: in vtest.avi most people wear dark jackets and jeans and
    colour histograms alone cannot tell them apart, so a person who leaves and comes back, or is
    lost for long in a group, gets a new pseudo-identity (split identities are the safer error).
    Tracklets without a good detection are left out. Chains are sorted by start frame.
    """
    usable = [t for t in tracklets if t.appearance() is not None]
    by_track: dict[int, list[Tracklet]] = {}
    for t in sorted(usable, key=lambda t: t.start):
        by_track.setdefault(t.track, []).append(t)
    chains: list[list[Tracklet]] = []
    for pieces in by_track.values():
        chain = [pieces[0]]
        for b in pieces[1:]:
            a = chain[-1]
            gap = b.start - a.end
            la, fb = a.dets[-1].box, b.dets[0].box
            vx, vy = _velocity(a.dets[-6:])
            err = math.hypot(fb.cx - (la.cx + vx * gap), fb.bottom - (la.bottom + vy * gap))
            ok = (
                gap <= max_gap
                and err <= max_offset * la.h
                and hist_distance(a.appearance(last=True), b.appearance()) <= max_distance
            )
            if ok:
                chain.append(b)
            else:
                chains.append(chain)
                chain = [b]
        chains.append(chain)
    chains.sort(key=lambda c: (c[0].start, c[0].id))
    return chains


# --------------------------------------------------------------------------------------------
# choosing and splitting crops
# --------------------------------------------------------------------------------------------
def select_frames(dets: Sequence[Detection], every: int) -> list[Detection]:
    """Good detections at least ``every`` frames apart, earliest first."""
    chosen: list[Detection] = []
    for d in sorted(dets, key=lambda d: d.frame):
        if d.good and (not chosen or d.frame - chosen[-1].frame >= every):
            chosen.append(d)
    return chosen


def drop_colour_outliers(dets: list[Detection], threshold: float) -> list[Detection]:
    """Drop crops whose histogram is farther than ``threshold`` from their identity's mean."""
    if len(dets) < 3:
        return dets
    mean = np.mean([d.hist for d in dets], axis=0).astype(np.float32)
    return [d for d in dets if hist_distance(d.hist, mean) <= threshold]


def split_identities(
    identities: dict[int, list[int]],
    starts: dict[int, int],
    n_frames: int,
    train_fraction: float = 0.5,
    queries_per_id: int = 1,
) -> dict[int, list[tuple[int, str, int]]]:
    """Assign each identity's crops to a folder and a pseudo-camera.

    ``identities`` maps pid -> its crop frames (sorted, at least 2). Identities that start in the
    first ``train_fraction`` of the video go to ``bounding_box_train``; the others are split by
    time: the first ``queries_per_id`` crops (at most all but one) are ``query`` with camera 1,
    the rest ``bounding_box_test`` with camera 2, so every query has a true match in the gallery.
    In train the same early/late rule gives the cameras. Returns pid -> [(frame, folder, camid)].
    """
    split_at = train_fraction * n_frames
    out = {}
    for pid, frames in identities.items():
        nq = max(1, min(queries_per_id, len(frames) - 1))
        train = starts[pid] < split_at
        rows = []
        for i, f in enumerate(frames):
            cam = 1 if i < nq else 2
            folder = "bounding_box_train" if train else ("query" if cam == 1 else "bounding_box_test")
            rows.append((f, folder, cam))
        out[pid] = rows
    return out


# --------------------------------------------------------------------------------------------
# curation for vtest.avi (looked at, by hand, on the contact sheet of the default run)
# --------------------------------------------------------------------------------------------
VTEST_SIGNATURE = (795, 576, 768)  # frames, height, width of opencv/samples/data/vtest.avi

#: Static occluders in vtest.avi: (box, ground y). A blob that intersects the box and stands
#: behind it (feet above the ground y of the occluder) is partly hidden: not a good crop.
VTEST_OCCLUDERS: list[tuple[Box, float]] = [
    (Box(411, 201, 35, 44), 392.0),  # the green "assembly point" sign on the lamp post
]

#: Frames of vtest.avi whose crop is still bad after the filters, keyed by (frame, x, y) of the
#: blob box (independent of track numbering), with the reason.
VTEST_EXCLUDE: dict[tuple[int, int, int], str] = {
    (529, 366, 392): "a second person (blonde, behind) inside the same blob",
    (685, 414, 149): "sliver: half of a woman, the other half hidden by the lamp post",
    (725, 531, 192): "a second person's head and shoulder behind the man",
    (790, 420, 272): "lamp post in front of the body, cutting it in two",
}


def vtest_curation(signature: tuple[int, int, int]) -> tuple[list, dict]:
    """(occluders, exclude list) for vtest.avi, empty for any other video."""
    if signature == VTEST_SIGNATURE:
        return VTEST_OCCLUDERS, VTEST_EXCLUDE
    return [], {}


# --------------------------------------------------------------------------------------------
# the whole pipeline
# --------------------------------------------------------------------------------------------
@dataclass
class CutResult:
    """What :func:`cut_video` did; ``rows`` are the manifest rows (dicts)."""

    output: Path
    n_frames: int
    height_model: tuple[float, float]
    n_blobs: int
    n_good: int
    n_tracks: int
    n_tracklets: int
    n_identities: int
    counts: dict[str, int]
    pids: dict[str, list[int]]
    excluded: int
    outliers: int
    rows: list[dict] = field(default_factory=list)

    def summary(self) -> str:
        a, b = self.height_model
        lines = [
            f"{self.n_frames} frames, {self.n_blobs} blobs ({self.n_good} one whole person), "
            f"height model h = {a:.3f} * y_feet + {b:.1f}",
            f"{self.n_tracks} tracks -> {self.n_tracklets} tracklets -> "
            f"{self.n_identities} identities with >= 2 crops; "
            f"{self.excluded} crops dropped by the curated list, {self.outliers} colour outliers",
        ]
        for folder in ("bounding_box_train", "query", "bounding_box_test"):
            lines.append(
                f"  {folder:<20s} {self.counts[folder]:4d} images {len(self.pids[folder]):3d} ids"
            )
        return "\n".join(lines)


IMAGE_FOLDERS = ("bounding_box_train", "query", "bounding_box_test")


def cut_video(
    video: str | Path,
    output: str | Path,
    every: int = 10,
    warmup: int | None = None,
    min_crops: int = 2,
    train_fraction: float = 0.5,
    queries_per_id: int = 1,
    min_area: int = 150,
    min_height: float = 40.0,
    iou_threshold: float = 0.3,
    max_missed: int = 8,
    link_gap: int = 8,
    link_distance: float = 0.3,
    outlier_distance: float = 0.5,
    neighbour_overlap: float = 0.3,
    margin: float = 0.08,
    jpeg_quality: int = 90,
    curate: bool = True,
    overwrite: bool = False,
) -> CutResult:
    """Cut Market-1501-style person crops from a static-camera video; see the module docstring.

    ``warmup``: frames fed to the background model before the cutting pass (None: all).
    ``link_gap``/``link_distance``: tracklet stitching (frames, Bhattacharyya distance).
    ``outlier_distance``: a crop whose histogram is farther than this from its identity's mean
    is dropped. ``neighbour_overlap``: a crop is dropped when another person-sized blob has more
    than this fraction of its box inside the crop. ``curate``: apply the vtest.avi occluder and
    exclude lists (only when the video is vtest.avi). ``overwrite``: replace existing crops in
    ``output`` (otherwise a non-empty image folder there is an error).
    """
    cv2 = _cv2()
    output = Path(output)
    full = [output / d for d in IMAGE_FOLDERS if (output / d).is_dir() and any((output / d).iterdir())]
    if full and not overwrite:
        raise FileExistsError(
            f"{output} already holds crops ({', '.join(p.name for p in full)}); "
            "pass overwrite=True (--overwrite) to replace them"
        )

    # 1-3: warm up, detect and track on every frame
    mog = make_subtractor()
    warm_up(mog, video, warmup)
    tracker = IoUTracker(iou_threshold=iou_threshold, max_missed=max_missed)
    per_frame: dict[int, list[Detection]] = {}
    n_frames, frame_size = 0, (0, 0)
    for idx, frame in iter_frames(video):
        boxes, hists, _ = detect_blobs(mog, frame, min_area=min_area)
        tids, touching = tracker.update(idx, boxes)
        per_frame[idx] = [
            Detection(idx, b, h, t, c) for b, h, t, c in zip(boxes, hists, tids, touching)
        ]
        n_frames, frame_size = idx + 1, frame.shape[:2]
    if n_frames == 0:
        raise ValueError(f"no frames could be read from {video}")
    dets = [d for ds in per_frame.values() for d in ds]
    occluders, exclude = vtest_curation((n_frames, *frame_size)) if curate else ([], {})

    # 4: one whole person, nobody else in the crop, nothing in front
    model = fit_height_model([d.box for d in dets])
    a, b = model
    mark_crowded(dets, model)
    excluded = 0
    for d in dets:
        if not is_person_box(d.box, model, frame_size, min_height=min_height):
            continue
        cbox = crop_box(d.box, margin)
        crowded_crop = any(
            o is not d
            and o.box.h >= 0.5 * (a * o.box.bottom + b)
            and intersection(o.box, cbox) > neighbour_overlap * o.box.area
            for o in per_frame[d.frame]
        )
        hidden = any(
            intersection(d.box, occ) > 0 and d.box.bottom < ground for occ, ground in occluders
        )
        d.good = not (d.crowded or crowded_crop or hidden)
    n_good = sum(d.good for d in dets)

    # 5: crowded moments, tracklets, identities
    tracklets = split_tracklets(dets)
    chains = stitch_tracklets(tracklets, max_gap=link_gap, max_distance=link_distance)

    # 6: frames per identity
    identities: list[list[Detection]] = []
    outliers = 0
    for chain in chains:
        chosen = select_frames([d for t in chain for d in t.dets], every)
        # the curated list removes a chosen crop (it is not replaced by a neighbouring frame)
        kept = [d for d in chosen if (d.frame, *d.box.as_int()[:2]) not in exclude]
        excluded += len(chosen) - len(kept)
        chosen = kept
        kept = drop_colour_outliers(chosen, outlier_distance)
        outliers += len(chosen) - len(kept)
        if len(kept) >= min_crops:
            identities.append(kept)
    identities.sort(key=lambda ds: (ds[0].frame, ds[0].box.x))
    pid_dets = {pid: ds for pid, ds in enumerate(identities, start=1)}  # Market pids start at 1

    # 7: split and write
    plan = split_identities(
        {pid: [d.frame for d in ds] for pid, ds in pid_dets.items()},
        {pid: ds[0].frame for pid, ds in pid_dets.items()},
        n_frames,
        train_fraction,
        queries_per_id,
    )
    need: dict[int, list[tuple[int, Detection, str, int]]] = {}
    for pid, rows in plan.items():
        for d, (f, folder, cam) in zip(pid_dets[pid], rows):
            need.setdefault(f, []).append((pid, d, folder, cam))
    if overwrite:
        for d in IMAGE_FOLDERS:
            if (output / d).exists():
                shutil.rmtree(output / d)
    for d in IMAGE_FOLDERS:
        (output / d).mkdir(parents=True, exist_ok=True)
    counts = {d: 0 for d in IMAGE_FOLDERS}
    pids: dict[str, set[int]] = {d: set() for d in IMAGE_FOLDERS}
    manifest = []
    for idx, frame in iter_frames(video):
        for pid, d, folder, cam in need.get(idx, ()):
            name = f"{pid:04d}_c{cam}s1_{idx:06d}_00.jpg"
            crop = extract(frame, crop_box(d.box, margin))
            if not cv2.imwrite(str(output / folder / name), crop, [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality]):
                raise OSError(f"could not write {output / folder / name}")
            counts[folder] += 1
            pids[folder].add(pid)
            x, y, w, h = d.box.as_int()
            manifest.append(
                {"file": f"{folder}/{name}", "pid": pid, "camid": cam, "frame": idx,
                 "track": d.track, "x": x, "y": y, "w": w, "h": h}
            )
    manifest.sort(key=lambda r: (r["pid"], r["frame"]))
    with open(output / "manifest.csv", "w", newline="") as fh:
        wr = csv.DictWriter(fh, fieldnames=["file", "pid", "camid", "frame", "track", "x", "y", "w", "h"])
        wr.writeheader()
        wr.writerows(manifest)
    return CutResult(
        output=output,
        n_frames=n_frames,
        height_model=model,
        n_blobs=len(dets),
        n_good=n_good,
        n_tracks=len({d.track for d in dets}),
        n_tracklets=len(tracklets),
        n_identities=len(pid_dets),
        counts=counts,
        pids={k: sorted(v) for k, v in pids.items()},
        excluded=excluded,
        outliers=outliers,
        rows=manifest,
    )


def contact_sheet(root: str | Path, path: str | Path, height: int = 96, per_row: int = 20) -> Path:
    """Write a PNG with every crop of ``root`` (one row per identity, queries framed in red),
    to look at the crops before committing them."""
    cv2 = _cv2()
    root = Path(root)
    with open(root / "manifest.csv") as fh:
        rows = list(csv.DictReader(fh))
    by_pid: dict[int, list[dict]] = {}
    for r in rows:
        by_pid.setdefault(int(r["pid"]), []).append(r)
    w = height // 2
    label_w, row_h = 64, height + 14
    width = label_w + per_row * (w + 2)
    strips = []
    for pid in sorted(by_pid):
        rs = by_pid[pid]
        for k in range(0, len(rs), per_row):
            strip = np.full((row_h, width, 3), 255, np.uint8)
            if k == 0:
                cv2.putText(strip, f"id {pid}", (2, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1)
                cv2.putText(strip, rs[0]["file"].split("/")[0][:11], (2, 40),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.3, (0, 0, 0), 1)
            for i, r in enumerate(rs[k : k + per_row]):
                img = cv2.resize(cv2.imread(str(root / r["file"])), (w, height))
                x = label_w + i * (w + 2)
                strip[:height, x : x + w] = img
                if r["file"].startswith("query/"):
                    cv2.rectangle(strip, (x, 0), (x + w - 1, height - 1), (0, 0, 255), 2)
                cv2.putText(strip, r["frame"], (x, height + 11), cv2.FONT_HERSHEY_SIMPLEX, 0.3, (0, 0, 0), 1)
            strips.append(strip)
        strips.append(np.zeros((2, width, 3), np.uint8))
    path = Path(path)
    cv2.imwrite(str(path), np.vstack(strips) if strips else np.full((10, 10, 3), 255, np.uint8))
    return path


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m tools.cut_vtest",
        description="Cut Market-1501-style person crops with pseudo-identities from a "
        "static-camera video (MOG2 background subtraction + IoU tracker).",
    )
    p.add_argument("--video", required=True, help="path to the video, e.g. vtest.avi")
    p.add_argument("--output", default="ianet_viz/reid/vtest", help="output folder (default: ianet_viz/reid/vtest, the bundled crops)")
    p.add_argument("--every", type=int, default=10,
                   help="min frames between two crops of one identity (default 10 = 1 s)")
    p.add_argument("--warmup", type=int, default=None,
                   help="frames fed to the background model first (default: the whole video)")
    p.add_argument("--min-crops", type=int, default=2, help="drop identities with fewer crops")
    p.add_argument("--train-fraction", type=float, default=0.5,
                   help="identities starting in this first fraction of the video go to train")
    p.add_argument("--queries-per-id", type=int, default=1)
    p.add_argument("--min-area", type=int, default=150, help="smallest blob, in pixels")
    p.add_argument("--min-height", type=float, default=40.0, help="smallest person, in pixels")
    p.add_argument("--iou", type=float, default=0.3, help="tracker IoU threshold")
    p.add_argument("--max-missed", type=int, default=8, help="frames a track may coast")
    p.add_argument("--link-gap", type=int, default=8,
                   help="max crowded frames bridged within one track")
    p.add_argument("--link-distance", type=float, default=0.3,
                   help="max colour (Bhattacharyya) distance between stitched tracklets")
    p.add_argument("--quality", type=int, default=90, help="JPEG quality")
    p.add_argument("--no-curation", action="store_true",
                   help="ignore the vtest.avi occluder and exclude lists")
    p.add_argument("--overwrite", action="store_true", help="replace existing crops in OUTPUT")
    p.add_argument("--sheet", default=None, help="also write a contact sheet PNG of all crops here")
    args = p.parse_args(argv)
    res = cut_video(
        args.video,
        args.output,
        every=args.every,
        warmup=args.warmup,
        min_crops=args.min_crops,
        train_fraction=args.train_fraction,
        queries_per_id=args.queries_per_id,
        min_area=args.min_area,
        min_height=args.min_height,
        iou_threshold=args.iou,
        max_missed=args.max_missed,
        link_gap=args.link_gap,
        link_distance=args.link_distance,
        jpeg_quality=args.quality,
        curate=not args.no_curation,
        overwrite=args.overwrite,
    )
    print(res.summary())
    if args.sheet:
        print(f"contact sheet: {contact_sheet(args.output, args.sheet)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
