"""IANet: a torchvision ResNet with IA blocks after chosen stages, and a re-ID head.

``build_ianet(ia_stages=())`` is the baseline; the backbone keeps torchvision's module names
(``backbone.layer3.2.conv1.weight``), so a baseline state_dict loads into any IANet with
``strict=False`` (only the IA blocks are missing) and torchvision/ImageNet weights load as they are.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Dict, Iterable, Optional, Sequence, Tuple, Union

import torch
import torchvision
from torch import nn

from .imagenet import PretrainedWeightsError, load_backbone_weights  # noqa: F401  (the error: ianet_viz's API)
from .modules import IABlock
from .options import STAGE3_SIGMA, IAOptions, ia_options

BACKBONES = ("resnet18", "resnet34", "resnet50", "resnet101")
#: Output stride of each stage (stage 4 with last_stride=2 is 32).
STAGE_STRIDES = {1: 4, 2: 8, 3: 16, 4: 16}


#: The input size at which the paper states its sigmas (Sec. 4.2: 256 x 128, stage 3 is 16 x 8 cells).
PAPER_INPUT = (256, 128)


def stage_sigma(stage: int, last_stride: int = 1, input_size: Optional[Sequence[int]] = None) -> Tuple[float, float]:
    """sigma ``(sigma1 along x, sigma2 along y)`` of the location prior (eq. 3-4) at ``stage``, in cells.

    The paper sets sigma per stage "because the feature maps at different stages have different
    spatial sizes": (5, 10) at stage 3 and (10, 20) at stage 2, for 256 x 128 input. A stage whose map
    is twice as large (half the stride) gets twice the sigma, so stage 1 -> (20, 40), stage 4 ->
    (5, 10) with last stride 1 and (2.5, 5) with last stride 2. The input scales it the same way:
    sigma1 by ``width / 128`` and sigma2 by ``height / 256``, so the prior covers the same share of the
    person at any input size (128 x 64: stage 3 (2.5, 5), stage 2 (5, 10)). ``input_size=None`` is 256 x 128.
    """
    if stage not in STAGE_STRIDES:
        raise ValueError(f"stage must be 1, 2, 3 or 4, got {stage!r}")
    stride = STAGE_STRIDES[stage] * (2 if stage == 4 and last_stride == 2 else 1)
    factor = STAGE_STRIDES[3] / stride
    h, w = PAPER_INPUT if input_size is None else (int(v) for v in input_size)
    if h < 1 or w < 1:
        raise ValueError(f"input_size must be (height, width) in pixels, got {tuple(input_size)!r}")
    fy, fx = h / PAPER_INPUT[0], w / PAPER_INPUT[1]
    return (STAGE3_SIGMA[0] * factor * fx, STAGE3_SIGMA[1] * factor * fy)


def _resnet(backbone: str, last_stride: int) -> torchvision.models.ResNet:
    if backbone not in BACKBONES:
        raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}; got {backbone!r}")
    if last_stride not in (1, 2):
        raise ValueError(f"last_stride must be 1 or 2, got {last_stride!r}")
    net = getattr(torchvision.models, backbone)(weights=None)
    if last_stride == 1:
        first = net.layer4[0]
        conv = first.conv2 if hasattr(first, "conv3") else first.conv1  # Bottleneck strides in conv2
        conv.stride = (1, 1)
        first.downsample[0].stride = (1, 1)
    return net


@torch.fx.wrap  # a leaf for torch.fx, so feature extractors can trace past the shape check
def check_images(x: torch.Tensor) -> torch.Tensor:
    """Raise a clear error unless ``x`` is a batch of RGB images ``[B, 3, H, W]`` of at least 32x16."""
    if not isinstance(x, torch.Tensor) or x.dim() != 4 or x.shape[1] != 3:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(
            f"expected images of shape [B, 3, H, W], got {shape}; "
            "use a batch of RGB tensors (e.g. torchvision ToTensor + Normalize, then unsqueeze(0))"
        )
    if x.shape[-2] < 32 or x.shape[-1] < 16:
        raise ValueError(f"image size {tuple(x.shape[-2:])} is too small; use at least 32x16 (paper: 256x128)")
    return x


class IANet(nn.Module):
    """ResNet backbone + IA blocks + head (global average pooling -> BatchNorm1d -> Linear).

    Train mode returns identity logits (``return_features=True`` adds the pooled feature before the
    BatchNorm1d neck, for a triplet loss); eval mode returns the BatchNorm1d embedding ``[B, D]``.
    """

    def __init__(self, backbone: nn.Module, ia_blocks: Dict[str, IABlock], num_classes: int, per_block: bool):
        super().__init__()
        backbone.fc = nn.Identity()  # the re-ID head replaces the ImageNet classifier
        self.backbone = backbone
        self.ia_blocks = nn.ModuleDict(ia_blocks)
        self.per_block = per_block
        self.feat_dim = backbone.layer4[-1].conv3.out_channels if hasattr(backbone.layer4[-1], "conv3") \
            else backbone.layer4[-1].conv2.out_channels
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.neck = nn.BatchNorm1d(self.feat_dim)
        self.classifier = nn.Linear(self.feat_dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)

    def feature_map(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map ``[B, D, H/16, W/16]`` (last stride 1)."""
        x = check_images(x)
        b = self.backbone
        x = b.maxpool(b.relu(b.bn1(b.conv1(x))))
        for stage in (1, 2, 3, 4):
            layer = getattr(b, f"layer{stage}")
            for i, block in enumerate(layer):
                x = block(x)
                name = f"stage{stage}_b{i}" if self.per_block else (f"stage{stage}" if i == len(layer) - 1 else None)
                if name is not None and name in self.ia_blocks:
                    x = self.ia_blocks[name](x)
        return x

    def forward(self, x: torch.Tensor, return_features: bool = False):
        feat = self.pool(self.feature_map(x)).flatten(1)
        emb = self.neck(feat)
        if not self.training:
            return emb
        logits = self.classifier(emb)
        return (logits, feat) if return_features else logits


