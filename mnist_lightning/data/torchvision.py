"""`torchvision.datasets.MNIST` as a source: downloads when allowed, works offline from local files."""

from __future__ import annotations

import gzip
import logging
import shutil
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision import datasets

from mnist_lightning.data.digits import Digits, make_digits
from mnist_lightning.data.idx import FILE_STEMS, GZIP_MAGIC, find_idx_file
from mnist_lightning.errors import DataError

log = logging.getLogger(__name__)


def _stage_raw_files(root: Path, cache: Path) -> Path | None:
    """Copy local IDX files (flat or MNIST/raw, .gz or not) into torchvision's layout under `cache`.

    torchvision only recognises *uncompressed* files in `<root>/MNIST/raw` and would otherwise try
    to download; `root` may be read-only, so the staged copy goes to the cache. Returns the
    torchvision root, or None when `root` holds no complete set.
    """
    try:
        found = {key: find_idx_file(root, *key) for key in FILE_STEMS}
    except DataError:
        return None
    raw_dir = cache / "torchvision" / "MNIST" / "raw"
    raw_dir.mkdir(parents=True, exist_ok=True)
    for key, src in found.items():
        dst = raw_dir / FILE_STEMS[key][0]  # torchvision's spelling, uncompressed
        stamp = dst.with_suffix(".source")
        signature = f"{src} {src.stat().st_size} {src.stat().st_mtime_ns}"
        if dst.is_file() and stamp.is_file() and stamp.read_text() == signature:
            continue
        tmp = dst.with_suffix(".tmp")
        with src.open("rb") as f:
            opener = gzip.open if f.read(2) == GZIP_MAGIC else open
        with opener(src, "rb") as fin, tmp.open("wb") as fout:
            shutil.copyfileobj(fin, fout)
        tmp.replace(dst)
        stamp.write_text(signature)
    return raw_dir.parent.parent


def _pil_to_uint8(image: Image.Image) -> Tensor:
    return torch.from_numpy(np.array(image, dtype=np.uint8))  # (H, W)


def torchvision_dataset(root: str | Path, cache_dir: str | Path, train: bool) -> datasets.MNIST:
    """torchvision's per-sample MNIST dataset (PIL image -> uint8 tensor), over the staged files."""
    root = Path(root).expanduser()
    staged = _stage_raw_files(root, Path(cache_dir).expanduser()) if root.is_dir() else None
    return datasets.MNIST(str(staged or root), train=train, transform=_pil_to_uint8)


def load_torchvision(root: str | Path, cache_dir: str | Path, download: bool) -> tuple[Digits, Digits]:
    """(train, test) through torchvision's MNIST class, reading `.data`/`.targets` directly."""
    root = Path(root).expanduser()
    tv_root = _stage_raw_files(root, Path(cache_dir).expanduser()) if root.is_dir() else None
    if tv_root is None:
        if not download:
            raise DataError(
                f"data.root={root}: no MNIST files found (looked in {root}, {root / 'MNIST/raw'}) "
                "and data.download=false; set data.download=true to fetch them, or point "
                "data.root / MNIST_DATA_DIR at a folder holding the four .gz files"
            )
        tv_root = root
        log.info("Downloading MNIST into %s", root / "MNIST" / "raw")
    splits = []
    for train in (True, False):
        try:
            ds = datasets.MNIST(str(tv_root), train=train, download=tv_root is root)
        except (RuntimeError, OSError) as err:
            reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
            raise DataError(
                f"data.root={root}: no MNIST files found (looked in {root}, {root / 'MNIST/raw'}) "
                f"and the download failed ({reason}); without network, copy the four MNIST .gz "
                "files into that folder or set MNIST_DATA_DIR to where they are"
            ) from None
        where = f"torchvision MNIST ({'train' if train else 'test'}) under {tv_root}"
        splits.append(make_digits(ds.data, ds.targets, where))
    return splits[0], splits[1]
