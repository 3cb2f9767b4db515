"""The paper's own numbers, for printing beside ours (Hou et al., "Interaction-and-Aggregation Network
for Person Re-identification", CVPR 2019).

Every table is transcribed from the paper: single runs (the paper reports no error bars), ResNet-50 at
256 x 128, cross-entropy loss, IA blocks in the last bottleneck of stage 3 unless a row says otherwise.

* ``TAB1_3``: IANet against other methods (Tab. 1-3), one entry per dataset.
* ``TAB4``: the ablations, Tab. 4a-f (top-1 and mAP on Market-1501 and DukeMTMC-reID).
* ``TAB5``: other backbones with and without IA blocks (Market-1501).
* Fig. 7 is a plot: the text gives no values, only :data:`FIG7_QUOTE`.

:func:`paper_row` prints one line of them, :func:`paper_table` a whole table, each under the words
:data:`PAPER_SETTING`, so that a reader sees at what scale the paper measured.
"""
from __future__ import annotations

from typing import Dict, List, Optional

from ..model import PAPER_INPUT, stage_sigma
from ..options import STAGE3_SIGMA

#: The paper's stage-3 sigma1 (Fig. 7's choice), in cells of its 16 x 8 map at 256 x 128 (PAPER_INPUT).
PAPER_SIGMA1 = STAGE3_SIGMA[0]
#: what every paper number was measured on, said beside it
PAPER_SETTING = "on Market-1501 with ResNet-50 at 256 x 128"
#: the paper's only words on Fig. 7 (SIA with the location relation only, top-1 and mAP against sigma1)
FIG7_QUOTE = "the performance of SIA is not sensitive to σ1 with a certain range of values"
NOT_REPORTED = "not reported here"

_COLS = ("market_rank1", "market_mAP", "duke_rank1", "duke_mAP")


def _rows(*rows) -> Dict[str, Dict[str, float]]:
    return {name: dict(zip(_COLS, values)) for name, *values in rows}


_BASE = ("base.", 90.4, 76.2, 82.1, 66.0)
#: Tab. 4a-f: row name (the paper's) -> market/duke top-1 and mAP, %
TAB4: Dict[str, Dict[str, Dict[str, float]]] = {
    "tab4a": _rows(_BASE, ("K=1", 91.8, 79.0, 83.6, 68.8), ("K=2", 93.1, 79.0, 84.1, 68.8),
                   ("K=3", 92.2, 78.9, 83.8, 68.7), ("K=5", 91.1, 77.9, 83.5, 67.3)),
    "tab4b": _rows(_BASE, ("MAX", 93.6, 81.8, 85.2, 71.0), ("SUM", 93.5, 81.9, 85.4, 70.9),
                   ("PROD", 93.9, 82.0, 85.6, 71.5)),
    "tab4c": _rows(_BASE, ("Location", 92.1, 79.2, 83.7, 68.5), ("Appearance", 93.9, 82.0, 85.6, 71.5),
                   ("Semantic", 94.1, 82.5, 85.9, 72.2)),
    "tab4d": _rows(_BASE, ("CIA", 91.9, 79.3, 84.3, 68.7), ("SIA & CIA (parallel)", 94.0, 82.5, 85.7, 72.2),
                   ("CIA + SIA (channel first)", 94.1, 82.5, 85.7, 72.3),
                   ("SIA + CIA (spatial first)", 94.3, 82.8, 85.9, 72.3)),
    "tab4e": _rows(_BASE, ("stage1", 93.7, 81.8, 85.3, 71.5), ("stage2", 94.4, 82.8, 86.5, 71.8),
                   ("stage3", 94.3, 82.8, 85.9, 72.3), ("stage4", 92.3, 79.6, 84.8, 69.3)),
    "tab4f": _rows(_BASE, ("stage2", 94.4, 82.8, 86.5, 71.8), ("stage3", 94.3, 82.8, 85.9, 72.3),
                   ("stage23-c", 93.6, 81.9, 86.1, 72.2), ("stage23 (IANet)", 94.4, 83.1, 87.1, 73.4)),
}
TAB4_TITLES = {
    "tab4a": "Tab. 4a, single-context appearance relation, patch size K",
    "tab4b": "Tab. 4b, fusion of K = 1, 2, 3",
    "tab4c": "Tab. 4c, relation map used by SIA",
    "tab4d": "Tab. 4d, combining CIA and SIA",
    "tab4e": "Tab. 4e, stage of one IA block",
    "tab4f": "Tab. 4f, last bottleneck against every block (stage23-c)",
}
#: Tab. 5: Market-1501 top-1 and mAP of other backbones, without and with IA blocks
TAB5: Dict[str, Dict[str, float]] = {
    name: {"rank1": r1, "mAP": m} for name, r1, m in (
        ("R32", 88.7, 72.5), ("R32-IA", 92.6, 79.2), ("R101", 91.1, 76.5), ("R101-IA", 94.0, 83.0),
        ("GN", 83.4, 64.0), ("GN-IA", 87.1, 69.7))}
