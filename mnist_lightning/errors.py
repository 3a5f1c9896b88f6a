"""Errors caused by the user's files or settings: shown as one line, never as a traceback."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class UserError(Exception):
    """A mistake in input files or settings; the message names the file or key, the problem, the fix."""


class DataError(UserError):
    """Data that is missing, unreadable or malformed."""


class ConfigError(UserError):
    """A configuration value that cannot work."""


class DistributedError(UserError):
    """A DDP group that cannot go on: a rank that exited, or a collective that some rank never joined."""


class Diverged(UserError):
    """The training loss became NaN or infinite; the run stopped and wrote `status: diverged`."""


def user_error_in(err: BaseException) -> UserError | None:
    """The UserError behind `err`, also when a library (Hydra's instantiate, Lightning) wrapped it."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, UserError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def exit_on_user_error(fn: Callable[[], T]) -> T:
    """Run `fn`; a UserError becomes one line on stderr and exit status 2 (HYDRA_FULL_ERROR=1 re-raises)."""
    try:
        return fn()
    except Exception as err:
        user_error = user_error_in(err)
        if user_error is None or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {user_error}", file=sys.stderr)
        sys.exit(2)
