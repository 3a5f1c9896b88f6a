"""The warm process's loop: it forks one process per command it is handed and reports how each ended."""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import socket
import time

from mnist_lightning.warm import child, client


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