def build_ianet(
    backbone: str = "resnet50",
    num_classes: int = 751,
    pretrained: Optional[Union[str, os.PathLike]] = None,
    ia_stages: Iterable[int] = (2, 3),
    options: Optional[IAOptions] = None,
    last_stride: int = 1,
    per_block: bool = False,
    input_size: Optional[Sequence[int]] = None,
    **values,
) -> IANet:
    """Build IANet (Hou et al. 2019, Sec. 3.4): a ResNet with IA blocks after ``ia_stages``.

    * ``ia_stages``: any subset of 1-4 (Tab. 4e); ``()`` is the baseline.
    * ``options``: the blocks' :class:`~ianet_viz.options.IAOptions` (arrangement, K, fusions,
      relations, scales, gate: Tab. 4a-d), or single options by name (``build_ianet(ks=(1,))``).
      Its ``sigma``: ``None`` gives each stage :func:`stage_sigma` at ``input_size`` (``(height,
      width)``, default 256 x 128, the paper's); a pair applies to every stage; ``{stage: pair}``.
    * ``per_block=True`` puts a block after every residual block of those stages (Tab. 4f,
      "stage23-c" with ``ia_stages=(2, 3)``); block names are then ``stage2_b0``, ``stage2_b1``, ...
    * ``pretrained``: ``None`` (random init), ``"imagenet"`` (torchvision weights API; offline it
      raises :class:`PretrainedWeightsError` saying where to put the file) or a path to a file.
    """
    o = ia_options(options, **values)
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    stages = sorted(set(int(s) for s in ia_stages))
    if any(s not in (1, 2, 3, 4) for s in stages):
        raise ValueError(f"ia_stages must be a subset of (1, 2, 3, 4), got {tuple(ia_stages)!r}")
    net = _resnet(backbone, last_stride)
    if pretrained is not None:
        load_backbone_weights(net, pretrained, backbone)
    blocks: Dict[str, IABlock] = {}
    for stage in stages:
        layer = getattr(net, f"layer{stage}")
        channels = layer[-1].bn3.num_features if hasattr(layer[-1], "bn3") else layer[-1].bn2.num_features
        sigma = o.stage_sigma(stage) or stage_sigma(stage, last_stride, input_size)
        names = [f"stage{stage}_b{i}" for i in range(len(layer))] if per_block else [f"stage{stage}"]
        for name in names:
            blocks[name] = IABlock(channels, dataclasses.replace(o, sigma=sigma), name=name)
    return IANet(net, blocks, num_classes, per_block)
