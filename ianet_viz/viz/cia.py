"""CIA (eq. 7-9) measured: what channel aggregation does to one channel, from input to output.

* :func:`cia_features`: per IA block, the CIA block's input ``F``, its aggregation ``E_C = C F``
  (eq. 8, before the BatchNorm) and its output ``Y = BN(E_C) + F`` (eq. 9), from one recorded pass.
* :func:`fig_cia`: for each small part (bag, shoes, head), the channel that
  :func:`ianet_viz.measures.cia_part_gain` chose for it, drawn as ``F``, ``E_C`` and ``Y`` side by
  side on one image, with the share of the channel's mass that lies on the part under each panel.

The paper claims CIA helps "especially for small-scale visual cues" (Sec. 3.3); the number for that
claim is :func:`~ianet_viz.measures.cia_part_gain` (how much a part channel's share on its part rises
from F to Y, against random channels), and this figure shows the channels behind it.
"""
from __future__ import annotations

from typing import Dict, Mapping, Optional, Sequence

import numpy as np
import torch
from torch import nn

from ..measures import PART_IDS, SMALL_PARTS, cia_part_gain, part_area_shares, positive_mass_shares
from ..recorder import _eval_pass
from .overlay import to_numpy, upsample
from .style import CHANNEL_CMAP, LABEL_SIZE, clean_axis, new_figure, paper_title, viz_style

#: The columns of :func:`fig_cia`: key of :func:`cia_features` -> panel title.
CIA_PANELS = {"F": "F (CIA input)", "E_C": "$E_C = C F$ (before BN)", "Y": "Y = BN($E_C$) + F"}


@torch.no_grad()
def cia_features(model: nn.Module, x: torch.Tensor, blocks: Optional[Sequence[str]] = None,
                 device=None) -> Dict[str, Dict[str, torch.Tensor]]:
    """``{block: {"F", "E_C", "Y", "C"}}`` for the IA blocks with a CIA, from one eval-mode pass on ``x``.

    ``F`` ``[B, C, H, W]``: the CIA block's input (:attr:`RelationRecorder.cia_inputs`); ``C``
    ``[B, C, C]``: its channel relation (eq. 7); ``E_C = C F`` (eq. 8), the aggregated features before
    the BatchNorm; ``Y``: the recorded ``cia_out``, the CIA output ``BN(E_C) + F`` (eq. 9; in the
    paper's SIA+CIA order the IA block's output; in the ``"parallel"`` arrangement the block's sum
    ``F + BN(E_S) + BN(E_C)``). float32 on the CPU; the model's train/eval mode is restored.
    """
    ia = getattr(model, "ia_blocks", None) or {}
    with_cia = [b for b, blk in ia.items() if getattr(blk, "cia", None) is not None]
    if not with_cia:
        raise ValueError("the model has no CIA block (arrangement 'sia' or ia_stages=()): nothing to measure")
    blocks = with_cia if blocks is None else list(blocks)
    unknown = [b for b in blocks if b not in with_cia]
    if unknown:
        raise ValueError(f"no CIA in block(s) {unknown}; blocks with a CIA: {with_cia}")
    rec = _eval_pass(model, x, device, keys=("C", "cia_out"), inputs=True)
    out = {}
    for b in blocks:
        f = rec.cia_inputs[b].float()
        c = rec.maps[b]["C"].float()
        e_c = torch.bmm(c, f.flatten(2)).view_as(f)  # eq. 8: output channel m = sum_n C_mn f_n
        out[b] = {"F": f, "E_C": e_c, "Y": rec.maps[b]["cia_out"].float(), "C": c}
    return out


def _display(x: torch.Tensor) -> np.ndarray:
    """A model input ``[3, H, W]`` (ImageNet-normalised) -> ``[H, W, 3]`` in [0, 1] for imshow."""
    from ..train.transforms import IMAGENET_MEAN, IMAGENET_STD

    img = x.detach().cpu().float() * torch.tensor(IMAGENET_STD)[:, None, None] + torch.tensor(IMAGENET_MEAN)[:, None, None]
    return img.clamp(0, 1).permute(1, 2, 0).numpy()


