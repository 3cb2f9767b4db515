"""The vtest.avi crop cutter (tools/cut_vtest.py).

The cutter runs on a tiny video written here (coloured "people" walking over a static textured
background); the real vtest.avi is not needed (tests never touch ../shared).
"""
import csv
from pathlib import Path

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")

from ianet_viz.reid import Market1501  # noqa: E402
from tools import cut_vtest as V  # noqa: E402

W, H, N_FRAMES = 320, 240, 60
RED, BLUE = (40, 40, 220), (220, 60, 40)  # BGR


def _person(frame, x, y, color):
    """A 20x50 'pedestrian': a head, a coloured torso, dark legs."""
    cv2.rectangle(frame, (x + 6, y), (x + 13, y + 8), (150, 170, 210), -1)
    cv2.rectangle(frame, (x, y + 9), (x + 19, y + 29), color, -1)
    cv2.rectangle(frame, (x + 2, y + 30), (x + 17, y + 49), (30, 30, 30), -1)


def _frame_at(t, bg):
    f = bg.copy()
    _person(f, 20 + 3 * t, 40, RED)  # A: the whole video, upper lane, left to right
    if t >= 30:
        _person(f, 280 - 4 * (t - 30), 150, BLUE)  # B: from frame 30, lower lane, right to left
    return f


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("video") / "walk.avi"
    rng = np.random.default_rng(0)
    bg = np.full((H, W, 3), 120, np.uint8)
    bg += rng.integers(0, 40, size=(H, W, 1), dtype=np.uint8)  # static texture
    bg = cv2.GaussianBlur(bg, (5, 5), 0)
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (W, H))
    assert out.isOpened(), "OpenCV cannot write MJPG/avi here"
    for t in range(N_FRAMES):
        out.write(_frame_at(t, bg))
    out.release()
    return path


@pytest.fixture(scope="module")
def cut(video, tmp_path_factory):
    out = tmp_path_factory.mktemp("crops")
    res = V.cut_video(video, out, every=5)
    return out, res


# ---------------------------------------------------------------------------------- units
def test_iou_and_crop_box():
    a = V.Box(0, 0, 10, 10)
    assert V.iou(a, a) == pytest.approx(1.0)
    assert V.iou(a, V.Box(5, 0, 10, 10)) == pytest.approx(50 / 150)
    assert V.iou(a, V.Box(20, 20, 5, 5)) == 0.0
    for box in (V.Box(10, 10, 20, 50), V.Box(10, 10, 40, 50)):  # thin and wide blobs
        c = V.crop_box(box)
        assert c.h == pytest.approx(2 * c.w)
        assert c.cx == pytest.approx(box.cx) and c.cy == pytest.approx(box.cy)
        assert c.w >= box.w and c.h >= box.h  # the whole blob is inside


def test_extract_pads_outside_the_frame():
    frame = np.arange(20 * 30 * 3, dtype=np.uint8).reshape(20, 30, 3)
    crop = V.extract(frame, V.Box(-5, -4, 10, 20))
    assert crop.shape == (20, 10, 3)
    assert np.array_equal(crop[4:, 5:], frame[0:16, 0:5])


def test_height_model_ignores_fragments_and_groups():
    rng = np.random.default_rng(0)
    boxes = []
    for y in rng.uniform(150, 500, 60):  # people: h = 0.25 * y_feet + 10
        h = 0.25 * y + 10
        boxes.append(V.Box(100, y - h, h / 2.7, h))
    for y in (200, 300, 400):
        h = 0.25 * y + 10
        boxes.append(V.Box(100, y - 0.4 * h, 0.4 * h / 2.5, 0.4 * h))  # fragments
        boxes.append(V.Box(100, y - 1.8 * h, 1.8 * h / 2.5, 1.8 * h))  # two people, stacked
    a, b = V.fit_height_model(boxes)
    assert a == pytest.approx(0.25, abs=0.01) and b == pytest.approx(10, abs=3)
    model, size = (a, b), (576, 768)
    assert V.is_person_box(V.Box(100, 300 - 85, 30, 85), model, size)
    assert not V.is_person_box(V.Box(100, 300 - 40, 15, 40), model, size)  # fragment
    assert not V.is_person_box(V.Box(100, 300 - 150, 60, 150), model, size)  # group (tall)
    assert not V.is_person_box(V.Box(100, 300 - 85, 70, 85), model, size)  # side by side
    assert not V.is_person_box(V.Box(0, 300 - 85, 30, 85), model, size)  # cut by the border


