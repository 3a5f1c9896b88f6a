"""`resume=<run_dir>`: continue a run from its last checkpoint with its own config, changing nothing in it."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mnist_lightning import metric_keys as M
from mnist_lightning.checkpoint import load_checkpoint
from mnist_lightning.cli import given_keys
from mnist_lightning.errors import ConfigError, DataError
from mnist_lightning.quiet import plural
from mnist_lightning.run_dirs import checkpoint_path

log = logging.getLogger(__name__)

# Overrides that say where or how fast to run, not what to run: a resumed run may change them.
HARMLESS = (
    "trainer.accelerator",
    "trainer.devices",
    "data.root",
    "data.num_workers",
    "data.cache_dir",
    "threads",
    "progress_refresh",
    "verbose",
)
# Keys that are not part of the experiment at all: Hydra's own settings, and resume itself.
NOT_EXPERIMENT = ("hydra", "resume")
# Config groups newer than some checkpoints (callbacks and loggers were built in code before).
ADDED_SINCE = ("callbacks", "logger")


def check_overrides(run_dir: Path, keys: list[str]) -> None:
    """Refuse, in one line, any override that would make the resumed run another experiment."""
    for key in keys:
        if key.split(".")[0] in NOT_EXPERIMENT or key in HARMLESS:
            continue
        raise ConfigError(
            f"resume={run_dir}: {key} cannot change when a run is resumed (it continues with its own "
            f"config); only {', '.join(HARMLESS)} can. Drop {key}=..., or start a new run"
        )


def resumed_config(cfg: DictConfig, keys: list[str] | None = None) -> DictConfig:
    """The config `cfg.resume` was started with, from its last checkpoint, plus the harmless overrides.

    `keys` are the keys the command line set (by default, read from Hydra).
    """
    run_dir = Path(cfg.resume).expanduser().resolve()
    keys = given_keys() if keys is None else keys
    check_overrides(run_dir, keys)
    last = checkpoint_path(run_dir)
    if not last.is_file():
        raise DataError(
            f"resume={run_dir}: no {checkpoint_path(Path())} there; pass the directory of a run "
            "that saved at least one checkpoint"
        )
    stored = OmegaConf.create(load_checkpoint(last)["hyper_parameters"])
    for key in keys:
        if key in HARMLESS:
            OmegaConf.update(stored, key, OmegaConf.select(cfg, key), force_add=True)
    for group in ADDED_SINCE:  # a run from before these groups existed: today's defaults, as it ran then
        if group not in stored:
            stored[group] = OmegaConf.to_container(cfg[group], resolve=False)
    stored.run_dir, stored.ckpt_path, stored.resume = str(run_dir), str(last), None
    log.info("Resuming %s from %s with the run's own config", run_dir, last.name)
    return stored


def finished_results(run_dir: Path) -> dict[str, Any] | None:
    """The metrics of a run that has already ended (it wrote metrics.json), said in the log; else None."""
    metrics = run_dir / M.METRICS_FILE
    if not metrics.is_file():
        return None
    results = json.loads(metrics.read_text())
    log.warning(
        "resume=%s: this run has already ended (status %s, %s); nothing to resume and nothing changed. "
        "Its results are in %s",
        run_dir, results.get(M.STATUS, M.OK), plural(results.get(M.EPOCHS, 0), "epoch"), metrics,
    )  # fmt: skip
    return results
