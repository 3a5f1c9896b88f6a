"""The training loss every `trainer.log_every_n_steps` steps: summed on the device, read once a point."""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from mnist_lightning import metric_keys as M


class StepLoss(Callback):
    """Logs `train/loss_step`, the mean loss over each `trainer.log_every_n_steps` optimizer steps.

    Each batch's loss is added to a sum that stays on the device; the sum is read (one host sync) only
    when it is logged. Lightning's own `on_step` logging would read a single batch's loss instead.
    The step axis is Lightning's (a step's 0-based index), so these points line up with val/loss.
    Under DDP it is rank 0's own loss: averaging over the ranks would cost a collective per interval.
    """

    def __init__(self) -> None:
        self.total: Tensor | None = None  # () on the device: the loss summed since the last point
        self.batches = 0  # batches in that sum (accumulated gradients: several per optimizer step)
        self.logged_at = 0  # the optimizer step of the last point (0: none yet)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, *args: Any) -> None:
        every = trainer.log_every_n_steps
        if not trainer.loggers or not every or not trainer.is_global_zero:
            return
        loss = (outputs["loss"] if isinstance(outputs, dict) else outputs).detach().float()  # ()
        self.total = loss if self.total is None else self.total + loss  # no sync: stays on the device
        self.batches += 1
        step = trainer.global_step  # optimizer steps taken, this batch's included
        if step % every or step == self.logged_at:  # mid-interval, or a step's gradients still accumulating
            return
        mean = float(self.total) / self.batches  # the one host sync of the interval
        for logger in trainer.loggers:
            logger.log_metrics({M.TRAIN_LOSS_STEP: mean}, step=step - 1)
        self.total, self.batches, self.logged_at = None, 0, step
