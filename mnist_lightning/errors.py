"""Errors caused by the user's files or settings: shown as one line, never as a traceback."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class UserError(Exception):
    """A mistake in input files or settings; the message names the file or key, the problem, the fix."""


class DataError(UserError):
    """Data that is missing, unreadable or malformed."""


class ConfigError(UserError):
    """A configuration value that cannot work."""


def exit_on_user_error(fn: Callable[[], T]) -> T:
    """Run `fn`; a UserError becomes one line on stderr and exit status 2 (HYDRA_FULL_ERROR=1 re-raises)."""
    try:
        return fn()
    except UserError as err:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
