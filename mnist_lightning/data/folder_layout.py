"""Where a folder source's splits are: `<root>/train/<class>/*`, optionally `<root>/test/<class>/*`."""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from mnist_lightning.data.digits import Digits
from mnist_lightning.data.folder import default_names, read_cached
from mnist_lightning.data.folder_classes import FolderClasses
from mnist_lightning.data.image_format import GRAY, ImageFormat
from mnist_lightning.errors import DataError

log = logging.getLogger(__name__)


def folder_classes(root: str | Path, dataset_names: tuple[str, ...]) -> FolderClasses:
    """The classes `<root>/train`'s folders name (`<root>/test`'s when there is no train/)."""
    root = Path(root).expanduser()
    return FolderClasses.of(root / "train" if (root / "train").is_dir() else root / "test", dataset_names)


def load_folder(
    root: str | Path,
    cache_dir: str | Path,
    test_fraction: float,
    seed: int,
    classes: FolderClasses | None = None,
    image: ImageFormat = GRAY,
) -> tuple[Digits, Digits]:
    """(train, test); without `<root>/test`, a seeded `test_fraction` of train becomes the test split."""
    classes = classes or folder_classes(root, default_names())
    root = Path(root).expanduser()
    cache = Path(cache_dir).expanduser()
    train_dir = root / "train"
    if not train_dir.is_dir():
        raise DataError(
            f"data.root={root}: no train/ folder; expected {root}/train/<class>/*.png "
            "(and optionally test/<class>/*.png)"
        )
    train = read_cached(train_dir, cache, classes, image)
    if (root / "test").is_dir():
        return train, read_cached(root / "test", cache, classes, image)
    if not 0 < test_fraction < 1:
        raise DataError(f"data.test_fraction={test_fraction}: must be between 0 and 1")
    n_test = max(1, round(len(train) * test_fraction))
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))
    log.info(
        "%s has no labeled test/ folder: holding out %d of %d train images (data.test_fraction=%g, "
        "seed %d) as the test split",
        root,
        n_test,
        len(train),
        test_fraction,
        seed,
    )
    return train.subset(order[n_test:]), train.subset(order[:n_test])


def load_folder_test(
    root: str | Path,
    cache_dir: str | Path,
    test_fraction: float,
    seed: int,
    classes: FolderClasses | None = None,
    image: ImageFormat = GRAY,
) -> Digits:
    """The test split alone: `<root>/test` when there is one (no train/ needed), else train's held-out."""
    classes = classes or folder_classes(root, default_names())
    test_dir = Path(root).expanduser() / "test"
    if test_dir.is_dir():
        return read_cached(test_dir, Path(cache_dir).expanduser(), classes, image)
    return load_folder(root, cache_dir, test_fraction, seed, classes, image)[1]
