"""The forked command: become the process that asked (folder, environment, streams), then run its entry."""

from __future__ import annotations

import atexit
import contextlib
import importlib
import io
import logging
import os
import runpy
import signal
import sys
import threading
import traceback
from typing import Any, NoReturn

OWN = ("mnist_lightning", "hydra_plugins")  # imported afresh in every command: edits to them take effect


def _stream(fd: int, encoding: str, errors: str, line: bool, through: bool) -> io.TextIOWrapper:
    """A text stream on `fd` made as the asking process's own (its encoding, errors and buffering)."""
    raw = io.FileIO(fd, "r" if fd == 0 else "w", closefd=False)
    buffered = io.BufferedReader(raw) if fd == 0 else io.BufferedWriter(raw)
    return io.TextIOWrapper(buffered, encoding, errors, line_buffering=line, write_through=through)


def _become(request: dict[str, Any], fds: list[int]) -> None:
    """Take the asking process's streams, folder, environment, umask, sys.path and arguments."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    old = (sys.stdout, sys.stderr)
    streams = request["streams"]
    sys.stdin = sys.__stdin__ = _stream(0, *streams["stdin"])
    sys.stdout = sys.__stdout__ = _stream(1, *streams["stdout"])
    sys.stderr = sys.__stderr__ = _stream(2, *streams["stderr"])
    for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]:
        for handler in getattr(logger, "handlers", []):  # handlers made at import hold the old streams
            if isinstance(handler, logging.StreamHandler) and handler.stream in old:
                handler.setStream(sys.stdout if handler.stream is old[0] else sys.stderr)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    os.umask(request["umask"])
    sys.path[:] = request["path"]
    sys.argv[:] = request["argv"]
    for name in [n for n in sys.modules if n.split(".")[0] in OWN and not n.startswith(__package__)]:
        del sys.modules[name]


def _entry(entry: dict[str, str]) -> Any:
    if "module" in entry:  # python -m <module>
        return runpy.run_module(entry["module"], run_name="__main__", alter_sys=True)
    module, _, function = entry["call"].partition(":")  # a console script: sys.exit(main())
    return getattr(importlib.import_module(module), function)()


def _code(value: object) -> int:
    """SystemExit's argument as an exit status, the way Python turns it into one."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def _finish() -> None:
    """What interpreter shutdown does: wait for non-daemon threads, run atexit, flush the streams."""
    threading._shutdown()  # type: ignore[attr-defined]  # the interpreter's own: executors' exit hooks, joins
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()


def run(request: dict[str, Any], fds: list[int], inherited: list[int]) -> NoReturn:
    """Run the command in this forked process and exit with its status; never returns."""
    code = 1
    try:
        os.setsid()  # its own process group: the whole command can be killed at once
        for fd in inherited:
            os.close(fd)
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        sys.modules[__package__].IN_CHILD = True  # the entry point runs here, it does not forward again
        _become(request, fds)
        try:
            result = _entry(request["entry"])
            code = _code(result if "call" in request["entry"] else None)
        except SystemExit as stop:
            code = _code(stop.code)
        except KeyboardInterrupt:  # as Python does: the traceback, then death by SIGINT
            traceback.print_exc()
            _finish()
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)
        except BaseException:
            sys.excepthook(*sys.exc_info())
        _finish()
    except BaseException:  # in taking over the command: the command's stderr (or the warm log) says why
        traceback.print_exc()
    finally:
        os._exit(code)
