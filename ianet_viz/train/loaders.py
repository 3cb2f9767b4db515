"""Datasets and data loaders for training and evaluation, built from :mod:`ianet_viz.reid` and :mod:`ianet_viz.synthetic`."""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from .config import DATASETS, TrainConfig
from .samplers import PKSampler, RandomBatchSampler, epoch_seed
from .transforms import build_transforms

__all__ = ["load_dataset", "relabel", "build_train_loader", "build_test_loader", "seed_worker",
           "set_loader_epoch", "SeededAugmentation", "sample_seed", "DevicePrefetcher"]

_CLASSES = {
    "market1501": "Market1501",
    "dukemtmcreid": "DukeMTMCreID",
    "cuhk03": "CUHK03",
    "msmt17": "MSMT17",
}


def synthetic_root(identities: int, images: int, height: int, width: int, seed: int = 0) -> Path:
    """Where a synthetic training set of these parameters lives: ``DATA_DIR/synthetic-train/ids..-k..-HxW-seed..``."""
    from ..settings import DATA_DIR

    return Path(DATA_DIR) / "synthetic-train" / f"ids{identities}-k{images}-{height}x{width}-seed{seed}"


def dataset_root(cfg: TrainConfig) -> Path:
    """The folder ``cfg``'s dataset is read from: ``cfg.data_root`` when set, else under ``DATA_DIR``
    (synthetic data: :func:`synthetic_root` of its settings). The bundled ``vtest`` crops need none."""
    from ..settings import DATA_DIR

    if cfg.data_root:
        return Path(cfg.data_root).expanduser()
    if cfg.dataset == "synthetic":
        return synthetic_root(cfg.synthetic_identities, cfg.synthetic_images, cfg.height, cfg.width, cfg.synthetic_seed)
    return Path(DATA_DIR) / cfg.dataset


def local_root(cfg: TrainConfig) -> Path:
    """Where ``cfg``'s dataset is on *this* machine: the recorded ``data_root`` when it is here, else the
    folder under ``DATA_DIR`` (``IANET_DATA_DIR``) when that is, so that a run folder copied from a GPU
    box to a laptop finds its dataset after one setting; else the recorded folder (whose loader says
    what is missing)."""
    root = dataset_root(cfg)
    if cfg.data_root and not root.is_dir():
        here = dataset_root(replace(cfg, data_root=None))
        if here.is_dir():
            return here
    return root


def load_dataset(cfg: TrainConfig):
    """The dataset object (``.train``, ``.query``, ``.gallery`` lists of (path, pid, camid)).

    ``synthetic`` generates the data under ``data_root`` first if it is not there
    (:func:`ianet_viz.synthetic.ensure_dataset`, at the training resolution); ``vtest`` uses
    the bundled crops. The loaders of :mod:`ianet_viz.reid` raise their own clear errors for
    missing or half-extracted datasets.
    """
    from .. import reid as D

    name = cfg.dataset
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    if name == "vtest" and not cfg.data_root:
        crops = D.bundled_crops()
        return crops if hasattr(crops, "train") else D.Market1501(crops)
    root = dataset_root(cfg)
    if name == "synthetic":
        from ..synthetic import ensure_dataset

        ensure_dataset(root, identities=cfg.synthetic_identities, images_per_identity=cfg.synthetic_images,
                       seed=cfg.synthetic_seed, height=cfg.height, width=cfg.width)
        return D.Market1501(root)
    if name == "vtest":
        return D.Market1501(root)
    if name == "cuhk03":
        return D.CUHK03(root, labeled=cfg.cuhk03_labeled, classic_split=cfg.cuhk03_classic_split)
    cls = getattr(D, _CLASSES[name])
    return cls(root)


