"""Where a warm process listens, and which warm process fits this interpreter (its key)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from pathlib import Path

SWITCH = "MNIST_LIGHTNING_WARM"  # "0" (or "false", "no", "off"): never use or start a warm process
IDLE = "MNIST_LIGHTNING_WARM_IDLE"  # seconds a warm process waits for the next command before it ends
IDLE_DEFAULT_S = 600.0
LAUNCHED = "TORCHELASTIC_RUN_ID"  # set by torchrun for its workers
# Libraries read these at import (threads, allocators, paths, config files): a warm process that imported
# them under other values would run a command differently from a fresh one, so they are part of the key.
IMPORT_TIME_ENV = (
    "PYTHON", "OMP_", "MKL_", "KMP_", "GOMP_", "OPENBLAS_", "TORCH", "PYTORCH_", "CUDA", "NVIDIA_",
    "LD_", "MALLOC", "MPL", "HOME", "XDG_CONFIG_HOME", "TF_",
)  # fmt: skip
DIGEST = 20  # hex digits of the key in file names
SOCKET_PATH_MAX = 107  # bytes in a Unix socket's path (sun_path less its NUL)
# Upgrading one of these (pip install -U) replaces what a warm process has imported.
STAMPED = ("torch", "lightning", "torchmetrics", "torchvision", "hydra", "omegaconf")


def enabled() -> bool:
    """False when the user turned warm starts off, under torchrun, or without fork and fd passing."""
    if os.environ.get(SWITCH, "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    if LAUNCHED in os.environ:  # torchrun watches its workers as its own processes, each run its own
        return False
    return sys.platform.startswith("linux")


def idle_seconds() -> float:
    """How long a warm process stays without a command (MNIST_LIGHTNING_WARM_IDLE, default 600 s)."""
    try:
        return max(1.0, float(os.environ.get(IDLE, IDLE_DEFAULT_S)))
    except ValueError:
        return IDLE_DEFAULT_S


def runtime_dir() -> Path | None:
    """This user's private folder for sockets and locks; None when it is not private (then no warm start)."""
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    folder = Path(base) / f"mnist-lightning-warm-{os.getuid()}"
    if len(os.fsencode(socket_path(folder, "0" * DIGEST))) > SOCKET_PATH_MAX:
        return None
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
        info = folder.lstat()
    except OSError:
        return None
    private = info.st_uid == os.getuid() and (info.st_mode & 0o077) == 0 and folder.is_dir()
    return folder if private and not folder.is_symlink() else None


def _stamp(name: str) -> int:
    spec = importlib.util.find_spec(name)  # finds the package without importing it
    return os.stat(spec.origin).st_mtime_ns if spec and spec.origin else 0


def search_path() -> list[str]:
    """sys.path without the entry Python puts first for each command (its folder); the child sets that one."""
    return sys.path if sys.flags.safe_path else sys.path[1:]


def key() -> str:
    """What a warm process must share with this interpreter for a forked command to run as a fresh one."""
    own = Path(__file__).parent
    facts = [
        sys.executable, sys.version, search_path(),
        sorted((k, v) for k, v in os.environ.items() if k.startswith(IMPORT_TIME_ENV)),
        list(sys.flags), sys.warnoptions, sorted(sys._xoptions.items()),
        [hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(own.glob("*.py"))],
        [_stamp(name) for name in STAMPED],
    ]  # fmt: skip
    return hashlib.sha256(json.dumps(facts, default=str).encode()).hexdigest()[:DIGEST]


def socket_path(folder: Path, digest: str) -> Path:
    """The socket a warm process with this key listens on."""
    return folder / f"{digest}.sock"


def lock_path(folder: Path, digest: str) -> Path:
    """Held (flock) by the one warm process of this key for its whole life; it holds that process's pid."""
    return folder / f"{digest}.lock"
