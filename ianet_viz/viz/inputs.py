"""Images in, model input out: everything the figures and the viewer feed to a model goes through
:func:`prepare`.

Images are resized to the model input size (default 256 x 128, the paper's) and normalised as in
training (:func:`ianet_viz.train.build_transforms`, test mode); the resized picture is what the
figures display, so a pixel of the display is a pixel of the model input. The relation maps of a
prepared batch come from :mod:`ianet_viz.recorder` (``record``, ``sia_inputs``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn


def _is_item(item) -> bool:
    """A dataset item ``(path or image, pid, camid, ...)``."""
    return (isinstance(item, tuple) and len(item) >= 2
            and (isinstance(item[0], (str, Path)) or not np.isscalar(item[0])))


def load_image(item):
    """A PIL RGB image from a PIL image, an ``[H, W, 3]`` uint8/float array, a path, or a dataset
    item ``(path, pid, camid, ...)``."""
    from PIL import Image

    if _is_item(item):
        item = item[0]  # a dataset item (image or path, pid, camid, ...)
    if isinstance(item, (str, Path)):
        with Image.open(item) as im:
            return im.convert("RGB")
    if hasattr(item, "convert") and hasattr(item, "size"):
        return item.convert("RGB")
    arr = item.detach().cpu().numpy() if hasattr(item, "detach") else np.asarray(item)
    if arr.ndim == 3 and arr.shape[0] in (1, 3) and arr.shape[-1] not in (1, 3):
        arr = np.transpose(arr, (1, 2, 0))
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.dtype != np.uint8:
        arr = (np.clip(arr.astype(np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(arr).convert("RGB")


def item_label(item, index: int) -> str:
    """A short name for the image picker: "3: pid 12, cam 1" for dataset items, else the index."""
    if _is_item(item) and len(item) >= 3:
        return f"{index}: pid {item[1]}, cam {item[2]}"
    if isinstance(item, (str, Path)):
        return f"{index}: {Path(item).name}"
    return f"image {index}"


def default_transform(size: Sequence[int] = (256, 128)):
    """PIL image -> normalised ``[3, H, W]`` tensor at ``size``: the test transform of training."""
    from ..train.transforms import build_transforms  # here, so that importing viz does not load train

    return build_transforms(int(size[0]), int(size[1]), train=False)


def prepare(
    images: Iterable, size: Sequence[int] = (256, 128), transform=None
) -> Tuple[torch.Tensor, List[np.ndarray]]:
    """``(x [N, 3, H, W] normalised, display [N] uint8 [H, W, 3] arrays at the model input size)``.

    ``transform`` (PIL -> tensor) overrides the default resize + normalise; the display images
    are then resized to whatever size the transform produces.
    """
    from PIL import Image

    pils = [load_image(im) for im in images]
    if not pils:
        raise ValueError("no images given")
    tf = default_transform(size) if transform is None else transform
    x = torch.stack([tf(p) for p in pils])
    h, w = int(x.shape[-2]), int(x.shape[-1])
    display = [np.asarray(p.resize((w, h), Image.BILINEAR)) for p in pils]
    return x, display


def sia_scale(model: nn.Module, block: str) -> Optional[float]:
    """The logit scale the block's SIA uses: its learned temperature when it has one, else its
    ``scale`` (``None`` = the functional default ``1/(sqrt(C) K^2)`` per context size K)."""
    scale = model.ia_blocks[block].sia.logit_scale()
    return float(scale.detach()) if isinstance(scale, torch.Tensor) else scale
