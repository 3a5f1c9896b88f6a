"""Batches cut from resident tensors by indexing: no per-sample Python work and no worker processes."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from mnist_lightning.data.digits import Digits


class TensorBatches:
    """Iterates (images, labels) batches of a split held on its device.

    With `shuffle`, each epoch uses its own permutation seeded by `seed + epoch()`: every rank
    draws the same permutation, so a run (or a resumed run) sees the same order for the same
    epoch. Under DDP each rank takes every `world_size`-th sample: training shards are cut to
    equal length (ranks must step together); evaluation shards cover every sample exactly once.
    """

    def __init__(
        self,
        digits: Digits,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        epoch: Callable[[], int] = lambda: 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.digits, self.batch_size, self.shuffle = digits, batch_size, shuffle
        self.seed, self.epoch = seed, epoch
        self.rank, self.world_size = rank, world_size

    def _shard_size(self) -> int:
        n = len(self.digits)
        if self.shuffle:  # training: equal shards, the remainder (< world_size samples) skipped
            return n // self.world_size
        return len(range(self.rank, n, self.world_size))

    def __len__(self) -> int:
        return math.ceil(self._shard_size() / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        images, labels = self.digits.images, self.digits.labels
        n = len(labels)
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch())
            order = torch.randperm(n, generator=generator)[: self._shard_size() * self.world_size]
            order = order[self.rank :: self.world_size]
        elif self.world_size > 1:
            order = torch.arange(self.rank, n, self.world_size)
        else:
            order = None  # evaluation on one process: plain slices, no gather at all
        if order is not None:
            order = order.to(labels.device)
            images, labels = images[order], labels[order]  # one gather per epoch, then views
        for start in range(0, len(labels), self.batch_size):
            stop = start + self.batch_size
            yield images[start:stop], labels[start:stop]  # (B, H, W) uint8, (B,) int64
