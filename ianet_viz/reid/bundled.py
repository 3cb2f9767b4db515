"""The bundled real pedestrians: person crops cut from OpenCV's sample video vtest.avi.

They ship inside the package (``ianet_viz/reid/vtest``, package data, so a plain ``pip install .``
has them); ``tools/cut_vtest.py`` cut them and ``data/README.md`` tells their provenance and what
their ids and cameras mean.
"""
from __future__ import annotations

from pathlib import Path

from .datasets import DatasetNotFoundError, Market1501

__all__ = ["bundled_crops", "bundled_crops_dir"]

#: The crops shipped with the package.
PACKAGED_CROPS = Path(__file__).resolve().parent / "vtest"


def bundled_crops_dir() -> Path:
    """The folder of the bundled vtest.avi crops: ``IANET_DATA_DIR/vtest`` when that holds crops
    (a copy you cut again), else the package's own ``ianet_viz/reid/vtest``."""
    from ..settings import DATA_DIR

    candidates = [Path(DATA_DIR) / "vtest", PACKAGED_CROPS]
    for c in candidates:
        if (c / "query").is_dir():
            return c
    raise DatasetNotFoundError(
        "the bundled person crops were not found; looked in:\n"
        + "\n".join(f"  - {c}" for c in candidates)
        + "\nThey are package data of ianet_viz (ianet_viz/reid/vtest): reinstall the package, or "
        "point IANET_DATA_DIR at a folder holding vtest/, or cut them again with "
        "`python -m tools.cut_vtest --video PATH/TO/vtest.avi --output DATA_DIR/vtest` (from a checkout)."
    )


def bundled_crops() -> Market1501:
    """The bundled real pedestrians (person crops cut from OpenCV's vtest.avi) as a
    :class:`Market1501`: see data/README.md for what their ids and cameras mean."""
    return Market1501(bundled_crops_dir())
