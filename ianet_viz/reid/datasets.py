"""Person re-identification datasets in the layouts people already have on disk.

Every dataset exposes ``.train``, ``.query`` and ``.gallery``: lists of ``(path, pid, camid)``
with ``path`` a ``str``, and follows the Market-1501 protocol:

* junk images (pid ``-1``) are dropped everywhere;
* distractors (pid ``0``, "background" boxes) are kept in the gallery and the query (evaluation
  counts them as wrong matches); they are dropped from train, where they are no identity;
* camera ids are 0-based (file ``..._c1...`` is camera 0);
* train pids are relabelled ``0..N-1`` in sorted order of the original pids (what an ID
  classifier needs); query and gallery keep the original pids, so they can be compared.
  torchreid numbers train identities in the iteration order of a Python ``set`` of pids
  instead. For Market-1501 that is the sorted order too (CPython walks a set of small ints in
  ascending order while they are below its table size), for DukeMTMC-reID (pids up to 7140) it
  is not: label ``i`` here is not label ``i`` there, so a classifier head trained with one cannot
  be loaded with the other without permuting its rows (the embedding is unaffected);
* only image files count (``.jpg .jpeg .png .bmp``, any case, not hidden): ``Thumbs.db``,
  ``readme.txt`` or macOS ``._*`` files are ignored; lists are sorted, so they are the same on
  every machine.

Supported layouts (``root`` may be the dataset folder itself or a parent of it):

=================  ===================================================================
Market1501         ``root/{bounding_box_train,query,bounding_box_test}``, or that folder
                   under ``root/Market-1501-v15.09.15``, ``root/market1501``,
                   ``root/market1501/Market-1501-v15.09.15`` (torchreid)
DukeMTMCreID       same three folders in ``root``, ``root/DukeMTMC-reID``,
                   ``root/dukemtmc-reid/DukeMTMC-reID`` (torchreid)
MSMT17             ``MSMT17_V1`` (``train/``, ``test/``) or ``MSMT17_V2`` (``mask_train_v2/``,
                   ``mask_test_v2/``) with ``list_{train,val,query,gallery}.txt``, as
                   ``root`` itself, ``root/MSMT17_V*`` or ``root/msmt17/MSMT17_V*`` (torchreid);
                   or Market-style folders converted from it
CUHK03             (a) CUHK03-NP (Zhong et al., new 767/700 protocol) Market-style folders:
                   ``root/{labeled,detected}/bounding_box_train...`` or under
                   ``root/cuhk03-np/``, ``root/cuhk03/cuhk03-np/``, ``root/CUHK03-NP/``,
                   ``root/cuhk03-np-{labeled,detected}``, or ``root`` itself;
                   (b) torchreid's *prepared* folder ``root/cuhk03/`` (or ``root``) holding
                   ``images_{labeled,detected}/`` and ``splits_{new,classic}_{labeled,detected}.json``
                   (what torchreid writes on first use; paths in the json are re-rooted here).
                   Only the raw ``cuhk03_release/cuhk-03.mat`` is *not* read (it needs h5py and a
                   conversion): the error says how to prepare it.
=================  ===================================================================

torchreid's keywords are accepted: ``combineall=True`` on every dataset (query and gallery
identities are folded into train, see :meth:`ReIDDataset.combine_all`); on CUHK03
``cuhk03_labeled`` and ``cuhk03_classic_split`` (aliases of ``labeled`` and ``classic_split``;
note that the default here is *labeled* boxes, torchreid's is *detected*).

Images are read by :mod:`ianet_viz.reid.images`; the bundled real crops are :mod:`ianet_viz.reid.bundled`.
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from pathlib import Path

__all__ = [
    "IMG_EXTENSIONS",
    "MARKET_FOLDERS",
    "DatasetNotFoundError",
    "ReIDDataset",
    "Market1501",
    "DukeMTMCreID",
    "MSMT17",
    "is_image_file",
    "parse_market_name",
]

Item = tuple[str, int, int]

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
MARKET_FOLDERS = ("bounding_box_train", "query", "bounding_box_test")
_MARKET_NAME = re.compile(r"^([-\d]+)_c(\d+)")


class DatasetNotFoundError(FileNotFoundError):
    """A dataset folder is missing, incomplete (half-extracted) or in a layout not supported.

    ``.half_extracted`` is True when a dataset folder was found but parts of it are missing.
    """

    def __init__(self, message: str, half_extracted: bool = False):
        super().__init__(message)
        self.half_extracted = half_extracted



# --------------------------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------------------------
def is_image_file(path: str | Path) -> bool:
    """True for a non-hidden file name ending in .jpg/.jpeg/.png/.bmp (any case)."""
    name = Path(path).name
    return not name.startswith(".") and name.lower().endswith(IMG_EXTENSIONS)


def _images_in(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image_file(p))


def parse_market_name(name: str) -> tuple[int, int] | None:
    """(pid, camera number as written, 1-based) from a Market-style file name, else None.

    ``0002_c1s1_000451_03.jpg`` -> (2, 1); ``-1_c3s2_...`` -> (-1, 3); Duke's
    ``0005_c2_f0046985.jpg`` -> (5, 2); CUHK03-NP's ``0001_c1_1.png`` -> (1, 1).
    """
    m = _MARKET_NAME.match(Path(name).name)
    if not m:
        return None
    return int(m.group(1)), int(m.group(2))


def _relabel(items: list[Item]) -> list[Item]:
    """Map pids to 0..N-1 in sorted order of the original pids."""
    mapping = {pid: i for i, pid in enumerate(sorted({pid for _, pid, _ in items}))}
    return [(path, mapping[pid], cam) for path, pid, cam in items]


def _alias(name: str, value, alias: str, alias_value, default):
    """Resolve an option given under our name and/or torchreid's (e.g. ``cuhk03_labeled``)."""
    if value is not None and alias_value is not None and bool(value) != bool(alias_value):
        raise ValueError(f"{name}={value!r} and {alias}={alias_value!r} contradict each other; "
                         f"they are the same option (torchreid calls it {alias}), pass one")
    for v in (value, alias_value):
        if v is not None:
            return bool(v)
    return default


