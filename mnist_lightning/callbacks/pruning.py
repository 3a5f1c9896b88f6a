"""A search trial's pruning: val/acc reported to its Optuna trial after each validation, which may stop it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

from mnist_lightning import metric_keys as M
from mnist_lightning.progress import epochs_run
from mnist_lightning.quiet import plural

log = logging.getLogger("mnist_lightning.train")

REPORTED = M.VAL_ACC  # what the trial's pruner compares across trials, validation by validation


class TrialPruning(Callback):
    """Reports val/acc to `trial` (the run's `trial` config) after each validation, through the study's
    storage, and stops the run at once when the study's pruner says so. Without a trial, nothing.

    The trial's steps count validations: one per epoch by default, and `trainer.val_check_interval=0.5`
    reports (and may stop) a trial at each half epoch. A fraction of an epoch is the same share of
    training whatever the batch size, so trials compare at the same point. Under DDP rank 0 reports
    and decides, and every rank stops with it.
    """

    def __init__(self, trial: Mapping[str, Any] | None = None) -> None:
        # a run that is no search trial has a `trial` node of nulls (schema.TrialSettings)
        self.settings = trial if trial is not None and trial.get("number") is not None else None
        self.trial: Any = None  # the optuna.Trial, opened on rank 0 when fitting starts (None: finished)
        self.step = 0  # the next validation's step in the trial: validations so far, sanity check aside
        self.pruned_at: float | None = None  # the epochs trained when the study pruned the run

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        if self.settings is not None and stage == "fit" and trainer.is_global_zero:
            # optuna is imported only here: runs that are not search trials never load it
            from mnist_lightning.sweeps.storage import open_trial

            self.trial = open_trial(**self.settings)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.settings is None or trainer.sanity_checking:
            return
        prune, value = False, trainer.callback_metrics.get(REPORTED)
        if self.trial is not None and value is not None:
            self.trial.report(float(value), step=self.step)
            # At the fit's last check stopping saves nothing, and a finished trial is tested: it completes.
            prune = not last_check(trainer) and self.trial.should_prune()
        self.step += 1
        if trainer.world_size > 1:
            prune = trainer.strategy.broadcast(prune, src=0)
        if prune:
            self.pruned_at = epochs_run(trainer)
            trainer.should_stop = True  # at an epoch's end, or after this batch when validating mid-epoch
            if trainer.is_global_zero:
                done = plural(self.pruned_at, "epoch")
                log.info("Pruned by the study after %s (%s %.4f): stopping", done, REPORTED, value)


def last_check(trainer: L.Trainer) -> bool:
    """Whether this validation is the fit's last: no further one comes before max_epochs or max_steps."""
    every = trainer.val_check_batch  # batches between two checks (an epoch's, by default)
    if not isinstance(every, int) or every <= 0:  # an epoch of unknown length: no later check is known
        return False
    done_in_epoch = trainer.fit_loop.epoch_loop.batch_progress.current.completed
    epochs = trainer.max_epochs or -1  # -1 (or None): no epoch limit
    last_epoch = epochs > 0 and trainer.current_epoch >= epochs - 1
    left_in_epoch = trainer.num_training_batches - done_in_epoch
    no_steps_left = 0 < trainer.max_steps < trainer.global_step + every
    return (last_epoch and left_in_epoch < every) or no_steps_left


def pruned_at(trainer: L.Trainer) -> float | None:
    """The epochs trained when the study pruned the run's trial; None when it was not pruned."""
    found = [cb.pruned_at for cb in trainer.callbacks if isinstance(cb, TrialPruning)]  # type: ignore[attr-defined]
    return next((epochs for epochs in found if epochs is not None), None)
