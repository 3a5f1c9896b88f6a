"""Our own IDX reader (numpy): MNIST-format files, gzipped or not, with the header validated."""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np
import torch

from mnist_lightning.data.digits import Digits, make_digits
from mnist_lightning.errors import DataError

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions (N, H, W)
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension (N,)
GZIP_MAGIC = b"\x1f\x8b"
# Both spellings occur in the wild: torchvision's `train-images-idx3-ubyte` and `train-images.idx3-ubyte`.
FILE_STEMS = {
    ("train", "images"): ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    ("train", "labels"): ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    ("test", "images"): ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    ("test", "labels"): ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}
SUBDIRS = (".", "MNIST/raw", "raw")  # flat, torchvision's layout, and a bare raw/ folder
GET_DATA_HINT = (
    "set data.root (or MNIST_DATA_DIR) to the folder holding the four MNIST files, "
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


def read_idx(path: str | Path, magic: int | None = None) -> np.ndarray:
    """Read an unsigned-byte IDX file into an array; `magic` (2051 or 2049) is checked when given."""
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataError(f"{path}: empty or shorter than an IDX header ({len(raw)} bytes)")
    (found,) = struct.unpack(">I", raw[:4])
    if magic is not None and found != magic:
        kinds = {IMAGES_MAGIC: "an images file", LABELS_MAGIC: "a labels file"}
        what = kinds.get(found, "not an unsigned-byte IDX file")
        raise DataError(
            f"{path}: magic number {found} ({what}), expected {magic} ({kinds[magic]}); "
            "check which file is which"
        )
    if raw[:3] != b"\x00\x00\x08":
        raise DataError(
            f"{path}: magic number {found} is not an unsigned-byte IDX file; "
            "expected 2051 (images) or 2049 (labels)"
        )
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{path}: truncated header ({len(raw)} bytes); download the file again")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + math.prod(dims)
    if len(raw) != expected:
        raise DataError(
            f"{path}: header says dimensions {dims} ({expected:,} bytes) but the file has "
            f"{len(raw):,} bytes; it is truncated or corrupt, download it again"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def find_idx_file(root: Path, split: str, kind: str) -> Path:
    """The IDX file for (split, kind) under `root`, flat or in torchvision's MNIST/raw layout."""
    candidates = [
        root / sub / (stem + ext)
        for sub in SUBDIRS
        for stem in FILE_STEMS[(split, kind)]
        for ext in ("", ".gz")
    ]
    for path in candidates:
        if path.is_file():
            return path.resolve()
    looked = ", ".join(str((root / sub).resolve()) for sub in SUBDIRS)
    raise DataError(f"no {FILE_STEMS[(split, kind)][0]}[.gz] found (looked in {looked}); {GET_DATA_HINT}")


def read_idx_split(images_path: Path, labels_path: Path) -> Digits:
    """One split from an images file and a labels file."""
    images = read_idx(images_path, IMAGES_MAGIC)
    labels = read_idx(labels_path, LABELS_MAGIC)
    where = f"{images_path.name} + {labels_path.name}"
    return make_digits(torch.from_numpy(images.copy()), torch.from_numpy(labels.copy()), where)


def load_idx_split(root: str | Path, split: str) -> Digits:
    """One split ("train" or "test") from its two MNIST-format IDX files under `root`."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"data.root={root}: no such folder; {GET_DATA_HINT}")
    images, labels = (find_idx_file(root, split, kind) for kind in ("images", "labels"))
    return read_idx_split(images, labels)


def load_idx_dir(root: str | Path) -> tuple[Digits, Digits]:
    """(train, test) from the four MNIST-format IDX files under `root`."""
    return load_idx_split(root, "train"), load_idx_split(root, "test")
