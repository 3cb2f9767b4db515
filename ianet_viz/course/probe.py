"""What do the features know about body parts, before any IA block looks at them? A linear probe.

SIA can only gather a part if the features it relates tell parts apart (eq. 1 is a dot product of
features). This module asks that question directly: a linear classifier (multinomial logistic
regression) predicts each feature-map cell's body-part label (the majority label of its pixels in
the synthetic part masks) from the cell's feature vector at stage 2 or 3, the input the SIA block of
that stage sees. It is fitted on some held-out people and scored on *other* held-out people, so it
measures what generalises, not what it memorised.

* :func:`stage_features`: the stage-2 and stage-3 feature maps (before their IA blocks), any model.
* :func:`fit_probe` / :func:`probe_accuracy`: the probe and its balanced accuracy (mean recall over
  the labels present: a probe that always says "background" scores ``1 / n_labels``).
* :func:`position_probe`: the control that knows only where a cell is (a one-hot of its position):
  parts are partly predictable from height alone (the head is at the top), so features must beat it.
* :func:`held_out_root`: people never trained on by any model here (synthetic seed
  :data:`HELD_OUT_SEED`), for the probe and for the mechanism numbers.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ..viz.alignment import cell_labels

#: The synthetic seed of the held-out people: disjoint from the demo split (0) and the corpus (1000).
HELD_OUT_SEED = 4242


def held_out_root(size: Sequence[int] = (128, 64), identities: int = 100, images: int = 12) -> Path:
    """The held-out synthetic people (generated on first use, about 5 s); returns their folder."""
    from ..synthetic import ensure_dataset
    from ..train.loaders import synthetic_root

    root = synthetic_root(identities, images, size[0], size[1], HELD_OUT_SEED)
    ensure_dataset(root, identities=identities, images_per_identity=images, seed=HELD_OUT_SEED,
                   height=size[0], width=size[1])
    return root


@torch.no_grad()
def stage_features(model: nn.Module, x: torch.Tensor, stages: Sequence[int] = (2, 3)) -> Dict[int, torch.Tensor]:
    """``{stage: [B, C, H, W]}``: the output of each ResNet stage *before* that stage's IA block (the
    features SIA relates). Works for a baseline and for an IANet (later stages see the blocks'
    outputs, as in the trained network)."""
    backbone = model.backbone
    blocks = getattr(model, "ia_blocks", {})
    model.eval()
    h = backbone.maxpool(backbone.relu(backbone.bn1(backbone.conv1(x))))
    out = {}
    for stage in range(1, max(stages) + 1):
        layer = getattr(backbone, f"layer{stage}")
        for i, block in enumerate(layer):
            h = block(h)
            if i == len(layer) - 1 and stage in stages:
                out[stage] = h.detach().clone()
            name = f"stage{stage}_b{i}" if getattr(model, "per_block", False) else \
                (f"stage{stage}" if i == len(layer) - 1 else None)
            if name is not None and name in blocks:
                h = blocks[name](h)
    return out


def cell_dataset(features: torch.Tensor, masks: np.ndarray) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(X [B*H*W, C], y [B*H*W])``: one sample per cell, labelled by the majority part of its pixels."""
    b, c, h, w = features.shape
    if len(masks) != b:
        raise ValueError(f"{b} feature maps but {len(masks)} masks")
    y = torch.from_numpy(cell_labels(masks, (h, w)).reshape(-1)).long()
    return features.permute(0, 2, 3, 1).reshape(-1, c).float(), y


def fit_probe(X: torch.Tensor, y: torch.Tensor, n_labels: int, steps: int = 300, weight_decay: float = 1e-3,
              seed: int = 0) -> nn.Module:
    """A standardised linear classifier fitted by full-batch L-BFGS on the cross-entropy, with classes
    weighted by inverse frequency (so that the small parts count as much as the background)."""
    torch.manual_seed(seed)
    mean, std = X.mean(0), X.std(0).clamp_min(1e-6)
    lin = nn.Linear(X.shape[1], n_labels)
    nn.init.zeros_(lin.weight), nn.init.zeros_(lin.bias)
    counts = torch.bincount(y, minlength=n_labels).float()
    weight = torch.where(counts > 0, counts.sum() / (n_labels * counts.clamp_min(1)), torch.zeros(()))
    Xs = (X - mean) / std
    opt = torch.optim.LBFGS(lin.parameters(), lr=1.0, max_iter=steps, history_size=20, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(lin(Xs), y, weight=weight) + weight_decay * lin.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    probe = nn.Sequential(_Standardise(mean, std), lin)
    return probe.eval()


class _Standardise(nn.Module):
    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean)
        self.register_buffer("std", std)

    def forward(self, x):
        return (x - self.mean) / self.std


@torch.no_grad()
def probe_accuracy(probe: nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    """Balanced accuracy: the mean over the labels present in ``y`` of the share predicted right."""
    pred = probe(X).argmax(1)
    return float(np.mean([(pred[y == c] == c).float().mean().item() for c in torch.unique(y)]))


def position_features(b: int, hw: Sequence[int]) -> torch.Tensor:
    """``[b*H*W, H*W]``: each cell as a one-hot of its position (the position-only control)."""
    m = int(hw[0]) * int(hw[1])
    return torch.eye(m).repeat(b, 1)


def part_probe(features: torch.Tensor, masks: np.ndarray, n_train: int, n_labels: int = 7) -> Dict[str, float]:
    """``{"features": acc, "position": acc, "features+position": acc}``: balanced accuracy of the
    probe on a feature map ``[B, C, H, W]`` fitted on the first ``n_train`` images and scored on the
    others, of the position-only control on the same cells, and of both together."""
    if not 0 < n_train < len(masks):
        raise ValueError(f"n_train must leave images on both sides: 0 < {n_train} < {len(masks)}")
    X, y = cell_dataset(features, masks)
    cut = n_train * features.shape[2] * features.shape[3]
    out = {"features": probe_accuracy(fit_probe(X[:cut], y[:cut], n_labels), X[cut:], y[cut:])}
    P = position_features(len(masks), features.shape[2:])
    out["position"] = probe_accuracy(fit_probe(P[:cut], y[:cut], n_labels), P[cut:], y[cut:])
    XP = torch.cat([X, P], 1)  # does appearance add to where the cell is?
    out["features+position"] = probe_accuracy(fit_probe(XP[:cut], y[:cut], n_labels), XP[cut:], y[cut:])
    return out


def probe_people(size: Sequence[int] = (128, 64), split: str = "gallery", share: float = 2 / 3):
    """``(x, masks, n_train)``: the held-out people of ``split`` sorted by identity, and where to cut
    them so that the probe is fitted and scored on different people (at a person boundary near ``share``)."""
    from ..reid import Market1501
    from .mechanism import held_out_people

    root = held_out_root(size)
    pids = [pid for _, pid, _ in sorted(getattr(Market1501(root), split))]
    x, masks = held_out_people(root, size, n=len(pids), split=split)
    cut = int(len(pids) * share)
    while 0 < cut < len(pids) and pids[cut] == pids[cut - 1]:
        cut += 1
    return x, masks, cut
