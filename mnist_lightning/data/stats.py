"""Normalisation statistics: data.mean/std as set, or `auto` (the dataset's, or measured on the images).

The rule for `auto` (data=folder's default; conf/data/folder.yaml explains it to the user): the
dataset's own mean and std suit images of the dataset itself, so grayscale folders of the dataset's
classes (digit folders for mnist) use them, and every such run is normalised as before. Anything
else (colour, or classes of the user's own) is measured per channel on the training split, because
a dataset's statistics say nothing about a user's photos. A number or a list set by the user wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from mnist_lightning.checks import is_number
from mnist_lightning.data.digits import Stat
from mnist_lightning.errors import ConfigError

AUTO = "auto"
CHUNK = 4096  # images summed at a time: float64 copies of a whole split would need GBs
DECIMALS = 4  # measured values are rounded as the datasets' own are (0.1307, 0.3081)

Setting = Stat | str | None  # a value, `auto`, or None (the dataset's)


def check_stat(key: str, value: Any) -> Setting:
    """data.mean or data.std as given: a number, one number per channel, `auto` or null; std above 0."""
    if value is None or value == AUTO:
        return value
    listed = isinstance(value, Sequence) and not isinstance(value, str)  # a list, or a ListConfig
    values = list(value) if listed else [value]
    low = 0.0 if key == "std" else float("-inf")
    if not values or not all(is_number(v) and v > low for v in values):
        what = "a positive number" if key == "std" else "a number"
        raise ConfigError(
            f"data.{key}={value}: must be {what}, a list of one per channel (e.g. [0.5, 0.5, 0.5]) or auto"
        )
    return tuple(float(v) for v in values) if listed else float(value)


def check_channels(key: str, value: Stat, channels: int) -> None:
    """A per-channel list has one value per image channel (or a single value, which serves them all)."""
    if isinstance(value, tuple) and len(value) not in (1, channels):
        raise ConfigError(
            f"data.{key}={list(value)}: {len(value)} values for images of {channels} channel(s); "
            f"give one number, {channels} numbers, or auto"
        )


def measure(images: Tensor) -> tuple[Stat, Stat]:
    """Mean and std per channel of uint8 images (N, H, W) or (N, H, W, C), on normalize's [0, 1] scale.

    One channel gives plain floats, C channels tuples of C floats.
    """
    channels = images.shape[3] if images.ndim == 4 else 1
    total = torch.zeros(channels, dtype=torch.float64)
    squares = torch.zeros(channels, dtype=torch.float64)
    for chunk in images.split(CHUNK):
        x = chunk.reshape(-1, channels).to(torch.float64) / 255.0  # (pixels, C): channels are last
        total += x.sum(0).cpu()
        squares += x.square().sum(0).cpu()
    count = images.numel() // channels
    mean = total / count
    std = (squares / count - mean.square()).clamp_min(0).sqrt()
    mean, std = mean.round(decimals=DECIMALS), std.round(decimals=DECIMALS)
    std = torch.where(std > 0, std, torch.ones_like(std))  # a channel that never varies: shifted only
    if channels == 1:
        return float(mean[0]), float(std[0])
    return tuple(mean.tolist()), tuple(std.tolist())


def text(value: Stat) -> str:
    """A statistic for the log: 0.1307, or (0.4914, 0.4822, 0.4465)."""
    if isinstance(value, tuple):
        return "(" + ", ".join(f"{v:.4g}" for v in value) + ")"
    return f"{value:.4g}"
