"""Part labels of the synthetic pedestrians' masks, and the constants every other module shares.

Part mask label ids (hair and hat count as head, hands as arms, the pelvis and a skirt as legs,
the bag strap as bag): 0 background, 1 head, 2 torso, 3 arms, 4 legs, 5 shoes, 6 bag.
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import numpy as np


PART_LABELS: Dict[int, str] = {
    0: "background",
    1: "head",
    2: "torso",
    3: "arms",
    4: "legs",
    5: "shoes",
    6: "bag",
}

#: RGB colour per part label, for visualising masks (``colorize_mask``).
PART_COLORS: Dict[int, Tuple[int, int, int]] = {
    0: (0, 0, 0),
    1: (255, 210, 60),
    2: (220, 40, 40),
    3: (60, 200, 80),
    4: (40, 90, 230),
    5: (230, 120, 230),
    6: (40, 220, 220),
}

VIEWS = ("front", "back", "left", "right")

MIN_HEIGHT = 32
MIN_WIDTH = 16
MAX_CAMERAS = 9  # Market-1501 names hold a single camera digit
MAX_IDENTITIES = 9999  # four-digit pids
JPEG_QUALITY = 90
FORMAT_VERSION = 1
SUBSETS = ("bounding_box_train", "query", "bounding_box_test")


def _check_int(name: str, value, minimum: int, maximum: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value}")
    return int(value)


def _check_size(height, width) -> None:
    for name, v in (("height", height), ("width", width)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise ValueError(f"{name} must be an integer number of pixels, got {v!r}")
    if height < MIN_HEIGHT or width < MIN_WIDTH:
        raise ValueError(f"image size {height}x{width} is too small: height must be >= {MIN_HEIGHT} and width "
                         f">= {MIN_WIDTH} pixels (Market-1501 uses 128x64 files; models use 256x128)")
