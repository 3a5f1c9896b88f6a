"""A search trial's pruning: val/acc reported to its Optuna trial after each validation, which may stop it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from mnist_lightning import metric_keys as M

log = logging.getLogger("mnist_lightning.train")

REPORTED = M.VAL_ACC  # what the trial's pruner compares across trials, epoch by epoch


class TrialPruning(Callback):
    """Reports val/acc to `trial` (the run's `trial` config) after each epoch's validation, through the
    study's storage, and stops the run at once when the study's pruner says so. Without a trial, nothing.

    Epochs, not steps, are the trial's steps: trials with different batch sizes compare at the same epoch.
    Under DDP rank 0 reports and decides, and every rank stops with it.
    """

    def __init__(self, trial: Mapping[str, Any] | None = None) -> None:
        # a run that is no search trial has a `trial` node of nulls (schema.TrialSettings)
        self.settings = trial if trial is not None and trial.get("number") is not None else None
        self.trial: Any = None  # the optuna.Trial, opened on rank 0 when fitting starts (None: finished)
        self.reported = -1  # the last epoch reported: mid-epoch validations (val_check_interval) report once
        self.pruned_at: int | None = None  # the epoch (from 0) whose validation pruned the run

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.settings is not None and stage == "fit" and trainer.is_global_zero:
            # optuna is imported only here: runs that are not search trials never load it
            from mnist_lightning.sweeps.storage import open_trial

            self.trial = open_trial(**self.settings)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.settings is None or trainer.sanity_checking:
            return
        epoch, prune = trainer.current_epoch, False
        value = trainer.callback_metrics.get(REPORTED)
        if self.trial is not None and value is not None and epoch > self.reported:
            self.trial.report(float(value), step=epoch)
            self.reported = epoch
            prune = self.trial.should_prune()
        if trainer.world_size > 1:
            prune = trainer.strategy.broadcast(prune, src=0)
        if prune:
            self.pruned_at = epoch
            trainer.should_stop = True
            if trainer.is_global_zero:
                log.info("Pruned by the study at epoch %d (%s %.4f): stopping", epoch + 1, REPORTED, value)


def pruned_at(trainer: L.Trainer) -> int | None:
    """The epoch (from 0) whose validation pruned the run's trial; None when it was not pruned."""
    found = [cb.pruned_at for cb in trainer.callbacks if isinstance(cb, TrialPruning)]  # type: ignore[attr-defined]
    return next((epoch for epoch in found if epoch is not None), None)
