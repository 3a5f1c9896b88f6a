"""The optimizer and LR schedule of a run, built from `conf/optimizer/` and `conf/scheduler/`."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import lightning as L
from torch import nn, optim

from mnist_lightning import metric_keys as M
from mnist_lightning.building import build
from mnist_lightning.errors import ConfigError

# Scheduler arguments that mean "until the end of training"; left null in YAML, filled in here.
HORIZON_KEYS = ("total_steps", "T_max")
# Step-based horizons are at least this long: OneCycleLR divides by zero on very short cycles, so a
# smoke run (a few batches) leaves its schedule unfinished instead of crashing.
MIN_STEP_HORIZON = 100
# Keys in conf/scheduler/*.yaml that are for Lightning, not for the torch scheduler itself.
LIGHTNING_KEYS = ("interval", "frequency", "monitor", "warmup")


def horizons(trainer: L.Trainer) -> dict[str, int]:
    """How long training lasts, in optimizer steps and in epochs, whether max_epochs or max_steps ends it."""
    steps = int(trainer.estimated_stepping_batches)
    epochs = trainer.max_epochs
    if epochs is None or epochs < 0:  # only max_steps is set: as many epochs as those steps take
        if trainer.train_dataloader is None:
            trainer.fit_loop.setup_data()  # as estimated_stepping_batches does when it needs the length
        per_epoch = math.ceil(trainer.num_training_batches / trainer.accumulate_grad_batches)
        epochs = math.ceil(steps / per_epoch) if math.isfinite(per_epoch) else steps
    return {"step": max(steps, MIN_STEP_HORIZON), "epoch": int(epochs)}


def build_optimizer(optimizer_cfg: Mapping[str, Any], params: Iterable[nn.Parameter]) -> optim.Optimizer:
    """The configured torch optimizer; torch's own range checks ("Invalid learning rate") become one line."""
    return build("optimizer", dict(optimizer_cfg), params)


def build_scheduler(scheduler_cfg: Mapping[str, Any], optimizer: optim.Optimizer, trainer: L.Trainer) -> dict:
    """Lightning's lr_scheduler dict for the configured schedule, with its horizon and warm-up filled in."""
    kwargs = {k: v for k, v in scheduler_cfg.items() if k not in LIGHTNING_KEYS}
    interval = scheduler_cfg.get("interval", "epoch")
    warmup = int(scheduler_cfg.get("warmup", 0))
    lengths = horizons(trainer)
    if interval not in lengths:
        raise ConfigError(f"scheduler.interval={interval!r}: use 'epoch' or 'step'")
    for key in HORIZON_KEYS:
        if key in kwargs and kwargs[key] is None:
            kwargs[key] = max(1, lengths[interval] - warmup)
    scheduler = build("scheduler", kwargs, optimizer)
    if warmup > 0:
        # Linear warm-up over `warmup` intervals, then hand over to the configured schedule.
        ramp = optim.lr_scheduler.LinearLR(optimizer, 1.0 / (warmup + 1), total_iters=warmup)
        scheduler = optim.lr_scheduler.SequentialLR(optimizer, [ramp, scheduler], [warmup])
    return {
        "scheduler": scheduler,
        "interval": interval,
        "frequency": int(scheduler_cfg.get("frequency", 1)),
        "monitor": scheduler_cfg.get("monitor", M.VAL_LOSS),
    }
