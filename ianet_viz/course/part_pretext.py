"""Teaching the backbone body parts: a part-segmentation pretext, the stand-in for what ImageNet knows.

SIA relates feature vectors by their dot product (eq. 1), so a receptive field can follow a body
part only as far as the features tell parts apart. ImageNet features do (the paper's start);
features trained on identities alone, on synthetic people, barely beat the cell's position
(:mod:`ianet_viz.course.probe`). This second pretraining stage teaches parts directly:

* from the identity-pretrained backbone (stage 1, :mod:`ianet_viz.course.pretrain`),
* a 1x1 convolution on the stage-2 and on the stage-3 output predicts each cell's part (head,
  torso, arms, legs, shoes, bag, background: the majority label of the synthetic part masks),
  with classes weighted by inverse frequency so the shoes count as much as the background;
  a 1x1 convolution is a linear classifier per cell, the same question the linear probe asks;
* a part-affinity loss on the same features (:func:`part_affinity_loss`) asks their scaled dot
  products, the K = 1 relation of eq. 1, to spread each cell's weight over its own part: a
  segmentation head alone made the parts separable but left the fields spots of one or two cells
  (``benchmarks/RESULTS.md``, "pretraining"); ImageNet features are known to group by part in this way;
* the identity loss stays on (a fresh classifier on the pooled features), so the features keep
  what re-identification needs and the fine-tuning has less to undo;
* on the corpus's training people (synthetic seed :data:`~ianet_viz.course.pretrain.CORPUS_SEED`),
  never the demo split's nor the held-out people's, with horizontal flips.

The heads are dropped afterwards: fine-tuning is the paper's (identity loss only). What this
stage gives the network is stated in README "Design decisions", in notebook 04, and in the shipped
model's description. ``python -m ianet_viz.course.pretrain --export`` runs it (resumable).
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Dict, Iterator, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

#: Labels of the synthetic masks (background + six parts).
N_PARTS = 7


@dataclass(frozen=True)
class PartPretext:
    """The part stage's settings (one statement; ``smoke`` shrinks it)."""

    epochs: int = 4
    lr: float = 1e-4
    final_lr: float = 1e-5  # the last epoch, as stage 1 ends
    batch_size: int = 32
    part_weight: float = 1.0  # loss = CE_id + sum over stages of part_weight * CE_part + affinity_weight * affinity
    affinity_weight: float = 1.0
    max_steps_per_epoch: Optional[int] = None
    seed: int = 0


def smoke_pretext() -> PartPretext:
    return PartPretext(epochs=1, max_steps_per_epoch=3, batch_size=8)


class PartHeads(nn.Module):
    """A backbone with the pretext's heads: per-cell part logits at stages 2 and 3, identity logits."""

    def __init__(self, backbone: nn.Module, num_ids: int, stages: Sequence[int] = (2, 3)):
        super().__init__()
        self.backbone, self.stages = backbone, tuple(stages)
        self.part = nn.ModuleDict({str(s): nn.Conv2d(_width(backbone, s), N_PARTS, 1) for s in self.stages})
        self.identity = nn.Linear(_width(backbone, 4), num_ids)

    def forward(self, x: torch.Tensor):
        """``(features {stage: [B, C, h, w]}, part logits {stage: [B, 7, h, w]}, identity logits)``."""
        b = self.backbone
        h = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        feats, parts = {}, {}
        for s in range(1, 5):
            h = getattr(b, f"layer{s}")(h)
            if s in self.stages:
                feats[s], parts[s] = h, self.part[str(s)](h)
        return feats, parts, self.identity(h.mean((2, 3)))


def _width(backbone: nn.Module, stage: int) -> int:
    last = getattr(backbone, f"layer{stage}")[-1]
    return (last.conv3 if hasattr(last, "conv3") else last.conv2).out_channels


