"""Images in, relation maps out: the small glue between pictures and the recorder.

Everything the figures and the viewer feed to a model goes through :func:`prepare`: images are
resized to the model input size (default 256 x 128, the paper's), the resized picture is what the
figures display, so a pixel of the display is a pixel of the model input.
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from ianet_viz.recorder import RelationRecorder

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SIA_KEYS = ("S_A_1", "S_A_2", "S_A_3", "S_A", "S_L", "S")


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
    """PIL image -> normalised ``[3, H, W]`` tensor at ``size`` (ImageNet mean/std)."""
    import torchvision.transforms as T

    return T.Compose([T.Resize(tuple(size)), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


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


def sia_blocks(model: nn.Module) -> List[str]:
    """Names of the IA blocks of ``model`` that contain an SIA (whose relation maps exist)."""
    blocks = getattr(model, "ia_blocks", None)
    if blocks is None:
        raise ValueError(
            f"{type(model).__name__} has no ia_blocks; pass an IANet from ianet_viz.build_ianet(ia_stages=(2, 3))"
        )
    names = [n for n, b in blocks.items() if getattr(b, "sia", None) is not None]
    if not names:
        raise ValueError("the model has no SIA block (arrangement 'cia' or ia_stages=()): nothing to visualise")
    return names


def model_device(model: nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def record(
    model: nn.Module, x: torch.Tensor, keys: Optional[Iterable[str]] = SIA_KEYS, device=None
) -> Tuple[Dict[str, Dict[str, torch.Tensor]], Dict[str, Tuple[int, int]]]:
    """One eval-mode forward pass under :class:`RelationRecorder`: ``(maps, shapes)`` on the CPU.

    The model's train/eval mode is restored afterwards.
    """
    device = model_device(model) if device is None else torch.device(device)
    was_training = model.training
    model.eval()
    try:
        with RelationRecorder(model, keys=keys) as rec:
            model(x.to(device))
    finally:
        model.train(was_training)
    return rec.maps, rec.shapes


@torch.no_grad()
def sia_inputs(model: nn.Module, x: torch.Tensor, blocks: Optional[Sequence[str]] = None, device=None) -> Dict[str, torch.Tensor]:
    """The feature map ``F`` each SIA sees (its input), per block, ``[N, C, H, W]`` on the CPU.

    Fig. 4 recomputes ``S^A_K`` from ``F`` for context sizes the model was not built with (K = 5).
    """
    blocks = sia_blocks(model) if blocks is None else list(blocks)
    device = model_device(model) if device is None else torch.device(device)
    feats: Dict[str, torch.Tensor] = {}
    handles = []
    was_training = model.training
    model.eval()
    try:
        for name in blocks:
            sia = model.ia_blocks[name].sia
            handles.append(sia.register_forward_pre_hook(
                lambda mod, inp, name=name: feats.__setitem__(name, inp[0].detach().float().cpu())))
        with torch.no_grad():  # only the inputs are kept: no graph
            model(x.to(device))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return feats


def sia_scale(model: nn.Module, block: str) -> Optional[float]:
    """The logit scale the block's SIA uses (``None`` = the functional default ``1/(sqrt(C) K^2)`` per context size K)."""
    return getattr(model.ia_blocks[block].sia, "scale", None)
