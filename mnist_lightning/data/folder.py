"""A folder of images, `<root>/train/<class>/*` and optionally `<root>/test/<class>/*`."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from tqdm import tqdm

from mnist_lightning.data.datasets import Dataset
from mnist_lightning.data.digits import Digits, make_digits
from mnist_lightning.data.folder_classes import FolderClasses
from mnist_lightning.data.image_format import GRAY, IMAGE_SIZE, ImageFormat
from mnist_lightning.errors import DataError
from mnist_lightning.io import atomic_torch_save
from mnist_lightning.preprocess import as_resized

log = logging.getLogger(__name__)

SOME_FORMATS = ".jpg, .bmp, .webp, .tif, ..."  # error messages name .png first, then these


def natural_key(name: str) -> list[str | int]:
    """A sort key that puts "img_10" after "img_9"."""
    # "img_10" sorts after "img_9"; str and int parts alternate, so keys always compare.
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


@functools.cache
def image_suffixes() -> frozenset[str]:
    """Every suffix Pillow can open here (.png, .jpg, .webp, .tif, .bmp, ...): for data=folder and predict."""
    Image.init()  # registers every installed format plugin
    return frozenset(ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN)


def default_names() -> tuple[str, ...]:
    """The classes of a folder read with no dataset given: the default dataset's (mnist's digits)."""
    return Dataset.from_config(None).class_names


def list_images(folder: Path, classes: FolderClasses) -> list[tuple[Path, int]]:
    """(path, label) for every image under `folder/<class>/`, sorted by file name then label."""
    items: list[tuple[Path, int]] = []
    skipped = 0
    for class_dir in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
        label = classes.label(class_dir)
        files = [p for p in class_dir.iterdir() if p.is_file() and not p.name.startswith(".")]
        images = [p for p in files if p.suffix.lower() in image_suffixes()]
        skipped += len(files) - len(images)
        if not images:
            log.warning("%s: empty class folder (no image files)", class_dir)
        items += [(p, label) for p in images]
    if skipped:
        log.warning("%s: skipped %d files that are not images Pillow reads", folder, skipped)
    if not items:
        raise DataError(
            f"{folder}: no images found; expected {folder}/<class>/*.png (or {SOME_FORMATS}) "
            "with one folder per class (digits 0-9 or names)"
        )
    items.sort(key=lambda item: (natural_key(item[0].name), item[1]))
    return items


def decode_image(path: Path, channels: int = 1, size: int = IMAGE_SIZE) -> tuple[np.ndarray, bool]:
    """A uint8 array, (size, size) grayscale or (size, size, 3) RGB, and whether it had to be resized."""
    try:
        with Image.open(path) as img:
            # predict's plain preparation, so that a photo given to predict is read as training read it
            return as_resized(img, (channels, size, size)), img.size != (size, size)
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise DataError(f"{path}: not a readable image ({err}); delete or replace the file") from None


def decode_images(paths: list[Path], folder: Path, image: ImageFormat = GRAY) -> Tensor:
    """Decode `paths` on every core (a progress bar for large folders): uint8 (N, H, W) or (N, H, W, 3)."""
    decode = functools.partial(decode_image, channels=image.channels, size=image.size)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        decoded = list(
            tqdm(
                pool.map(decode, paths),
                total=len(paths),
                desc=f"decoding {folder.name}",
                disable=len(paths) < 2000,
            )
        )
    resized = sum(flag for _, flag in decoded)
    if resized:
        log.warning("%s: resized %d images to %dx%d", folder, resized, image.size, image.size)
    return torch.from_numpy(np.stack([array for array, _ in decoded]))


def read_image_folder(
    folder: Path, classes: FolderClasses | None = None, image: ImageFormat = GRAY
) -> Digits:
    """Decode every image under `folder/<class>/` into one split (classes: its own)."""
    classes = classes or FolderClasses.of(folder, default_names())
    items = list_images(folder, classes)
    images = decode_images([path for path, _ in items], folder, image)  # (N, H, W) or (N, H, W, 3)
    labels = torch.tensor([label for _, label in items], dtype=torch.int64)
    return make_digits(images, labels, str(folder), len(classes.names))


def fingerprint(folder: Path, classes: FolderClasses, image: ImageFormat) -> str:
    """A short hash that changes with any file under `folder`, the class mapping or the image format."""
    # Names, sizes and modification times: any added, removed or edited file changes it; so do the
    # class mapping (the same files give other labels under another dataset= or train/ tree) and the
    # image format (data.channels, data.image_size).
    h = hashlib.sha1(f"{folder.resolve()}\0{classes.key()}\0{image.key()}".encode())
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            st = path.stat()
            h.update(f"{path.relative_to(folder)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:16]


def read_cached(folder: Path, cache_dir: Path, classes: FolderClasses, image: ImageFormat = GRAY) -> Digits:
    """`read_image_folder`, decoded once and cached until the folder, its classes or the format change."""
    cache = cache_dir / "folder" / f"{folder.name}-{fingerprint(folder, classes, image)}.pt"
    if cache.is_file():
        saved = torch.load(cache, weights_only=True)
        return Digits(saved["images"], saved["labels"])
    digits = read_image_folder(folder, classes, image)
    # Race-free without a lock: the name holds the folder's fingerprint, and the file is written
    # under a temporary name and renamed, so processes decoding the same folder at once (sweep jobs,
    # DDP ranks) each put a complete, identical file in place, and a reader never sees half of one.
    atomic_torch_save({"images": digits.images, "labels": digits.labels}, cache)
    return digits


def write_image_folder(digits: Digits, folder: str | Path, suffix: str = ".png") -> None:
    """Write a split as `folder/<label>/<index>.png`; names keep the original order when read back."""
    folder = Path(folder)
    width = len(str(len(digits)))
    for i, (image, label) in enumerate(zip(digits.images.cpu().numpy(), digits.labels.tolist(), strict=True)):
        path = folder / str(label) / f"{i:0{width}d}{suffix}"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(path)  # uint8 (H, W) -> mode L, (H, W, 3) -> RGB