class MaskedPeople(torch.utils.data.Dataset):
    """Synthetic people with their part masks: ``(image [3, H, W], {stage: cell labels}, pid index)``.
    ``flip`` mirrors image and masks together (the part labels have no left or right)."""

    def __init__(self, root, items, hw: Dict[int, Tuple[int, int]], size: Tuple[int, int]):
        from ..viz.inputs import default_transform

        self.root, self.items, self.hw, self.transform = Path(root), list(items), hw, default_transform(size)
        pids = sorted({pid for _, pid, _ in self.items})
        self.index = {pid: i for i, pid in enumerate(pids)}

    def __len__(self) -> int:
        return len(self.items)

    def load(self, i: int):
        from PIL import Image

        from ..measures import part_area_shares
        from ..viz.inputs import load_image

        path, pid, _ = self.items[i]
        mask = np.asarray(Image.open(self.root / "masks" / Path(path).parent.name / (Path(path).stem + ".png")))
        x = self.transform(load_image(path))
        labels = {s: torch.from_numpy(part_area_shares(mask[None], hw, N_PARTS).argmax(-1)[0]).long()
                  for s, hw in self.hw.items()}
        return x, labels, self.index[pid]


def batches(data: MaskedPeople, batch_size: int, seed: int, epoch: int) -> Iterator:
    """The epoch's batches in a seeded order, each image flipped with probability 1/2 (seeded too),
    so that a resumed epoch sees the same batches."""
    g = torch.Generator().manual_seed(seed * 1000 + epoch)
    order = torch.randperm(len(data), generator=g).tolist()
    flips = torch.rand(len(data), generator=g) < 0.5
    for start in range(0, len(order) - batch_size + 1, batch_size):
        xs, labels, ids = [], {s: [] for s in data.hw}, []
        for i in order[start:start + batch_size]:
            x, lab, pid = data.load(i)
            if flips[i]:
                x, lab = x.flip(-1), {s: v.flip(-1) for s, v in lab.items()}
            xs.append(x), ids.append(pid)
            for s in lab:
                labels[s].append(lab[s])
        yield torch.stack(xs), {s: torch.stack(v) for s, v in labels.items()}, torch.tensor(ids)


def class_weights(data: MaskedPeople, sample: int = 400) -> Dict[int, torch.Tensor]:
    """``{stage: weights}``: inverse-frequency weights of the part labels at every stage (from the first
    ``sample`` images, read once), normalised to mean 1 over the labels present: small parts count as
    much as the background."""
    counts = {s: torch.zeros(N_PARTS) for s in data.hw}
    for i in range(min(sample, len(data))):
        labels = data.load(i)[1]
        for s in counts:
            counts[s] += torch.bincount(labels[s].reshape(-1), minlength=N_PARTS).float()
    out = {}
    for s, c in counts.items():
        present = c > 0
        w = torch.where(present, c.sum() / c.clamp_min(1), torch.zeros(()))
        out[s] = w / w[present].mean()
    return out


