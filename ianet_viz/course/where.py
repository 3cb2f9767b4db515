"""Where IA helps: IA minus baseline per level of misalignment and confusability, and the fields beside it.

The runs are ``benchmarks.where_ia_helps`` (its docstring is the benchmark's definition); its rows land
in ``benchmarks/results/where_ia_helps.csv``. This module reads them for RESULTS.md and notebook 06.
"""
from __future__ import annotations

import math
from typing import Dict, List, Sequence

import numpy as np

from .stats import format_paired, paired_table
from .sweep import read_results

REFERENCE = "parts:baseline"
#: how the models are named for a reader
MODEL_NAMES = {"parts:baseline": "baseline (no IA)", "parts:demo": "demo IA (K = 1, gate 0.1)",
               "parts:paper": "paper-literal IA"}
CSV_NAME = "where_ia_helps.csv"


def read_rows(folder=None) -> List[Dict[str, str]]:
    """The benchmark's rows, from ``settings.RESULTS_DIR`` (none when it has not run)."""
    return read_results(CSV_NAME, folder) or []


def _median(rows: Sequence[Dict], key: str) -> float:
    vals = []
    for r in rows:
        try:
            vals.append(float(r.get(key, "")))
        except ValueError:
            pass
    return float(np.median(vals)) if vals else math.nan


def level_lines(rows: Sequence[Dict], levels: Sequence[str]) -> List[Dict]:
    """Per level and model: seeds, mAP mean and std, IA minus baseline (``diff``, ``lo``, ``hi``) and the
    stage-2 fields (medians over seeds: cells, own-part share, a same-size Gaussian's own-part share)."""
    out = []
    for level in levels:
        mine = [r for r in rows if r["level"] == level]
        for line in paired_table(mine, REFERENCE):
            runs = [r for r in mine if r["config"] == line["config"]]
            line.update(level=level, cells=_median(runs, "stage2_cells_S"), own=_median(runs, "stage2_own_S"),
                        own_gauss=_median(runs, "stage2_own_gauss"))
            out.append(line)
    return out


def level_table(rows: Sequence[Dict], levels: Sequence[str]) -> List[Dict]:
    """:func:`level_lines` as printable rows."""
    table = []
    for line in level_lines(rows, levels):
        row = {"level": line["level"], "model": MODEL_NAMES.get(line["config"], line["config"]), "seeds": line["n"],
               "mAP %": f"{line['mean']:.1f} ± {line['std']:.1f}", "Δ mAP [95% CI]": format_paired(line)}
        if not math.isnan(line["cells"]):
            row.update({"cells S": f"{line['cells']:.1f}", "own part S": f"{line['own']:.2f}",
                        "own part Gaussian": f"{line['own_gauss']:.2f}"})
        table.append(row)
    return table
