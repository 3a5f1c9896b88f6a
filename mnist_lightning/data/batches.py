"""Batches cut from resident tensors by indexing: no per-sample Python work and no worker processes."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch import Tensor

from mnist_lightning.data.digits import Digits


class TensorBatches:
    """Iterates (images, labels) batches of a split held on its device.

    With `shuffle`, each epoch uses its own permutation seeded by `seed + epoch()`: every rank
    draws the same permutation, so a run (or a resumed run) sees the same order for the same
    epoch. Under DDP each rank takes every `world_size`-th sample: training shards are cut to
    equal length (ranks must step together); evaluation shards cover every sample exactly once.

    It is a stateful loader for Lightning: `state_dict()` says which epoch's permutation it is in
    and how many batches of it were handed out, so a run resumed from a mid-epoch checkpoint
    continues that epoch where it stopped instead of replaying its first batches.
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
        self.current_epoch, self.position = 0, 0  # the iteration in progress; position 0: none
        self.resume_at: tuple[int, int] | None = None  # (epoch, batches already seen) from a checkpoint

    def state_dict(self) -> dict[str, Any]:
        """Where the iteration in progress stands: seed, epoch and batches handed out (plain ints)."""
        return {"seed": self.seed, "epoch": self.current_epoch, "position": self.position}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue at `state`'s position when the next iteration is of the same epoch."""
        self.resume_at = (int(state["epoch"]), int(state["position"]))

    def _start(self) -> int:
        """The batch the next iteration starts at: past those a resumed epoch has already seen."""
        resume, self.resume_at = self.resume_at, None
        self.current_epoch = self.epoch()
        return resume[1] if resume is not None and resume[0] == self.current_epoch else 0

    def _shard_size(self) -> int:
        n = len(self.digits)
        if self.shuffle:  # training: equal shards, the remainder (< world_size samples) skipped
            return n // self.world_size
        return len(range(self.rank, n, self.world_size))

    def __len__(self) -> int:
        return math.ceil(self._shard_size() / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        first = self._start()  # evaluated at the first next(): Lightning sets the epoch before that
        images, labels = self.digits.images, self.digits.labels
        n = len(labels)
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.current_epoch)
            order = torch.randperm(n, generator=generator)[: self._shard_size() * self.world_size]
            order = order[self.rank :: self.world_size]
        elif self.world_size > 1:
            order = torch.arange(self.rank, n, self.world_size)
        else:
            order = None  # evaluation on one process: plain slices, no gather at all
        if order is not None:
            order = order.to(labels.device)
            images, labels = images[order], labels[order]  # one gather per epoch, then views
        for index in range(first, len(self)):
            self.position = index + 1  # counted before the yield: a checkpoint taken now has seen it
            batch = slice(index * self.batch_size, (index + 1) * self.batch_size)
            yield images[batch], labels[batch]  # uint8 (B, H, W) or (B, H, W, 3), int64 (B,)
        self.position = 0  # a finished pass: nothing to continue
