"""SIGTERM and Ctrl-C end a run within seconds, even one blocked in a collective that never completes.

Python runs signal handlers in the main thread between bytecodes, so a rank waiting inside a gloo or
nccl collective never runs them: the run ignores `timeout`, SLURM's SIGTERM and Ctrl-C. The C-level
handler still writes the signal number to the wakeup fd, though, so a watcher thread sees it at once.
The main thread is asked to unwind (our handler raises `Terminated`); if it is still running
`GRACE_S` seconds later, the watcher kills the ranks this process started and exits.

A process that ends on its own ends quickly too: `quick_exit` spares it most of the interpreter's exit.
"""

from __future__ import annotations

import atexit
import gc
import logging
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

log = logging.getLogger(__name__)

GRACE_S = 5.0  # time to unwind normally (logs flushed, children stopped) before the hard exit
SIGNALS = (signal.SIGTERM, signal.SIGINT)
Handler = Callable[[int, "FrameType | None"], None]
_installed: list[Handler] = []  # the handler of each `terminable` block now open, innermost last


class Terminated(BaseException):
    """The run was stopped by a signal: a BaseException, so no `except Exception` takes it for a failure."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


def _watch(read_fd: int, done: threading.Event, children: Callable[[], list[subprocess.Popen]]) -> None:
    """Wait for a signal byte; if the block has not ended a grace period later, kill the children and exit."""
    with os.fdopen(read_fd, "rb", buffering=0) as pipe:
        while data := pipe.read(16):  # b"" once the block has closed the write end
            stopping = [signum for signum in data if signum in SIGNALS]
            if stopping and not done.wait(GRACE_S):
                name = signal.Signals(stopping[0]).name
                log.error("Still running %.0f s after %s (blocked in a collective?): killed", GRACE_S, name)
                for proc in children():
                    proc.kill()
                os._exit(128 + stopping[0])


@contextmanager
def terminable(children: Callable[[], list[subprocess.Popen]] = list) -> Iterator[None]:
    """Within this block, SIGTERM and SIGINT end the process within `GRACE_S` seconds, whatever it waits on.

    `children` lists the processes to kill with it (the DDP ranks it started). Outside the main thread
    (where Python allows no signal handlers) this does nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        if not received:  # the first signal unwinds; a second one must not interrupt the clean-up
            received.append(signum)
            for proc in children():  # the ranks it started unwind as well
                proc.send_signal(signum)
            raise Terminated(signum)

    read_fd, write_fd = os.pipe()
    os.set_blocking(write_fd, False)
    done = threading.Event()
    previous = {signum: signal.signal(signum, handler) for signum in SIGNALS}
    _installed.append(handler)
    previous_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    threading.Thread(target=_watch, args=(read_fd, done, children), daemon=True, name="terminable").start()
    try:
        yield
    finally:
        _installed.pop()
        done.set()
        signal.set_wakeup_fd(previous_fd)
        for signum, old in previous.items():
            signal.signal(signum, old)
        os.close(write_fd)  # the watcher reads b"" and ends


def own_signals() -> None:
    """Put the open block's handler back in place of Lightning's own SIGTERM handler.

    Lightning's handler broadcasts a flag from inside the signal handler; when the other ranks are
    in another collective (or stopped), that broadcast blocks and the run can no longer unwind.
    """
    if _installed and threading.current_thread() is threading.main_thread():
        for signum in SIGNALS:
            signal.signal(signum, _installed[-1])


def _collect_then_freeze() -> None:
    gc.collect()  # the run's garbage, once: its finalizers run as at any exit
    gc.freeze()  # what is still alive: the interpreter's last passes walk it no more


def freeze_imports() -> None:
    """Take what is imported so far out of the garbage collector's walks, once per process.

    torch's and Lightning's objects live until the process ends: every full collection, the one at exit
    included, would walk them for nothing. The run's own objects, made after this, are collected as usual.
    """
    if not gc.get_freeze_count():  # a multirun's later jobs: never freeze an earlier job's garbage
        gc.freeze()


def quick_exit() -> None:
    """Spare the interpreter most of its exit (~1.2 s after a training run): one collection, not several.

    At exit, Python clears the modules and collects garbage several times, each pass walking the ~500,000
    objects that torch and Lightning bring. This atexit handler collects once, finalizers included, and
    freezes what is still alive out of the passes that follow (reference counting still frees it); after
    freeze_imports, that one collection walks only the run's own objects. Every atexit handler still runs
    (logging's flush and close among them), and nothing a run writes waits on those passes: files are
    written atomically and closed, TensorBoard's writer is closed.
    """
    atexit.unregister(_collect_then_freeze)  # main() called again in one interpreter (tests): once
    atexit.register(_collect_then_freeze)