def test_tracker_keeps_ids_and_flags_a_merge():
    tr = V.IoUTracker()
    ids = []
    for t in range(10):
        tids, touching = tr.update(t, [V.Box(10 + 2 * t, 10, 20, 50), V.Box(200 - 2 * t, 100, 20, 50)])
        ids.append(tuple(tids))
        assert all(len(s) <= 1 for s in touching)
    assert len(set(ids)) == 1 and len(set(ids[0])) == 2
    # two tracks meet in one blob: it touches both predictions
    tr = V.IoUTracker()
    tr.update(0, [V.Box(0, 0, 20, 50), V.Box(24, 0, 20, 50)])
    _, touching = tr.update(1, [V.Box(0, 0, 44, 50)])
    assert len(touching[0]) == 2


# ---------------------------------------------------------------------- the whole pipeline
def test_detect_blobs_finds_both_people(video):
    mog = V.make_subtractor()
    V.warm_up(mog, video)
    found = {}
    for t, frame in V.iter_frames(video):
        boxes, hists, mask = V.detect_blobs(mog, frame)
        found[t] = boxes
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 255}
    big = [b for b in found[45] if b.h > 30]
    assert len(big) == 2
    assert sorted(round(b.bottom) for b in big) == pytest.approx([90, 200], abs=4)
    assert all(h is not None and h.sum() == pytest.approx(1.0, abs=1e-3) for h in hists)


def test_cut_video_tracks_people_with_consistent_ids(cut):
    out, res = cut
    with open(out / "manifest.csv") as fh:
        rows = list(csv.DictReader(fh))
    by_pid = {}
    for r in rows:
        by_pid.setdefault(int(r["pid"]), []).append(r)
    assert sorted(by_pid) == [1, 2] and res.n_identities == 2
    for pid, rs in by_pid.items():
        assert len({r["track"] for r in rs}) == 1  # one track per pseudo-identity
        assert len(rs) >= 2
        frames = [int(r["frame"]) for r in rs]
        assert all(b - a >= 5 for a, b in zip(frames, frames[1:]))  # --every
        # the colour of every crop is the colour of that identity
        colours = []
        for r in rs:
            img = cv2.imread(str(out / r["file"]))
            h, w = img.shape[:2]
            assert abs(h - 2 * w) <= 2  # 2:1 crops at native resolution
            torso = img[int(0.3 * h) : int(0.5 * h), w // 3 : 2 * w // 3].reshape(-1, 3).mean(0)
            colours.append("red" if torso[2] > torso[0] else "blue")
        assert len(set(colours)) == 1
    # A walks from frame 0 (train); B starts at frame 30 of 60 (test)
    assert by_pid[1][0]["file"].startswith("bounding_box_train/")
    assert {r["file"].split("/")[0] for r in by_pid[2]} == {"query", "bounding_box_test"}


def test_cut_output_is_read_by_market1501(cut):
    out, _ = cut
    ds = Market1501(out)
    assert ds.num_train_pids == 1 and len(ds.train) >= 2
    assert {p for _, p, _ in ds.train} == {0}  # relabelled
    assert len(ds.query) == 1 and len(ds.gallery) >= 1
    (_, qpid, qcam), = ds.query
    assert {p for _, p, _ in ds.gallery} == {qpid}
    assert qcam == 0 and {c for _, _, c in ds.gallery} == {1}  # pseudo-cameras c1 / c2
    for path, _, _ in ds.train + ds.query + ds.gallery:
        name = Path(path).name
        assert len(name.split("_")) == 4 and name.endswith("_00.jpg")


def test_cut_refuses_to_overwrite(cut, video):
    out, _ = cut
    with pytest.raises(FileExistsError, match="overwrite"):
        V.cut_video(video, out)


def test_missing_video_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="vtest.avi"):
        V.cut_video(tmp_path / "nope.avi", tmp_path / "out")

