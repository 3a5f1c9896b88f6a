"""Command-line front door: each entry point's start (checks, logs, quick exit) and its Hydra app."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig

from mnist_lightning.conf_dir import CONF_DIR, HYDRA_VERSION_BASE
from mnist_lightning.errors import exit_on_user_error
from mnist_lightning.precheck import precheck
from mnist_lightning.termination import quick_exit


def hydra_app(config_name: str) -> Callable[[Callable[[DictConfig], Any]], Callable[[], Any]]:
    """`@hydra.main` for an entry point: composes `config_name` from CONF_DIR."""
    return hydra.main(version_base=HYDRA_VERSION_BASE, config_path=str(CONF_DIR), config_name=config_name)


def given_keys(overrides: list[str] | None = None) -> list[str]:
    """The keys (or groups) the command line set, e.g. ["data", "data.mean"]; [] outside a Hydra app."""
    if overrides is None:
        if not HydraConfig.initialized():
            return []
        overrides = list(HydraConfig.get().overrides.task)
    return [o.key_or_group for o in OverridesParser.create().parse_overrides(overrides)]


# What Lightning imported before any logging is set up gives a handler and stops propagating.
LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric")


def lightning_logs_apart() -> None:
    """Lightning's own lines (GPU available, checkpoint restored) on stderr, apart from the run's log.

    Lightning does so itself only when imported before Hydra sets up logging, as the entry points once did.
    """
    if "lightning" in sys.modules:  # imported already: it has set its loggers up itself
        return
    for name in LIGHTNING_LOGGERS:
        logger = logging.getLogger(name)
        if not logger.handlers:  # called again before Lightning was imported: one handler, not two
            logger.addHandler(logging.StreamHandler())
            logger.propagate = False


def start(config_name: str) -> None:
    """What every entry point does before Hydra runs: check the overrides, set up logs and the quick exit."""
    precheck(config_name)
    lightning_logs_apart()
    quick_exit()


def run_app(config_name: str, task: Callable[[DictConfig], Any]) -> None:
    """`python -m mnist_lightning.<tool>`: check the overrides, then run `task` as a Hydra app.

    A user error, caught before or inside `task`, exits with one line and status 2.
    """
    start(config_name)

    @hydra_app(config_name)
    def _main(cfg: DictConfig) -> None:
        exit_on_user_error(lambda: task(cfg))

    _main()
