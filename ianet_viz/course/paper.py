"""The paper's own numbers, for printing beside ours (Hou et al., "Interaction-and-Aggregation Network
for Person Re-identification", CVPR 2019).

Only numbers that were checked against the paper go in here; a row that could not be checked holds
``None`` and prints as "not reported here", never a guess. Fig. 7 is a plot without printed values:
what it shows is kept as words (``shape``), read off the figure.

* ``"market1501"``: Market-1501, single query, no re-ranking. IANet 94.4 top-1 / 83.1 mAP, from the
  paper's comparison with the state of the art (also in the public re-ID leaderboards that list it);
  the ResNet-50 baseline of its ablation study (Sec. 4.3), 90.4 / 76.2.
* ``"fig7"``: Fig. 7, Market-1501, top-1 and mAP against sigma1 (sigma2 = 2 sigma1) of the location
  relation, with SIA using the location relation only, one block after stage 3 of ResNet-50 at
  256 x 128 (stage-3 map 16 x 8). No values are printed in the paper.
* ``"tab4a"``, ``"tab4b"``, ``"tab4c"``: Tab. 4a (context sizes K), 4b (fusion: max, sum, product),
  4c (appearance, location, semantic relation). Their rows were not transcribed: not reported here.
"""
from __future__ import annotations

from typing import Dict, Optional

from ..model import PAPER_INPUT, STAGE3_SIGMA, stage_sigma

#: The paper's stage-3 sigma1 (Fig. 7's choice), in cells of its 16 x 8 map at 256 x 128 (PAPER_INPUT).
PAPER_SIGMA1 = STAGE3_SIGMA[0]

NOT_REPORTED = "not reported here"

PAPER_TABLES: Dict[str, Dict[str, object]] = {
    # comparison with the state of the art (Market-1501) and the ablations' ResNet-50 baseline row
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
        "shape": ("read off the paper's Fig. 7, approximate: top-1 and mAP peak at sigma1 = 5 and drop "
                  "for smaller and for larger sigma1"),
    },
    # Tab. 4a-c: rows not transcribed (no number here that was not checked against the paper)
    "tab4a": {"rows": None},
    "tab4b": {"rows": None},
    "tab4c": {"rows": None},
}


def paper_sigma1(input_size=(256, 128)) -> float:
    """The paper's stage-3 sigma1 (5 cells at 256 x 128) in cells of the map at ``input_size``: it
    scales with the map's width (``ianet_viz.stage_sigma(3, input_size=...)``, rule "map")."""
    return stage_sigma(3, input_size=input_size)[0]


def paper_row(table: str, row: Optional[str] = None) -> str:
    """One line for a printout: the paper's numbers of ``table`` (and ``row``), or what is known
    instead ("not reported here"; Fig. 7's shape)."""
    if table not in PAPER_TABLES:
        raise KeyError(f"no paper table {table!r}; tables: {', '.join(PAPER_TABLES)}")
    entry = PAPER_TABLES[table]
    if row is not None:
        if row not in entry:
            raise KeyError(f"table {table!r} has no row {row!r}; rows: {', '.join(entry)}")
        entry = entry[row]
    if table == "fig7":
        values = [f"{k} {entry[k]:.1f}" for k in ("rank1", "mAP") if entry.get(k) is not None]
        return f"paper (Fig. 7, {entry['what']}): " + (", ".join(values) if values else str(entry["shape"]))
    if "rank1" in entry or "mAP" in entry:
        return "paper: " + ", ".join(f"{'top-1' if k == 'rank1' else k} {entry[k]:.1f}" for k in ("rank1", "mAP")
                                     if entry.get(k) is not None)
    return f"paper ({table}): {NOT_REPORTED}"