def part_affinity_loss(f: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """How far the K = 1 appearance relation of eq. 1 (``softmax_j(<f_i, f_j> / sqrt(C))``, the
    dot products SIA takes, at its default scale) is from spreading each person cell's weight
    evenly over the cells of its own part (itself included): the mean over person cells i of
    ``-mean_{j in part(i)} log S_ij`` (the supervised contrastive loss of Khosla et al. 2020 with
    cells as samples). A segmentation head alone makes parts linearly separable; this makes the
    dot products themselves group by part, which is what a field is made of."""
    b, c = f.shape[:2]
    x = f.flatten(2).transpose(1, 2)  # [B, M, C]
    log_s = torch.log_softmax(torch.bmm(x, x.transpose(1, 2)) / math.sqrt(c), dim=-1)
    lab = labels.reshape(b, -1)
    same = (lab[:, :, None] == lab[:, None, :]).to(log_s.dtype)
    per_cell = -(log_s * same).sum(-1) / same.sum(-1)
    person = lab != 0
    return per_cell[person].mean() if bool(person.any()) else per_cell.sum() * 0


def pretext_loss(net: PartHeads, x, labels, ids, weights: Dict[int, torch.Tensor], settings: "PartPretext"):
    """``(loss, {name: value})``: identity cross-entropy, plus per stage the weighted per-cell part
    cross-entropy and the part affinity of the features (:func:`part_affinity_loss`)."""
    feats, parts, logits = net(x)
    terms = {"id": F.cross_entropy(logits, ids)}
    loss = terms["id"]
    for s, p in parts.items():
        terms[f"part{s}"] = F.cross_entropy(p, labels[s], weight=weights[s])
        terms[f"affinity{s}"] = part_affinity_loss(feats[s], labels[s])
        loss = loss + settings.part_weight * terms[f"part{s}"] + settings.affinity_weight * terms[f"affinity{s}"]
    return loss, {k: float(v.detach()) for k, v in terms.items()}


def train_part_pretext(init, root, out, settings: PartPretext = PartPretext(), size=(128, 64),
                       log=print) -> Path:
    """Run (or resume) the part stage: backbone weights from ``init`` (a backbone file), the corpus at
    ``root`` (written with masks), checkpoints in ``out/checkpoint.pt`` after every epoch, the
    backbone in ``out/backbone.pt`` at the end. Returns ``out``."""
    from ..model import build_ianet
    from ..reid import Market1501
    from ..train import atomic_save

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if (out / "backbone.pt").is_file():
        return out
    torch.manual_seed(settings.seed)
    model = build_ianet("resnet18", num_classes=1, pretrained=str(init), ia_stages=(), last_stride=1)
    items = sorted(Market1501(root).train)
    hw = {2: (size[0] // 8, size[1] // 8), 3: (size[0] // 16, size[1] // 16)}
    data = MaskedPeople(root, items, hw, size)
    net = PartHeads(model.backbone, len(data.index))
    opt = torch.optim.Adam(net.parameters(), lr=settings.lr, weight_decay=5e-4)
    start, ckpt = 0, out / "checkpoint.pt"
    if ckpt.is_file():
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
        if state["settings"] != asdict(settings):
            raise ValueError(f"{ckpt} was written with other settings ({state['settings']}); "
                             f"pass another output folder, or delete it to start again")
        net.load_state_dict(state["net"]), opt.load_state_dict(state["opt"])
        start = state["epoch"]
        log(f"resuming the part pretext at epoch {start + 1}")
    weights = class_weights(data)
    for epoch in range(start, settings.epochs):
        for g in opt.param_groups:
            g["lr"] = settings.final_lr if epoch == settings.epochs - 1 and settings.epochs > 1 else settings.lr
        net.train()
        sums, n = {}, 0
        for step, (x, labels, ids) in enumerate(batches(data, settings.batch_size, settings.seed, epoch)):
            if settings.max_steps_per_epoch is not None and step >= settings.max_steps_per_epoch:
                break
            loss, terms = pretext_loss(net, x, labels, ids, weights, settings)
            if not math.isfinite(float(loss.detach())):
                raise FloatingPointError(f"the part pretext diverged at epoch {epoch + 1}, step {step}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            n += 1
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + v
        means = {k: v / max(n, 1) for k, v in sums.items()}
        atomic_save(dict(net=net.state_dict(), opt=opt.state_dict(), epoch=epoch + 1, settings=asdict(settings)), ckpt)
        with open(out / "log.jsonl", "a") as f:
            f.write(json.dumps(dict(epoch=epoch + 1, steps=n, **means)) + "\n")
        log(f"part pretext epoch {epoch + 1}/{settings.epochs}: " + ", ".join(f"{k} {v:.3f}" for k, v in means.items()))
    state = {f"backbone.{k}": v for k, v in net.backbone.state_dict().items()}
    atomic_save(dict(model=state, part_pretext=asdict(settings), init=str(init)), out / "backbone.pt")
    return out
