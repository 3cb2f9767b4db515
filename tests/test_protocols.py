"""The paper's protocols (Fig. 7, Tab. 4a-c): what is trained, and how rows become differences with CIs."""
import math

import numpy as np
import pytest

from ianet_viz.course import protocols as P
from ianet_viz.course.sweep import sweep_config
from ianet_viz.viz.ablation import plot_difference_tables, plot_sigma_differences


def test_every_ia_run_is_one_sia_block_after_stage_3():
    runs = P.all_runs()
    assert runs[P.BASELINE] == {"ia_stages": ()}
    for label, kw in runs.items():
        if label == P.BASELINE:
            continue
        assert kw["ia_stages"] == (3,) and kw["arrangement"] == "sia", label
        cfg = sweep_config("cpu", **kw).resolved()          # a valid configuration of the sweep's scale
        assert cfg.ia_stages == (3,) and cfg.epochs == 6


def test_fig7_has_both_relations_for_every_sigma():
    runs = P.fig7_runs((0.5, 2.0))
    assert runs[P.fig7_label(0.5, True)]["use_appearance"] is False
    assert "use_appearance" not in runs[P.fig7_label(0.5, False)]
    assert runs[P.fig7_label(2.0, False)]["sigma"] == (2.0, 4.0)


def test_tab4_rows_point_at_runs_and_share_the_default():
    runs = P.all_runs()
    for table, rows in P.TAB4.items():
        for shown, label in rows.items():
            assert label in runs, (table, shown, label)
    # K={1,2,3}, the sweep's geometric-mean fusion and the semantic relation are one and the same run
    assert len({P.TAB4[t][r] for t, r in (("Tab. 4a: context sizes K", "K={1,2,3}"),
                                          ("Tab. 4b: fusion of the K maps (eq. 2)", "geometric mean"),
                                          ("Tab. 4c: relation", "semantic S"))}) == 1


def test_smoke_subset_keeps_the_baseline():
    sub = P.smoke_subset(P.all_runs(), 2)
    assert list(sub)[0] == P.BASELINE and len(sub) == 3


def _rows():
    base = [0.30, 0.32, 0.31, 0.35]
    other = [0.33, 0.36, 0.32, 0.37]   # differences 3, 4, 1, 2 points
    rows = [{"config": P.BASELINE, "seed": s, "mAP": v, "rank1": v + 0.1} for s, v in enumerate(base)]
    rows += [{"config": "x", "seed": s, "mAP": v, "rank1": v + 0.1} for s, v in enumerate(other)]
    rows += [{"config": "y", "seed": 0, "mAP": 0.25, "rank1": 0.3}]
    return rows


def test_difference_table_is_the_paired_t_interval():
    lines = P.difference_table(_rows(), {"shown x": "x", "shown y": "y", "absent": "nope"})
    assert [ln["row"] for ln in lines] == [P.BASELINE, "shown x", "shown y"]
    x = lines[1]
    d = np.array([3.0, 4.0, 1.0, 2.0])
    half = 3.182 * d.std(ddof=1) / math.sqrt(4)  # Student's t, 97.5 %, 3 degrees of freedom, from a printed table
    assert x["pairs"] == 4 and x["diff"] == pytest.approx(2.5)
    assert x["lo"] == pytest.approx(2.5 - half) and x["hi"] == pytest.approx(2.5 + half)
    assert x["mean"] == pytest.approx(34.5)
    assert P.format_paired(x) == f"+2.5 [{2.5 - half:+.1f}, {2.5 + half:+.1f}]"
    assert P.format_paired(lines[2]) == "-5.0 (1 seed)"
    assert P.format_paired(lines[0]) == ""


def test_plots_draw_one_interval_per_row():
    rows = _rows()
    labels = {"s1=1": "x", "s1=2": "y"}
    fig = plot_sigma_differences({"full": P.by_metric(rows, labels)}, xs={"s1=1": 1.0, "s1=2": 2.0})
    assert len(fig.axes) == 2
    fig = plot_difference_tables({"a": P.by_metric(rows, {"x": "x", "y": "y"})}, highlight=("x",))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["x", "y"]


def test_mechanism_rows_skip_the_baseline_and_missing_runs(tmp_path, monkeypatch):
    import ianet_viz.course.sweep as S

    monkeypatch.setattr(S, "RUNS_DIR", tmp_path)
    rows = [{"config": P.BASELINE, "seed": 0}, {"config": P.fig7_label(5.0, False), "seed": 0}]
    assert P.mechanism_rows(rows) == []   # no checkpoint yet: nothing measured, nothing invented
    assert S.run_folder("protocols", "S^L only s1=1", 3) == tmp_path / "notebooks" / "protocols" / "S_L_only_s1=1-seed3"


def test_mechanism_medians_are_per_shown_row():
    mech = [{"config": "a", "seed": s, "sia_ratio": v, "self_S": 1 - v, "lift_S": 2.0, "lift_local": 1.0}
            for s, v in enumerate((0.1, 0.3, 0.2))]
    med = P.mechanism_medians(mech, {"shown": "a", "absent": "b"})
    assert list(med) == ["shown"] and med["shown"]["sia_ratio"] == pytest.approx(0.2)
    assert med["shown"]["self_S"] == pytest.approx(0.8)


def test_contrast_pairs_two_runs_by_seed():
    c = P.contrast(_rows(), "x", P.BASELINE)
    line = P.difference_table(_rows(), {"x": "x"})[1]
    assert c["pairs"] == line["pairs"] and c["diff"] == pytest.approx(line["diff"])
    assert (c["lo"], c["hi"]) == pytest.approx((line["lo"], line["hi"]))
    assert P.contrast(_rows(), P.BASELINE, "x")["diff"] == pytest.approx(-2.5)
    with pytest.raises(ValueError, match="no seed"):
        P.contrast(_rows(), "x", "nope")
