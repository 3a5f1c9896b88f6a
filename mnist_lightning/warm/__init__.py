"""Warm starts: commands after the first skip the 3-4 s import of torch and Lightning.

A cold command runs in its own process as always, and when it ends a warm process (one per interpreter
and import-time environment) starts importing torch and Lightning in the background. Later commands
connect to it and run in a fork of it with their own arguments, folder, environment and terminal; signals
are passed on and the exit status comes back. `MNIST_LIGHTNING_WARM=0` turns it off;
`python -m mnist_lightning.warm stop` ends the warm processes; they end by themselves when idle.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable

IN_CHILD = False  # set in a forked command: the entry point then runs where it is
_starter: list[int] = []  # the write end that tells a starting warm process this command has ended


def hand_over(main: Callable[[], object]) -> None:
    """Run this command in a warm process when one is ready (and exit as it did), or return to run it here.

    Only when `main` is the program itself (`python -m ...` or the console script), never when it is
    called from other code, such as a test.
    """
    program = sys.modules.get("__main__")
    if IN_CHILD or getattr(program, "main", None) is not main:
        return
    from mnist_lightning.warm import client, place

    folder = place.runtime_dir() if place.enabled() else None
    if folder is None:
        return
    digest = place.key()
    spec = getattr(program, "__spec__", None)
    entry = {"module": spec.name} if spec is not None else {"call": f"{main.__module__}:{main.__qualname__}"}
    code = client.forward(place.socket_path(folder, digest), entry)
    if code is not None:
        client.exit_like(code)
    from mnist_lightning.warm import life

    with contextlib.suppress(OSError):  # then no warm start next time; this command runs as usual
        _starter.append(life.start(folder, digest))  # kept open until this process ends