def fig_cia(
    model: nn.Module,
    x: torch.Tensor,
    masks,
    block: str,
    parts: Sequence[str] = SMALL_PARTS,
    gain: Optional[Mapping[str, Mapping[str, object]]] = None,
    n_channels: int = 8,
    title: Optional[str] = None,
    label: str = "",
    data: str = "held-out synthetic people",
    panel_width: float = 1.45,
    return_info: bool = False,
):
    """One row per small part: the image with the part outlined, then channel ``c`` of ``F``,
    ``E_C = C F`` and ``Y`` (:func:`cia_features`) on that image.

    * ``x`` ``[B, 3, H, W]`` model inputs (ImageNet-normalised, e.g. ``CourseModel.held_out_people``),
      ``masks`` ``[B, H, W]`` their part labels; ``block`` the IA block.
    * the channel of a part is the first that :func:`~ianet_viz.measures.cia_part_gain` chose for it
      (largest mean share on the part in ``F`` on the even-indexed images); it is drawn on the
      odd-indexed image (where it is measured) with the most of the part. ``gain``: a result of
      ``cia_part_gain`` on the same ``F``, ``Y`` and masks, else it is computed here (``n_channels``).
    * colours: the rectified activation (``relu``), one scale per row shared by its three maps (so
      the row shows what the block changed), with a colour bar per row; nearest-neighbour, one
      block per feature-map cell. Under each map: the share of its positive mass on the part.
    * the title names the figure, the model (``label``) and the images (``data``); ``title``
      replaces it.

    ``return_info=True`` returns ``(fig, {"gain", "channels": {part: c}, "images": {part: i},
    "shares": {part: {key: share}}})``.

    One piece: drawing code, panel by panel.
    """
    feats = cia_features(model, x, [block])[block]
    f, y = feats["F"], feats["Y"]
    hw = tuple(f.shape[-2:])
    masks_np = to_numpy(masks)
    if gain is None:
        gain = cia_part_gain(f, y, masks_np, hw=hw, parts=parts, n_channels=n_channels)
    areas = part_area_shares(masks_np, hw, max(max(PART_IDS.values()) + 1, int(masks_np.max()) + 1))
    rows = [p for p in parts if p in gain]
    if not rows:
        raise ValueError(f"none of the parts {list(parts)} is on both an even and an odd image: nothing to draw")
    image_hw = tuple(x.shape[-2:])
    aspect = image_hw[0] / image_hw[1]
    ncols = 1 + len(CIA_PANELS)
    bar_in, gap_in, top_in, bottom_in = 0.75, 0.55, 0.95, 0.45
    fig_w = panel_width * ncols + bar_in + 0.2
    left, right = 0.01, 1 - (bar_in + 0.1) / fig_w
    wspace = 0.08
    img_w_in = (right - left) * fig_w / (ncols + (ncols - 1) * wspace)
    img_h_in = img_w_in * aspect
    fig_h = len(rows) * img_h_in + (len(rows) - 1) * gap_in + top_in + bottom_in
    fig = new_figure(figsize=(fig_w, fig_h))
    info = {"gain": gain, "channels": {}, "images": {}, "shares": {}}
    import matplotlib as mpl

    with viz_style():
        axes = fig.subplots(len(rows), ncols, squeeze=False)
        fig.subplots_adjust(left=left, right=right, bottom=bottom_in / fig_h, top=1 - top_in / fig_h,
                            wspace=wspace, hspace=gap_in / img_h_in)
        for r, part in enumerate(rows):
            pid = PART_IDS[part]
            c = int(gain[part]["channels"][0])
            region = areas[..., pid]  # [B, H, W]
            odd = np.arange(1, len(x), 2)
            odd = odd[region[odd].sum(axis=(1, 2)) > 0]
            i = int(odd[np.argmax(region[odd].sum(axis=(1, 2)))])
            info["channels"][part], info["images"][part] = c, i
            ax = axes[r, 0]
            ax.imshow(_display(x[i]), extent=(0, image_hw[1], image_hw[0], 0), interpolation="bilinear")
            on = (masks_np[i] == pid).astype(float)
            if on.shape != image_hw:
                on = upsample(on, image_hw, "nearest")
            ax.contour(np.arange(image_hw[1]) + 0.5, np.arange(image_hw[0]) + 0.5, on, levels=[0.5],
                       colors="#00E5FF", linewidths=1.2)
            clean_axis(ax)
            ax.set_title(f"{part}, channel {c}" if r else f"input: {part}, channel {c}", fontsize=8)
            maps = {k: np.maximum(to_numpy(feats[k][i, c]).astype(np.float64), 0.0) for k in CIA_PANELS}
            top = max(float(m.max()) for m in maps.values()) or 1.0
            norm = mpl.colors.Normalize(0.0, top)
            info["shares"][part] = {}
            for j, (key, name) in enumerate(CIA_PANELS.items()):
                ax = axes[r, 1 + j]
                ax.imshow(_display(x[i]), extent=(0, image_hw[1], image_hw[0], 0), interpolation="bilinear")
                ax.imshow(upsample(maps[key], image_hw, "nearest"), extent=(0, image_hw[1], image_hw[0], 0),
                          cmap=CHANNEL_CMAP, norm=norm, alpha=0.7, interpolation="nearest")
                clean_axis(ax)
                share = float(positive_mass_shares(maps[key][None, None], region[i][None])[0, 0])
                info["shares"][part][key] = share
                ax.set_title(name if r == 0 else key.replace("E_C", "$E_C$"), fontsize=8)
                ax.set_xlabel(f"{share:.0%} on the {part}", fontsize=LABEL_SIZE, labelpad=2)
            box = axes[r, -1].get_position()
            cax = fig.add_axes((1 - (bar_in - 0.1) / fig_w, box.y0 + 0.1 * box.height, 0.1 / fig_w, 0.8 * box.height))
            cb = fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=CHANNEL_CMAP), cax=cax)
            cb.ax.tick_params(labelsize=6, length=2)
            cb.set_label(f"relu(ch {c})", fontsize=7)
        who = f"{label}; {data}" if label else data
        text = title or (f"CIA on one channel per small part, {block}:\ninput F, aggregation $E_C = C F$, "
                         f"output Y = BN($E_C$) + F\n({who})")
        if title:
            fig.suptitle(text, fontsize=9)
        else:
            paper_title(fig, "eq. 7-9", text, fontsize=9)
        fig.text(0.5, 0.005, "channel: chosen on the even images by its share on the part in F, drawn on an odd "
                 "image;\n% = share of the map's positive mass on the part (outlined in cyan)",
                 ha="center", va="bottom", fontsize=6.5, color="#595959")
    if return_info:
        return fig, info
    return fig
