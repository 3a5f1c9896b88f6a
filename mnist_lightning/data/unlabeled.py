"""A test folder of images without labels (Kaggle's `testSet/testSet/img_N.jpg`), read to be predicted."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor

from mnist_lightning.data.folder import decode_images, fingerprint, image_suffixes, natural_key
from mnist_lightning.data.folder_classes import FolderClasses
from mnist_lightning.data.image_format import GRAY, ImageFormat
from mnist_lightning.io import atomic_torch_save

log = logging.getLogger(__name__)

_TRAILING_NUMBER = re.compile(r"(\d+)$")  # img_17.jpg -> 17
_NO_CLASSES = FolderClasses({}, ())  # the cache key of a folder whose images have no labels


@dataclass(frozen=True)
class Unlabeled:
    """A folder's images, uint8 (N, H, W) or (N, H, W, 3), and their ImageIds, int64 (N,), in name order."""

    images: Tensor
    ids: Tensor

    def __len__(self) -> int:
        return len(self.ids)


def loose_images(folder: Path) -> list[Path]:
    """The image files directly in `folder` (not in class folders), in natural name order."""
    files = (p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    images = (p for p in files if p.suffix.lower() in image_suffixes())
    return sorted(images, key=lambda p: natural_key(p.name))


def image_ids(paths: list[Path]) -> list[int]:
    """Each file's trailing number when every file has a distinct one (img_17.jpg -> 17), else 1, 2, ..."""
    found = [_TRAILING_NUMBER.search(p.stem) for p in paths]
    numbers = [int(m.group(1)) for m in found if m]
    if len(numbers) == len(paths) and len(set(numbers)) == len(numbers):
        return numbers
    log.info("%s: the file names carry no distinct numbers: each ImageId is the file's position (from 1) "
             "in name order", paths[0].parent)  # fmt: skip
    return list(range(1, len(paths) + 1))


def read_unlabeled(folder: Path, cache_dir: Path, image: ImageFormat = GRAY) -> Unlabeled:
    """The images directly in `folder`, decoded once and cached (as labeled folders are) until it changes."""
    paths = loose_images(folder)
    ids = image_ids(paths)
    cache = cache_dir / "folder" / f"unlabeled-{folder.name}-{fingerprint(folder, _NO_CLASSES, image)}.pt"
    if cache.is_file():
        images = torch.load(cache, weights_only=True)["images"]
    else:
        images = decode_images(paths, folder, image)
        atomic_torch_save({"images": images}, cache)  # race-free as read_cached's (the name holds the state)
    return Unlabeled(images, torch.tensor(ids, dtype=torch.int64))
