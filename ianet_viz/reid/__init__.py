"""Data for ianet_viz: standard re-ID datasets, bundled real crops, synthetic pedestrians.

* :class:`Market1501`, :class:`DukeMTMCreID`, :class:`CUHK03`, :class:`MSMT17`: loaders for
  the layouts users already have (torchreid's included); ``.train``, ``.query``, ``.gallery``
  are lists of ``(path, pid, camid)``.
* :func:`bundled_crops`: person crops cut from OpenCV's sample video vtest.avi, shipped in the
  repository's ``data/vtest`` (see ``data/README.md`` and :mod:`ianet_viz.data.vtest`).
* :class:`ImageDataset`, :func:`read_image`: the ``torch`` side.
* ``render_person``, ``generate_dataset``, ``ensure_dataset``, ``PART_LABELS``: synthetic
  pedestrians with part masks, from :mod:`ianet_viz.data.synthetic` (imported on first use).
"""
from __future__ import annotations

import importlib

from .datasets import (
    CUHK03,
    IMG_EXTENSIONS,
    MARKET_FOLDERS,
    MSMT17,
    CorruptImageError,
    DatasetNotFoundError,
    DukeMTMCreID,
    ImageDataset,
    Market1501,
    ReIDDataset,
    bundled_crops,
    bundled_crops_dir,
    is_image_file,
    parse_market_name,
    read_image,
)

_SYNTHETIC = ("render_person", "generate_dataset", "ensure_dataset", "PART_LABELS")

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
    *_SYNTHETIC,
]


def __getattr__(name: str):
    # Lazy: the synthetic generator is imported only when one of its names is used, so this
    # package works (and imports fast) without it.
    if name in _SYNTHETIC:
        try:
            module = importlib.import_module(".synthetic", __name__)
        except ImportError as err:
            raise ImportError(
                f"ianet_viz.data.{name} comes from ianet_viz.data.synthetic, which could not be "
                f"imported: {err}"
            ) from err
        value = getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
