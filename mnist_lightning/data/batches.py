"""Batches cut from resident tensors by indexing: no per-sample Python work and no worker processes."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator

import torch
from torch import Tensor

from mnist_lightning.data.digits import Digits


class TensorBatches:
    """Iterates (images, labels) batches of a split held on its device.

    With `shuffle`, each epoch uses its own permutation seeded by `seed + epoch()`, so a run
    (or a resumed run) sees the same order for the same epoch.
    """

    def __init__(
        self,
        digits: Digits,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        epoch: Callable[[], int] = lambda: 0,
    ) -> None:
        self.digits, self.batch_size, self.shuffle = digits, batch_size, shuffle
        self.seed, self.epoch = seed, epoch

    def __len__(self) -> int:
        return math.ceil(len(self.digits) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        images, labels = self.digits.images, self.digits.labels
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed + self.epoch())
            order = torch.randperm(len(labels), generator=generator).to(labels.device)
            images, labels = images[order], labels[order]  # one gather per epoch, then views
        for start in range(0, len(labels), self.batch_size):
            stop = start + self.batch_size
            yield images[start:stop], labels[start:stop]  # (B, H, W) uint8, (B,) int64
