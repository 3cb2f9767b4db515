"""ianet_viz.notebook_utils: the small helpers the notebooks share (no training here: fast)."""
import math
from pathlib import Path

import pytest
import torch

from ianet_viz import functional as Fn
from ianet_viz.config import REPO_DIR
from ianet_viz.notebook_utils import (SWEEP_SCALES, cached_imagenet_weights, normalised_entropy, read_results, relpath,
                                      summarise, sweep_config)


def test_cached_imagenet_weights_never_downloads(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    assert cached_imagenet_weights("resnet18") is None
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "resnet18-f37072fd.pth").write_bytes(b"")
    assert cached_imagenet_weights("resnet18") == tmp_path / "checkpoints" / "resnet18-f37072fd.pth"
    with pytest.raises(ValueError, match="backbone"):
        cached_imagenet_weights("vgg16")


def test_relpath_prints_no_local_paths(tmp_path):
    assert relpath(Path(REPO_DIR) / "runs" / "demo") == "runs/demo"
    assert relpath(tmp_path / "x.pt") == "x.pt"


def test_normalised_entropy_bounds():
    m = 12
    assert normalised_entropy(torch.eye(m)) == pytest.approx(0.0)
    assert normalised_entropy(torch.full((m, m), 1.0 / m)) == pytest.approx(1.0)
    s_l = Fn.location_relation(4, 3, (1.0, 2.0), dtype=torch.float64)
    assert 0.0 < normalised_entropy(s_l) < 1.0


def test_summarise_mean_std_in_percent():
    rows = [{"config": "a", "seed": 0, "rank1": 0.5, "mAP": 0.2}, {"config": "a", "seed": 1, "rank1": 0.7, "mAP": 0.4},
            {"config": "b", "seed": 0, "rank1": "0.1", "mAP": "0.1"}]
    a, b = summarise(rows)
    assert (a["config"], a["n"], b["n"]) == ("a", 2, 1)
    assert a["rank1_mean"] == pytest.approx(60.0) and a["rank1_std"] == pytest.approx(math.sqrt(200.0))
    assert b["mAP_mean"] == pytest.approx(10.0) and b["mAP_std"] == 0.0


def test_sweep_config_scales():
    for scale in SWEEP_SCALES:
        cfg = sweep_config(scale, sigma=(2.0, 4.0), output="runs/x").resolved()
        assert cfg.dataset == "synthetic" and cfg.device == "cpu" and cfg.sigma == (2.0, 4.0)
        assert cfg.synthetic_identities == SWEEP_SCALES[scale]["synthetic_identities"]
    with pytest.raises(ValueError, match="scale"):
        sweep_config("huge")


def test_read_results_missing_file_is_none():
    assert read_results("no-such-results-file.csv") is None
