"""Length-bucketing batch sampler (DDP-aware); the padded tagging batch lives in
:mod:`nlptag.text.encoding` (re-exported here)."""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence

from torch.utils.data import Sampler

from nlptag.text.encoding import TaggingBatch, collate_tagging

__all__ = ["BucketBatchSampler", "TaggingBatch", "collate_tagging"]


def spread_over_ranks(batches: list[list[int]], num_replicas: int) -> list[list[int]]:
    """``batches`` with the largest halved until there are at least ``num_replicas`` of them
    (or every batch holds one example); order within the split is kept."""
    batches = list(batches)
    while len(batches) < num_replicas and any(len(b) > 1 for b in batches):
        i = max(range(len(batches)), key=lambda j: len(batches[j]))
        half = (len(batches[i]) + 1) // 2
        batches[i : i + 1] = [batches[i][:half], batches[i][half:]]
    return batches


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of similar-length examples, so little of each batch is padding.

    Examples are shuffled, cut into pools of ``pool_batches`` batches, sorted by length inside each
    pool and split into batches; the batches are then shuffled. Under DDP each of the
    ``num_replicas`` ranks takes every ``num_replicas``-th batch. For training (``shuffle=True``)
    every rank gets the same number of batches (a few batches are repeated if needed, as
    ``DistributedSampler`` does); for evaluation each example is seen exactly once over all ranks.
    Call ``set_epoch`` each epoch for a new order (Lightning does this for you).
    """

    def __init__(
        self,
        lengths: Sequence[int],
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        num_replicas: int = 1,
        rank: int = 0,
        pool_batches: int = 50,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} is not in [0, {num_replicas})")
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.num_replicas = num_replicas
        self.rank = rank
        self.pool_batches = pool_batches
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _all_batches(self) -> list[list[int]]:
        order = list(range(len(self.lengths)))
        generator = random.Random(self.seed + self.epoch)
        if self.shuffle:
            generator.shuffle(order)
        pool_size = self.batch_size * self.pool_batches if self.shuffle else len(order)
        batches = []
        for start in range(0, len(order), pool_size):
            pool = sorted(order[start : start + pool_size], key=self.lengths.__getitem__)
            batches += [pool[i : i + self.batch_size] for i in range(0, len(pool), self.batch_size)]
        if self.shuffle:
            generator.shuffle(batches)
            per_rank = math.ceil(len(batches) / self.num_replicas)
            batches += batches[: per_rank * self.num_replicas - len(batches)]
        else:
            batches = spread_over_ranks(batches, self.num_replicas)
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        yield from self._all_batches()[self.rank :: self.num_replicas]

    def __len__(self) -> int:
        if not self.shuffle:
            # sorted without pools: the count is exact; ranks take batches round-robin
            total = len(self._all_batches())
            return len(range(self.rank, total, self.num_replicas))
        pool_size = self.batch_size * self.pool_batches
        full, rest = divmod(len(self.lengths), pool_size)
        total = full * self.pool_batches + math.ceil(rest / self.batch_size)
        return math.ceil(total / self.num_replicas)
