"""`python -m mnist_lightning.warm status|stop|wait`: list, end or wait for this user's warm processes."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time

from mnist_lightning.warm import place


def _pids() -> list[tuple[int, str]]:
    """(pid, key) of every warm process of this user that holds its lock now."""
    import fcntl

    folder = place.runtime_dir()
    found = []
    for lock in sorted(folder.glob("*.lock")) if folder else []:
        with open(lock, "a+") as file:
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: nobody holds it
            except BlockingIOError:
                file.seek(0)
                if (text := file.read().strip()).isdigit():
                    found.append((int(text), lock.stem))
    return found


def _wait(digest: str, seconds: float = 120.0) -> bool:
    """Wait until the warm process for this interpreter listens; False if there is none or it never does."""
    folder = place.runtime_dir()
    deadline = time.monotonic() + seconds
    while folder and time.monotonic() < deadline:
        if place.socket_path(folder, digest).exists():
            return True
        if digest not in {key for _, key in _pids()}:
            return False  # none is starting
        time.sleep(0.1)
    return False


def main() -> None:
    """status: the warm processes and whether one fits this interpreter; stop: end them all; wait: until
    the one for this interpreter is ready (exit status 1 if there is none)."""
    parser = argparse.ArgumentParser(prog="python -m mnist_lightning.warm", description=__doc__)
    parser.add_argument("action", choices=["status", "stop", "wait", "serve"])
    parser.add_argument("digest", nargs="?", help=argparse.SUPPRESS)
    parser.add_argument("ready_fd", nargs="?", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.action == "serve":
        from mnist_lightning.warm import life

        life.serve(args.digest, args.ready_fd)
        return
    mine = place.key()
    if args.action == "wait":
        sys.exit(0 if _wait(mine) else 1)
    running = _pids()
    for pid, digest in running:
        if args.action == "stop":
            os.kill(pid, signal.SIGTERM)  # it ends once its running commands have ended
        fits = " (this interpreter)" if digest == mine else ""
        print(f"{'stopped' if args.action == 'stop' else 'running'}: pid {pid}, key {digest}{fits}")
    if not running:
        print("no warm process" if place.enabled() else f"no warm process ({place.SWITCH}=0)")


if __name__ == "__main__":
    main()
