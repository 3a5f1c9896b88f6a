"""Values that torch or Lightning would take without a word, or fail on with a traceback: refused at start.

Each check names the key, the problem and the fix in one line. They cover the run's own scalars,
the report's figures, how long training lasts (a run that trains nothing or never ends), and the
learning rate.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from omegaconf import DictConfig

from mnist_lightning import metric_keys as M
from mnist_lightning.errors import ConfigError
from mnist_lightning.graph_checks import check_cuda_graphs

SEED_RANGE = (0, 2**32 - 1)  # what numpy (and so seed_everything) accepts
GPU_NAMES = ("gpu", "cuda")  # the trainer.accelerator values that ask for a CUDA GPU


def is_number(value: Any) -> bool:
    """An int or a float from the config (a bool is neither, though Python counts it as an int)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def at_least(key: str, value: Any, low: int, optional: bool = False) -> None:
    """`value` is a whole number >= `low` (or null when `optional`)."""
    if optional and value is None:
        return
    if not _whole(value) or value < low:
        also = " or null" if optional else ""
        raise ConfigError(f"{key}={value}: must be a whole number, at least {low}{also}")


def check_scalars(cfg: DictConfig) -> None:
    """The run's own top-level settings."""
    low, high = SEED_RANGE
    if not _whole(cfg.seed) or not low <= cfg.seed <= high:
        raise ConfigError(f"seed={cfg.seed}: must be a whole number from {low} to {high}")
    at_least("threads", cfg.threads, 1, optional=True)
    at_least("progress_refresh", cfg.progress_refresh, 1)
    at_least("last_checkpoint_every", cfg.last_checkpoint_every, 0)
    if cfg.ema is not None and not 0 < cfg.ema < 1:
        raise ConfigError(
            f"ema={cfg.ema}: the decay must be between 0 and 1 (e.g. 0.999), or null for no EMA"
        )


def check_length(trainer: DictConfig) -> None:
    """Training that trains something and ends: epochs, steps and the share of batches per epoch."""
    epochs, steps = trainer.get("max_epochs"), trainer.get("max_steps", -1)
    steps = -1 if steps is None else steps
    if epochs is not None and (not _whole(epochs) or epochs == 0 or epochs < -1):
        raise ConfigError(
            f"trainer.max_epochs={epochs}: must be a positive whole number (or -1 with trainer.max_steps=N)"
        )
    if not _whole(steps) or steps == 0 or steps < -1:
        raise ConfigError(
            f"trainer.max_steps={steps}: must be a positive whole number, or -1 for no step limit"
        )
    if epochs == -1 and steps == -1:
        raise ConfigError(
            "trainer.max_epochs=-1: with no trainer.max_steps the run would never end; "
            "set trainer.max_steps=N or a number of epochs"
        )
    limit = trainer.get("limit_train_batches")
    if limit is not None and limit <= 0:
        raise ConfigError(
            f"trainer.limit_train_batches={limit}: nothing would be trained; use a positive number of "
            "batches (or a fraction), or null for all"
        )


def check_learning_rate(optimizer: DictConfig) -> None:
    """A learning rate that moves the weights (torch itself refuses negative ones, but not zero)."""
    lr = optimizer.get("lr")
    if is_number(lr) and lr == 0:
        raise ConfigError("optimizer.lr=0: nothing would be learned; use a positive learning rate, e.g. 1e-3")


def check_report_figures(names: Sequence[str] | None) -> None:
    """Figures the report knows: a mistyped name would otherwise draw nothing, silently."""
    # Imported here: the report imports the data modules, which import this module.
    from mnist_lightning.reports.run_report import FIGURES

    unknown = [name for name in names or () if name not in FIGURES]
    if names and unknown:
        raise ConfigError(
            f"report_figures=[{','.join(names)}]: no figure named {unknown[0]!r}; "
            f"name some of {', '.join(FIGURES)}, or null for all"
        )


def check_monitors(callbacks: DictConfig | None) -> None:
    """A callback's `monitor` names a metric the run logs: Lightning would find out only after an epoch."""
    for name, node in (callbacks or {}).items():
        monitor = node.get("monitor") if isinstance(node, DictConfig) else None
        if monitor is not None and monitor not in M.MONITORED:
            raise ConfigError(
                f"callbacks.{name}.monitor={monitor}: no metric of that name is logged; "
                f"use one of {', '.join(M.MONITORED)}"
            )


def check_run(cfg: DictConfig) -> None:
    """Every check above and those of cuda_graphs, before any data is read."""
    check_scalars(cfg)
    check_monitors(cfg.get("callbacks"))
    check_report_figures(cfg.get("report_figures"))
    check_length(cfg.trainer)
    check_learning_rate(cfg.optimizer)
    check_cuda_graphs(cfg)
