"""Dose and response: SIA's fields follow body parts as far as the features know them.

Two numbers per backbone, read side by side:

* the **dose**: what the stage-2 features alone tell about body parts, the balanced accuracy of the
  linear part probe (:func:`ianet_viz.course.probe.part_probe`) on held-out people, beside what the
  cell's position alone tells;
* the **response**: the fields of a demo SIA block on those features (K = 1, the default scale,
  inserted fresh, or as fine-tuned): their size in effective cells and the share of their weight
  on the query's own part with the query cell removed, beside a Gaussian of the same size
  (:func:`ianet_viz.course.mechanism.part_following`).

Fresh blocks have no weights of their own in S (eq. 1 and 3-4 have no parameters), so their S is
a property of the backbone and the scale: what a block would start from.

``benchmarks.pretraining`` writes the table (``results/dose_response.csv``) and notebook 04 shows
it with :func:`plot_dose_response`.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np
import torch
from torch import nn

def with_fresh_blocks(backbone: nn.Module, **options) -> nn.Module:
    """An IANet-R18 whose backbone is ``backbone``'s and whose IA blocks after stages 2 and 3 are fresh,
    with the demo mechanism (:data:`ianet_viz.course.demo.DEMO_MECHANISM`) unless ``options`` say otherwise."""
    from ..model import build_ianet
    from .demo import DEMO_MECHANISM

    net = build_ianet("resnet18", num_classes=2, ia_stages=(2, 3), options=DEMO_MECHANISM, **options)
    net.backbone.load_state_dict(backbone.state_dict())
    return net.eval()


@torch.no_grad()
def field_numbers(model: nn.Module, x: torch.Tensor, masks: np.ndarray, block: str = "stage2") -> Dict[str, float]:
    """:func:`~ianet_viz.course.mechanism.part_following` of the S of ``model``'s ``block`` on ``x``."""
    from ..recorder import RelationRecorder
    from .mechanism import part_following

    model.eval()
    with RelationRecorder(model, keys=("S",)) as rec:
        model(x)
    return part_following(rec.maps[block]["S"], masks, rec.shapes[block])


def dose_response_row(name: str, blocks: str, model: nn.Module, probe_data, held) -> Dict[str, object]:
    """One row of the table: ``probe_data = (x, masks, n_train)`` for the probe, ``held = (x, masks)``
    for the fields (held-out people, never trained on)."""
    from .probe import part_probe, stage_features

    x, masks, n_train = probe_data
    probe = part_probe(stage_features(model, x, stages=(2,))[2], masks, n_train)
    f = field_numbers(model, *held)
    return {"backbone": name, "blocks": blocks, "probe st2": probe["features"], "probe position st2": probe["position"],
            "cells st2": f["cells"], "own part st2": f["own part"], "own part gaussian st2": f["own part (gaussian)"],
            "background st2": f["background"]}


def plot_dose_response(rows: Sequence[Dict[str, object]], title: str = ""):
    """Probe accuracy (x) against the own-part share of the fields (y, filled) and of a Gaussian of the
    same size (hollow), one colour per backbone; the label gives the field's effective cells."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.0, 4.4), layout="constrained")
    colors = plt.get_cmap("tab10")
    for i, r in enumerate(rows):
        x, y, g = float(r["probe st2"]), float(r["own part st2"]), float(r["own part gaussian st2"])
        c = colors(i)
        ax.plot([x, x], [g, y], color=c, lw=1, alpha=0.6)
        ax.scatter([x], [y], color=c, s=60, zorder=3,
                   label=f"{r['backbone']} ({r['blocks']} blocks): {float(r['cells st2']):.1f} cells")
        ax.scatter([x], [g], facecolor="none", edgecolor=c, s=60, zorder=3)
    pos = float(np.mean([float(r["probe position st2"]) for r in rows]))
    ax.axvline(pos, color="0.5", ls="--", lw=1)
    ax.text(pos, ax.get_ylim()[0], " position alone", color="0.4", va="bottom", fontsize=8)
    ax.set_xlabel("linear part probe on stage-2 features (balanced accuracy, held-out people)")
    ax.set_ylabel("own-part share of S (query cell removed)")
    ax.set_title(title or "Dose and response: fields follow parts as far as the features know them\n"
                 "IANet-R18 stage 2, 128x64, synthetic held-out people; hollow: Gaussian of the same size",
                 fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3)
    return fig


def read_rows(path) -> List[Dict[str, object]]:
    """The committed table (``benchmarks/results/dose_response.csv``) as rows with float values."""
    import csv

    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [{k: (v if k in ("backbone", "blocks") else float(v)) for k, v in r.items()} for r in rows]
