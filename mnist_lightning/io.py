"""Atomic file writes: a temporary file in the same folder, then a rename, so no reader sees half a file."""

from __future__ import annotations

import json
import math
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch

# O_EXCL: a new file of our own, never one that exists (or a link planted under its name).
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
# What open(path, "wb") asks for; the kernel takes the umask (or the folder's default ACL) off it.
# tempfile.mkstemp asks for 0600, which would keep every run's files from teammates on a shared disk.
_FILE_MODE = 0o666


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new file beside `path` under a random hidden name, with the mode a plain `open()` would give."""
    while True:
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        try:
            return os.open(tmp, _CREATE, _FILE_MODE), tmp
        except FileExistsError:  # another writer drew the same name: draw again
            continue


def write_atomic(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """Call `write(f)` on a temporary file beside `path`, sync it, then rename it to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _create_temporary(path)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def strict(data: Any) -> Any:
    """`data` with every NaN or infinite float made None: JSON has no such numbers, and jq rejects them."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {key: strict(value) for key, value in data.items()}
    if isinstance(data, (list, tuple)):
        return [strict(value) for value in data]
    return data


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write `data` as indented, strict JSON (non-finite numbers as null), atomically."""
    text = json.dumps(strict(data), indent=2, sort_keys=True, allow_nan=False) + "\n"
    write_atomic(Path(path), lambda f: f.write(text.encode()))


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write `data` to `path`, atomically."""
    write_atomic(Path(path), lambda f: f.write(data))


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """`torch.save`, atomically."""
    write_atomic(Path(path), lambda f: torch.save(obj, f))