def hold_out_identities(items: Sequence[Tuple[str, int, int]], n: int):
    """Split ``n`` training identities off as a validation set: ``(train, query, gallery)``.

    The held-out pids are spread evenly over the sorted pids (the same for every seed, so paired runs
    select on the same people). Per held-out identity, the first image of each camera is a query when
    the identity has another camera; every other image is in the gallery (Market-1501's rule: a match
    from the query's own camera does not count, so a query needs one from another camera)."""
    pids = sorted({int(p) for _, p, _ in items})
    if n >= len(pids):
        raise ValueError(f"--val-ids {n}: the training split has {len(pids)} identities; hold out fewer "
                         f"(at most {len(pids) - 1}) so that some are left to train on")
    held = {pids[int(i)] for i in np.linspace(0, len(pids) - 1, n).round()} if n else set()
    train = [it for it in items if int(it[1]) not in held]
    cams: Dict[int, set] = {}
    for _, p, c in items:
        cams.setdefault(int(p), set()).add(c)
    query, gallery, seen = [], [], set()
    for it in sorted((it for it in items if int(it[1]) in held), key=lambda it: it[0]):
        if (int(it[1]), it[2]) not in seen and len(cams[int(it[1])]) > 1:
            seen.add((int(it[1]), it[2]))
            query.append(it)
        else:
            gallery.append(it)
    return train, query, gallery


def relabel(items: Sequence[Tuple[str, int, int]]) -> Tuple[List[Tuple[str, int, int]], int]:
    """Map the train pids to 0..N-1 (a no-op when the loader already did); return items, N."""
    pids = sorted({int(p) for _, p, _ in items})
    mapping = {p: i for i, p in enumerate(pids)}
    return [(path, mapping[int(p)], c) for path, p, c in items], len(pids)


def seed_worker(worker_id: int) -> None:
    """DataLoader ``worker_init_fn``: seed numpy and python ``random`` from the worker's torch seed
    (which the DataLoader derives from its generator, itself seeded per epoch). The training
    augmentation does not depend on it: :class:`SeededAugmentation` seeds every sample."""
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)


