"""Losses: identity cross-entropy (optionally label-smoothed) and the batch-hard triplet loss."""

from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["pairwise_euclidean", "batch_hard_triplet_loss", "TripletLoss", "ReIDLoss"]


def pairwise_euclidean(x: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Euclidean distance matrix ``[B, B]`` of the rows of ``x`` (clamped before the sqrt)."""
    x = x.float()
    sq = (x * x).sum(1)
    d2 = sq[:, None] + sq[None, :] - 2.0 * x @ x.T
    return d2.clamp_min(eps).sqrt()


def batch_hard_triplet_loss(feat: torch.Tensor, pids: torch.Tensor, margin: Optional[float] = 0.3,
                            return_stats: bool = False):
    """Batch-hard triplet loss (Hermans et al. 2017).

    For every anchor, the farthest image of the same identity (hardest positive) and the nearest
    image of another identity (hardest negative); loss = mean(relu(d_ap - d_an + margin)), or the
    soft margin ``softplus(d_ap - d_an)`` with ``margin=None``. Anchors without a positive or a
    negative in the batch are left out.
    """
    if feat.dim() != 2 or pids.dim() != 1 or feat.shape[0] != pids.shape[0]:
        raise ValueError(f"need feat [B, D] and pids [B], got {tuple(feat.shape)} and {tuple(pids.shape)}")
    dist = pairwise_euclidean(feat)
    same = pids[:, None] == pids[None, :]
    eye = torch.eye(len(pids), dtype=torch.bool, device=pids.device)
    pos_mask = same & ~eye
    neg_mask = ~same
    d_ap = dist.masked_fill(~pos_mask, float("-inf")).max(1).values
    d_an = dist.masked_fill(~neg_mask, float("inf")).min(1).values
    ok = pos_mask.any(1) & neg_mask.any(1)
    # the mean over the valid anchors, without asking the GPU whether there are any (an `if` on a
    # tensor waits for the device); masked rows hold -inf, which relu/softplus turn into 0, and a
    # batch without a valid triplet gives 0, still attached to the graph
    diff = d_ap - d_an
    per_anchor = F.softplus(diff) if margin is None else F.relu(diff + margin)
    loss = torch.where(ok, per_anchor, 0.0).sum() / ok.sum().clamp_min(1)
    if return_stats:
        return loss, {"d_ap": d_ap[ok].detach(), "d_an": d_an[ok].detach()}
    return loss


class TripletLoss(nn.Module):
    def __init__(self, margin: Optional[float] = 0.3):
        super().__init__()
        self.margin = margin

    def forward(self, feat: torch.Tensor, pids: torch.Tensor) -> torch.Tensor:
        return batch_hard_triplet_loss(feat, pids, self.margin)


class ReIDLoss(nn.Module):
    """``CE(logits, pids; label_smoothing) + triplet_weight * triplet(feat, pids)``.

    ``forward`` returns ``(total, parts)`` with the parts as floats-to-be (detached tensors).
    """

    def __init__(self, label_smoothing: float = 0.0, triplet_weight: float = 0.0, margin: Optional[float] = 0.3):
        super().__init__()
        self.label_smoothing = float(label_smoothing)
        self.triplet_weight = float(triplet_weight)
        self.margin = margin

    @property
    def needs_features(self) -> bool:
        return self.triplet_weight > 0

    def forward(self, logits: torch.Tensor, pids: torch.Tensor,
                feat: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, dict]:
        ce = F.cross_entropy(logits.float(), pids, label_smoothing=self.label_smoothing)
        parts = {"ce": ce.detach()}
        total = ce
        if self.triplet_weight > 0:
            if feat is None:
                raise ValueError("the triplet loss needs the features: call model(x, return_features=True)")
            tri = batch_hard_triplet_loss(feat, pids, self.margin)
            parts["triplet"] = tri.detach()
            total = total + self.triplet_weight * tri
        return total, parts
