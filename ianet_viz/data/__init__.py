"""Old home of the data, kept so existing code keeps working: ``ianet_viz.data.Market1501`` and
``python -m ianet_viz.data.synthetic``.

The datasets live in :mod:`ianet_viz.reid`, the synthetic pedestrians in :mod:`ianet_viz.synthetic`.
"""
from __future__ import annotations

import importlib

from ..reid import *  # noqa: F401,F403 (the re-export is the point)
from ..reid import __all__ as _REID

_SYNTHETIC = ("render_person", "generate_dataset", "ensure_dataset", "PART_LABELS")

__all__ = [*_REID, *_SYNTHETIC]


def __getattr__(name: str):
    # lazy, as before: the synthetic generator (OpenCV) is imported only when one of its names is used
    if name in _SYNTHETIC:
        value = getattr(importlib.import_module("ianet_viz.synthetic"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