def read_market_folder(folder: Path, *, train: bool) -> list[Item]:
    """Read one Market-style folder (see the module docstring for the protocol).

    Image files whose names do not parse (``<pid>_c<camera>...``) are skipped with one warning.
    """
    items: list[Item] = []
    bad: list[str] = []
    for p in _images_in(folder):
        parsed = parse_market_name(p.name)
        if parsed is None or parsed[1] < 1:
            bad.append(p.name)
            continue
        pid, cam = parsed
        if pid == -1 or (train and pid == 0):
            continue
        items.append((str(p), pid, cam - 1))
    if bad:
        warnings.warn(
            f"{len(bad)} image(s) in {folder} do not follow the '<pid>_c<camera>...' naming "
            f"and were skipped (e.g. {bad[0]})",
            stacklevel=3,
        )
    return _relabel(items) if train else items


def market_lists(d: Path) -> tuple[list[Item], list[Item], list[Item]]:
    """``(train, query, gallery)`` of a Market-style folder ``d`` (``bounding_box_train``, ``query``,
    ``bounding_box_test``); train labels relabelled to 0..N-1."""
    return (read_market_folder(d / "bounding_box_train", train=True), read_market_folder(d / "query", train=False),
            read_market_folder(d / "bounding_box_test", train=False))


