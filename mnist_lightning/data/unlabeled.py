"""A test folder of images without labels (Kaggle's `testSet/testSet/img_N.jpg`), read to be predicted."""

from __future__ import annotations

import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from mnist_lightning.data.folder import IMAGE_SIZE, _fingerprint, _natural_key, decode_image, image_suffixes
from mnist_lightning.data.folder_classes import FolderClasses
from mnist_lightning.io import atomic_torch_save

log = logging.getLogger(__name__)

_TRAILING_NUMBER = re.compile(r"(\d+)$")  # img_17.jpg -> 17
_NO_CLASSES = FolderClasses({}, ())  # the cache key of a folder whose images have no labels


@dataclass(frozen=True)
class Unlabeled:
    """A folder's images as uint8 (N, H, W), and each one's ImageId as int64 (N,), in file name order."""

    images: Tensor
    ids: Tensor

    def __len__(self) -> int:
        return len(self.ids)


def loose_images(folder: Path) -> list[Path]:
    """The image files directly in `folder` (not in class folders), in natural name order."""
    files = (p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    images = (p for p in files if p.suffix.lower() in image_suffixes())
    return sorted(images, key=lambda p: _natural_key(p.name))


def image_ids(paths: list[Path]) -> list[int]:
    """Each file's trailing number when every file has a distinct one (img_17.jpg -> 17), else 1, 2, ..."""
    found = [_TRAILING_NUMBER.search(p.stem) for p in paths]
    numbers = [int(m.group(1)) for m in found if m]
    if len(numbers) == len(paths) and len(set(numbers)) == len(numbers):
        return numbers
    log.info("%s: the file names carry no distinct numbers: each ImageId is the file's position (from 1) "
             "in name order", paths[0].parent)  # fmt: skip
    return list(range(1, len(paths) + 1))


def _decode(paths: list[Path], folder: Path) -> Tensor:
    """Decode `paths` on every core, with a progress bar for large folders; uint8 (N, H, W)."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        decoded = list(tqdm(pool.map(decode_image, paths), total=len(paths), desc=f"decoding {folder.name}",
                            disable=len(paths) < 2000))  # fmt: skip
    if resized := sum(flag for _, flag in decoded):
        log.warning("%s: resized %d images to %dx%d", folder, resized, IMAGE_SIZE, IMAGE_SIZE)
    return torch.from_numpy(np.stack([array for array, _ in decoded]))


def read_unlabeled(folder: Path, cache_dir: Path) -> Unlabeled:
    """The images directly in `folder`, decoded once and cached (as labeled folders are) until it changes."""
    paths = loose_images(folder)
    ids = image_ids(paths)
    cache = cache_dir / "folder" / f"unlabeled-{folder.name}-{_fingerprint(folder, _NO_CLASSES)}.pt"
    if cache.is_file():
        images = torch.load(cache, weights_only=True)["images"]
    else:
        images = _decode(paths, folder)
        atomic_torch_save({"images": images}, cache)  # race-free as read_cached's (the name holds the state)
    return Unlabeled(images, torch.tensor(ids, dtype=torch.int64))
