"""course.levers: each training regime's rows are paired with that regime's own baseline."""
from ianet_viz.course.levers import lever_tables, regime_rows

TAG = "resnet18-128x64-e6-ids100"


def _rows():
    rows = []
    for seed, (ft, pt) in enumerate([(55.0, 91.0), (56.0, 92.0), (54.0, 90.0)]):
        rows += [{"tag": TAG, "config": "ft:baseline", "seed": seed, "mAP": ft},
                 {"tag": TAG, "config": "ft:paper", "seed": seed, "mAP": ft + 0.5},
                 {"tag": TAG, "config": "pt:baseline", "seed": seed, "mAP": pt},
                 {"tag": TAG, "config": "pt:cosine7+mean+gate0.1", "seed": seed, "mAP": pt - 0.2,
                  "stage2_sia_ratio": 0.07}]
    return rows


def test_every_regime_has_its_own_reference():
    rows = _rows()
    assert {r["config"] for r in regime_rows(rows, TAG, "pt:")} == {"pt:baseline", "pt:cosine7+mean+gate0.1"}
    text = lever_tables(rows)
    line = next(ln for ln in text.splitlines() if ln.startswith("pt:cosine7+mean+gate0.1"))
    assert "-0.2 [" in line and "+35" not in line  # against pt:baseline, not ft:baseline
    assert "paired difference to pt:baseline" in text and "paired difference to ft:baseline" in text
    ft = next(ln for ln in text.splitlines() if ln.startswith("ft:paper"))
    assert "+0.5 [" in ft and "0.070" in line
