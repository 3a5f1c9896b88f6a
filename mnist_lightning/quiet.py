"""A quiet, truthful log: third-party chatter off unless `verbose=true`, counts in words, where to look."""

from __future__ import annotations

import logging
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from lightning.pytorch.utilities.warnings import PossibleUserWarning

# Lightning's rank_zero_info() writes through this logger (lightning.pytorch.utilities.rank_zero
# points lightning_utilities' module-level `log` at it).
LIGHTNING_INFO = "lightning.pytorch.utilities.rank_zero"
# How its info lines that tell the user nothing begin: adverts for other products (Lightning 2.6's
# logger_connector.py and callback_connector.py), and a note on its own bookkeeping.
LIGHTNING_CHATTER = ("💡 Tip:", "Loading `train_dataloader` to estimate number of stepping batches")
# Loggers that narrate their internals at INFO: torch's ONNX exporter runs onnxscript's passes.
CHATTY_LOGGERS = ("onnxscript", "onnx_ir")
# Warnings about Lightning's own code or about choices we made on purpose: (message regex, category).
WARNINGS: tuple[tuple[str, type[Warning]], ...] = (
    # Lightning 2.6 builds LeafSpec(), which torch deprecates: nothing for a user to change.
    (re.escape("`isinstance(treespec, LeafSpec)` is deprecated"), FutureWarning),
    # Our train metrics are logged per epoch, so a short epoch loses nothing to the step interval.
    (r"The number of training batches \(\d+\) is smaller than the logging interval", PossibleUserWarning),
)
# A run that continues in its own folder (resume=, ckpt_path=last) finds its own checkpoints there.
OWN_CHECKPOINTS = (r"Checkpoint directory .* exists and is not empty\.", UserWarning)


class _DropChatter(logging.Filter):
    """Drops Lightning's info lines that begin with one of LIGHTNING_CHATTER."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(LIGHTNING_CHATTER)


_DROP_CHATTER = _DropChatter()
_added_warnings: list[tuple[object, ...]] = []  # the entries quiet() put in warnings.filters
_levels: dict[str, int] = {}  # each chatty logger's level before quiet() raised it


def quiet(verbose: bool, continuing: bool = False) -> None:
    """Silence the third-party chatter listed above, or (verbose) let it all through again.

    `continuing`: the run continues in its own folder, whose checkpoints Lightning would warn about.
    Safe to call again: each call first undoes what an earlier one did.
    """
    for entry in _added_warnings:
        if entry in warnings.filters:
            warnings.filters.remove(entry)
    _added_warnings.clear()
    info = logging.getLogger(LIGHTNING_INFO)
    info.removeFilter(_DROP_CHATTER)
    for name, level in _levels.items():
        logging.getLogger(name).setLevel(level)
    _levels.clear()
    if verbose:
        return
    info.addFilter(_DROP_CHATTER)
    for name in CHATTY_LOGGERS:
        _levels[name] = logging.getLogger(name).level
        logging.getLogger(name).setLevel(logging.WARNING)
    for message, category in (*WARNINGS, *([OWN_CHECKPOINTS] if continuing else [])):
        warnings.filterwarnings("ignore", message=message, category=category)
        _added_warnings.append(warnings.filters[0])


@contextmanager
def silenced(name: str) -> Iterator[None]:
    """Logger `name` says only warnings and errors inside the block."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(level)


def plural(count: float, noun: str) -> str:
    """`1 epoch`, `2 epochs`: a count and its noun, in the right number."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def log_where(log: logging.Logger, run_dir: Path, opened: list[str], report: Path | None) -> None:
    """The run's last lines: its folder, its report and the exact command that opens each logger's files."""
    log.info("Run directory: %s", run_dir)
    if report is not None:
        log.info("Report: %s", report)
    for line in opened:
        log.info("%s", line)