# --------------------------------------------------------------------------------------------
# base class
# --------------------------------------------------------------------------------------------
class ReIDDataset:
    """Common part of the datasets: the three lists, counts and a readable ``repr``."""

    #: shown in error messages: where the data comes from and how to lay it out
    name: str = "dataset"
    how_to_get: str = ""
    #: pids that are no identity (left out by :meth:`combine_all`): Market-1501's distractors
    junk_pids: tuple[int, ...] = ()

    def __init__(self, root: str | Path, train: list[Item], query: list[Item], gallery: list[Item], data_dir: Path,
                 *, combineall: bool = False):
        self.root = Path(root)
        self.data_dir = Path(data_dir)
        self.train = train
        self.query = query
        self.gallery = gallery
        self.combined = False  # set by combine_all
        if combineall:
            self.combine_all()

    def combine_all(self) -> None:
        """Fold query and gallery into train, as torchreid's ``combineall=True`` does.

        The identities of query and gallery (one scope: the same person in both gets one label)
        get the labels ``num_train_pids, num_train_pids + 1, ...`` in sorted order of their
        original pids (torchreid: in a set's iteration order), after the train labels; entries with
        a pid in ``junk_pids`` (Market-1501's distractors, pid 0) are left out. ``.query`` and
        ``.gallery`` are kept unchanged, as in torchreid, but evaluating on them after training on
        them measures nothing. Called by the constructors with ``combineall=True``.
        """
        if self.combined:
            return
        offset = self.num_train_pids
        test = [item for item in self.query + self.gallery if item[1] not in self.junk_pids]
        self.train = list(self.train) + [(path, offset + label, cam) for path, label, cam in _relabel(test)]
        self.combined = True

    # counts -----------------------------------------------------------------------------
    @staticmethod
    def _stats(items: Sequence[Item]) -> tuple[int, int, int]:
        return len({p for _, p, _ in items}), len(items), len({c for _, _, c in items})

    @property
    def num_train_pids(self) -> int:
        return self._stats(self.train)[0]

    @property
    def num_train_cams(self) -> int:
        return self._stats(self.train)[2]

    @property
    def num_train_imgs(self) -> int:
        return len(self.train)

    def stats(self) -> dict[str, dict[str, int]]:
        """{subset: {"ids", "images", "cameras"}} for train, query and gallery."""
        out = {}
        for subset in ("train", "query", "gallery"):
            ids, imgs, cams = self._stats(getattr(self, subset))
            out[subset] = {"ids": ids, "images": imgs, "cameras": cams}
        return out

    def _repr_extra(self) -> str:
        """More of the first line of the repr (CUHK03: its boxes and split)."""
        return ""

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__}(root='{self.data_dir}'{self._repr_extra()})",
                 "  subset   |   ids | images | cameras",
                 "  ---------+-------+--------+--------"]
        for subset, s in self.stats().items():
            lines.append(f"  {subset:<8s} | {s['ids']:5d} | {s['images']:6d} | {s['cameras']:7d}")
        return "\n".join(lines)

    # discovery --------------------------------------------------------------------------
    @classmethod
    def _not_found(
        cls, root: Path, searched: Sequence[Path], problem: str, expected: str, half: bool = False
    ) -> DatasetNotFoundError:
        paths = "\n".join(f"  - {p}" for p in searched)
        return DatasetNotFoundError(
            f"{cls.name}: {problem}\n"
            f"Expected {expected}.\n"
            f"Searched (root={root}):\n{paths}\n"
            f"How to get it: {cls.how_to_get}",
            half_extracted=half,
        )

    @classmethod
    def _find_market_dir(cls, root: Path, candidates: Sequence[str]) -> Path:
        """The first candidate folder holding the three Market folders, each with images.

        A candidate with some but not all of them, or with an empty one, is a half-extracted
        download: that is an error rather than a silent fall-through to the next candidate.
        """
        expected = (
            "a folder holding the three sub-folders "
            + ", ".join(f"'{f}'" for f in MARKET_FOLDERS)
            + " with images in each"
        )
        if not root.exists():
            raise cls._not_found(root, [root], f"the folder {root} does not exist.", expected)
        searched = []
        for rel in candidates:
            d = (root / rel) if rel not in ("", ".") else root
            if d in searched:
                continue
            searched.append(d)
            present = [f for f in MARKET_FOLDERS if (d / f).is_dir()]
            if not present:
                continue
            missing = [f for f in MARKET_FOLDERS if f not in present]
            empty = [f for f in present if not _images_in(d / f)]
            if missing or empty:
                parts = []
                if missing:
                    parts.append("missing " + ", ".join(f"'{f}'" for f in missing))
                if empty:
                    parts.append("no images in " + ", ".join(f"'{f}'" for f in empty))
                raise cls._not_found(
                    root, searched,
                    f"{d} looks half-extracted ({'; '.join(parts)}). "
                    "Extract the archive again, completely.",
                    expected,
                    half=True,
                )
            return d
        raise cls._not_found(root, searched, "no dataset folder found.", expected)


