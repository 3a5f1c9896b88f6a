"""A dataset's torchvision class (MNIST, FashionMNIST, KMNIST, EMNIST, QMNIST) as a source: downloads
when allowed, works offline from local files (their staging: torchvision_files.py).
"""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision import datasets

from mnist_lightning.data.datasets import Dataset
from mnist_lightning.data.digits import Digits
from mnist_lightning.data.torchvision_files import prepare_torchvision, tv_class

log = logging.getLogger(__name__)


def _pil_to_uint8(transposed: bool, image: Image.Image) -> Tensor:
    pixels = torch.from_numpy(np.array(image, dtype=np.uint8))  # (H, W), or (W, H) as EMNIST stores it
    return pixels.T.contiguous() if transposed else pixels


def _target(dataset: Dataset, target: int | Tensor) -> int:
    if isinstance(target, Tensor) and target.ndim == 1:  # QMNIST with compat=False: a row of 8
        target = target[dataset.label_column]
    return int(target) - dataset.label_offset


def torchvision_dataset(
    root: str | Path, cache_dir: str | Path, download: bool, train: bool, dataset: Dataset | None = None
) -> datasets.MNIST:
    """torchvision's per-sample dataset (PIL image -> uint8 (H, W), label from 0), over the staged files."""
    dataset = Dataset.from_config(dataset)
    tv_root = prepare_torchvision(root, cache_dir, download, dataset)
    return tv_class(dataset)(
        str(tv_root),
        train=train,
        transform=partial(_pil_to_uint8, dataset.transposed),  # partials pickle for DataLoader workers
        target_transform=partial(_target, dataset),
        **dataset.torchvision_args,
    )


def load_torchvision(
    root: str | Path, cache_dir: str | Path, download: bool, dataset: Dataset | None = None
) -> tuple[Digits, Digits]:
    """(train, test) through the dataset's torchvision class, reading `.data`/`.targets` directly.

    After `prepare_torchvision` this only reads; without it, it stages (or downloads) first.
    """
    dataset = Dataset.from_config(dataset)
    tv_root = prepare_torchvision(root, cache_dir, download, dataset)
    splits = []
    for train in (True, False):
        ds = tv_class(dataset)(str(tv_root), train=train, **dataset.torchvision_args)
        where = f"torchvision {dataset.torchvision} ({'train' if train else 'test'}) under {tv_root}"
        splits.append(dataset.to_digits(ds.data, ds.targets, where))
    return splits[0], splits[1]
