"""ianet_viz.course.paper: the paper's numbers printed beside ours, as transcribed in its tables."""
import pytest

from ianet_viz import stage_sigma
from ianet_viz.course.paper import (FIG7_QUOTE, PAPER_SETTING, PAPER_TABLES, TAB1_3, TAB4, TAB5, paper_difference,
                                    paper_row, paper_sigma1, paper_table)


def test_paper_sigma1_follows_the_map():
    assert paper_sigma1() == 5.0 == stage_sigma(3)[0]
    assert paper_sigma1((128, 64)) == 2.5 == stage_sigma(3, input_size=(128, 64))[0]


def test_paper_rows_print_the_tables_with_their_setting():
    assert paper_row("market1501", "IANet") == f"paper, {PAPER_SETTING}: top-1 94.4, mAP 83.1"
    assert paper_row("market1501", "ResNet-50 baseline") == f"paper, {PAPER_SETTING}: top-1 90.4, mAP 76.2"
    line = paper_row("tab4b")
    assert PAPER_SETTING in line and "PROD top-1 93.9, mAP 82.0" in line and "base. top-1 90.4, mAP 76.2" in line
    assert paper_row("tab4c", "Semantic").endswith("top-1 94.1, mAP 82.5")
    with pytest.raises(KeyError, match="no paper table"):
        paper_row("tab9")
    with pytest.raises(KeyError, match="no row"):
        paper_row("market1501", "PCB")


def test_fig7_is_the_papers_sentence_not_a_reading_of_the_plot():
    line = paper_row("fig7")
    assert FIG7_QUOTE in line and "no values" in line and "peak" not in line
    assert PAPER_TABLES["fig7"]["rank1"] is None and PAPER_TABLES["fig7"]["mAP"] is None


def test_tables_agree_with_each_other():
    # every Tab. 4 starts from the same baseline, which is the market1501 baseline row
    for rows in TAB4.values():
        assert rows["base."] == {"market_rank1": 90.4, "market_mAP": 76.2, "duke_rank1": 82.1, "duke_mAP": 66.0}
    # rows the paper repeats across tables carry the same numbers
    assert TAB4["tab4b"]["PROD"] == TAB4["tab4c"]["Appearance"]
    assert TAB4["tab4e"]["stage2"] == TAB4["tab4f"]["stage2"] and TAB4["tab4e"]["stage3"] == TAB4["tab4f"]["stage3"]
    assert TAB4["tab4e"]["stage3"] == {k: v for k, v in TAB4["tab4d"]["SIA + CIA (spatial first)"].items()}
    ianet = TAB4["tab4f"]["stage23 (IANet)"]
    assert (ianet["market_rank1"], ianet["market_mAP"]) == (TAB1_3["Market-1501"]["rank1"], TAB1_3["Market-1501"]["mAP"])
    assert (ianet["duke_rank1"], ianet["duke_mAP"]) == (TAB1_3["DukeMTMC-reID"]["rank1"], TAB1_3["DukeMTMC-reID"]["mAP"])
    assert all(TAB5[f"{b}-IA"]["mAP"] > TAB5[b]["mAP"] for b in ("R32", "R101", "GN"))
    assert paper_difference("tab4f", "stage23 (IANet)") == pytest.approx(6.9)
    assert [r["row"] for r in paper_table("tab4a")] == ["base.", "K=1", "K=2", "K=3", "K=5"]
    with pytest.raises(KeyError):
        paper_table("fig7")