# --------------------------------------------------------------------------------------------
# Market-style datasets
# --------------------------------------------------------------------------------------------
class Market1501(ReIDDataset):
    """Market-1501 (Zheng et al., ICCV 2015): 751 train ids, 750 test ids, 6 cameras.

    ``Market1501(root)`` where ``root`` holds ``bounding_box_train``, ``query`` and
    ``bounding_box_test``, or is a parent in torchreid's layout (``root/market1501/
    Market-1501-v15.09.15``). The bundled vtest crops and the synthetic pedestrians use this
    layout too. ``combineall=True`` folds query and gallery into train (torchreid's keyword; the
    distractors, pid 0, are left out).
    """

    name = "Market-1501"
    junk_pids = (0,)
    how_to_get = (
        "download Market-1501-v15.09.15.zip from the official 'Market-1501 Dataset' page "
        "(Liang Zheng et al., ICCV 2015) and extract it into ROOT, so that "
        "ROOT/Market-1501-v15.09.15/bounding_box_train exists (torchreid users: "
        "ROOT/market1501/Market-1501-v15.09.15/...). Nothing is downloaded automatically."
    )
    candidates: tuple[str, ...] = (
        ".",
        "Market-1501-v15.09.15",
        "market1501/Market-1501-v15.09.15",
        "market1501",
        "Market-1501",
        "Market1501",
        "market1501/Market-1501",
    )

    def __init__(self, root: str | Path, combineall: bool = False):
        root = Path(root).expanduser()
        d = self._find_market_dir(root, self.candidates)
        super().__init__(root, *market_lists(d), d, combineall=combineall)


class DukeMTMCreID(Market1501):
    """DukeMTMC-reID (Zheng et al., ICCV 2017): 702 train ids, 702 test ids (+408 distractor
    ids in the gallery), 8 cameras. Same file naming and protocol as Market-1501.

    Train labels are ``0..701`` in sorted order of the original pids. torchreid numbers them in
    the iteration order of a Python set, which for Duke's pids (up to 7140) is not sorted: the
    same image gets a different label there, so a classifier head (the last layer's rows) does
    not carry over between the two without a permutation; embeddings and evaluation do.
    ``combineall=True`` as for Market-1501.
    """

    name = "DukeMTMC-reID"
    how_to_get = (
        "DukeMTMC-reID.zip was distributed from the 'DukeMTMC-reID' evaluation page "
        "(layumi/DukeMTMC-reID_evaluation); the DukeMTMC data was withdrawn by Duke in 2019, so "
        "use a copy only if its licence allows you to. Extract it into ROOT so that "
        "ROOT/DukeMTMC-reID/bounding_box_train exists (torchreid users: "
        "ROOT/dukemtmc-reid/DukeMTMC-reID/...)."
    )
    candidates = (
        ".",
        "DukeMTMC-reID",
        "dukemtmc-reid/DukeMTMC-reID",
        "dukemtmc-reid",
        "dukemtmcreid/DukeMTMC-reID",
        "dukemtmcreid",
    )


