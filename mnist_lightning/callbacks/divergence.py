"""A guard against divergence: a NaN or infinite loss stops the run before any checkpoint saves it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback
from torch import Tensor

from mnist_lightning.errors import Diverged
from mnist_lightning.run_dirs import LAST, checkpoint_path


class DivergenceGuard(Callback):
    """Stops training at a NaN or infinite loss, before any checkpoint can save the broken weights.

    The loss is checked every step in one CPU process (free there) and every `every` steps on a GPU,
    where reading it costs a host sync, or under DDP, where the ranks decide together (a collective)
    so that all of them stop at the same step. LastCheckpoint checks before every save as well.
    """

    def __init__(self, every: int = 10) -> None:
        self.every = max(1, every)
        self.last_good = Path(LAST)  # <run_dir>/checkpoints/last.ckpt, set when the run starts
        self.bad: Tensor | None = None  # on the device: has any loss since the last check been non-finite?
        self.checked = 0  # the step of the last check that passed

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        self.last_good = checkpoint_path(Path(trainer.default_root_dir), LAST)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: Any, outputs: Any, *args: Any) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        broken = ~torch.isfinite(loss.detach())  # no sync: stays on the device
        self.bad = broken if self.bad is None else self.bad | broken
        free = loss.device.type == "cpu" and trainer.world_size == 1
        if free or trainer.global_step % self.every == 0:
            self.check(trainer)

    def check(self, trainer: L.Trainer, weights: bool = False) -> None:
        """Raise Diverged if a loss since the last check (or, with `weights`, a weight) is NaN or infinite.

        A finite loss can still take a step to infinite weights: before a save the weights are checked.
        """
        bad = bool(self.bad) if self.bad is not None else False
        if weights and not bad:
            bad = not all(bool(torch.isfinite(p).all()) for p in trainer.lightning_module.parameters())
        if trainer.world_size > 1:
            bad = trainer.strategy.reduce_boolean_decision(bad, all=False)
        self.bad = None
        if not bad:
            self.checked = trainer.global_step
            return
        step = trainer.global_step
        when = f"step {step}" if step - self.checked <= 1 else f"between steps {self.checked + 1} and {step}"
        lr = trainer.optimizers[0].param_groups[0]["lr"]
        kept = (
            f"{self.last_good} holds the last good weights"
            if self.last_good.is_file()
            else "no checkpoint kept"
        )
        raise Diverged(
            f"training diverged at {when} (epoch {trainer.current_epoch}, lr {lr:.4g}): a loss or weight "
            f"became NaN or infinite; "
            f"{kept}; lower optimizer.lr, add scheduler.warmup, or clip gradients "
            "(trainer.gradient_clip_val=1.0) and start again"
        )