def sample_seed(seed: int, epoch: int, index: int, copy: int = 0) -> int:
    """The augmentation seed of one drawn sample: a function of (seed, epoch, index, copy) only."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch), int(index), int(copy), 3])
               .generate_state(1)[0])


class SeededAugmentation(Dataset):
    """A training dataset whose random augmentation (flip, erasing) is seeded per drawn sample.

    Seeding the workers instead ties every random draw to the worker that happens to load the
    sample, so the same run with 2 workers or with 0 would train on other flips: a resume with
    another ``--num-workers`` would not be exact. Here ``ds[(index, epoch, copy)]`` runs the
    transform under a torch RNG seeded from (seed, epoch, index, copy) (torchvision's random
    transforms draw from torch's global RNG), and restores the RNG after: any worker, in any order,
    computes the same image. ``copy`` tells apart repeats of one image in a batch (the PK sampler
    repeats the images of identities with fewer than K). :class:`DrawKeys` makes those keys.
    """

    def __init__(self, dataset, seed: int):
        self.dataset = dataset
        self.seed = int(seed)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, key):
        index, epoch, copy = key
        with torch.random.fork_rng(devices=[]):  # CPU RNG only; put back afterwards
            torch.manual_seed(sample_seed(self.seed, epoch, index, copy))
            return self.dataset[index]


class DrawKeys:
    """Wraps a batch sampler: every index becomes the key ``(index, epoch, copy)`` of
    :class:`SeededAugmentation`. The epoch travels in the key, not in the dataset, so persistent
    workers (which keep their own copy of the dataset) see it too."""

    def __init__(self, batch_sampler):
        self.batch_sampler = batch_sampler

    def __len__(self) -> int:
        return len(self.batch_sampler)

    def __iter__(self):
        epoch = self.batch_sampler.epoch
        for batch in self.batch_sampler:
            copies: Counter = Counter()
            keys = []
            for i in batch:
                keys.append((i, epoch, copies[i]))
                copies[i] += 1
            yield keys


def build_train_loader(cfg: TrainConfig, train_items, rank: int = 0, world_size: int = 1,
                       pin_memory: bool = False):
    """(loader, batch_sampler) for the training items, deterministic for (seed, epoch)."""
    from ..reid import ImageDataset

    num_ids = len({p for _, p, _ in train_items})
    if num_ids < 2:
        raise ValueError(
            f"the training set has {num_ids} identit{'y' if num_ids == 1 else 'ies'}; "
            "identity classification and retrieval need at least 2"
        )
    if cfg.batch_size > len(train_items):
        raise ValueError(
            f"batch size {cfg.batch_size} is larger than the training set ({len(train_items)} images): "
            "lower --batch-size"
        )
    if cfg.sampler == "pk":
        sampler = PKSampler([p for _, p, _ in train_items], cfg.batch_size // cfg.num_instances,
                            cfg.num_instances, seed=cfg.seed, rank=rank, world_size=world_size)
    else:
        sampler = RandomBatchSampler(len(train_items), cfg.batch_size, seed=cfg.seed, rank=rank,
                                     world_size=world_size)
    transform = build_transforms(cfg.height, cfg.width, train=True, erasing_p=cfg.erasing_p)
    dataset = SeededAugmentation(ImageDataset(train_items, transform=transform), cfg.seed)
    generator = torch.Generator()
    workers = cfg.num_workers > 0
    loader = DataLoader(
        dataset, batch_sampler=DrawKeys(sampler), num_workers=cfg.num_workers, pin_memory=pin_memory,
        worker_init_fn=seed_worker, generator=generator,
        # the workers live across epochs (no restart per epoch, which costs seconds with big
        # datasets) and keep 4 batches each in flight, so the GPU finds the next batch ready
        persistent_workers=workers, prefetch_factor=4 if workers else None,
    )
    return loader, sampler


def set_loader_epoch(loader: DataLoader, sampler, seed: int, epoch: int, rank: int = 0) -> None:
    """Make epoch ``epoch`` of ``loader`` a function of (seed, epoch, rank): the batch order (the
    sampler; the augmentation follows it, see :class:`SeededAugmentation`) and the worker seeds (the
    loader's generator, from which every new worker's torch seed, and through :func:`seed_worker` its
    numpy and python seeds, are derived; persistent workers keep the seeds of their first epoch)."""
    sampler.set_epoch(epoch)
    loader.generator.manual_seed(epoch_seed(seed, epoch, rank, 1))


class DevicePrefetcher:
    """``(images, pids)`` of every batch of ``batches``, on ``device``; on CUDA the next batch is
    copied while the current step runs.

    On CUDA the copy of batch i+1 goes on a side stream as soon as batch i is handed out, so it
    overlaps with step i's kernels (pinned memory + ``non_blocking``); the main stream waits for a
    copy only where it uses that batch. Elsewhere it is a plain loop. ``wait_s`` adds up the time
    spent waiting for the loader (no batch ready): time in which the device may run dry.
    """

    def __init__(self, batches, device, channels_last: bool = False):
        self.batches = batches
        self.device = torch.device(device)
        self.channels_last = channels_last
        self.stream = torch.cuda.Stream(self.device) if self.device.type == "cuda" else None
        self.wait_s = 0.0

    def _load(self, it):
        t0 = time.perf_counter()
        batch = next(it, None)
        self.wait_s += time.perf_counter() - t0
        if batch is None:
            return None
        with torch.cuda.stream(self.stream):  # stream None (not CUDA): the current stream, as usual
            imgs = batch[0].to(self.device, non_blocking=True)
            pids = torch.as_tensor(batch[1]).to(self.device, non_blocking=True)
            if self.channels_last:
                imgs = imgs.contiguous(memory_format=torch.channels_last)
        return imgs, pids

    def __iter__(self):
        it = iter(self.batches)
        ahead = self._load(it)
        while ahead is not None:
            imgs, pids = ahead
            if self.stream is not None:
                main = torch.cuda.current_stream(self.device)
                main.wait_stream(self.stream)  # the step's kernels start after this batch's copy
                imgs.record_stream(main)  # and its memory is not reused while the step reads it
                pids.record_stream(main)
            ahead = self._load(it)  # start the next copy before this step is queued
            yield imgs, pids


def build_test_loader(items, height: int, width: int, batch_size: int = 128, num_workers: int = 0,
                      pin_memory: bool = False) -> DataLoader:
    from ..reid import ImageDataset

    dataset = ImageDataset(list(items), transform=build_transforms(height, width, train=False))
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers,
                      pin_memory=pin_memory, worker_init_fn=seed_worker)
