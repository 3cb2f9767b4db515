"""The misalignment and confusability dials (ianet_viz.synthetic.levels) and the 'where IA helps' benchmark."""
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from ianet_viz.synthetic import generate_dataset
from ianet_viz.synthetic import ensure_dataset
from ianet_viz.synthetic.levels import SHARED_FIELDS, Level, framed, group_of, misframed


def _hashes(root: Path):
    return {p.relative_to(root).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.suffix in (".jpg", ".png")}


def test_bad_levels_are_refused():
    with pytest.raises(ValueError, match="misalignment must be one of"):
        Level("tilted")
    with pytest.raises(ValueError, match="group must be an int >= 1"):
        Level("framed", 0)
    with pytest.raises(TypeError, match="level must be a ianet_viz.synthetic.levels.Level"):
        generate_dataset("/nonexistent-never-written", 4, 4, level="misframed")


def test_everyday_level_of_independent_people_is_the_default_generator(tmp_path):
    a = generate_dataset(tmp_path / "a", 6, 4, seed=5, height=64, width=32)
    b = generate_dataset(tmp_path / "b", 6, 4, seed=5, height=64, width=32, level=Level("everyday", 1))
    assert _hashes(a) == _hashes(b)
    assert "level" not in json.loads((a / "manifest.json").read_text())
    assert json.loads((b / "manifest.json").read_text())["level"] == {"misalignment": "everyday", "group": 1}


def test_groups_share_main_garments_and_differ_in_small_parts(tmp_path):
    root = generate_dataset(tmp_path / "g", 16, 4, seed=7, height=64, width=32, level=Level("framed", 4))
    ids = json.loads((root / "attributes.json").read_text())["identities"]
    n_train = sum(1 for v in ids.values() if v["split"] == "train")
    groups = {}
    for pid, attrs in ids.items():
        groups.setdefault(group_of(int(pid), n_train, 4), []).append(attrs)
    assert len(groups) == 4 and all(len(g) == 4 for g in groups.values())
    for members in groups.values():
        assert len({m["split"] for m in members}) == 1  # no group straddles the split
        for f in SHARED_FIELDS:
            assert len({json.dumps(m[f]) for m in members}) == 1, f
        # the small parts tell them apart: no two members of a group are drawn the same
        small = [json.dumps([m[k] for k in ("shoes", "hair", "hair_style", "bag", "hat")]) for m in members]
        assert len(set(small)) == len(small)
    # different groups wear different clothes
    uppers = {json.dumps(g[0]["upper_color"]) for g in groups.values()}
    assert len(uppers) == 4


def test_misalignment_dial_moves_the_box():
    rng = np.random.default_rng(0)
    good = [framed(rng) for _ in range(500)]
    bad = [misframed(rng) for _ in range(500)]
    assert all(0.86 <= f.scale <= 0.96 for f in good)
    assert np.std([f.dx for f in good]) < 0.03
    assert min(f.scale for f in bad) >= 0.55 and max(f.scale for f in bad) <= 1.2
    assert 0.12 < np.std([f.dx for f in bad]) < 0.18
    assert max(abs(f.dy) for f in bad) <= 0.15 and np.std([f.dy for f in bad]) > 0.07


def test_a_set_of_another_level_is_regenerated(tmp_path):
    root = ensure_dataset(tmp_path / "s", 6, 4, seed=1, height=64, width=32, level=Level("misframed", 2))
    before = _hashes(root)
    assert _hashes(ensure_dataset(root, 6, 4, seed=1, height=64, width=32, level=Level("misframed", 2))) == before
    plain = ensure_dataset(root, 6, 4, seed=1, height=64, width=32)  # the same folder, no level: rewritten
    assert "level" not in json.loads((plain / "manifest.json").read_text())
    assert _hashes(plain) != before


def test_level_table_pairs_seeds_against_the_baseline():
    from ianet_viz.course.stats import paired_ci
    from ianet_viz.course.where import level_lines

    base = [80.0, 81.0, 79.5, 80.5, 80.2]
    ia = [81.1, 81.9, 80.7, 81.2, 81.4]
    rows = [{"level": "x", "config": "parts:baseline", "seed": s, "mAP": m} for s, m in enumerate(base)]
    rows += [{"level": "x", "config": "parts:demo", "seed": s, "mAP": m, "stage2_own_S": 0.5 + s / 100}
             for s, m in enumerate(ia)]
    rows += [{"level": "y", "config": "parts:demo", "seed": 0, "mAP": 1.0}]
    lines = level_lines(rows, ["x"])
    demo = next(l for l in lines if l["config"] == "parts:demo")
    ci = paired_ci(ia, base)
    assert demo["level"] == "x" and demo["n"] == 5
    assert demo["diff"] == pytest.approx(np.mean(np.subtract(ia, base)))
    assert (demo["lo"], demo["hi"]) == (pytest.approx(ci["lo"]), pytest.approx(ci["hi"]))
    assert demo["own"] == pytest.approx(0.52)


def test_benchmark_smoke_runs_one_tiny_level():
    from benchmarks.where_ia_helps import main

    rows = main(["--smoke"])
    assert [r["config"] for r in rows] == ["parts:baseline", "parts:demo"]
    assert all(0.0 <= r["mAP"] <= 100.0 and r["level"] == "misframed-g2" for r in rows)
    assert 0.0 <= rows[1]["stage2_own_S"] <= 1.0 and rows[1]["stage2_cells_S"] >= 1.0
