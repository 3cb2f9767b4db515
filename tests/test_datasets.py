"""Dataset loaders on small fixture trees written here, one per supported layout."""
import json
import warnings
from pathlib import Path

import pytest
from PIL import Image

from ianet_viz.reid import (
    CUHK03,
    MSMT17,
    CorruptImageError,
    DatasetNotFoundError,
    DukeMTMCreID,
    ImageDataset,
    Market1501,
    is_image_file,
    parse_market_name,
    read_image,
)


def _jpeg(path: Path, color=(200, 30, 30), size=(16, 32)):
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "PNG" if path.suffix.lower() == ".png" else "JPEG"
    Image.new("RGB", size, color).save(path, fmt)
    return path


def _junk(folder: Path):
    """Files a real download may contain that are not images."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Thumbs.db").write_bytes(b"\x00\x01 not an image")
    (folder / "readme.txt").write_text("hello")
    (folder / "._0002_c1s1_000001_00.jpg").write_bytes(b"\x00\x05\x16\x07 AppleDouble")


MARKET = {
    "bounding_box_train": [
        "0002_c1s1_000451_03.jpg", "0002_c2s1_000551_01.jpg", "0007_c3s3_064444_02.jpg",
        "0010_c6s4_002277_01.jpg", "0010_c5s1_000101_01.jpg",
        "-1_c1s1_000401_03.jpg", "0000_c2s1_000000_01.jpg",  # junk and distractor: not in train
    ],
    "query": ["0003_c1s1_000026_00.jpg", "0005_c4s1_000101_00.jpg", "0000_c3s1_000001_00.jpg"],
    "bounding_box_test": [
        "0003_c2s1_000301_02.jpg", "0003_c3s1_000301_01.jpg", "0005_c6s2_000101_05.jpg",
        "0000_c1s1_000000_01.jpg", "0000_c5s1_000000_02.jpg",  # distractors: kept
        "-1_c1s1_000401_03.jpg", "-1_c2s1_000401_04.jpg",  # junk: dropped
    ],
}


def _market_tree(d: Path, names=MARKET):
    for folder, files in names.items():
        for name in files:
            _jpeg(d / folder / name)
        _junk(d / folder)
    return d


def _check_market(ds, data_dir):
    assert ds.data_dir == data_dir
    # junk (-1) dropped everywhere, distractor (0) dropped from train only
    assert len(ds.train) == 5 and len(ds.query) == 3 and len(ds.gallery) == 5
    assert all(pid != -1 for _, pid, _ in ds.train + ds.query + ds.gallery)
    assert sum(pid == 0 for _, pid, _ in ds.gallery) == 2
    assert sum(pid == 0 for _, pid, _ in ds.query) == 1
    # train pids 2, 7, 10 -> 0, 1, 2 (sorted); query/gallery keep the original pids
    train = {Path(p).name: (pid, cam) for p, pid, cam in ds.train}
    assert train["0002_c1s1_000451_03.jpg"] == (0, 0)
    assert train["0007_c3s3_064444_02.jpg"] == (1, 2)
    assert train["0010_c6s4_002277_01.jpg"] == (2, 5)
    assert ds.num_train_pids == 3 and ds.num_train_cams == 5
    assert {pid for _, pid, _ in ds.query} == {0, 3, 5}
    # camera ids are 0-based
    assert {cam for _, _, cam in ds.gallery} == {0, 1, 2, 4, 5}
    # non-images ignored; paths are str and exist; lists are sorted
    for items in (ds.train, ds.query, ds.gallery):
        assert all(isinstance(p, str) and Path(p).is_file() and is_image_file(p) for p, _, _ in items)
        assert [p for p, _, _ in items] == sorted(p for p, _, _ in items)
    text = repr(ds)
    assert "train" in text and "gallery" in text and "ids" in text


# ------------------------------------------------------------------------------ Market-1501
def test_market_direct_folder(tmp_path):
    d = _market_tree(tmp_path / "Market-1501-v15.09.15")
    _check_market(Market1501(d), d)


@pytest.mark.parametrize(
    "rel", ["market1501/Market-1501-v15.09.15", "Market-1501-v15.09.15", "market1501"]
)
def test_market_parent_layouts(tmp_path, rel):
    d = _market_tree(tmp_path / rel)
    _check_market(Market1501(tmp_path), d)
    _check_market(Market1501(str(tmp_path)), d)  # str roots too


def test_market_png_and_uppercase_extensions(tmp_path):
    names = {k: list(v) for k, v in MARKET.items()}
    names["query"] = ["0003_c1s1_000026_00.PNG", "0005_c4s1_000101_00.jpeg", "0000_c3s1_000001_00.bmp"]
    d = _market_tree(tmp_path, names)
    assert len(Market1501(d).query) == 3


def test_unparseable_image_names_are_skipped_with_a_warning(tmp_path):
    d = _market_tree(tmp_path)
    _jpeg(d / "query" / "holiday_photo.jpg")
    with pytest.warns(UserWarning, match="holiday_photo.jpg"):
        ds = Market1501(d)
    assert len(ds.query) == 3


def test_parse_market_name():
    assert parse_market_name("0002_c1s1_000451_03.jpg") == (2, 1)
    assert parse_market_name("-1_c3s2_000001_00.jpg") == (-1, 3)
    assert parse_market_name("/x/y/0005_c2_f0046985.jpg") == (5, 2)
    assert parse_market_name("0012_c14s1_000001_00.jpg") == (12, 14)
    assert parse_market_name("Thumbs.db") is None


# ------------------------------------------------------------------------- missing / broken
def _assert_helpful(err, *extra):
    msg = str(err.value)
    for needed in ("bounding_box_train", "query", "bounding_box_test", *extra):
        assert needed in msg, (needed, msg)
    assert isinstance(err.value, FileNotFoundError)


def test_missing_dataset_names_folders_paths_and_download(tmp_path):
    with pytest.raises(DatasetNotFoundError) as err:
        Market1501(tmp_path / "does_not_exist")
    _assert_helpful(err, str(tmp_path / "does_not_exist"), "Market-1501-v15.09.15")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetNotFoundError) as err:
        Market1501(tmp_path / "empty")
    _assert_helpful(err, str(tmp_path / "empty" / "market1501" / "Market-1501-v15.09.15"), "How to get it")
    with pytest.raises(DatasetNotFoundError) as err:
        DukeMTMCreID(tmp_path / "empty")
    _assert_helpful(err, "DukeMTMC-reID", "dukemtmc-reid")


def test_half_extracted_dataset(tmp_path):
    d = tmp_path / "Market-1501-v15.09.15"
    _jpeg(d / "bounding_box_train" / "0002_c1s1_000451_03.jpg")
    _jpeg(d / "query" / "0003_c1s1_000026_00.jpg")
    with pytest.raises(DatasetNotFoundError) as err:
        Market1501(tmp_path)
    _assert_helpful(err, "half-extracted", "missing 'bounding_box_test'", str(d))
    assert err.value.half_extracted
    # present but empty (extraction interrupted early) is half-extracted too
    (d / "bounding_box_test").mkdir()
    (d / "bounding_box_test" / "Thumbs.db").write_bytes(b"x")
    with pytest.raises(DatasetNotFoundError, match="no images in 'bounding_box_test'"):
        Market1501(d)


# ------------------------------------------------------------------------------ DukeMTMC-reID
def test_duke_torchreid_layout(tmp_path):
    d = tmp_path / "dukemtmc-reid" / "DukeMTMC-reID"
    for name in ["0001_c2_f0046182.jpg", "0001_c8_f0100000.jpg", "0005_c1_f0000001.jpg"]:
        _jpeg(d / "bounding_box_train" / name)
    for name in ["0003_c7_f0001.jpg"]:
        _jpeg(d / "query" / name)
    for name in ["0003_c2_f0002.jpg", "0009_c5_f0003.jpg"]:  # 0009: a gallery-only distractor id
        _jpeg(d / "bounding_box_test" / name)
    _junk(d / "query")
    ds = DukeMTMCreID(tmp_path)
    assert ds.data_dir == d
    assert sorted((pid, cam) for _, pid, cam in ds.train) == [(0, 1), (0, 7), (1, 0)]
    assert ds.query[0][1:] == (3, 6)
    assert len(ds.gallery) == 2 and ds.num_train_cams == 3
    assert DukeMTMCreID(d).data_dir == d


def test_combineall_folds_query_and_gallery_into_train(tmp_path):
    d = _market_tree(tmp_path)
    plain = Market1501(d)
    ds = Market1501(d, combineall=True)
    assert ds.combined and not plain.combined
    assert ds.train[: len(plain.train)] == plain.train  # train labels unchanged, first
    added = ds.train[len(plain.train):]
    # query pids 3, 5 (and a distractor, pid 0), gallery pids 3, 3, 5 (and two distractors):
    # the distractors are left out, 3 -> label 3, 5 -> label 4 (after train's 0, 1, 2)
    assert [(Path(p).name, pid) for p, pid, _ in added] == [
        ("0003_c1s1_000026_00.jpg", 3), ("0005_c4s1_000101_00.jpg", 4),
        ("0003_c2s1_000301_02.jpg", 3), ("0003_c3s1_000301_01.jpg", 3), ("0005_c6s2_000101_05.jpg", 4)]
    assert ds.num_train_pids == 5 and ds.query == plain.query and ds.gallery == plain.gallery
    ds.combine_all()  # idempotent
    assert len(ds.train) == 10


def test_duke_train_labels_sorted_and_documented(tmp_path):
    d = tmp_path / "DukeMTMC-reID"
    for name in ["7140_c2_f0046182.jpg", "2053_c8_f0100000.jpg", "0005_c1_f0000001.jpg"]:
        _jpeg(d / "bounding_box_train" / name)
    _jpeg(d / "query" / "0003_c7_f0001.jpg")
    _jpeg(d / "bounding_box_test" / "0003_c2_f0002.jpg")
    ds = DukeMTMCreID(tmp_path)
    assert sorted((Path(p).name[:4], pid) for p, pid, _ in ds.train) == [("0005", 0), ("2053", 1), ("7140", 2)]
    assert "torchreid" in DukeMTMCreID.__doc__ and "set" in DukeMTMCreID.__doc__
    combined = DukeMTMCreID(tmp_path, combineall=True)
    assert [pid for _, pid, _ in combined.train[3:]] == [3, 3]


# ------------------------------------------------------------------------------------ MSMT17
def _msmt_tree(d: Path, train_dir="train", test_dir="test", full_paths=False):
    entries = {
        "list_train.txt": [(f"{train_dir}/0000/0000_000_01_0303morning_0015_0.jpg", 0),
                           (f"{train_dir}/0000/0000_001_05_0303morning_0016_0.jpg", 0),
                           (f"{train_dir}/0001/0001_000_15_0303noon_0001_1.jpg", 1)],
        "list_val.txt": [(f"{train_dir}/0002/0002_000_02_0303noon_0003_0.jpg", 2)],
        "list_query.txt": [(f"{test_dir}/0000/0000_000_03_0303afternoon_0001_0.jpg", 0)],
        "list_gallery.txt": [(f"{test_dir}/0000/0000_001_07_0303afternoon_0002_0.jpg", 0),
                             (f"{test_dir}/0001/0001_000_12_0303afternoon_0003_0.jpg", 1)],
    }
    for list_name, rows in entries.items():
        lines = []
        for rel, pid in rows:
            _jpeg(d / rel)
            # official lists are relative to the train/test folder; some copies are not
            lines.append(f"{rel if full_paths else rel.split('/', 1)[1]} {pid}")
        lines.append("")  # trailing blank line
        (d / list_name).write_text("\r\n".join(lines))
    return d


@pytest.mark.parametrize("version,dirs", [("MSMT17_V1", ("train", "test")),
                                          ("MSMT17_V2", ("mask_train_v2", "mask_test_v2"))])
def test_msmt17_list_files(tmp_path, version, dirs):
    d = _msmt_tree(tmp_path / "msmt17" / version, *dirs)
    ds = MSMT17(tmp_path)
    assert ds.data_dir == d
    assert sorted((pid, cam) for _, pid, cam in ds.train) == [(0, 0), (0, 4), (1, 14)]
    assert all(Path(p).is_file() for p, _, _ in ds.train + ds.query + ds.gallery)
    assert ds.query[0][1:] == (0, 2)
    assert sorted(cam for _, _, cam in ds.gallery) == [6, 11]
    assert ds.num_train_pids == 2 and ds.num_train_cams == 3
    assert len(MSMT17(d, include_val=True).train) == 4
    assert MSMT17(d).data_dir == d


def test_msmt17_combineall_as_torchreid(tmp_path):
    d = _msmt_tree(tmp_path / "MSMT17_V1")
    ds = MSMT17(d, combineall=True)
    # train (2 ids) + val (1 id) relabelled 0..2, then test pids 0 and 1 (real identities in
    # MSMT17: nothing is left out) as labels 3 and 4
    assert sorted(pid for _, pid, _ in ds.train) == [0, 0, 1, 2, 3, 3, 4]
    assert ds.num_train_pids == 5 and len(ds.query) == 1 and len(ds.gallery) == 2
    assert len(MSMT17(d, include_val=True).train) == 4  # val only: not combineall
    doc = MSMT17.__doc__
    assert "include_val" in doc and "query and gallery" in doc


def test_msmt17_lists_relative_to_the_version_folder(tmp_path):
    d = _msmt_tree(tmp_path / "MSMT17_V1", full_paths=True)  # "train/0000/..." entries
    ds = MSMT17(d)
    assert len(ds.train) == 3 and all(Path(p).is_file() for p, _, _ in ds.train + ds.gallery)


def test_msmt17_half_extracted(tmp_path):
    d = _msmt_tree(tmp_path / "MSMT17_V1")
    (d / "list_gallery.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="half-extracted.*list_gallery.txt"):
        MSMT17(tmp_path)
    (tmp_path / "other").mkdir()
    with pytest.raises(DatasetNotFoundError, match="list_train.txt") as err:
        MSMT17(tmp_path / "other")
    assert "MSMT17_V1" in str(err.value) and "bounding_box_train" in str(err.value)


# ------------------------------------------------------------------------------------ CUHK03
CUHK_NP = {
    "bounding_box_train": ["0001_c1_1.png", "0001_c2_2.png", "0004_c1_1.png"],
    "query": ["0100_c1_1.png"],
    "bounding_box_test": ["0100_c2_1.png", "0100_c2_2.png"],
}


@pytest.mark.parametrize("rel", ["cuhk03-np", "cuhk03/cuhk03-np", "."])
def test_cuhk03_np_market_layout(tmp_path, rel):
    base = tmp_path if rel == "." else tmp_path / rel
    _market_tree(base / "labeled", CUHK_NP)
    det = dict(CUHK_NP, query=["0100_c1_1.png", "0101_c1_1.png"],
               bounding_box_test=["0100_c2_1.png", "0101_c2_1.png"])
    _market_tree(base / "detected", det)
    lab = CUHK03(tmp_path)
    assert lab.data_dir == base / "labeled"
    assert sorted((pid, cam) for _, pid, cam in lab.train) == [(0, 0), (0, 1), (1, 0)]
    assert len(lab.query) == 1 and len(lab.gallery) == 2
    detected = CUHK03(tmp_path, labeled=False)
    assert detected.data_dir == base / "detected" and len(detected.query) == 2
    # pointing at the labeled folder itself works as well
    assert CUHK03(base / "labeled").data_dir == base / "labeled"


def _torchreid_split(img_dir: Path, names_pids_cams):
    return [[f"/home/someone/reid-data/cuhk03/{img_dir.name}/{n}", pid, cam] for n, pid, cam in names_pids_cams]


def test_cuhk03_torchreid_prepared_layout(tmp_path):
    d = tmp_path / "cuhk03"
    img = d / "images_labeled"
    names = ["1_001_1_01.png", "1_001_2_06.png", "1_002_1_01.png", "3_010_1_02.png", "3_010_2_07.png"]
    for n in names:
        _jpeg(img / n)
    new = [{
        "train": _torchreid_split(img, [(names[0], 0, 0), (names[1], 0, 1), (names[2], 1, 0)]),
        "query": _torchreid_split(img, [(names[3], 7, 0)]),
        "gallery": _torchreid_split(img, [(names[4], 7, 1)]),
    }]
    classic = [new[0], {"train": new[0]["train"][:2], "query": new[0]["query"], "gallery": new[0]["gallery"]}]
    (d / "splits_new_labeled.json").write_text(json.dumps(new))
    (d / "splits_classic_labeled.json").write_text(json.dumps(classic))
    ds = CUHK03(tmp_path)
    assert ds.data_dir == d
    assert [Path(p).parent for p, _, _ in ds.train] == [img] * 3  # re-rooted
    assert all(Path(p).is_file() for p, _, _ in ds.train + ds.query + ds.gallery)
    assert ds.query == [(str(img / names[3]), 7, 0)]
    assert len(CUHK03(tmp_path, classic_split=True, split_id=1).train) == 2
    assert CUHK03(tmp_path, cuhk03_classic_split=True, split_id=1).train == CUHK03(
        tmp_path, classic_split=True, split_id=1).train
    with pytest.raises(ValueError, match="split_id"):
        CUHK03(tmp_path, classic_split=True, split_id=5)
    # no detected split prepared: clear error
    with pytest.raises(DatasetNotFoundError, match="images_detected"):
        CUHK03(tmp_path, labeled=False)


def test_cuhk03_torchreid_keywords_and_default(tmp_path):
    base = tmp_path / "cuhk03-np"
    _market_tree(base / "labeled", CUHK_NP)
    det = dict(CUHK_NP, query=["0100_c1_1.png", "0101_c1_1.png"],
               bounding_box_test=["0100_c2_1.png", "0101_c2_1.png"])
    _market_tree(base / "detected", det)
    # the default is labeled boxes (torchreid: detected), said where a torchreid user looks
    default = CUHK03(tmp_path)
    assert default.labeled and "labeled boxes" in repr(default)
    assert "detected" in CUHK03.__doc__ and "cuhk03_labeled" in CUHK03.__doc__
    detected = CUHK03(tmp_path, cuhk03_labeled=False)
    assert not detected.labeled and detected.data_dir == base / "detected" and "detected boxes" in repr(detected)
    assert CUHK03(tmp_path, labeled=False, cuhk03_labeled=False).data_dir == base / "detected"
    with pytest.raises(ValueError, match="cuhk03_labeled"):
        CUHK03(tmp_path, labeled=True, cuhk03_labeled=False)
    with pytest.raises(DatasetNotFoundError, match="splits_classic_labeled.json"):
        CUHK03(tmp_path, cuhk03_classic_split=True)
    combined = CUHK03(tmp_path, cuhk03_labeled=False, combineall=True)
    assert len(combined.train) == 3 + 4 and combined.num_train_pids == 2 + 2


def test_cuhk03_raw_mat_only_explains_preparation(tmp_path):
    mat = tmp_path / "cuhk03" / "cuhk03_release" / "cuhk-03.mat"
    mat.parent.mkdir(parents=True)
    mat.write_bytes(b"MATLAB 7.3 MAT-file")
    with pytest.raises(DatasetNotFoundError) as err:
        CUHK03(tmp_path)
    msg = str(err.value)
    assert "cuhk-03.mat" in msg and "torchreid" in msg and "CUHK03-NP" in msg
    assert "bounding_box_train" in msg and "splits_new_labeled.json" in msg


def test_cuhk03_classic_split_needs_prepared_json(tmp_path):
    _market_tree(tmp_path / "cuhk03-np" / "labeled", CUHK_NP)
    with pytest.raises(DatasetNotFoundError, match="splits_classic_labeled.json"):
        CUHK03(tmp_path, classic_split=True)


# --------------------------------------------------------------------------- images, torch
@pytest.fixture
def images(tmp_path):
    good = _jpeg(tmp_path / "0001_c1s1_000001_00.jpg", size=(24, 48))
    png = _jpeg(tmp_path / "0001_c2s1_000002_00.png", color=(0, 255, 0))
    full = (tmp_path / "tmp_full.jpg")
    Image.effect_noise((64, 128), 60).convert("RGB").save(full, "JPEG")
    truncated = tmp_path / "0002_c1s1_000003_00.jpg"
    truncated.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    not_image = tmp_path / "0002_c2s1_000004_00.jpg"
    not_image.write_text("<html>404 Not Found</html>")
    empty = tmp_path / "0003_c1s1_000005_00.jpg"
    empty.write_bytes(b"")
    return good, png, truncated, not_image, empty


def test_read_image_rgb(images):
    good, png, *_ = images
    im = read_image(good)
    assert im.mode == "RGB" and im.size == (24, 48)
    assert read_image(str(png)).getpixel((0, 0)) == (0, 255, 0)
    gray = good.parent / "gray.png"
    Image.new("L", (4, 8), 128).save(gray)
    assert read_image(gray).mode == "RGB"


def test_read_image_corrupt_names_the_path(images):
    _, _, truncated, not_image, empty = images
    for bad in (truncated, not_image, empty):
        with pytest.raises(CorruptImageError) as err:
            read_image(bad)
        assert str(bad) in str(err.value) and err.value.path == str(bad)
        assert "skip_corrupt" in str(err.value)  # the fix hint
        assert isinstance(err.value, OSError) and isinstance(err.value, ValueError)
    with pytest.raises(FileNotFoundError):
        read_image(truncated.parent / "missing.jpg")


def test_image_dataset_items_and_transform(images):
    good, png, *_ = images
    items = [(str(good), 3, 0), (png, 4, 1)]
    ds = ImageDataset(items)
    img, pid, cam, path = ds[1]
    assert img.size == (16, 32) and (pid, cam, path) == (4, 1, str(png))
    import torchvision.transforms as T

    t = ImageDataset(items, transform=T.Compose([T.Resize((32, 16)), T.ToTensor()]))
    x, pid, cam, path = t[0]
    assert tuple(x.shape) == (3, 32, 16) and pid == 3 and path == str(good)
    loader = __import__("torch").utils.data.DataLoader(t, batch_size=2)
    xb, pids, cams, paths = next(iter(loader))
    assert tuple(xb.shape) == (2, 3, 32, 16) and pids.tolist() == [3, 4] and len(paths) == 2
    assert ds.pids == [3, 4] and ds.num_pids == 2 and len(ds) == 2


def test_image_dataset_corrupt_raises_or_is_skipped(images):
    good, png, truncated, not_image, _ = images
    items = [(str(good), 0, 0), (str(truncated), 1, 0), (str(png), 0, 1), (str(not_image), 1, 1)]
    ds = ImageDataset(items)
    with pytest.raises(CorruptImageError, match=str(truncated).replace(".", r"\.")):
        ds[1]
    with pytest.warns(UserWarning) as record:
        ds = ImageDataset(items, skip_corrupt=True)
    messages = " ".join(str(w.message) for w in record)
    assert str(truncated) in messages and str(not_image) in messages
    assert len(ds) == 2 and ds.skipped == [str(truncated), str(not_image)]
    assert [ds[i][3] for i in range(len(ds))] == [str(good), str(png)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(ImageDataset(items[::2], skip_corrupt=True)) == 2  # nothing to warn about
