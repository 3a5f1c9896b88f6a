"""A warm process's life: started by a cold command, one per key, importing once that command has ended."""

from __future__ import annotations

import fcntl
import gc
import importlib
import importlib.util
import os
import socket
import sys
from pathlib import Path

from mnist_lightning.warm import place
from mnist_lightning.warm.server import Server

# What every command imports and a fresh process pays for (about 3 s on a 2-core CPU); our own modules
# stay out, so that an edit to them takes effect at the next command.
PRELOAD = ("torch", "lightning.pytorch", "torchmetrics", "hydra", "omegaconf", "numpy", "PIL.Image")
# Imported too when installed: logger=mlflow would otherwise spend ~1 s importing it in every command
# (it starts no threads at import, so forks stay safe).
PRELOAD_IF_INSTALLED = ("mlflow",)


def serve(digest: str, ready_fd: int) -> None:
    """Wait for the starting command to end, import, listen; end when idle. One process per key."""
    folder = place.runtime_dir()
    if folder is None or digest != place.key():
        return  # another interpreter or environment than the command's: of no use to it
    os.chdir(folder)  # the command's folder may be gone by the time we import (sys.path keeps its name)
    lock = open(place.lock_path(folder, digest), "a+")  # noqa: SIM115  (held for the process's life)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return  # one is already running or starting
    lock.truncate(0)
    lock.write(str(os.getpid()))
    lock.flush()
    with os.fdopen(ready_fd, "rb") as starting:
        starting.read()  # EOF once the command that started us has ended: no CPU taken from it
    before = dict(os.environ)
    installed = [name for name in PRELOAD_IF_INSTALLED if importlib.util.find_spec(name) is not None]
    for name in (*PRELOAD, *installed):  # with the command's sys.path, as the command would import them
        importlib.import_module(name)
    env_set = {name: value for name, value in os.environ.items() if before.get(name) != value}
    gc.collect()
    gc.freeze()  # out of the collector's passes: each fork shares these pages instead of touching them
    path = place.socket_path(folder, digest)
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(64)
    try:
        Server(listener, place.idle_seconds(), env_set, lock.fileno()).serve()
    finally:
        path.unlink(missing_ok=True)  # before the lock is released: a new process may bind it next
        listener.close()


def start(folder: Path, digest: str) -> int:
    """Start a warm process for this interpreter; the returned fd must stay open while this command runs."""
    import subprocess  # only a cold command starts one

    ready_r, ready_w = os.pipe()
    log = open(folder / f"{digest}.log", "wb")  # noqa: SIM115
    with log:
        subprocess.Popen(
            [sys.executable, *subprocess._args_from_interpreter_flags(), "-m", "mnist_lightning.warm",
             "serve", digest, str(ready_r)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=os.getcwd(),
            start_new_session=True, pass_fds=(ready_r,),
        )  # fmt: skip
    os.close(ready_r)
    return ready_w