#: Tab. 1-3: IANet on each dataset (the metrics the paper gives for it)
TAB1_3: Dict[str, Dict[str, float]] = {
    "Market-1501": {"rank1": 94.4, "mAP": 83.1},
    "DukeMTMC-reID": {"rank1": 87.1, "mAP": 73.4},
    "CUHK03 labeled": {"rank1": 92.4, "rank5": 99.0},
    "CUHK03 detected": {"rank1": 90.1, "rank5": 98.2},
    "MSMT17": {"rank1": 75.5, "rank5": 85.5, "rank10": 88.7, "mAP": 46.8},
}

PAPER_TABLES: Dict[str, Dict[str, object]] = {
    # the comparison with the state of the art (Tab. 1) and the ablations' ResNet-50 baseline row
    "market1501": {
        "IANet": {"rank1": 94.4, "mAP": 83.1},
        "ResNet-50 baseline": {"rank1": 90.4, "mAP": 76.2},
    },
    # Fig. 7: a plot; its values are not printed in the paper
    "fig7": {
        "what": "Market-1501, SIA with the location relation only, one block after stage 3 of ResNet-50, 256x128",
        "sigma1": PAPER_SIGMA1,
        "rank1": None,
        "mAP": None,
        "quote": FIG7_QUOTE,
    },
    **{name: {row: {"rank1": v["market_rank1"], "mAP": v["market_mAP"]} for row, v in rows.items()}
       for name, rows in TAB4.items()},
    "tab5": TAB5,
}


def paper_sigma1(input_size=(256, 128)) -> float:
    """The paper's stage-3 sigma1 (5 cells at 256 x 128) in cells of the map at ``input_size``: it
    scales with the map's width (``ianet_viz.stage_sigma(3, input_size=...)``, rule "map")."""
    return stage_sigma(3, input_size=input_size)[0]


def _metrics(entry: Dict[str, float]) -> str:
    names = {"rank1": "top-1", "rank5": "top-5", "rank10": "top-10", "mAP": "mAP"}
    return ", ".join(f"{names[k]} {entry[k]:.1f}" for k in names if entry.get(k) is not None)


def paper_row(table: str, row: Optional[str] = None) -> str:
    """One line for a printout: the paper's Market-1501 numbers of ``table`` (every row, or ``row``),
    with the setting they were measured in; Fig. 7 gives the paper's sentence instead of values."""
    if table not in PAPER_TABLES:
        raise KeyError(f"no paper table {table!r}; tables: {', '.join(PAPER_TABLES)}")
    entry = PAPER_TABLES[table]
    if table == "fig7":
        return f"paper (Fig. 7, {entry['what']}): \"{entry['quote']}\"; no values are printed"
    if row is not None:
        if row not in entry:
            raise KeyError(f"table {table!r} has no row {row!r}; rows: {', '.join(entry)}")
        return f"paper, {PAPER_SETTING}: {_metrics(entry[row])}"
    return f"paper ({TAB4_TITLES.get(table, table)}), {PAPER_SETTING}: " + "; ".join(
        f"{name} {_metrics(v)}" for name, v in entry.items())


def paper_table(table: str) -> List[Dict[str, object]]:
    """The rows of Tab. 4a-f (both datasets) or Tab. 5, for :func:`ianet_viz.viz` tables and printouts."""
    if table in TAB4:
        return [{"row": name, **values} for name, values in TAB4[table].items()]
    if table == "tab5":
        return [{"row": name, **values} for name, values in TAB5.items()]
    raise KeyError(f"no paper table {table!r} with rows; tables: {', '.join([*TAB4, 'tab5'])}")


def paper_difference(table: str, row: str, metric: str = "market_mAP") -> float:
    """The paper's ``row`` minus its baseline row in ``table`` (Tab. 4), in points: what our differences
    with their CIs stand beside."""
    return TAB4[table][row][metric] - TAB4[table]["base."][metric]


def format_paper_table(table: str) -> str:
    """A paper table as lines for a printout, under the setting it was measured in: Tab. 4a-f (Market-1501
    and DukeMTMC-reID, ResNet-50) or Tab. 5 (Market-1501, the backbones named in its rows)."""
    if table == "tab5":
        head = "paper (Tab. 5, other backbones without and with IA blocks), on Market-1501 at 256 x 128"
        lines = [f"  {r['row']:<10s} top-1 {r['rank1']:5.1f}  mAP {r['mAP']:5.1f}" for r in paper_table(table)]
    else:
        head = f"paper ({TAB4_TITLES[table]}), {PAPER_SETTING} (after |: DukeMTMC-reID)"
        lines = [f"  {r['row']:<26s} top-1 {r['market_rank1']:5.1f}  mAP {r['market_mAP']:5.1f} | "
                 f"top-1 {r['duke_rank1']:5.1f}  mAP {r['duke_mAP']:5.1f}" for r in paper_table(table)]
    return "\n".join([head, *lines])
