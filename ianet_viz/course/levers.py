"""The committed lever study (``benchmarks/results/mechanism.csv``, written by ``benchmarks.mechanism``) as
tables, one per training regime, each paired with that regime's own baseline.

A configuration's prefix names its regime: none (from random init), ``ft:`` (blocks inserted into each seed's
trained baseline), ``pt:`` (from the backbone pretrained on synthetic identities), ``parts:`` (from the
backbone also taught body parts: the shipped models' regime). Pairing a ``pt:`` row with ``ft:baseline``
would credit IA with what the pretrained backbone does, so every regime has its own reference.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np

from .stats import column_median, format_paired, paired_table

#: (run tag, configuration prefix) -> (what the regime is, its reference configuration)
REGIMES = {
    ("resnet18-128x64-e12-ids100", ""): ("12 epochs from random init", "baseline"),
    ("resnet18-128x64-e6-ids100", "ft:"): ("blocks inserted into each seed's trained baseline, 6 more epochs",
                                           "ft:baseline"),
    ("resnet18-128x64-e6-ids100", "pt:"): ("from the backbone pretrained on synthetic identities, 6 epochs",
                                           "pt:baseline"),
    ("resnet18-128x64-e6-ids100", "parts:"): ("from the backbone also taught body parts (the shipped models' "
                                              "regime), 6 epochs", "parts:baseline"),
}
#: the mechanism columns shown: CSV column -> title
COLUMNS = {"stage2_sia_ratio": "ratio SIA st2", "stage2_cia_ratio": "ratio CIA st2",
           "stage3_sia_ratio": "ratio SIA st3", "stage3_cia_ratio": "ratio CIA st3",
           "stage2_self_S": "self S st2", "stage2_self_S_A_1": "self S^A_1 st2", "stage3_self_S": "self S st3",
           "stage2_lift_S": "lift S st2", "stage2_lift_local": "lift local", "stage2_lift_matched": "lift matched"}


def _regime_of(config: str) -> str:
    return next((p for p in ("ft:", "pt:", "parts:") if config.startswith(p)), "")


def regime_rows(rows: Sequence[Dict], tag: str, prefix: str) -> List[Dict]:
    """The rows of one regime: its run tag and its configuration prefix."""
    return [r for r in rows if r.get("tag") == tag and _regime_of(str(r["config"])) == prefix]


def lever_tables(rows: Sequence[Dict]) -> str:
    """Every regime of ``rows`` as a table: mAP, the paired difference to the regime's reference with its
    95 % CI, and the medians over seeds of :data:`COLUMNS` (a baseline has no block: blank)."""
    out: List[str] = []
    for (tag, prefix), (regime, reference) in REGIMES.items():
        mine = regime_rows(rows, tag, prefix)
        if not mine:
            continue
        out += ["", f"{regime} ({tag}): mAP (%); Δ = paired difference to {reference} over common seeds, 95 % CI",
                f"{'configuration':26s} {'seeds':>5s} {'mAP':>11s} {'Δ [95% CI]':>20s}  "
                + "  ".join(f"{v:>14s}" for v in COLUMNS.values())]
        for line in paired_table(mine, reference):
            runs = [r for r in mine if r["config"] == line["config"]]
            med = [column_median(runs, k) for k in COLUMNS]
            out.append(f"{line['config']:26s} {line['n']:5d} {line['mean']:5.1f} ± {line['std']:3.1f} "
                       f"{format_paired(line):>20s}  "
                       + "  ".join(f"{v:14.3f}" if np.isfinite(v) else f"{'':14s}" for v in med))
    return "\n".join(out[1:])


#: the curves notebook 06 draws: (configuration, block) -> line style
CURVE_STYLES = {("paper", "stage2"): "C0-", ("paper", "stage3"): "C0--",
                ("cosine7+mean+gate0.1", "stage2"): "C1-", ("cosine7+mean+gate0.1", "stage3"): "C1--"}


def plot_curves(curves: Sequence[Dict]):
    """The seed-0 mechanism over training (``results/mechanism_curves.csv``, epoch 0 = initialisation):
    what SIA adds, the self-weight of S and its part lift, per configuration and block."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.3))
    for (config, block), style in CURVE_STYLES.items():
        mine = [r for r in curves if r["config"] == config and r["block"] == block]
        epochs = [int(r["epoch"]) for r in mine]
        for ax, key in zip(axes, ("sia_ratio", "self_S", "lift_S")):
            ax.plot(epochs, [float(r[key]) for r in mine], style, label=f"{config}, {block}")
    titles = ("‖BN(E_S)‖ / ‖F‖ (SIA adds)", "self-weight of S", "part lift of S (query cell removed)")
    for ax, title in zip(axes, titles):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("epoch")
    axes[0].legend(fontsize=7)
    fig.suptitle("Mechanism over training, seed 0: IANet-R18 at 128x64 from random init, synthetic held-out people",
                 fontsize=10)
    fig.tight_layout()
    return fig
