"""Where IA helps: IA minus baseline per level of misalignment and confusability, and the fields beside it.

The runs are ``benchmarks.where_ia_helps`` (its docstring is the benchmark's definition); its rows land
in ``benchmarks/results/where_ia_helps.csv``. This module reads them for RESULTS.md and notebook 06.
"""
from __future__ import annotations

import math
from typing import Dict, List, Sequence

import numpy as np

from .stats import column_median, format_paired, paired_table
from .sweep import read_results

REFERENCE = "parts:baseline"
#: how the models are named for a reader
MODEL_NAMES = {"parts:baseline": "baseline (no IA)", "parts:demo": "demo IA (K = 1, gate 0.1)",
               "parts:paper": "paper-literal IA", "parts:sia": "demo SIA alone", "parts:cia": "demo CIA alone"}
CSV_NAME = "where_ia_helps.csv"


def read_rows(folder=None) -> List[Dict[str, str]]:
    """The benchmark's rows, from ``settings.RESULTS_DIR`` (none when it has not run)."""
    return read_results(CSV_NAME, folder) or []


def level_lines(rows: Sequence[Dict], levels: Sequence[str]) -> List[Dict]:
    """Per level and model: seeds, mAP mean and std, IA minus baseline (``diff``, ``lo``, ``hi``) and the
    stage-2 fields (medians over seeds: cells, own-part share, a same-size Gaussian's own-part share)."""
    out = []
    for level in levels:
        mine = [r for r in rows if r["level"] == level]
        for line in paired_table(mine, REFERENCE):
            runs = [r for r in mine if r["config"] == line["config"]]
            line.update(level=level, cells=column_median(runs, "stage2_cells_S"),
                        own=column_median(runs, "stage2_own_S"), own_gauss=column_median(runs, "stage2_own_gauss"))
            out.append(line)
    return out


def level_table(rows: Sequence[Dict], levels: Sequence[str]) -> List[Dict]:
    """:func:`level_lines` as printable rows."""
    table = []
    for line in level_lines(rows, levels):
        row = {"level": line["level"], "model": MODEL_NAMES.get(line["config"], line["config"]), "seeds": line["n"],
               "mAP %": f"{line['mean']:.1f} ± {line['std']:.1f}", "Δ mAP [95% CI]": format_paired(line)}
        fields = not math.isnan(line["cells"])  # IA models only: a baseline has no S
        row.update({"cells S": f"{line['cells']:.1f}" if fields else "",
                    "own part S": f"{line['own']:.2f}" if fields else "",
                    "own part Gaussian": f"{line['own_gauss']:.2f}" if fields else ""})
        table.append(row)
    return table


#: the two dials as the figure walks them: misalignment at groups of 4, confusability at everyday boxes
MISALIGNMENT_AXIS = ("framed-g4", "everyday-g4", "misframed-g4")
CONFUSABILITY_AXIS = ("everyday-g1", "everyday-g4")
IA_MODELS = ("parts:demo", "parts:paper", "parts:sia", "parts:cia")


