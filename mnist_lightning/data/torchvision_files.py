"""A torchvision dataset's raw files: found locally (MNIST_DATA_DIR, data.root), staged, or downloaded.

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

from torchvision import datasets

from mnist_lightning.data.datasets import KINDS, SPLITS, Dataset
from mnist_lightning.data.idx import GZIP_MAGIC, find_idx_file
from mnist_lightning.errors import DataError
from mnist_lightning.io import write_atomic

log = logging.getLogger(__name__)


def tv_class(dataset: Dataset) -> type[datasets.MNIST]:
    """The dataset's torchvision class: every one of them is an MNIST subclass."""
    return getattr(datasets, dataset.torchvision_class())


def _raw(dataset: Dataset) -> Path:
    """Where torchvision looks for the uncompressed files, under its root: e.g. EMNIST/raw."""
    return Path(dataset.torchvision_class()) / "raw"


def _not_found(root: Path, dataset: Dataset) -> str:
    where = f"{root}, {root / _raw(dataset)}"
    return f"data.root={root}: no {dataset.torchvision} files found (looked in {where})"


def _local_files(root: Path, dataset: Dataset) -> dict[str, Path] | None:
    """torchvision's file name -> the local IDX file (flat or <Class>/raw, .gz or not), or None."""
    try:
        return {
            dataset.file_name(split, kind): find_idx_file(root, split, kind, dataset)
            for split in SPLITS
            for kind in KINDS
        }
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


def _stage_raw_files(root: Path, cache: Path, dataset: Dataset) -> Path | None:
    """Copy local IDX files (flat or <Class>/raw, .gz or not) into torchvision's layout under `cache`.

    torchvision only recognises *uncompressed* files in `<root>/<Class>/raw` and would otherwise try
    to download; `root` may be read-only, so the staged copy goes to the cache. Returns the
    torchvision root, or None when `root` holds no complete set.
    """
    files = _local_files(root, dataset) if root.is_dir() else None
    if files is None:
        return None
    tv_root = _staged_root(cache, files)
    for name, src in files.items():
        dst = tv_root / _raw(dataset) / name
        if not dst.is_file():  # another process may be writing it too: each writes its own temporary
            _copy_uncompressed(src, dst)
    return tv_root


def _download_raw_files(root: Path, dataset: Dataset) -> None:
    """Download the dataset into `<root>/<Class>/raw` (torchvision's layout, .gz and uncompressed files).

    Each process downloads into a temporary folder of its own beside the target, so no process
    ever reads another's half-written file; each finished file is then renamed into place, which
    is atomic (two processes downloading at once replace a complete file with an identical one).
    """
    raw = root / _raw(dataset)
    raw.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=raw.parent, prefix=".download-"))
    try:
        for train in (True, False):  # QMNIST downloads only the split it is asked for
            tv_class(dataset)(str(tmp), train=train, download=True, **dataset.torchvision_args)
        for file in (tmp / _raw(dataset)).iterdir():
            os.replace(file, raw / file.name)
    except (RuntimeError, OSError) as err:
        reason = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise DataError(
            f"{_not_found(root, dataset)} and the download failed ({reason}); without network, copy the "
            "four .gz files into that folder or set MNIST_DATA_DIR to where they are"
        ) from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def prepare_torchvision(
    root: str | Path, cache_dir: str | Path, download: bool, dataset: Dataset | None = None
) -> Path:
    """Stage the dataset (default MNIST) for torchvision, downloading it into `root` first if allowed."""
    root, cache, dataset = Path(root).expanduser(), Path(cache_dir).expanduser(), Dataset.from_config(dataset)
    tv_root = _stage_raw_files(root, cache, dataset)
    if tv_root is None:
        if not download:
            raise DataError(
                f"{_not_found(root, dataset)} and data.download=false; set data.download=true to fetch "
                "them, or point data.root / MNIST_DATA_DIR at a folder holding the four .gz files"
            )
        log.info("Downloading %s into %s", dataset.name, root / _raw(dataset))
        _download_raw_files(root, dataset)
        tv_root = _stage_raw_files(root, cache, dataset)
        if tv_root is None:
            again = f"delete {root / _raw(dataset)} and try again"
            raise DataError(f"{_not_found(root, dataset)} after downloading them; {again}")
    return tv_root
