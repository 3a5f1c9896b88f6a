"""Atomic file writes: a temporary file in the same folder, then a rename, so no reader sees half a file."""

from __future__ import annotations

import json
import math
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