# --------------------------------------------------------------------------------------------
# MSMT17
# --------------------------------------------------------------------------------------------
class MSMT17(ReIDDataset):
    """MSMT17 (Wei et al., CVPR 2018): 1041 train ids, 3060 test ids, 15 cameras.

    Reads the official list files (``list_train.txt`` etc.: ``relative/path.jpg pid`` per line,
    camera from the third ``_`` field of the file name). Market-style converted copies are read
    as well.

    ``include_val=True`` adds ``list_val.txt`` (val images of the train identities) to train; off
    by default, as in published results. This is *not* all of torchreid's ``combineall``:
    torchreid's ``MSMT17(combineall=True)`` adds the val list *and* folds query and gallery into
    train (3060 more identities). ``combineall=True`` here does the same as torchreid (val list
    included, then :meth:`~ReIDDataset.combine_all`).
    """

    name = "MSMT17"
    how_to_get = (
        "request MSMT17 (V1 or V2) on the official 'MSMT17' page of Peking University's VMC lab "
        "(a signed release agreement is required) and extract it into ROOT so that "
        "ROOT/MSMT17_V1/list_train.txt and ROOT/MSMT17_V1/train/ exist (V2: MSMT17_V2 with "
        "mask_train_v2/ and mask_test_v2/; torchreid users: ROOT/msmt17/MSMT17_V1/...)."
    )
    versions = {"MSMT17_V1": ("train", "test"), "MSMT17_V2": ("mask_train_v2", "mask_test_v2")}
    lists = ("list_train.txt", "list_query.txt", "list_gallery.txt")

    def __init__(self, root: str | Path, include_val: bool = False, combineall: bool = False):
        root = Path(root).expanduser()
        include_val = include_val or combineall  # torchreid: combineall adds val, then query/gallery
        if not root.exists():
            raise self._not_found(root, [root], f"the folder {root} does not exist.", self._expected())
        searched: list[Path] = []
        for rel in (".", "MSMT17_V1", "MSMT17_V2", "msmt17/MSMT17_V1", "msmt17/MSMT17_V2",
                    "MSMT17/MSMT17_V1", "MSMT17/MSMT17_V2", "msmt17", "MSMT17"):
            d = root if rel == "." else root / rel
            if d in searched:
                continue
            searched.append(d)
            found = self._read_lists(root, d, searched, include_val)
            if found is not None:
                super().__init__(root, *found, d, combineall=combineall)
                return
        # Market-style conversions of MSMT17
        try:
            d = self._find_market_dir(root, (".", "msmt17", "MSMT17"))
        except DatasetNotFoundError as err:
            if err.half_extracted:
                raise
            raise self._not_found(root, searched, "no MSMT17 folder found.", self._expected()) from None
        super().__init__(root, *market_lists(d), d, combineall=combineall)

    @classmethod
    def _expected(cls) -> str:
        return (
            "MSMT17_V1 (train/, test/) or MSMT17_V2 (mask_train_v2/, mask_test_v2/) with "
            "list_train.txt, list_query.txt, list_gallery.txt; or Market-style folders "
            + ", ".join(f"'{f}'" for f in MARKET_FOLDERS)
        )

    def _read_lists(self, root: Path, d: Path, searched: list[Path], include_val: bool):
        version = next(
            (v for v, (tr, te) in self.versions.items() if (d / tr).is_dir() and (d / te).is_dir()),
            None,
        )
        has_lists = [n for n in self.lists if (d / n).is_file()]
        if version is None and not has_lists:
            return None
        if version is None or len(has_lists) < len(self.lists):
            missing = [n for n in self.lists if n not in has_lists]
            if version is None:
                missing.insert(0, "train/ and test/ (V1) or mask_train_v2/ and mask_test_v2/ (V2)")
            raise self._not_found(
                root, searched,
                f"{d} looks half-extracted (missing {', '.join(missing)}).",
                self._expected(),
                half=True,
            )
        train_dir, test_dir = (d / x for x in self.versions[version])
        train = self._read_list(d / "list_train.txt", train_dir, d)
        if include_val and (d / "list_val.txt").is_file():
            train += self._read_list(d / "list_val.txt", train_dir, d)
        query = self._read_list(d / "list_query.txt", test_dir, d)
        gallery = self._read_list(d / "list_gallery.txt", test_dir, d)
        return _relabel(train), query, gallery

    @staticmethod
    def _read_list(list_path: Path, img_dir: Path, base: Path) -> list[Item]:
        items: list[Item] = []
        prefix: Path | None = None
        for line in list_path.read_text().splitlines():
            parts = line.strip().split()
            if len(parts) < 2 or not is_image_file(parts[0]):
                continue
            rel, pid = parts[0], int(parts[1])
            if prefix is None:  # list entries are relative to the image dir (or to the base)
                prefix = img_dir if (img_dir / rel).exists() or not (base / rel).exists() else base
            fields = Path(rel).name.split("_")
            if len(fields) < 3 or not fields[2].isdigit() or pid == -1:
                continue
            items.append((str(prefix / rel), pid, int(fields[2]) - 1))
        return items
