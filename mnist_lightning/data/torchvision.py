"""`torchvision.datasets.MNIST` as a source: downloads when allowed, works offline from local files.

Staging and downloading are safe in many processes at once (sweep jobs, DDP ranks on an empty
cache): every file is written under a name of its own and renamed into place, so a reader sees
either no file or a complete one.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torchvision import datasets

from mnist_lightning.data.digits import Digits, make_digits
from mnist_lightning.data.idx import FILE_STEMS, GZIP_MAGIC, find_idx_file
from mnist_lightning.errors import DataError
from mnist_lightning.io import write_atomic

log = logging.getLogger(__name__)

RAW = Path("MNIST") / "raw"  # where torchvision looks, under its root


def _not_found(root: Path) -> str:
    return f"data.root={root}: no MNIST files found (looked in {root}, {root / RAW})"


def _local_files(root: Path) -> dict[str, Path] | None:
    """torchvision's file name -> the local IDX file (flat or MNIST/raw, .gz or not), or None."""
    try:
        return {stems[0]: find_idx_file(root, *key) for key, stems in FILE_STEMS.items()}
    except DataError:
        return None


def _staged_root(cache: Path, files: dict[str, Path]) -> Path:
    # One folder per set of source files (paths, sizes, modification times): a staged file is
    # complete by construction (renamed into place), and a changed or other source never reuses it.
    h = hashlib.sha1()
    for name, src in sorted(files.items()):
        st = src.stat()
        h.update(f"{name}\0{src}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return cache / "torchvision" / h.hexdigest()[:16]


def _copy_uncompressed(src: Path, dst: Path) -> None:
    """Copy `src` to `dst`, gunzipped if it is gzipped, through a temporary file and a rename."""
    with src.open("rb") as f:
        opener = gzip.open if f.read(2) == GZIP_MAGIC else open
    with opener(src, "rb") as fin:
        write_atomic(dst, lambda fout: shutil.copyfileobj(fin, fout))


def _stage_raw_files(root: Path, cache: Path) -> Path | None:
    """Copy local IDX files (flat or MNIST/raw, .gz or not) into torchvision's layout under `cache`.

    torchvision only recognises *uncompressed* files in `<root>/MNIST/raw` and would otherwise try
    to download; `root` may be read-only, so the staged copy goes to the cache. Returns the
    torchvision root, or None when `root` holds no complete set.
    """
    files = _local_files(root) if root.is_dir() else None
    if files is None:
        return None
    tv_root = _staged_root(cache, files)
    for name, src in files.items():
        dst = tv_root / RAW / name
        if not dst.is_file():  # another process may be writing it too: each writes its own temporary
            _copy_uncompressed(src, dst)
    return tv_root


def _download_raw_files(root: Path) -> None:
    """Download MNIST into `<root>/MNIST/raw` (torchvision's layout, .gz and uncompressed files).

    Each process downloads into a temporary folder of its own beside the target, so no process
    ever reads another's half-written file; each finished file is then renamed into place, which
    is atomic (two processes downloading at once replace a complete file with an identical one).
    """
    raw = root / RAW
    raw.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=raw.parent, prefix=".download-"))
    try:
        datasets.MNIST(str(tmp), download=True)
        for file in (tmp / RAW).iterdir():
            os.replace(file, raw / file.name)
    except (RuntimeError, OSError) as err:
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise DataError(
            f"{_not_found(root)} and the download failed ({reason}); without network, copy the "
            "four MNIST .gz files into that folder or set MNIST_DATA_DIR to where they are"
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def prepare_torchvision(root: str | Path, cache_dir: str | Path, download: bool) -> Path:
    """Stage MNIST for torchvision, downloading it into `root` first if allowed; the torchvision root."""
    root, cache = Path(root).expanduser(), Path(cache_dir).expanduser()
    tv_root = _stage_raw_files(root, cache)
    if tv_root is None:
        if not download:
            raise DataError(
                f"{_not_found(root)} and data.download=false; set data.download=true to fetch "
                "them, or point data.root / MNIST_DATA_DIR at a folder holding the four .gz files"
            )
        log.info("Downloading MNIST into %s", root / RAW)
        _download_raw_files(root)
        tv_root = _stage_raw_files(root, cache)
        if tv_root is None:
            raise DataError(f"{_not_found(root)} after downloading them; delete {root / RAW} and try again")
    return tv_root


def _pil_to_uint8(image: Image.Image) -> Tensor:
    return torch.from_numpy(np.array(image, dtype=np.uint8))  # (H, W)


def torchvision_dataset(
    root: str | Path, cache_dir: str | Path, download: bool, train: bool
) -> datasets.MNIST:
    """torchvision's per-sample MNIST dataset (PIL image -> uint8 tensor), over the staged files."""
    tv_root = prepare_torchvision(root, cache_dir, download)
    return datasets.MNIST(str(tv_root), train=train, transform=_pil_to_uint8)


def load_torchvision(root: str | Path, cache_dir: str | Path, download: bool) -> tuple[Digits, Digits]:
    """(train, test) through torchvision's MNIST class, reading `.data`/`.targets` directly.

    After `prepare_torchvision` this only reads; without it, it stages (or downloads) first.
    """
    tv_root = prepare_torchvision(root, cache_dir, download)
    splits = []
    for train in (True, False):
        ds = datasets.MNIST(str(tv_root), train=train)
        where = f"torchvision MNIST ({'train' if train else 'test'}) under {tv_root}"
        splits.append(make_digits(ds.data, ds.targets, where))
    return splits[0], splits[1]
