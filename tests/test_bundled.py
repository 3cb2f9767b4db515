"""The bundled real crops (ianet_viz/reid/vtest, cut from vtest.avi by tools/cut_vtest.py)."""
import csv
from pathlib import Path

import pytest

from ianet_viz.reid import bundled_crops, bundled_crops_dir, parse_market_name


def test_bundled_crops_load_and_every_query_has_a_match():
    ds = bundled_crops()
    assert len(ds.train) > 0 and len(ds.query) > 0 and len(ds.gallery) > 0
    g = {}
    for _, pid, cam in ds.gallery:
        g.setdefault(pid, set()).add(cam)
    for _, pid, cam in ds.query:
        # a true match exists and survives the Market protocol (other camera)
        assert pid in g and g[pid] - {cam}
    assert ds.num_train_pids >= 10 and len({p for _, p, _ in ds.query}) >= 10
    # train identities (original pids in the file names) are not test identities
    train_orig = {parse_market_name(path)[0] for path, _, _ in ds.train}
    assert not train_orig & {p for _, p, _ in ds.query}


def test_bundled_crops_are_small_and_well_formed():
    from PIL import Image

    root = bundled_crops_dir()
    files = sorted(root.rglob("*.jpg"))
    assert 30 <= len(files) <= 400
    assert sum(f.stat().st_size for f in files) < 4 * 2**20
    with open(root / "manifest.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["file"] for r in rows) == sorted(str(f.relative_to(root)) for f in files)
    for f in files[::10]:
        with Image.open(f) as im:
            w, h = im.size
        assert abs(h - 2 * w) <= 2 and h >= 40


def test_bundled_crops_are_package_data():
    """A plain (non-editable) install has them: they live inside the package, and the build ships them."""
    import tomllib

    import ianet_viz

    assert bundled_crops_dir() == Path(ianet_viz.__file__).resolve().parent / "reid" / "vtest"
    pyproject = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    globs = pyproject["tool"]["setuptools"]["package-data"]["ianet_viz.reid"]
    files = {f.relative_to(bundled_crops_dir().parent) for f in bundled_crops_dir().rglob("*") if f.is_file()}
    assert all(any(f.match(g) for g in globs) for f in files)


def test_bundled_crops_missing_is_a_clear_error(tmp_path, monkeypatch):
    """Neither IANET_DATA_DIR/vtest nor the package's copy: the error says what to do."""
    import ianet_viz.settings as settings
    from ianet_viz.reid import DatasetNotFoundError, bundled

    monkeypatch.setattr(bundled, "PACKAGED_CROPS", tmp_path / "site-packages" / "ianet_viz" / "reid" / "vtest")
    monkeypatch.setattr(settings, "DATA_DIR", tmp_path / "nowhere")
    with pytest.raises(DatasetNotFoundError, match="IANET_DATA_DIR") as err:
        bundled_crops()
    assert "reid/vtest" in str(err.value) and "tools.cut_vtest" in str(err.value)
