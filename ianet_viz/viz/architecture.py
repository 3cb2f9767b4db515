"""The network as a diagram: the paper's Fig. 6, drawn by code (:func:`plot_architecture`).

Fig. 6 of Hou et al. 2019: (a) an IA block is an SIA block followed by a CIA block, each
``Y = BN(E) + F`` (eq. 9); (b) IANet is a ResNet-50 with the last stride set to 1 and IA blocks
after stage 2 and stage 3, then global pooling and an identity classifier. The diagram is built from
the same numbers as :func:`ianet_viz.build_ianet` (channels per stage, map sizes at the input size),
and it marks what this package adds to the paper's network: the BatchNorm1d neck between pooling
and the classifier (dashed).
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .style import LABEL_SIZE, new_figure, paper_title, viz_style

#: Output channels of the four ResNet stages (BasicBlock ResNets 18/34, Bottleneck ResNets 50/101).
STAGE_CHANNELS = {"resnet18": (64, 128, 256, 512), "resnet34": (64, 128, 256, 512),
                  "resnet50": (256, 512, 1024, 2048), "resnet101": (256, 512, 1024, 2048)}
#: Stride of each stage's output (stage 4: last stride 1, as in the paper).
STAGE_STRIDES = (4, 8, 16, 16)

_FILL = {"input": "#ececec", "stage": "#cfe2f3", "ia": "#fbd9b0", "sia": "#f6b26b", "cia": "#e69138",
         "head": "#d9ead3", "ours": "#ffffff"}


def _box(ax, x, y, w, h, text, kind, dashed=False, fontsize=LABEL_SIZE):
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.06", linewidth=1.0,
                                facecolor=_FILL[kind], edgecolor="#404040", linestyle="--" if dashed else "-"))
    ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=fontsize, linespacing=1.15)


def _arrow(ax, x0, y0, x1, y1, **kwargs):
    ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=8, linewidth=0.9,
                                 color="#404040", shrinkA=0, shrinkB=0, **kwargs))


def plot_architecture(backbone: str = "resnet50", ia_stages: Sequence[int] = (2, 3),
                      input_size: Tuple[int, int] = (256, 128), neck: bool = True, title: Optional[str] = None):
    """Fig. 6 (Hou et al. 2019): (b) the network along the top, (a) one IA block below.

    ``backbone`` sets the channels of each stage, ``ia_stages`` where the IA blocks sit, ``input_size``
    the map size printed in each box (``C x H x W``); ``neck=True`` draws this package's BatchNorm1d
    neck (dashed: not in the paper). ``title`` replaces the default title.
    """
    if backbone not in STAGE_CHANNELS:
        raise ValueError(f"backbone must be one of {', '.join(STAGE_CHANNELS)}, got {backbone!r}")
    bad = [s for s in ia_stages if s not in (1, 2, 3, 4)]
    if bad:
        raise ValueError(f"ia_stages must be among 1, 2, 3, 4, got {bad}")
    chans = STAGE_CHANNELS[backbone]
    h, w = int(input_size[0]), int(input_size[1])
    fig = new_figure(figsize=(10.0, 4.4))
    with viz_style():
        ax = fig.add_axes((0.0, 0.0, 1.0, 0.9))
        ax.set_xlim(0, 20)
        ax.set_ylim(0, 8.8)
        ax.set_axis_off()
        # (b) the network
        ax.text(0.1, 8.45, "(b) IANet", fontsize=9, fontweight="bold", va="center")
        y, bh = 5.6, 1.9
        items = [("input", f"image\n3x{h}x{w}", 1.35)]
        items.append(("stage", f"stem\nconv, pool\n64x{h // 4}x{w // 4}", 1.35))
        for s in (1, 2, 3, 4):
            stride = STAGE_STRIDES[s - 1]
            extra = "\nlast stride 1" if s == 4 else ""
            items.append(("stage", f"stage {s}\n{chans[s - 1]}x{h // stride}x{w // stride}{extra}", 1.5))
            if s in ia_stages:
                items.append(("ia", "IA\nblock", 0.95))
        items.append(("head", "global\navg pool", 1.2))
        if neck:
            items.append(("ours", "BN neck\n(this\npackage)", 1.2))
        items.append(("head", "FC: ID\nclassifier", 1.2))
        gap = 0.28
        x = 0.1
        ia_boxes = []
        for i, (kind, text, bw) in enumerate(items):
            _box(ax, x, y, bw, bh, text, kind, dashed=(kind == "ours"))
            if kind == "ia":
                ia_boxes.append((x, bw))
            if i < len(items) - 1:
                _arrow(ax, x + bw, y + bh / 2, x + bw + gap, y + bh / 2)
            x += bw + gap
        ax.text(x - gap / 2, y + bh / 2, "→ cross-entropy", fontsize=LABEL_SIZE, va="center", ha="left")
        # (a) one IA block
        ax.text(0.1, 3.95, "(a) IA block = SIA block, then CIA block", fontsize=9, fontweight="bold", va="center")
        ya, ha = 1.1, 2.1
        parts = [("input", "$F$\nC x H x W", 1.3),
                 ("sia", "SIA (eq. 1-6)\n$S = \\mathrm{fuse}(S^A, S^L)$\n$E_S = F\\,S^\\top$", 3.0),
                 ("sia", "$F' = \\mathrm{BN}(E_S) + F$\n(eq. 9; BN from 0)", 3.0),
                 ("cia", "CIA (eq. 7-8)\n$C = \\mathrm{softmax}(F F^\\top)$\n$E_C = C\\,F'$", 3.0),
                 ("cia", "$Y = \\mathrm{BN}(E_C) + F'$\n(eq. 9)", 3.0),
                 ("input", "$Y$\nC x H x W", 1.3)]
        x = 0.6
        for i, (kind, text, bw) in enumerate(parts):
            _box(ax, x, ya, bw, ha, text, kind)
            if i < len(parts) - 1:
                _arrow(ax, x + bw, ya + ha / 2, x + bw + 0.5, ya + ha / 2)
            x += bw + 0.5
        # each IA box of (b) points at the detail (a)
        for bx, bw in ia_boxes:
            ax.plot([bx + bw / 2, bx + bw / 2], [y, 3.55], color="#b0b0b0", linewidth=0.8, linestyle=":")
        ax.text(19.9, 0.35, "sizes at a " + f"{h}x{w} input; dashed: not in the paper", fontsize=7, ha="right",
                color="#595959")
        stages = ", ".join(str(s) for s in ia_stages) or "none"
        default = f"{backbone}, IA blocks after stage {stages}"
        if title:
            fig.suptitle(title)
        else:
            paper_title(fig, "Fig. 6", default)
    return fig
