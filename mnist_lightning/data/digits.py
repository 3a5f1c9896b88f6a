"""`Digits`: one split as tensors, the common currency of every data source."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from mnist_lightning.errors import DataError

COLOUR = 3  # channels of a colour image (RGB), stored last as in image files


@dataclass(frozen=True)
class Digits:
    """Images as uint8 (N, H, W), or (N, H, W, 3) in colour, and labels as int64 (N,), on any device."""

    images: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, index: Tensor) -> Digits:
        """The samples at `index`, in that order."""
        return Digits(self.images[index], self.labels[index])

    def to(self, device: torch.device | str) -> Digits:
        """The same split on `device`."""
        return Digits(self.images.to(device), self.labels.to(device))


def make_digits(images: Tensor, labels: Tensor, where: str, num_classes: int, first: int = 0) -> Digits:
    """Check shapes, counts and label range (first..first+num_classes-1), then count labels from 0.

    `where` names the file or folder for the error; `num_classes` comes from the dataset.
    """
    if images.ndim != 3 and not (images.ndim == 4 and images.shape[-1] == COLOUR):
        raise DataError(
            f"{where}: images have shape {tuple(images.shape)}, expected (N, H, W) or (N, H, W, {COLOUR})"
        )
    if len(images) != len(labels):
        raise DataError(
            f"{where}: {len(images)} images but {len(labels)} labels; "
            "the image and label files must come from the same dataset split"
        )
    if len(labels) == 0:
        raise DataError(f"{where}: the split holds no samples")
    labels = labels.to(torch.int64)
    low, high = int(labels.min()), int(labels.max())
    last = first + num_classes - 1
    if low < first or high > last:
        raise DataError(
            f"{where}: label values span {low}..{high}, but this dataset's {num_classes} classes are "
            f"{first}..{last}; check that the label file belongs to the chosen dataset= (and data=)"
        )
    return Digits(images.to(torch.uint8).contiguous(), (labels - first).contiguous())


Stat = float | tuple[float, ...]  # a normalisation statistic: one for all channels, or one per channel


def normalize(
    images: Tensor, mean: Stat, std: Stat, augment: Callable[[Tensor], Tensor] | None = None
) -> Tensor:
    """uint8 (B, H, W) or (B, H, W, C) -> float (B, C, H, W), scaled by mean and std; `augment` first."""
    if images.ndim == 3:
        x = images.float().unsqueeze(1) / 255.0  # (B, 1, H, W) in [0, 1]: black background is 0
    else:
        x = images.permute(0, 3, 1, 2).float() / 255.0  # (B, C, H, W), channels-last in memory
    if augment is not None:
        x = augment(x)
    if isinstance(mean, tuple) or isinstance(std, tuple):  # per channel: (C, 1, 1) against (B, C, H, W)
        return (x - _per_channel(mean, x)) / _per_channel(std, x)
    return (x - mean) / std


def _per_channel(stat: Stat, x: Tensor) -> Tensor:
    return torch.as_tensor(stat, dtype=x.dtype, device=x.device).reshape(-1, 1, 1)
