"""ianet_viz.settings: the smoke switch and the folders the package uses."""
from pathlib import Path

import ianet_viz
from ianet_viz import settings
from ianet_viz.settings import WORKSPACE, relpath


def test_relpath_prints_no_local_paths(tmp_path):
    assert relpath(Path(WORKSPACE) / "runs" / "demo") == "runs/demo"
    assert relpath(tmp_path / "x.pt") == "x.pt"


def test_workspace_is_the_checkout_here_and_folders_follow_it(monkeypatch):
    checkout = Path(ianet_viz.__file__).resolve().parent.parent
    assert WORKSPACE == checkout  # the tests run on an editable install from a checkout
    monkeypatch.setenv("IANET_SMOKE", "0")
    assert not settings.smoke()
    monkeypatch.setenv("IANET_SMOKE", "1")
    assert settings.smoke()
