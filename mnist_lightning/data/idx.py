"""Our own IDX reader (numpy): a dataset's IDX files (names from its `Dataset`), gzipped or not, validated."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from mnist_lightning.data.datasets import Dataset
from mnist_lightning.data.digits import Digits
from mnist_lightning.errors import DataError

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (N, H, W)
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (N,)
INT_LABELS_MAGIC = 3074  # 0x00000C02: big-endian int32, 2 dimensions (N, M): QMNIST's label rows
DTYPES = {0x08: np.dtype(np.uint8), 0x0C: np.dtype(">i4")}  # the IDX type byte -> element type
GZIP_MAGIC = b"\x1f\x8b"
SUBDIRS = (".", "{torchvision}/raw", "raw")  # flat, torchvision's layout, and a bare raw/ folder


def spellings(name: str) -> tuple[str, ...]:
    """An official name and the dotted spelling also seen in the wild (train-images.idx3-ubyte)."""
    head, sep, tail = name.rpartition("-idx")
    return (name, f"{head}.idx{tail}") if sep else (name,)


GET_DATA_HINT = (
    "set data.root (or MNIST_DATA_DIR) to the folder holding the dataset's four IDX files, "
    "or use data=torchvision, which downloads them"
)


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(f"{path}: file not found; {GET_DATA_HINT}") from None
    except OSError as err:
        raise DataError(f"{path}: cannot read ({err.strerror}); check its permissions") from None
    if raw[:2] == GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise DataError(
                f"{path}: corrupt or truncated gzip stream ({err}); download the file again"
            ) from None
    return raw


def read_idx(path: str | Path, magic: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Read a uint8 or int32 IDX file into an array; `magic` (one number or several) is checked when given."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"{path}: empty or shorter than an IDX header ({len(raw)} bytes)")
    (found,) = struct.unpack(">I", raw[:4])
    accepted = (magic,) if isinstance(magic, int) else magic
    if accepted is not None and found not in accepted:
        kinds = {IMAGES_MAGIC: "an images file", LABELS_MAGIC: "a labels file", INT_LABELS_MAGIC: "labels"}
        what = kinds.get(found, "not an IDX file we read")
        raise DataError(
            f"{path}: magic number {found} ({what}), expected {accepted[0]} ({kinds[accepted[0]]}); "
            "check which file is which"
        )
    if raw[:2] != b"\x00\x00" or raw[2] not in DTYPES:
        raise DataError(
            f"{path}: magic number {found} is not an unsigned-byte or int32 IDX file; "
            "expected 2051 (images) or 2049 (labels)"
        )
    dtype, ndim = DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated header ({len(raw)} bytes); download the file again")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + math.prod(dims) * dtype.itemsize
    if len(raw) != expected:
        raise DataError(
            f"{path}: header says dimensions {dims} ({expected:,} bytes) but the file has "
            f"{len(raw):,} bytes; it is truncated or corrupt, download it again"
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(dims)


def find_idx_file(root: Path, split: str, kind: str, dataset: Dataset | None = None) -> Path:
    """`dataset`'s IDX file for (split, kind) under `root`, flat or in torchvision's <Class>/raw layout."""
    dataset = Dataset.from_config(dataset)
    name = dataset.file_name(split, kind)
    subdirs = [  # no <Class>/raw for a dataset that torchvision has no class for
        sub.format(torchvision=dataset.torchvision)
        for sub in SUBDIRS
        if dataset.torchvision or "{" not in sub
    ]
    stems = spellings(name)
    candidates = [root / sub / (stem + ext) for sub in subdirs for stem in stems for ext in ("", ".gz")]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    looked = ", ".join(str((root / sub).resolve()) for sub in subdirs)
    raise DataError(f"no {name}[.gz] found (looked in {looked}); {GET_DATA_HINT}")


def read_idx_split(images_path: Path, labels_path: Path, dataset: Dataset | None = None) -> Digits:
    """One split of `dataset` from an images file and a labels file."""
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, (LABELS_MAGIC, INT_LABELS_MAGIC))
    where = f"{images_path.name} + {labels_path.name}"
    return Dataset.from_config(dataset).to_digits(
        torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64)), where
    )


def load_idx_split(root: str | Path, split: str, dataset: Dataset | None = None) -> Digits:
    """One split ("train" or "test") of `dataset` (default MNIST) from its two IDX files under `root`."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"data.root={root}: no such folder; {GET_DATA_HINT}")
    dataset = Dataset.from_config(dataset)
    images, labels = (find_idx_file(root, split, kind, dataset) for kind in ("images", "labels"))
    return read_idx_split(images, labels, dataset)


def load_idx_dir(root: str | Path, dataset: Dataset | None = None) -> tuple[Digits, Digits]:
    """(train, test) of `dataset` (default MNIST) from its four IDX files under `root`."""
    dataset = Dataset.from_config(dataset)
    return load_idx_split(root, "train", dataset), load_idx_split(root, "test", dataset)