def plot_where_ia_helps(lines: Sequence[Dict], title: str = ""):
    """Three panels from :func:`level_lines`: IA minus baseline (mAP points, 95 % CI) along the
    misalignment dial and along the confusability dial, and the demo model's stage-2 fields along the
    misalignment dial (own-part share of S against a Gaussian of the same size, and the baseline's mAP)."""
    import matplotlib.pyplot as plt

    by = {(ln["level"], ln["config"]): ln for ln in lines}
    fig, axes = plt.subplots(1, 3, figsize=(13.0, 4.2), layout="constrained")
    colors = {"parts:demo": "tab:orange", "parts:paper": "tab:blue", "parts:sia": "tab:red", "parts:cia": "tab:purple"}
    for ax, axis, name in ((axes[0], MISALIGNMENT_AXIS, "misalignment (groups of 4 look-alikes)"),
                           (axes[1], CONFUSABILITY_AXIS, "confusability (everyday boxes)")):
        for j, model in enumerate(IA_MODELS):
            pts = [(i, by[(lv, model)]) for i, lv in enumerate(axis) if "diff" in by.get((lv, model), {})]
            if not pts:
                continue
            x = np.array([i for i, _ in pts]) + (j - 1.5) * 0.08
            d = np.array([ln["diff"] for _, ln in pts])
            err = np.array([[ln["diff"] - ln["lo"], ln["hi"] - ln["diff"]] for _, ln in pts]).T
            ax.errorbar(x, d, yerr=err, fmt="o-", color=colors[model], capsize=4,
                        label=MODEL_NAMES[model])
        ax.axhline(0.0, color="0.4", lw=1)
        ax.set_xticks(range(len(axis)), axis)
        ax.set_xlabel(name)
        ax.set_ylabel("IA − baseline, mAP points (95 % CI, paired seeds)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    ax = axes[2]
    demo = [by.get((lv, "parts:demo"), {}) for lv in MISALIGNMENT_AXIS]
    xs = range(len(MISALIGNMENT_AXIS))
    ax.plot(xs, [ln.get("own", np.nan) for ln in demo], "o-", color="tab:orange", label="own-part share of S (demo)")
    ax.plot(xs, [ln.get("own_gauss", np.nan) for ln in demo], "o--", color="0.5",
            label="Gaussian of the same size")
    for x, ln in zip(xs, demo):
        if not np.isnan(ln.get("cells", np.nan)):
            ax.annotate(f"{ln['cells']:.1f} cells", (x, ln["own"]), textcoords="offset points", xytext=(0, 8),
                        ha="center", fontsize=8)
    ax.set_xticks(list(xs), MISALIGNMENT_AXIS)
    ax.set_ylim(0, 1)
    ax.set_ylabel("share of S's weight on the query's part")
    ax.set_xlabel("misalignment (groups of 4 look-alikes)")
    base = [by.get((lv, REFERENCE), {}).get("mean", np.nan) for lv in MISALIGNMENT_AXIS]
    ax2 = ax.twinx()
    ax2.plot(xs, base, "s:", color="tab:green", label="baseline mAP (right axis)")
    ax2.set_ylim(0, 100)
    ax2.set_ylabel("baseline mAP %")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=8, loc="lower left")
    ax.grid(alpha=0.3)
    fig.suptitle(title or "Where IA helps: IANet-R18 at 128x64 fine-tuned from the part-taught backbone, "
                 "synthetic levels (100 ids, 5 paired seeds)", fontsize=11)
    return fig


LEVEL_ORDER = ("everyday-g1", "framed-g4", "everyday-g4", "misframed-g4")


def verdict(lines: Sequence[Dict]) -> List[str]:
    """One line per IA model: the levels where its 95 % CI lies above zero, below zero, or holds it."""
    out = []
    for model in IA_MODELS:
        mine = [ln for ln in lines if ln["config"] == model and "lo" in ln]
        if not mine:
            continue
        groups = {"helps (CI above 0)": [ln for ln in mine if ln["lo"] > 0],
                  "hurts (CI below 0)": [ln for ln in mine if ln["hi"] < 0],
                  "ties (CI holds 0)": [ln for ln in mine if ln["lo"] <= 0 <= ln["hi"]]}
        parts = [what + " at " + ", ".join(f"{ln['level']} ({format_paired(ln, 2)})" for ln in got)
                 for what, got in groups.items() if got]
        out.append(f"{MODEL_NAMES[model]}: " + "; ".join(parts))
    return out


def report(rows: Sequence[Dict], levels: Sequence[str] = LEVEL_ORDER) -> str:
    """The table of :func:`level_table` as text, then :func:`verdict`: what notebook 06 prints."""
    from ..viz.alignment import Table

    table = level_table(rows, levels)
    if not table:
        return ""
    return "\n".join([str(Table(table)), ""] + verdict(level_lines(rows, levels)))
