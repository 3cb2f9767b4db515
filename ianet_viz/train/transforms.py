"""Image transforms for training and testing (torchvision, PIL or numpy images in)."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision import transforms as T

__all__ = ["IMAGENET_MEAN", "IMAGENET_STD", "build_transforms", "to_pil"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def to_pil(img) -> Image.Image:
    """PIL images pass through; HxWx3 uint8 RGB arrays (and CHW tensors in [0, 1]) are converted."""
    if isinstance(img, Image.Image):
        return img.convert("RGB") if img.mode != "RGB" else img
    if isinstance(img, torch.Tensor):
        return T.functional.to_pil_image(img)
    arr = np.asarray(img)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.dtype != np.uint8:
        arr = np.clip(arr * (255.0 if arr.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def build_transforms(height: int = 256, width: int = 128, train: bool = True, flip: bool = True,
                     erasing_p: float = 0.0) -> T.Compose:
    """Resize to (height, width) [-> random horizontal flip] -> tensor -> ImageNet normalisation
    [-> random erasing (filled with 0 after normalisation, i.e. the ImageNet mean colour)].

    The test transform is the same without the random parts.
    """
    ops = [T.Lambda(to_pil), T.Resize((height, width), interpolation=T.InterpolationMode.BILINEAR)]
    if train and flip:
        ops.append(T.RandomHorizontalFlip(0.5))
    ops += [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    if train and erasing_p > 0:
        ops.append(T.RandomErasing(p=erasing_p, scale=(0.02, 0.4), ratio=(0.3, 3.3), value=0))
    return T.Compose(ops)
