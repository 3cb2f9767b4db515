"""Tests for the synthetic pedestrian generator (ianet_viz.synthetic)."""

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from ianet_viz.synthetic import (
    PART_LABELS,
    Framing,
    Identity,
    Pose,
    ensure_dataset,
    generate_dataset,
    render_person,
    render_sample,
    sample_identity,
    sample_pose,
)
from ianet_viz.synthetic import __main__ as synthetic_cli
from ianet_viz.synthetic import writer
from ianet_viz.synthetic.parts import SUBSETS, VIEWS

REPO = Path(__file__).resolve().parents[1]
MARKET_RE = re.compile(r"([-\d]+)_c(\d)")
NAME_RE = re.compile(r"^(\d{4})_c(\d)s(\d)_(\d{6})_00\.jpg$")
H, W = 64, 32
PARAMS = dict(identities=8, images_per_identity=6, seed=3, height=H, width=W, cameras=6)


def _hashes(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _images(root: Path, subset: str):
    return sorted((root / subset).glob("*.jpg"))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return generate_dataset(tmp_path_factory.mktemp("syn") / "a", **PARAMS)


def test_market_layout_and_names(dataset):
    for sub in SUBSETS:
        assert _images(dataset, sub), sub
    pids = {}
    for sub in SUBSETS:
        pids[sub] = set()
        for p in _images(dataset, sub):
            m = NAME_RE.match(p.name)
            assert m, p.name
            pid, cam = map(int, MARKET_RE.search(p.name).groups())
            assert 1 <= pid <= PARAMS["identities"] and 1 <= cam <= PARAMS["cameras"]
            pids[sub].add(pid)
    assert pids["bounding_box_train"] == {1, 2, 3, 4}
    assert pids["query"] == pids["bounding_box_test"] == {5, 6, 7, 8}
    total = sum(len(_images(dataset, s)) for s in SUBSETS)
    assert total == PARAMS["identities"] * PARAMS["images_per_identity"]
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["status"] == "complete" and manifest["seed"] == PARAMS["seed"]
    attrs = json.loads((dataset / "attributes.json").read_text())
    assert set(attrs["identities"]) == {f"{i:04d}" for i in range(1, 9)}
    assert attrs["part_labels"] == {str(k): v for k, v in PART_LABELS.items()}
    readme = (dataset / "README.txt").read_text()
    assert "bounding_box_train" in readme and "6 bag" in readme


def test_market1501_loader_reads_it(dataset):
    try:
        from ianet_viz.reid import Market1501
    except ImportError:
        pytest.skip("ianet_viz.reid.Market1501 not available yet")
    ds = Market1501(dataset)
    assert len(ds.train) == 4 * PARAMS["images_per_identity"]
    assert {pid for _, pid, _ in ds.train} == {0, 1, 2, 3}
    assert len(ds.query) == len(_images(dataset, "query"))
    assert len(ds.gallery) == len(_images(dataset, "bounding_box_test"))


def test_each_query_has_cross_camera_gallery_match(dataset):
    gallery = [tuple(map(int, MARKET_RE.search(p.name).groups())) for p in _images(dataset, "bounding_box_test")]
    queries = [tuple(map(int, MARKET_RE.search(p.name).groups())) for p in _images(dataset, "query")]
    for pid in {5, 6, 7, 8}:
        assert any(q[0] == pid for q in queries)
    for pid, cam in queries:
        assert any(g_pid == pid and g_cam != cam for g_pid, g_cam in gallery), (pid, cam)
    # at most one query per (pid, camera), as in Market-1501
    assert len(set(queries)) == len(queries)


@pytest.mark.parametrize("k,cameras", [(2, 2), (3, 6), (4, 2), (9, 6)])
def test_query_split_small_cases(k, cameras):
    for pid in range(1, 30):
        rng = np.random.default_rng(pid)
        cams = writer._plan_identity(rng, k, cameras)
        assert len(cams) == k and len(set(cams)) >= 2 and all(0 <= c < cameras for c in cams)
        q = writer._split_queries(cams)
        assert any(q)
        gal = [c for c, f in zip(cams, q) if not f]
        for c, f in zip(cams, q):
            if f:
                assert any(g != c for g in gal)


def test_masks_match_images(dataset):
    for sub in SUBSETS:
        for p in _images(dataset, sub):
            mp = dataset / "masks" / sub / (p.stem + ".png")
            assert mp.is_file(), mp
            img = cv2.imread(str(p), cv2.IMREAD_COLOR)
            mask = cv2.imread(str(mp), cv2.IMREAD_UNCHANGED)
            assert img.shape == (H, W, 3) and mask.shape == (H, W) and mask.dtype == np.uint8
            assert set(np.unique(mask).tolist()) <= set(PART_LABELS)
    n_masks = sum(1 for _ in (dataset / "masks").rglob("*.png"))
    assert n_masks == PARAMS["identities"] * PARAMS["images_per_identity"]


def test_written_files_equal_api_render_in_rgb(dataset):
    """The JPEG (decoded, BGR->RGB) matches render_sample's RGB image; the PNG mask matches exactly."""
    attrs = json.loads((dataset / "attributes.json").read_text())["identities"]
    pid = 1
    names = [p for p in _images(dataset, "bounding_box_train") if p.name.startswith("0001_")]
    # frame numbers are index * 40 + [0, 40): recover the image index from the name
    p = names[0]
    index = int(p.stem.split("_")[2]) // 40
    cam = int(MARKET_RE.search(p.name).group(2)) - 1
    ident = Identity.from_dict(attrs["0001"])
    img, mask = render_sample(ident, pid, index, cam, seed=PARAMS["seed"], height=H, width=W)
    disk = cv2.cvtColor(cv2.imread(str(p), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.abs(disk.astype(int) - img.astype(int)).mean() < 10  # JPEG of a noisy 64x32 image
    assert np.abs(disk.reshape(-1, 3).mean(0) - img.reshape(-1, 3).mean(0)).max() < 3
    swapped = disk[..., ::-1]
    assert np.abs(disk.astype(int) - img.astype(int)).mean() < np.abs(swapped.astype(int) - img.astype(int)).mean()
    disk_mask = cv2.imread(str(dataset / "masks" / "bounding_box_train" / (p.stem + ".png")), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(disk_mask, mask)


def test_same_seed_byte_identical_via_cli(dataset, tmp_path, module="ianet_viz.synthetic"):
    out = tmp_path / "b"
    cmd = [sys.executable, "-m", module, "--output", str(out)]
    for k, v in PARAMS.items():
        cmd += ["--" + k.replace("_", "-"), str(v)]
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    res = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert "images/s" in res.stdout
    assert _hashes(out) == _hashes(dataset)


def test_different_seed_differs(dataset, tmp_path):
    other = generate_dataset(tmp_path / "c", **dict(PARAMS, seed=4))
    a, b = _hashes(dataset), _hashes(other)
    assert (json.loads((dataset / "attributes.json").read_text())
            != json.loads((other / "attributes.json").read_text()))
    jpg_a = {h for k, h in a.items() if k.endswith(".jpg")}
    jpg_b = {h for k, h in b.items() if k.endswith(".jpg")}
    assert len(jpg_a) == len(jpg_b) == 48 and not jpg_a & jpg_b


def test_bag_only_for_identities_with_bag(dataset):
    attrs = json.loads((dataset / "attributes.json").read_text())["identities"]
    for mp in (dataset / "masks").rglob("*.png"):
        has_bag = attrs[mp.name[:4]]["bag"] != "none"
        if not has_bag:
            assert not (cv2.imread(str(mp), cv2.IMREAD_UNCHANGED) == 6).any(), mp.name
    # through the API, over many identities and poses
    rng = np.random.default_rng(0)
    seen_with, with_bag = 0, 0
    for i in range(60):
        ident = sample_identity(rng)
        _, mask = render_person(ident, height=H, width=W, rng=rng, framing=Framing())
        if ident.bag == "none":
            assert not (mask == 6).any()
        else:
            with_bag += 1
            seen_with += bool((mask == 6).any())
    assert with_bag > 10 and seen_with >= 0.8 * with_bag


@pytest.mark.parametrize("view", VIEWS)
def test_typical_poses_have_main_parts(view):
    rng = np.random.default_rng(1)
    for i in range(8):
        ident = sample_identity(rng)
        pose = Pose(**dict(vars(sample_pose(rng)), view=view))
        img, mask = render_person(ident, pose, height=128, width=64, camera=i % 6, rng=rng, framing=Framing())
        assert img.shape == (128, 64, 3) and img.dtype == np.uint8
        assert mask.shape == (128, 64) and mask.dtype == np.uint8
        labels = set(np.unique(mask).tolist())
        assert {0, 1, 2, 3, 4, 5} <= labels, (view, labels)
        assert labels <= set(PART_LABELS)


def test_random_framing_mostly_keeps_parts():
    rng = np.random.default_rng(2)
    ok = 0
    for _ in range(40):
        _, mask = render_person(sample_identity(rng), height=H, width=W, rng=rng)
        ok += {1, 2, 4} <= set(np.unique(mask).tolist())
    assert ok >= 30


def test_render_person_is_reproducible():
    ident = sample_identity(np.random.default_rng(5))
    a = render_person(ident, height=H, width=W, camera=2, rng=np.random.default_rng(7))
    b = render_person(ident, height=H, width=W, camera=2, rng=np.random.default_rng(7))
    c = render_person(ident, height=H, width=W, camera=2)
    d = render_person(ident, height=H, width=W, camera=2)
    for x, y in ((a, b), (c, d)):
        np.testing.assert_array_equal(x[0], y[0])
        np.testing.assert_array_equal(x[1], y[1])
    clean, _ = render_person(ident, Pose(view="left"), height=H, width=W, clean=True)
    assert clean.shape == (H, W, 3)


def test_identity_roundtrip_and_validation():
    ident = sample_identity(np.random.default_rng(0))
    assert Identity.from_dict(json.loads(json.dumps(ident.to_dict()))) == ident
    with pytest.raises(ValueError, match="bag"):
        Identity(bag="backpack")
    with pytest.raises(ValueError, match="view"):
        Pose(view="top")


@pytest.mark.parametrize("kw,match", [
    (dict(identities=0), "identities must be >= 2"),
    (dict(identities=-3), "identities must be >= 2"),
    (dict(images_per_identity=0), "images_per_identity must be >= 2"),
    (dict(images_per_identity=1), "images_per_identity must be >= 2"),
    (dict(height=16), "too small"),
    (dict(width=8), "too small"),
    (dict(cameras=1), "cameras must be >= 2"),
    (dict(cameras=10), "cameras must be <= 9"),
    (dict(identities=2.5), "identities must be an integer"),
])
def test_bad_arguments(tmp_path, kw, match):
    with pytest.raises(ValueError, match=match):
        generate_dataset(tmp_path / "x", **dict(PARAMS, **kw))
    assert not (tmp_path / "x").exists()


def test_bad_output_paths(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("hello")
    with pytest.raises(ValueError, match="is a file"):
        generate_dataset(f, **PARAMS)
    with pytest.raises(ValueError, match="is a file"):
        ensure_dataset(f, **PARAMS)
    d = tmp_path / "foreign"
    d.mkdir()
    (d / "keep.txt").write_text("not ours")
    with pytest.raises(ValueError, match="not empty"):
        generate_dataset(d, **PARAMS)
    assert (d / "keep.txt").read_text() == "not ours"


def test_render_person_bad_arguments():
    ident = Identity()
    with pytest.raises(ValueError, match="too small"):
        render_person(ident, height=20, width=10)
    with pytest.raises(ValueError, match="camera"):
        render_person(ident, camera=-1)
    with pytest.raises(TypeError, match="Identity"):
        render_person({"bag": "left"})


def test_cli_reports_bad_arguments(tmp_path, capsys):
    rc = synthetic_cli.main(["--output", str(tmp_path / "x"), "--identities", "0", "--images-per-identity", "4"])
    assert rc == 2
    assert "identities must be >= 2" in capsys.readouterr().err


def test_ensure_dataset_reuses_and_regenerates(tmp_path, monkeypatch):
    small = dict(identities=2, images_per_identity=2, seed=0, height=H, width=W, cameras=2)
    out = ensure_dataset(tmp_path / "e", **small)
    before = _hashes(out)

    def boom(*a, **k):
        raise AssertionError("should not regenerate")

    monkeypatch.setattr(writer, "generate_dataset", boom)
    assert ensure_dataset(tmp_path / "e", **small) == out
    monkeypatch.undo()
    assert _hashes(out) == before
    # different parameters: regenerated in place
    ensure_dataset(tmp_path / "e", **dict(small, seed=1))
    assert json.loads((out / "manifest.json").read_text())["seed"] == 1
    # a half-written dataset (a file went missing) is regenerated
    next((out / "query").glob("*.jpg")).unlink()
    ensure_dataset(tmp_path / "e", **dict(small, seed=1))
    assert len(list((out / "query").glob("*.jpg"))) == json.loads(
        (out / "manifest.json").read_text())["num_images"]["query"]
