"""The warm process: imports torch and Lightning once, then forks one process per command it is handed."""

from __future__ import annotations

import contextlib
import fcntl
import gc
import importlib
import json
import os
import selectors
import signal
import socket
import sys
import time
from pathlib import Path

from mnist_lightning.warm import child, client, place

# What every command imports and a fresh process pays for (about 4 s on a 2-core CPU); our own modules
# stay out, so that an edit to them takes effect at the next command.
PRELOAD = ("torch", "lightning.pytorch", "torchmetrics", "hydra", "omegaconf", "numpy", "PIL.Image")


def _receive(conn: socket.socket) -> tuple[dict, list[int]]:
    """The request and the three stream descriptors a command sent."""
    conn.settimeout(10)
    header, fds, _flags, _addr = socket.recv_fds(conn, client.HEADER.size, 3)
    if len(header) != client.HEADER.size or len(fds) != 3:
        raise ValueError("a short request")
    (size,) = client.HEADER.unpack(header)
    chunks, left = [], size
    while left:
        chunk = conn.recv(min(left, 1 << 16))
        if not chunk:
            raise ValueError("a cut request")
        chunks.append(chunk)
        left -= len(chunk)
    return json.loads(b"".join(chunks)), fds


class Server:
    """Accepts commands on a Unix socket, forks each, and reports each exit status to its sender."""

    def __init__(self, listener: socket.socket, idle_s: float, env_set: dict[str, str], lock: int) -> None:
        self.listener, self.idle_s, self.env_set, self.lock = listener, idle_s, env_set, lock
        self.selector = selectors.DefaultSelector()
        self.running: dict[int, socket.socket] = {}  # pid of a forked command -> its sender's connection
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_w, False)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a Python handler, so the wakeup fd hears it
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        self.selector.register(listener, selectors.EVENT_READ)
        self.selector.register(self.wake_r, selectors.EVENT_READ)
        self.last = time.monotonic()
        self.stopping = False
        signal.signal(signal.SIGTERM, self._stop)

    def _stop(self, _signum: int, _frame: object) -> None:
        """`python -m mnist_lightning.warm stop`: take no new command, let the running ones finish."""
        if not self.stopping:
            self.stopping, self.idle_s = True, 0.0
            self.selector.unregister(self.listener)
            self.listener.close()

    def serve(self) -> None:
        """Until idle for `idle_s` seconds with no command running."""
        while self.running or time.monotonic() - self.last < self.idle_s:
            timeout = None if self.running else max(0.0, self.idle_s - (time.monotonic() - self.last))
            for key, _ in self.selector.select(timeout):
                if key.fileobj is self.listener:
                    self._accept()
                elif key.fileobj == self.wake_r:
                    os.read(self.wake_r, 512)
                else:
                    self._hung_up(key.fileobj)  # type: ignore[arg-type]
            self._reap()

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        _pid, uid, _gid = client.PEER.unpack(
            conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, client.PEER.size)
        )
        try:
            if uid != os.getuid():
                raise ValueError("another user")
            request, fds = _receive(conn)
            request["env"].update(self.env_set)  # what the imports set (Lightning: NVML-based CUDA check)
        except (OSError, ValueError):
            conn.close()
            return
        conn.settimeout(None)
        # Ours, not the command's: the lock above all, which would outlive this process in a long command.
        inherited = [self.listener.fileno(), self.wake_r, self.wake_w, self.selector.fileno(), self.lock]
        inherited += [c.fileno() for c in self.running.values()]
        pid = os.fork()
        if pid == 0:
            child.run(request, fds, [*inherited, conn.fileno()])
        for fd in fds:
            os.close(fd)
        self.running[pid] = conn
        self.selector.register(conn, selectors.EVENT_READ)
        with contextlib.suppress(OSError):
            conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")

    def _hung_up(self, conn: socket.socket) -> None:
        """The sender is gone (killed): so goes its command, as it would with the command in-process."""
        self.selector.unregister(conn)
        for pid, sender in self.running.items():
            if sender is conn:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)  # the command and every process it started
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)  # in case it has not yet made its own group

    def _reap(self) -> None:
        while self.running:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            conn = self.running.pop(pid, None)
            if conn is None:
                continue
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(conn)
            with contextlib.suppress(OSError), conn:
                conn.sendall(json.dumps({"code": os.waitstatus_to_exitcode(status)}).encode() + b"\n")
            self.last = time.monotonic()


def main(digest: str, ready_fd: int) -> None:
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
    for name in PRELOAD:  # with the command's sys.path, as the command itself would import them
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
