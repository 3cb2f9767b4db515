"""Person re-identification data: the standard datasets and the bundled real crops.

* :class:`Market1501`, :class:`DukeMTMCreID`, :class:`CUHK03`, :class:`MSMT17`: loaders for
  the layouts users already have (torchreid's included); ``.train``, ``.query``, ``.gallery``
  are lists of ``(path, pid, camid)`` (:mod:`.datasets`).
* :func:`bundled_crops`: person crops cut from OpenCV's sample video vtest.avi, shipped as package
  data in ``ianet_viz/reid/vtest`` (:mod:`.bundled`; provenance in the repository's ``data/README.md``).
* :class:`ImageDataset`, :func:`read_image`: the ``torch`` side (:mod:`.images`).

The evaluation protocol (CMC, mAP) is :mod:`ianet_viz.metrics`; synthetic pedestrians are
:mod:`ianet_viz.synthetic`.
"""
from __future__ import annotations

from .bundled import bundled_crops, bundled_crops_dir
from .datasets import (
    CUHK03,
    IMG_EXTENSIONS,
    MARKET_FOLDERS,
    MSMT17,
    DatasetNotFoundError,
    DukeMTMCreID,
    Market1501,
    ReIDDataset,
    is_image_file,
    parse_market_name,
)
from .images import CorruptImageError, ImageDataset, read_image

__all__ = [
    "Market1501",
    "DukeMTMCreID",
    "CUHK03",
    "MSMT17",
    "ReIDDataset",
    "ImageDataset",
    "read_image",
    "bundled_crops",
    "bundled_crops_dir",
    "DatasetNotFoundError",
    "CorruptImageError",
    "IMG_EXTENSIONS",
    "MARKET_FOLDERS",
    "is_image_file",
    "parse_market_name",
]
