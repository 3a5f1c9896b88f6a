"""Atomic file writes: a temporary file in the same folder, then a rename, so no reader sees half a file."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import torch


def write_atomic(path: Path, write: Callable[[BinaryIO], Any]) -> None:
    """Call `write(f)` on a temporary file beside `path`, sync it, then rename it to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: str | Path, data: Any) -> None:
    """Write `data` as indented JSON, atomically."""
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"
    write_atomic(Path(path), lambda f: f.write(text.encode()))


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    """Write `data` to `path`, atomically."""
    write_atomic(Path(path), lambda f: f.write(data))


def atomic_torch_save(obj: Any, path: str | Path) -> None:
    """`torch.save`, atomically."""
    write_atomic(Path(path), lambda f: torch.save(obj, f))
