"""ianet_viz.course.paper: the paper's numbers printed beside ours, and only checked ones."""
import pytest

from ianet_viz import stage_sigma
from ianet_viz.course.paper import NOT_REPORTED, PAPER_TABLES, paper_row, paper_sigma1


def test_paper_sigma1_follows_the_map():
    assert paper_sigma1() == 5.0 == stage_sigma(3)[0]
    assert paper_sigma1((128, 64)) == 2.5 == stage_sigma(3, input_size=(128, 64))[0]


def test_paper_rows_print_what_is_known_and_nothing_else():
    assert paper_row("market1501", "IANet") == "paper: top-1 94.4, mAP 83.1"
    assert paper_row("market1501", "ResNet-50 baseline") == "paper: top-1 90.4, mAP 76.2"
    fig7 = paper_row("fig7")
    assert "location relation only" in fig7 and "approximate" in fig7 and "peak at sigma1 = 5" in fig7
    assert PAPER_TABLES["fig7"]["rank1"] is None and PAPER_TABLES["fig7"]["mAP"] is None  # a plot: no values
    for table in ("tab4a", "tab4b", "tab4c"):
        assert paper_row(table) == f"paper ({table}): {NOT_REPORTED}"
    with pytest.raises(KeyError, match="no paper table"):
        paper_row("tab9")
    with pytest.raises(KeyError, match="no row"):
        paper_row("market1501", "PCB")
