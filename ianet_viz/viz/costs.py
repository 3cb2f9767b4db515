"""Notebook 02's cost figure: multiply-adds per part of the network, and per operator and stage."""
from __future__ import annotations

from typing import Dict, List, Sequence

import matplotlib.pyplot as plt
import numpy as np

#: the paper's cost claim, GMac (Sec. 4.3): the ResNet-50 baseline, and with one SIA block after stage 3
PAPER_GMAC = (4.06, 4.09)
STAGES = ("stem", "stage1", "stage2", "stage3", "stage4")


def plot_costs(reports: Dict[str, List[dict]], op_cost: Dict[int, dict], names: Sequence[str]):
    """Left: GMac per part (stem, stages, IA blocks) of the networks ``names`` (rows of ``cost_report``
    in ``reports``), the paper's two totals as lines. Right: one SIA or CIA operator after each stage
    (``op_cost[stage]``: ``SIA``, ``CIA`` GMac and the map's ``H``, ``W``, ``C``), log scale."""
    colors = plt.cm.Blues(np.linspace(0.35, 0.85, len(STAGES)))
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 3.9), gridspec_kw={"width_ratios": [3, 2]})
    for i, name in enumerate(names):
        rows = {r["part"]: r["gmacs"] for r in reports[name]}
        left = 0.0
        for part, col in zip(STAGES, colors):
            ax.barh(i, rows[part], left=left, color=col, edgecolor="w", label=part if i == 0 else None)
            left += rows[part]
        for part in [p for p in rows if p.startswith("IA ")]:
            ax.barh(i, rows[part], left=left, color="tab:orange" if "2" in part else "tab:red", edgecolor="w",
                    label=part if i == len(names) - 1 else None)
            left += rows[part]
        ax.text(left + 0.03, i, f"{rows['total']:.2f}", va="center", fontsize=9)
    ax.axvline(PAPER_GMAC[0], color="k", ls=":", lw=1)
    ax.axvline(PAPER_GMAC[1], color="k", ls="--", lw=1)
    ax.set_yticks(range(len(names)), names, fontsize=9)
    ax.set_xlabel("GMac per 256x128 image")
    ax.set_xlim(0, 5.6)
    ax.legend(fontsize=7, ncol=7, loc="upper center", bbox_to_anchor=(0.45, -0.2), columnspacing=0.8)
    ax.set_title(f"GMac per part; paper: {PAPER_GMAC[0]} (dotted) and {PAPER_GMAC[1]} (dashed)", fontsize=9)
    st = np.arange(1, 5)
    ax2.bar(st - 0.2, [op_cost[s]["SIA"] for s in st], 0.4, label="SIA (2CM²)")
    ax2.bar(st + 0.2, [op_cost[s]["CIA"] for s in st], 0.4, label="CIA (2C²M)")
    ax2.set_xticks(st, [f"stage {s}\n{op_cost[s]['H']}x{op_cost[s]['W']}\nC={op_cost[s]['C']}" for s in st], fontsize=8)
    ax2.set_yscale("log")
    ax2.set_ylabel("GMac")
    ax2.legend(fontsize=8)
    ax2.set_title("one SIA or CIA operator after each stage", fontsize=9)
    fig.tight_layout()
    return fig
