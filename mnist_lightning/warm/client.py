"""The command's side: hand the command line, folder, environment and terminal to a warm process."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import struct
import sys
from pathlib import Path
from types import FrameType
from typing import Any

# Forwarded to the forked command, which handles them as a fresh process would (Ctrl-C, SLURM's SIGTERM).
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
STREAMS = ("stdin", "stdout", "stderr")  # file descriptors 0, 1, 2
PEER = struct.Struct("3i")  # SO_PEERCRED: pid, uid, gid
HEADER = struct.Struct("!I")  # the request's length, sent with the three file descriptors


def request(entry: dict[str, str]) -> dict[str, Any]:
    """What the forked command needs to be this process: arguments, folder, environment, umask, streams."""
    umask = os.umask(0)
    os.umask(umask)
    streams = {
        name: [stream.encoding, stream.errors, stream.line_buffering, stream.write_through]
        for name, stream in ((name, getattr(sys, name)) for name in STREAMS)
    }
    return {
        "entry": entry, "argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ),
        "path": sys.path, "umask": umask, "streams": streams,
    }  # fmt: skip


def _send(sock: socket.socket, payload: bytes) -> None:
    socket.send_fds(sock, [HEADER.pack(len(payload))], [0, 1, 2])  # our terminal (or pipes) for its streams
    sock.sendall(payload)


def forward(path: Path, entry: dict[str, str]) -> int | None:
    """Run the command in the warm process at `path`; its exit code (-N: killed by signal N), None if none."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
        _pid, uid, _gid = PEER.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, PEER.size))
        if uid != os.getuid():  # our folder is private, but never hand our terminal to another user
            raise PermissionError(path)
        _send(sock, json.dumps(request(entry)).encode())
        replies = sock.makefile("rb")
        first = replies.readline()  # {"pid": N} once the command runs; nothing when the process is ending
    except (OSError, AttributeError, TypeError, ValueError):  # no process, a closed stream, an odd value
        sock.close()
        return None
    if not first:
        sock.close()
        return None
    pid = json.loads(first)["pid"]

    def relay(signum: int, _frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)

    for signum in FORWARDED:
        signal.signal(signum, relay)
    with sock, replies:
        last = replies.readline()
    if not last:  # the warm process died under the command: it cannot tell how the command ended
        print("error: the warm process ended during the command; run it again (MNIST_LIGHTNING_WARM=0 "
              "runs without one)", file=sys.stderr)  # fmt: skip
        return 1
    return int(json.loads(last)["code"])


def exit_like(code: int) -> None:
    """End this process as the command ended: its exit code, or death by the same signal."""
    if code < 0:
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        code = 128 - code  # not reached for a signal that kills
    sys.exit(code)
