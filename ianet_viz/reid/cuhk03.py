"""CUHK03 (Li et al., CVPR 2014): labeled or detected boxes, the new (767/700) or the classic
(1367/100, 20 splits) protocol. The layouts it reads are listed in :mod:`ianet_viz.reid.datasets`."""
from __future__ import annotations

import json
from pathlib import Path

from .datasets import (MARKET_FOLDERS, DatasetNotFoundError, Item, ReIDDataset, _alias, _relabel, is_image_file,
                       market_lists)


class CUHK03(ReIDDataset):
    """CUHK03 (Li et al., CVPR 2014), labeled or detected boxes, 2 cameras per identity.

    **Default: labeled boxes** (``labeled=True``), the setting of the IANet paper's CUHK03 row.
    torchreid defaults to *detected* boxes (``cuhk03_labeled=False``), and the two give different
    numbers, so a torchreid user should say which: ``CUHK03(root, labeled=False)`` or, with
    torchreid's keyword, ``CUHK03(root, cuhk03_labeled=False)`` for detected boxes.

    ``classic_split=False`` (default, as torchreid) is the new protocol of Zhong et al.
    (CVPR 2017): 767 train and 700 test ids, one split. ``classic_split=True`` (torchreid:
    ``cuhk03_classic_split=True``) is the original 20 random 1367/100 splits (``split_id`` picks
    one), available only from torchreid's prepared json files; torchreid evaluates it with the
    CUHK03 metric (``evaluate_rank(..., use_metric_cuhk03=True)``). ``combineall=True`` folds
    query and gallery into train (torchreid's keyword). Passing both spellings of an option with
    different values is an error. See the module docstring for the layouts read.
    """

    name = "CUHK03"
    how_to_get = (
        "(1) easiest: CUHK03-NP, Market-style folders of the new protocol, from Zhong et al.'s "
        "'person-re-ranking' repository (folder CUHK03-NP); extract it so that "
        "ROOT/cuhk03-np/labeled/bounding_box_train exists. (2) or the original "
        "cuhk03_release.zip from the official CUHK03 page of CUHK (Xiaogang Wang's group), "
        "extracted to ROOT/cuhk03/cuhk03_release/cuhk-03.mat, plus "
        "cuhk03_new_protocol_config_{labeled,detected}.mat (same re-ranking repository) in "
        "ROOT/cuhk03/; then let torchreid prepare it once: "
        "`python -c \"import torchreid; torchreid.data.datasets.image.CUHK03(root='ROOT')\"` "
        "(needs h5py and scipy), which writes images_labeled/, images_detected/ and "
        "splits_*.json, the files read here."
    )

    def __init__(
        self,
        root: str | Path,
        labeled: bool | None = None,
        classic_split: bool | None = None,
        split_id: int = 0,
        *,
        cuhk03_labeled: bool | None = None,
        cuhk03_classic_split: bool | None = None,
        combineall: bool = False,
    ):
        root = Path(root).expanduser()
        labeled = _alias("labeled", labeled, "cuhk03_labeled", cuhk03_labeled, default=True)
        classic_split = _alias("classic_split", classic_split, "cuhk03_classic_split", cuhk03_classic_split,
                               default=False)
        kind = "labeled" if labeled else "detected"
        self.labeled, self.classic_split, self.split_id = labeled, classic_split, split_id
        if not root.exists():
            raise self._not_found(root, [root], f"the folder {root} does not exist.", self._expected(kind))
        searched: list[Path] = []

        # (b) torchreid's prepared layout (also the only source of the classic splits)
        split_name = f"splits_{'classic' if classic_split else 'new'}_{kind}.json"
        for rel in ("cuhk03", ".", "CUHK03"):
            d = root if rel == "." else root / rel
            if d in searched:
                continue
            searched.append(d)
            img_dir = d / f"images_{kind}"
            if (d / split_name).is_file() and img_dir.is_dir():
                train, query, gallery = self._read_json(d / split_name, img_dir, split_id)
                super().__init__(root, train, query, gallery, d, combineall=combineall)
                return

        # (a) CUHK03-NP, Market-style, new protocol only
        np_candidates = [kind, f"cuhk03-np/{kind}", f"cuhk03/cuhk03-np/{kind}", f"CUHK03-NP/{kind}",
                         f"cuhk03_np/{kind}", f"cuhk03-np-{kind}", f"cuhk03/{kind}", "."]
        if not classic_split:
            try:
                d = self._find_market_dir(root, np_candidates)
            except DatasetNotFoundError as err:
                if err.half_extracted:
                    raise
                searched += [root / c if c != "." else root for c in np_candidates]
            else:
                super().__init__(root, *market_lists(d), d, combineall=combineall)
                return

        # only the raw .mat: explain how to prepare it
        for rel in ("cuhk03/cuhk03_release", "cuhk03_release", "."):
            mat = (root / rel / "cuhk-03.mat") if rel != "." else root / "cuhk-03.mat"
            if mat.is_file():
                raise self._not_found(
                    root, searched + [mat.parent],
                    f"found the raw {mat} but not the prepared images and splits "
                    f"({split_name} and images_{kind}/). Reading the .mat needs h5py and a "
                    "conversion this package does not do; prepare it with torchreid once, or "
                    "use the CUHK03-NP folders (new protocol).",
                    self._expected(kind),
                )
        problem = "no CUHK03 folder found."
        if classic_split:
            problem = (f"no {split_name} found: the classic 20 splits are read only from "
                       "torchreid's prepared folder.")
        raise self._not_found(root, searched, problem, self._expected(kind))

    def _repr_extra(self) -> str:
        boxes = "labeled" if self.labeled else "detected"
        split = "classic 1367/100" if self.classic_split else "new 767/700"
        return f", {boxes} boxes, {split} split"

    @staticmethod
    def _expected(kind: str) -> str:
        return (
            f"CUHK03-NP Market-style folders '{kind}/bounding_box_train', '{kind}/query', "
            f"'{kind}/bounding_box_test' (sub-folders " + ", ".join(f"'{f}'" for f in MARKET_FOLDERS)
            + f"), or torchreid's prepared 'cuhk03/images_{kind}/' with "
            f"'splits_new_{kind}.json' / 'splits_classic_{kind}.json'"
        )

    @staticmethod
    def _read_json(path: Path, img_dir: Path, split_id: int) -> tuple[list[Item], list[Item], list[Item]]:
        splits = json.loads(path.read_text())
        if not 0 <= split_id < len(splits):
            raise ValueError(f"split_id={split_id} but {path} holds {len(splits)} split(s)")
        split = splits[split_id]

        def items(key: str) -> list[Item]:
            # torchreid stores absolute paths of the machine that prepared the data: re-root
            return [(str(img_dir / Path(p).name), int(pid), int(cam)) for p, pid, cam in split[key]
                    if is_image_file(p) and int(pid) != -1]

        return _relabel(items("train")), items("query"), items("gallery")
