"""Batch samplers that are deterministic for (seed, epoch) and therefore resumable.

Both samplers are *batch* samplers (they yield lists of dataset indices, pass them to
``DataLoader(batch_sampler=...)``). The order of epoch ``e`` depends only on ``(seed, e)``:
call ``set_epoch(e)`` before iterating. Their ``state_dict()`` (seed and epoch) goes into the
checkpoint, so a resumed run draws exactly the batches the uninterrupted run would have drawn.

With ``world_size > 1`` (DDP) every rank computes the same global batches and keeps its share:
the random sampler a contiguous slice, the PK sampler whole identities (P/world ids x K images),
so a triplet loss on each rank still sees complete identity groups.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Dict, Iterator, List, Sequence

import numpy as np
import torch

__all__ = ["RandomBatchSampler", "PKSampler", "epoch_generator", "epoch_seed"]


def epoch_seed(seed: int, epoch: int, rank: int = 0, stream: int = 0) -> int:
    """A well-mixed 32-bit seed for (seed, epoch, rank, stream) (numpy SeedSequence)."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch), int(rank), int(stream)])
               .generate_state(1)[0])


def epoch_generator(seed: int, epoch: int, stream: int = 0) -> torch.Generator:
    """A torch.Generator seeded from (seed, epoch, stream) through numpy's SeedSequence."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch), int(stream)]).generate_state(2)
    g = torch.Generator()
    g.manual_seed(int(state[0]) << 32 | int(state[1]))
    return g


class _EpochSampler:
    _stream = 0

    def __init__(self, seed: int = 0, rank: int = 0, world_size: int = 1):
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        self.seed = int(seed)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.epoch = 0
        self._cache_epoch = None
        self._cache: List[List[int]] = []

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def state_dict(self) -> Dict[str, int]:
        return {"seed": self.seed, "epoch": self.epoch, "kind": type(self).__name__}

    def load_state_dict(self, state: Dict[str, int]) -> None:
        if state.get("kind", type(self).__name__) != type(self).__name__:
            raise ValueError(f"sampler state is for {state['kind']}, not {type(self).__name__}")
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])

    def global_batches(self, epoch: int | None = None) -> List[List[int]]:
        """All ranks' batches of an epoch (cached for the current epoch)."""
        epoch = self.epoch if epoch is None else epoch
        if self._cache_epoch != (self.seed, epoch):
            self._cache = self._make_batches(epoch_generator(self.seed, epoch, self._stream))
            self._cache_epoch = (self.seed, epoch)
        return self._cache

    def _make_batches(self, g: torch.Generator) -> List[List[int]]:  # pragma: no cover
        raise NotImplementedError

    def _share(self, batch: List[int]) -> List[int]:  # pragma: no cover
        raise NotImplementedError

    def __iter__(self) -> Iterator[List[int]]:
        for batch in self.global_batches():
            yield self._share(batch)

    def __len__(self) -> int:
        return len(self.global_batches())


class RandomBatchSampler(_EpochSampler):
    """Shuffled batches of ``batch_size`` (the global batch, over all ranks); last partial dropped."""

    _stream = 1

    def __init__(self, num_samples: int, batch_size: int, seed: int = 0, rank: int = 0,
                 world_size: int = 1, drop_last: bool = True):
        super().__init__(seed, rank, world_size)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if batch_size % world_size:
            raise ValueError(f"batch_size {batch_size} is not divisible by world_size {world_size}")
        if num_samples < batch_size and drop_last:
            raise ValueError(
                f"batch size {batch_size} is larger than the training set ({num_samples} images): "
                "lower --batch-size"
            )
        self.num_samples = int(num_samples)
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def _make_batches(self, g):
        perm = torch.randperm(self.num_samples, generator=g).tolist()
        n = len(perm) // self.batch_size * self.batch_size if self.drop_last else len(perm)
        return [perm[i:i + self.batch_size] for i in range(0, n, self.batch_size)]

    def _share(self, batch):
        per = len(batch) // self.world_size
        return batch[self.rank * per:(self.rank + 1) * per]


class PKSampler(_EpochSampler):
    """P identities x K images per batch (the "RandomIdentitySampler" of the bag-of-tricks).

    Each identity's images are shuffled and cut into groups of K (an identity with fewer than K
    images is sampled with replacement up to K); batches take one group from each of P identities
    chosen at random among those with groups left, until fewer than P remain. ``pids`` is the list
    of identity labels of the dataset, in dataset order.
    """

    _stream = 2

    def __init__(self, pids: Sequence[int], p: int, k: int, seed: int = 0, rank: int = 0,
                 world_size: int = 1):
        super().__init__(seed, rank, world_size)
        if k < 1 or p < 1:
            raise ValueError(f"P and K must be >= 1, got P={p}, K={k}")
        if p % world_size:
            raise ValueError(f"P ({p} identities per batch) is not divisible by world_size {world_size}")
        index: Dict[int, List[int]] = defaultdict(list)
        for i, pid in enumerate(pids):
            index[int(pid)].append(i)
        if len(index) < p:
            raise ValueError(
                f"the PK sampler needs P={p} identities per batch but the training set has only "
                f"{len(index)}: lower --batch-size (P = batch_size / K)"
            )
        self.index = {pid: index[pid] for pid in sorted(index)}
        self.p, self.k = int(p), int(k)

    @property
    def batch_size(self) -> int:
        return self.p * self.k

    def _make_batches(self, g):
        groups: Dict[int, List[List[int]]] = {}
        for pid, idxs in self.index.items():
            if len(idxs) < self.k:
                pick = torch.randint(len(idxs), (self.k,), generator=g).tolist()
                idxs = [idxs[j] for j in pick]
            else:
                idxs = [idxs[j] for j in torch.randperm(len(idxs), generator=g).tolist()]
            groups[pid] = [idxs[i:i + self.k] for i in range(0, len(idxs) - self.k + 1, self.k)]
        available = list(groups)
        batches = []
        while len(available) >= self.p:
            chosen = [available[j] for j in torch.randperm(len(available), generator=g)[: self.p].tolist()]
            batch = []
            for pid in chosen:
                batch.extend(groups[pid].pop())
            batches.append(batch)
            available = [pid for pid in available if groups[pid]]
        return batches

    def _share(self, batch):
        per = self.p // self.world_size  # whole identities per rank
        return batch[self.rank * per * self.k:(self.rank + 1) * per * self.k]
