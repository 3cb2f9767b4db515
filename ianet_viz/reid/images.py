"""Images of a re-ID dataset: :func:`read_image` (fully decoded RGB, clear errors) and
:class:`ImageDataset` (a ``torch`` dataset over ``(path, pid, camid)`` items)."""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from .datasets import Item

__all__ = ["CorruptImageError", "read_image", "ImageDataset"]


class CorruptImageError(OSError, ValueError):
    """An image file that exists but cannot be decoded (truncated, not an image, empty).

    ``.path`` is the offending file.
    """

    def __init__(self, path: str | Path, reason: str = ""):
        self.path = str(path)
        msg = (
            f"cannot read image {self.path}: {reason or 'corrupt or truncated file'}. "
            "Re-extract this file from the dataset archive (or delete it); "
            "ImageDataset(..., skip_corrupt=True) skips such files with a warning."
        )
        super().__init__(msg)


def read_image(path: str | Path):
    """Open an image file fully decoded as an RGB ``PIL.Image``.

    Raises ``FileNotFoundError`` if it does not exist and :class:`CorruptImageError` (an
    ``OSError`` and a ``ValueError``) if it cannot be decoded; ``.load()`` forces the full
    decode, so a truncated JPEG fails here rather than later inside a transform.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image not found: {path}")
    try:
        with Image.open(path) as im:
            im.load()
            return im.convert("RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise CorruptImageError(path, f"{type(err).__name__}: {err}") from err


try:  # torch is a dependency of the package; keep datasets.py importable without it
    from torch.utils.data import Dataset as _TorchDataset
except ImportError:  # pragma: no cover
    _TorchDataset = object  # type: ignore[assignment,misc]


class ImageDataset(_TorchDataset):
    """A ``torch`` dataset over ``(path, pid, camid)`` items.

    ``ds[i]`` is ``(transform(image), pid, camid, path)`` with ``image`` an RGB ``PIL.Image``
    (returned as is when ``transform`` is None).

    ``skip_corrupt=False`` (default): a broken file raises :class:`CorruptImageError` when it is
    read. ``skip_corrupt=True``: every file is decoded once here, at construction, and broken
    ones are left out with a ``warnings.warn`` naming each path; ``.items`` and ``len`` then
    describe only readable images, so identity samplers built from ``.items`` stay correct and
    every epoch sees the same images (about 1 s per 5,000 small JPEGs). ``.skipped`` lists what
    was left out.
    """

    def __init__(
        self,
        items: Sequence[Item],
        transform: Callable | None = None,
        skip_corrupt: bool = False,
    ):
        self.transform = transform
        self.skip_corrupt = skip_corrupt
        self.skipped: list[str] = []
        items = [(str(p), int(pid), int(cam)) for p, pid, cam in items]
        if skip_corrupt:
            good = []
            for item in items:
                try:
                    read_image(item[0])
                except (CorruptImageError, FileNotFoundError) as err:
                    self.skipped.append(item[0])
                    warnings.warn(f"skipping unreadable image {item[0]}: {err}", stacklevel=2)
                else:
                    good.append(item)
            items = good
        self.items: list[Item] = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        path, pid, camid = self.items[index]
        img = read_image(path)
        if self.transform is not None:
            img = self.transform(img)
        return img, pid, camid, path

    @property
    def pids(self) -> list[int]:
        return [pid for _, pid, _ in self.items]

    @property
    def camids(self) -> list[int]:
        return [cam for _, _, cam in self.items]

    @property
    def num_pids(self) -> int:
        return len(set(self.pids))

    def __repr__(self) -> str:
        return (f"ImageDataset({len(self.items)} images, {self.num_pids} ids, "
                f"transform={self.transform!r}, skipped={len(self.skipped)})")
